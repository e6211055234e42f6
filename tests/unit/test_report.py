from __future__ import annotations

import json
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest

from auditor.config import Config
from auditor.model import (
    ClientUse,
    Facts,
    Host,
    HostStatus,
    Listener,
    Login,
    OsIdentity,
    SourceKind,
    SourceResult,
    SshOutcome,
)
from auditor.pipeline import Discovery, ProbeResults, build_run
from auditor.report import write_atomic, write_reports
from auditor.report.json_report import run_to_dict, validate_report

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def sample_run(label: str = "legacy01"):  # type: ignore[no-untyped-def]
    host = Host(
        id="ip:10.0.0.10", addresses=("10.0.0.10",), hostnames=(label,),
        identifiers=("ip:10.0.0.10",), sources=(SourceKind.NETWORK,),
        status=HostStatus.UNMANAGED, status_reason=f"answers on the network {HOSTILE}",
        open_ports=(22, 80),
    )
    facts = Facts(
        collected_at=NOW, hostname=label, kernel="2.6.18-419.el5", arch="x86_64",
        os=OsIdentity("centos", "5.11", "CentOS", "CentOS release 5.11 (Final)",
                      "/etc/redhat-release"),
        uptime_seconds=172800000.0, boot_time=NOW,
        listeners=(Listener("tcp", "0.0.0.0", 80, 123, "httpd", "root", "/usr/sbin/httpd",
                            "/", "/usr/sbin/httpd -f /etc/httpd/conf/httpd.conf"),),
        clients=(ClientUse("10.20.1.5", 40, NOW, "team-payments"),),
        logins=(Login("root", "10.20.1.9", NOW),),
        errors={"cron": "needs root: permission denied"},
    )
    discovery = Discovery(NOW, (SourceResult(SourceKind.NETWORK, "lan", True, ()),), (host,))
    probe = ProbeResults(ssh={host.id: SshOutcome("ok", None, "10.0.0.10", 22, 0.4)},
                         facts={host.id: facts})
    return build_run(Config(path=None), discovery, probe)


def test_report_json_matches_schema() -> None:
    data = run_to_dict(sample_run())
    validate_report(data)
    assert data["schema"] == "auditor/report@1"
    host = data["hosts"][0]
    assert host["facts"]["logins"][0]["from"] == "10.20.1.9"
    assert host["facts"]["os"]["id"] == "centos"
    assert data["findings"][0]["rule"] == "unmanaged-host"
    assert data["findings"][0]["severity"] == "critical"  # it serves clients


def test_schema_rejects_renamed_fields() -> None:
    data = run_to_dict(sample_run())
    data["hosts"][0]["state"] = data["hosts"][0].pop("status")
    with pytest.raises(jsonschema.ValidationError):
        validate_report(data)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [name for name, _ in attrs]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_self_contained_and_hostile_strings_stay_inert(tmp_path: Path) -> None:
    written = write_reports(sample_run(label=HOSTILE), tmp_path)
    html = written["html"].read_text()
    parser = _Collector()
    parser.feed(html)
    assert "script" not in parser.tags and "img" not in parser.tags
    assert "onerror" not in parser.attrs
    assert any(HOSTILE in chunk for chunk in parser.text)  # shown, as text
    assert "http://" not in html and "https://" not in html.replace(
        "https://json-schema.org", "")  # no external assets
    assert json.loads(written["json"].read_text())["hosts"][0]["label"] == HOSTILE


def test_atomic_write_keeps_previous_file_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.json"
    write_atomic(target, "old")

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("auditor.report.os.fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, "new, half written")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temp file left
