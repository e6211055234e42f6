from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from auditor.config import Config
from auditor.model import (
    ClientUse,
    Facts,
    Host,
    HostOwner,
    HostStatus,
    Listener,
    Login,
    OsIdentity,
    SourceKind,
    SourceResult,
    SshOutcome,
    SshState,
)
from auditor.pipeline import Discovery, ProbeResults, build_run
from auditor.report import write_atomic, write_reports
from auditor.report.html_report import SCRIPT, SCRIPT_HASH
from auditor.report.json_report import load_schema, run_to_dict, validate_report

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


def test_html_is_self_contained_and_hostile_strings_stay_inert(tmp_path: Path) -> None:
    written = write_reports(sample_run(label=HOSTILE), tmp_path)
    html = written["html"].read_text()
    parser = Page(html)
    # exactly one executable script: ours, allowed by its hash in the CSP; nothing injected
    assert parser.scripts == [SCRIPT] and "img" not in parser.tags
    assert "onerror" not in parser.attrs
    assert SCRIPT_HASH in html
    assert any(HOSTILE in chunk for chunk in parser.text)  # shown, as text
    # ... and in the data block as a JSON string that cannot end the element
    assert HOSTILE in parser.data_strings() and "</script>" not in parser.data_blocks[0]
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

    monkeypatch.setattr("auditor.fileio.os.fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, "new, half written")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temp file left


# --------------------------------------------------------------------------- more formats

from auditor.report.csv_report import COLUMNS, render_csv, safe_cell  # noqa: E402
from auditor.report.markdown_report import MAX_CHARS, render_markdown  # noqa: E402
from tests.builders import Page  # noqa: E402
from tests.unit.test_report_fleet import HOSTILE_LOG, fleet_with_changes  # noqa: E402

ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "span", "nav",
    "a", "main", "section", "div", "b", "svg", "circle", "text", "ul", "li", "i", "g",
    "rect", "p", "table", "thead", "tbody", "tr", "th", "td", "input", "select", "option",
    "button", "details", "summary", "dl", "dt", "dd", "code", "s", "footer", "script",
}  # fmt: skip


def test_fleet_html_has_only_our_elements_and_attributes() -> None:
    from auditor.report.html_report import render_html

    html = render_html(fleet_with_changes())
    parser = Page(html)
    assert set(parser.tags) <= ALLOWED_TAGS, set(parser.tags) - ALLOWED_TAGS
    assert not [a for a in parser.attrs if a.startswith("on")]  # no event handler anywhere
    assert parser.scripts == [SCRIPT] and len(parser.data_blocks) == 1
    assert "iframe" not in parser.tags and "svg" in parser.tags  # our charts only
    assert any(HOSTILE_LOG in t for t in parser.data_strings())  # host details: data, not HTML
    assert "<svg" not in parser.data_blocks[0] and "<iframe" not in parser.data_blocks[0]
    import html as htmllib

    csp = htmllib.unescape(
        html.split('http-equiv="Content-Security-Policy" content="')[1].split('"')[0])
    assert "default-src 'none'" in csp and f"script-src '{SCRIPT_HASH}'" in csp
    assert "unsafe-eval" not in csp and "script-src 'unsafe-inline'" not in csp


def test_html_renders_without_history_and_without_facts() -> None:
    from auditor.report.html_report import render_html

    run = sample_run()
    html = render_html(run)
    assert "No history store is configured" in html
    from dataclasses import replace

    from auditor.model import Changes

    bare = replace(run, facts={}, ssh={}, changes=Changes(previous_run=None, previous_started_at=None))
    html = render_html(bare)
    assert "First run in this history" in html and "No OS facts yet" in html


@pytest.mark.parametrize(("value", "expected"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+1", "'+1"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("web01", "web01"), ("a=b", "a=b"), (None, ""), (7, "7"),
])
def test_csv_cells_cannot_be_formulas(value: object, expected: str) -> None:
    assert safe_cell(value) == expected


def test_csv_has_stable_columns_and_escapes_hostile_names() -> None:
    import csv
    import io
    from dataclasses import replace

    run = fleet_with_changes()
    evil = replace(run.hosts[0], hostnames=("=cmd|' /C calc'!A0",),
                   owner=HostOwner("@team", "tag", "=HYPERLINK(x)"),
                   status_reason='-1, "quoted"\nnewline')
    data = run_to_dict(replace(run, hosts=(evil, *run.hosts[1:])))
    text = render_csv(data)
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == COLUMNS and COLUMNS[:3] == ("id", "label", "status")
    assert len(rows) == 1 + len(run.hosts)
    first = dict(zip(COLUMNS, rows[1], strict=True))
    assert first["label"] == "'=cmd|' /C calc'!A0" and first["owner"] == "'@team"
    assert first["owner_detail"] == "'=HYPERLINK(x)"
    assert first["status_reason"] == "'-1, \"quoted\"\\nnewline"  # one line per host
    assert first["os_eol_status"] == "eol" and first["worst_severity"] == "critical"
    for row in rows[1:]:
        assert not any(cell[:1] in ("=", "+", "-", "@") for cell in row)


def test_markdown_is_short_and_inert() -> None:
    data = run_to_dict(fleet_with_changes())
    text = render_markdown(data)
    assert len(text) <= MAX_CHARS and len(text.splitlines()) <= 35
    assert "<script>" not in text and "\\<script\\>" in text
    assert "Since run `" in text and "**Top findings**" in text


def test_markdown_stays_short_for_a_huge_fleet() -> None:
    from dataclasses import replace

    from auditor.model import Finding, HostStatus, NewHost, Severity

    run = fleet_with_changes()
    many = tuple(Finding("unmanaged-host", Severity.HIGH, f"ip:10.{i}", f"{'x' * 500} {i}")
                 for i in range(3000))  # 3000 different findings: no two group together
    assert run.changes is not None
    changes = replace(run.changes, new_hosts=tuple(
        NewHost(f"h{i}", "y" * 300, HostStatus.UNMANAGED) for i in range(2000)))
    text = render_markdown(run_to_dict(replace(run, findings=many, changes=changes)))
    assert len(text) <= MAX_CHARS
    assert "and 2992 more in index.html" in text
    small = render_markdown(run_to_dict(replace(run, findings=many)), max_chars=600)
    assert len(small) <= 600


def test_terminal_summary_prints_markup_literally() -> None:
    from dataclasses import replace

    from rich.console import Console

    from auditor.report.terminal import render_terminal_summary

    run = fleet_with_changes()
    evil = replace(run.hosts[0], hostnames=("[bold red]pwn[/]",))
    console = Console(record=True, width=160, color_system=None)
    render_terminal_summary(replace(run, hosts=(evil, *run.hosts[1:])), console)
    out = console.export_text()
    assert "[bold red]pwn[/]" in out
    assert "critical" in out and "since 20261121T093000Z-aaaaaa" in out
    assert "managed → unmanaged" in out or "managed -> unmanaged" in out


def test_write_reports_writes_every_format_atomically(tmp_path: Path) -> None:
    written = write_reports(sample_run(), tmp_path)
    assert set(written) == {"json", "html", "csv", "md"}
    assert {p.name for p in tmp_path.iterdir() if not p.name.startswith(".")} == {
        "report.json", "index.html", "hosts.csv", "summary.md"}
    assert all(oct(p.stat().st_mode)[-3:] == "644" for p in written.values())


def test_software_packages_and_eol_basis_in_json_and_html(tmp_path: Path) -> None:
    """Issue 12 part 4: each program's package (or hand-installed, or unknown) and the basis
    of its EOL status reach report.json (valid against the schema) and the HTML, as text."""
    from dataclasses import replace

    from auditor.eol import load_embedded
    from auditor.model import Package, Software, UnknownPackage
    from auditor.probing import add_eol

    run = sample_run()
    host_id = run.hosts[0].id
    facts = replace(
        run.facts[host_id],
        os=OsIdentity("debian", "12.11", "Debian GNU/Linux", "Debian GNU/Linux 12.11 (bookworm)",
                      "/etc/os-release"),
        software=(
            Software("nginx", "1.22.1", "nginx version: nginx/1.22.1", path="/usr/sbin/nginx",
                     package=Package("dpkg", "nginx", "1.22.1-9+deb12u2")),
            Software("httpd", "1.3.42", "Server version: Apache/1.3.42 (Unix)",
                     path="/usr/local/apache/bin/httpd", package=None),
            Software("openssl", "3.0.19", "OpenSSL 3.0.19", path="/usr/bin/openssl",
                     package=UnknownPackage(f"rpm -qf failed: {HOSTILE}")),
            Software("php", "8.2.1", "PHP 8.2.1 (cli)", path="/usr/bin/php8.2",
                     package=Package("apk", HOSTILE, None)),
        ),
    )  # fmt: skip
    facts = add_eol(facts, NOW.date(), load_embedded())
    run = replace(run, facts={host_id: facts})
    written = write_reports(run, tmp_path)
    data = json.loads(written["json"].read_text())
    validate_report(data)
    software = {s["name"]: s for s in data["hosts"][0]["facts"]["software"]}
    assert software["nginx"]["package"] == {
        "manager": "dpkg", "name": "nginx", "version": "1.22.1-9+deb12u2"}  # fmt: skip
    assert software["nginx"]["eol"]["judged_by"] == "distribution"
    assert software["nginx"]["eol"]["basis"].startswith("maintained by debian 12 (")
    assert software["httpd"]["package"] is None and software["httpd"]["eol"]["status"] == "eol"
    assert software["openssl"]["package"] == {"unknown": f"rpm -qf failed: {HOSTILE}"}
    assert data["hosts"][0]["facts"]["os"]["eol"]["judged_by"] is None
    parser = Page(written["html"].read_text())
    assert "img" not in parser.tags and "onerror" not in parser.attrs
    shown = parser.data_strings()  # host details are drawn from the data block, as text
    assert "hand-installed" in shown and "nginx 1.22.1-9+deb12u2 (dpkg)" in shown
    assert any(s.startswith("maintained by debian 12 (") for s in shown)
    assert f"unknown: rpm -qf failed: {HOSTILE}" in shown


def test_a_partially_probed_host_is_its_own_state_in_every_format() -> None:
    host = Host(
        id="ip:10.0.0.11", addresses=("10.0.0.11",), hostnames=("halfway",),
        identifiers=("ip:10.0.0.11",), sources=(SourceKind.NETWORK,),
        status=HostStatus.UNMANAGED, status_reason="answers on the network",
    )  # fmt: skip
    reason = (
        "deadline exceeded after 90s (the script was stopped in sockets/ss); "
        "the facts that arrived before are kept"
    )
    facts = Facts(
        collected_at=NOW, hostname="halfway", kernel="6.1.0",
        errors={"listeners": "the probe stopped before the sockets snippet ran",
                "probe": "the script was stopped in sockets/ss"},
    )  # fmt: skip
    discovery = Discovery(NOW, (SourceResult(SourceKind.NETWORK, "lan", True, ()),), (host,))
    outcome = SshOutcome("partial", reason, "10.0.0.11", 22, 91.2, kind="deadline")
    run = build_run(
        Config(path=None), discovery, ProbeResults({host.id: outcome}, {host.id: facts})
    )
    data = run_to_dict(run)
    validate_report(data)
    assert data["hosts"][0]["ssh"]["state"] == "partial" and data["hosts"][0]["alive"]
    assert data["hosts"][0]["facts"]["kernel"] == "6.1.0"  # what arrived is kept
    assert data["summary"]["partial"] == 1 and data["summary"]["probed"] == 0
    partial = [f for f in data["findings"] if f["rule"] == "ssh-probe-partial"]
    assert len(partial) == 1 and partial[0]["evidence"][0] == reason
    from auditor.report.html_report import render_html_data

    html = render_html_data(data)
    assert "probed partially (cut short)" in html  # a summary card
    shown = Page(html).data_strings()  # the host detail is drawn from the data block
    assert "partial" in shown and reason in shown
    row = render_csv(data).splitlines()[1].split(",")
    assert row[COLUMNS.index("ssh_state")] == "partial"
    assert "Probed partially (cut short, facts kept as far as they came): halfway" in (
        render_markdown(data)
    )


def test_ssh_states_are_the_schemas_strings() -> None:
    """SshState is an enum in the code and the same strings in report.json."""
    ssh = load_schema()["properties"]["hosts"]["items"]["properties"]["ssh"]
    assert [s.value for s in SshState] == ssh["properties"]["state"]["enum"]
    assert SshOutcome("partial").state is SshState.PARTIAL  # a plain string is taken as its state
    with pytest.raises(ValueError):
        SshOutcome("fine")
    data = run_to_dict(sample_run())
    assert {h["ssh"]["state"] for h in data["hosts"]} <= {s.value for s in SshState}
    assert json.loads(json.dumps(data))["hosts"][0]["ssh"]["state"] == "ok"


def test_one_severity_order_for_model_renderers_history_and_the_pages_script() -> None:
    from auditor.model import SEVERITIES, SEVERITY_RANK, Severity

    assert SEVERITIES == ("critical", "high", "medium", "low", "info")
    assert [SEVERITY_RANK[s] for s in SEVERITIES] == [5, 4, 3, 2, 1]
    assert sorted(Severity, key=lambda s: -s.rank) == [Severity(s) for s in SEVERITIES]
    from auditor.report.html_report import SCRIPT

    template = (Path(__file__).parents[2] / "auditor" / "report" / "templates" / "report.js").read_text()
    assert not re.findall(r"critical\s*:\s*\d", template)  # written in from auditor.model
    [table] = re.findall(r"var RANK = \{([^}]*)\}", SCRIPT)
    ranks = {k.strip('"'): int(v) for k, v in re.findall(r'(\w+|"")\s*:\s*(\d+)', table)}
    assert ranks == {**SEVERITY_RANK, "": 0}
