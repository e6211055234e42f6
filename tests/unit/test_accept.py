"""Accepting a finding (issue 12 part 6): [[accept]] in the config or a baseline file,
matching, expiry, --fail-on, the webhook, every report format, and `auditor accept`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from auditor.acceptance import apply_acceptance
from auditor.cli import main
from auditor.commands.accept import toml_string
from auditor.config import AcceptRule, load_config
from auditor.errors import ConfigError
from auditor.exitcodes import fails
from auditor.model import Finding, Severity
from auditor.notify import NewFinding, build_payload, notify_if_new
from auditor.report.html_report import render_html_data
from auditor.report.json_report import run_to_dict, validate_report
from auditor.report.markdown_report import render_markdown
from auditor.report.terminal import render_terminal_data
from tests.builders import Page
from tests.unit.big_fleet import NOW, generated_run

FIXTURES = Path(__file__).parent.parent / "fixtures"
TODAY = NOW.date()
HOSTILE_REASON = '</td><script>alert(1)</script>" \n[audit]\nfail_on = "info"'


def rule(rule_id: str, *, host: str | None = None, resource: str | None = None,
         reason: str = "replaced in Q1 (OPS-42)", days: int = 30, n: int = 1) -> AcceptRule:
    return AcceptRule(rule_id, reason, TODAY + timedelta(days=days), host, resource,
                      f"audit.toml [[accept]] #{n}")  # fmt: skip


def auditor(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess, as a user runs it (for whole audits)."""
    return subprocess.run([sys.executable, "-m", "auditor", *args], capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def accept_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`auditor accept ...` in this process (click's runner): same parsing and exit codes."""
    result = CliRunner().invoke(main, ["accept", *args])
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


# --------------------------------------------------------------------------- config


def test_accept_entries_load_from_the_config_and_the_baseline(tmp_path: Path) -> None:
    (tmp_path / "accepted.toml").write_text(
        '# ours\n[[accept]]\nrule = "long-uptime"\nhost = "10.8.0.0/16"\n'
        'reason = "live-patched"\nexpires = 2027-01-31\n')  # fmt: skip
    config = tmp_path / "audit.toml"
    config.write_text(
        '[audit]\nbaseline = "accepted.toml"\n'
        '[[accept]]\nrule = "eol-os"\nhost = "node-*"\nreason = "r"\nexpires = 2027-03-31\n')  # fmt: skip
    loaded = load_config(config).accept
    assert [(r.rule, r.host, r.expires, r.source) for r in loaded] == [
        ("eol-os", "node-*", date(2027, 3, 31), "audit.toml [[accept]] #1"),
        ("long-uptime", "10.8.0.0/16", date(2027, 1, 31), "accepted.toml [[accept]] #1"),
    ]


@pytest.mark.parametrize(("text", "message"), [
    ('[[accept]]\nrule = "eol-os"\nhost = "x"\nreason = "r"\n', "'expires' are required"),
    ('[[accept]]\nrule = "eol-os"\nreason = "r"\nexpires = 2027-01-01\n', "exactly one of"),
    ('[[accept]]\nrule = "eol-os"\nhost = "x"\nresource = "y"\nreason = "r"\n'
     'expires = 2027-01-01\n', "exactly one of"),
    ('[[accept]]\nrule = "eol-os"\nhost = "x"\nreason = "r"\nexpires = "soon"\n', "a date"),
    ('[[accept]]\nrule = "eol-os"\nhosts = "x"\nreason = "r"\nexpires = 2027-01-01\n',
     "unknown key 'hosts'"),
])  # fmt: skip
def test_bad_accept_entries_name_the_file_and_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    config = tmp_path / "audit.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(config)
    assert "[[accept]] #1" in str(caught.value) and str(config) in str(caught.value)


def test_a_baseline_holds_only_accept_entries(tmp_path: Path) -> None:
    (tmp_path / "b.toml").write_text('[audit]\nfail_on = "info"\n')
    config = tmp_path / "audit.toml"
    config.write_text('[audit]\nbaseline = "b.toml"\n')
    with pytest.raises(ConfigError, match="only \\[\\[accept\\]\\]"):
        load_config(config)
    (tmp_path / "b.toml").unlink()
    assert load_config(config).accept == ()  # not there yet: `auditor accept` creates it


# --------------------------------------------------------------------------- matching


def test_host_patterns_match_names_addresses_cidrs_and_ids() -> None:
    run = generated_run(30)
    for pattern, hosts in [("node-0001*", 10), ("NODE-00012", 1), ("10.8.0.0/29", 7),
                           ("ip:10.8.0.3", 1), ("10.8.0.4", 1), ("*", 30)]:  # fmt: skip
        marked = apply_acceptance(run.findings, run.hosts, [rule("eol-os", host=pattern)], TODAY)
        accepted = {f.host for f in marked if f.accepted is not None}
        assert len(accepted) == hosts, pattern  # every host has an eol-os finding
        assert all(f.rule == "eol-os" for f in marked if f.accepted)


def test_resource_patterns_match_what_a_run_level_finding_names() -> None:
    drift = Finding("drift", Severity.MEDIUM, None,
                    "aws_instance.web[0] instance_type changed outside Terraform",
                    ("state: t3.micro", "live: t3.large", "id: i-0abc"))  # fmt: skip
    other = replace(drift, title="aws_instance.web1 instance_type changed outside Terraform",
                    evidence=("id: i-0def",))  # fmt: skip
    for pattern, expected in [("aws_instance.web[0]", [True, False]),
                              ("aws_instance.web*", [True, True]), ("i-0def", [False, True])]:
        marked = apply_acceptance((drift, other), (), [rule("drift", resource=pattern)], TODAY)
        assert [f.accepted is not None for f in marked] == expected, pattern


def test_expired_acceptance_counts_again_and_says_so() -> None:
    run = generated_run(10)
    old, current = rule("eol-os", host="*", days=-1, n=1), rule("eol-os", host="node-00001", n=2)
    marked = {f.host: f for f in apply_acceptance(run.findings, run.hosts, [old, current], TODAY)
              if f.rule == "eol-os"}  # fmt: skip
    held, back = marked["ip:10.8.0.2"], marked["ip:10.8.0.1"]
    assert held.accepted is not None and not held.accepted.expired and not held.counts
    assert back.accepted is not None and back.accepted.expired and back.counts
    assert back.evidence[0].startswith(f"acceptance expired on {old.expires} (audit.toml")
    assert "this finding counts again" in back.evidence[0]


def test_accepted_findings_do_not_fail_the_run() -> None:
    run = generated_run(10)
    critical = [f for f in run.findings if f.severity is Severity.CRITICAL]
    assert critical and fails(run.findings, Severity.HIGH)
    everything = [rule(r, host="*") for r in {f.rule for f in run.findings}]
    assert not fails(apply_acceptance(run.findings, run.hosts, everything, TODAY), Severity.INFO)
    lapsed = [replace(r, expires=TODAY - timedelta(days=1)) for r in everything]
    assert fails(apply_acceptance(run.findings, run.hosts, lapsed, TODAY), Severity.HIGH)


# --------------------------------------------------------------------------- reports


def accepted_run() -> tuple[list[AcceptRule], object]:
    run = generated_run(100)
    rules = [rule("eol-os", host="*", reason=HOSTILE_REASON),
             rule("long-uptime", host="node-0001*", days=-3, n=2)]  # fmt: skip
    return rules, replace(run, findings=apply_acceptance(run.findings, run.hosts, rules, TODAY))


def test_reports_show_accepted_findings_apart_with_their_reason() -> None:
    _, run = accepted_run()
    data = run_to_dict(run)  # type: ignore[arg-type]
    validate_report(data)
    assert data["summary"]["accepted"] == 100  # 90 Debian 12 + 10 Ubuntu 18.04
    assert data["summary"]["findings_by_severity"]["critical"] == 1  # the serving orphan only
    groups = data["finding_groups"]
    assert [g["title"] for g in groups if g["accepted"] and not g["accepted"]["expired"]] == [
        "Ubuntu 18.04 is end of life", "Debian GNU/Linux 12 is in extended support only"]
    assert groups[-1]["accepted"]["reason"] == HOSTILE_REASON  # accepted groups come last
    expired = [g for g in groups if g["accepted"] and g["accepted"]["expired"]]
    assert [(g["title"], g["count"]) for g in expired] == [
        ("Not rebooted in over 365 days (kernel unpatched)", 1)]  # node-00015 only

    console = Console(record=True, width=200, color_system=None)
    render_terminal_data(data, console)
    out = console.export_text()
    assert "100 accepted findings in 2 groups" in out
    assert "acceptance expired on" in out and "Debian GNU/Linux 12" not in out

    md = render_markdown(data)
    assert "Accepted (`[[accept]]`, not counted): 100 findings in 2 groups" in md
    assert "<script>" not in md

    page = Page(render_html_data(data))
    assert not [a for a in page.attrs if a.startswith("on")] and page.scripts
    text = " ".join(page.text)
    assert "accepted until" in text and HOSTILE_REASON.split("\n")[0] in text  # as text
    assert "acceptance expired" in text


def test_the_webhook_stays_quiet_about_accepted_findings(monkeypatch: pytest.MonkeyPatch) -> None:
    _, run = accepted_run()
    payload = build_payload(run, [])  # type: ignore[arg-type]
    assert payload["accepted"] == 100 and payload["findings"] == len(run.findings) - 100  # type: ignore[attr-defined]
    previous = list(run.findings)  # type: ignore[attr-defined]
    sent: list[list[NewFinding]] = []
    monkeypatch.setattr("auditor.notify.build_payload", lambda r, new: sent.append(new) or {})

    class Answer:
        status = 200

        def __enter__(self) -> Answer:
            return self

        def __exit__(self, *_: object) -> None:
            return None

    monkeypatch.setattr("auditor.notify.urllib.request.urlopen", lambda *a, **k: Answer())
    url = "http://127.0.0.1:9/hook"
    first = notify_if_new(url, run, None)  # type: ignore[arg-type]
    assert first.sent and not any(n.finding.rule == "eol-os" for n in sent[-1])  # accepted: quiet
    # node-00015's uptime acceptance expired 3 days ago: news once, the run after it lapsed
    back = notify_if_new(url, run, previous, previous_day=TODAY - timedelta(days=7))  # type: ignore[arg-type]
    assert back.sent and [n.acceptance_expired for n in sent[-1]] == [TODAY - timedelta(days=3)]
    again = notify_if_new(url, run, previous, previous_day=TODAY - timedelta(days=1))  # type: ignore[arg-type]
    assert not again.sent


# --------------------------------------------------------------------------- auditor accept

CONFIG_TEXT = """# production audit: reviewed by ops
[audit]
name = "prod"   # keep this comment

[[network]]
targets = ["10.250.77.0/24"]  # the lab
"""


def test_accept_appends_and_keeps_every_byte_before_it(tmp_path: Path) -> None:
    config = tmp_path / "audit.toml"
    config.write_text(CONFIG_TEXT)
    os.chmod(config, 0o640)
    result = accept_cli("eol-os", "web-*", "-c", str(config), "--reason", HOSTILE_REASON,
                     "--expires", "2099-03-31")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "accepted eol-os on host web-* until 2099-03-31" in result.stdout
    text = config.read_text()
    assert text.startswith(CONFIG_TEXT) and "[[accept]]  # added by `auditor accept` on" in text
    assert oct(config.stat().st_mode)[-3:] == "640"
    loaded = load_config(config)
    assert loaded.audit.fail_on is Severity.HIGH  # the hostile reason stayed a string
    assert [(r.rule, r.host, r.reason, r.expires) for r in loaded.accept] == [
        ("eol-os", "web-*", HOSTILE_REASON, date(2099, 3, 31))]
    again = accept_cli("drift", "aws_instance.web[0]", "--resource", "-c", str(config),
                    "--reason", "tracked in OPS-7", "--expires", "2099-01-01")  # fmt: skip
    assert again.returncode == 0 and "[[accept]] #2" in again.stdout
    assert load_config(config).accept[1].resource == "aws_instance.web[0]"


def test_accept_writes_to_the_baseline_when_there_is_one(tmp_path: Path) -> None:
    config = tmp_path / "audit.toml"
    config.write_text('[audit]\nbaseline = "state/accepted.toml"\n')
    result = accept_cli("long-uptime", "10.8.0.0/16", "-c", str(config),
                     "--reason", "live-patched", "--expires", "2099-01-01")  # fmt: skip
    assert result.returncode == 0, result.stderr
    baseline = tmp_path / "state" / "accepted.toml"
    assert str(baseline) in result.stdout and config.read_text().count("accept") == 1
    assert baseline.read_text().startswith("# auditor baseline")
    assert [r.host for r in load_config(config).accept] == ["10.8.0.0/16"]


@pytest.mark.parametrize(("args", "message"), [
    (["eol-oss", "web"], "unknown rule 'eol-oss'"),
    (["eol-os", "web", "--expires", "2001-01-01"], "is in the past"),
    (["eol-os", "web", "--reason", " "], "must say why"),
    (["eol-os", " "], "pattern is empty"),
])  # fmt: skip
def test_accept_refuses_what_would_not_work_and_writes_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    config = tmp_path / "audit.toml"
    config.write_text(CONFIG_TEXT)
    base = {"--reason": "r", "--expires": "2099-01-01"}
    for flag in ("--reason", "--expires"):
        if flag in args:
            base.pop(flag)
    extra = [x for kv in base.items() for x in kv]
    result = accept_cli(*args, *extra, "-c", str(config))
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert config.read_text() == CONFIG_TEXT


def test_accept_will_not_break_a_config_it_cannot_append_to(tmp_path: Path) -> None:
    config = tmp_path / "audit.toml"
    config.write_text("accept = []\n" + CONFIG_TEXT)  # an inline array: [[accept]] would clash
    before = config.read_bytes()
    result = accept_cli("eol-os", "web", "-c", str(config), "--reason", "r",
                     "--expires", "2099-01-01")  # fmt: skip
    assert result.returncode == 2 and "nothing written" in result.stderr
    assert config.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == [
        "audit.toml"]  # no temp file left


def test_toml_strings_round_trip() -> None:
    import tomllib

    for text in (HOSTILE_REASON, "tab\tdel\x7fnul\x00 é 🎉 \\ \"", "'''", '"""'):
        assert tomllib.loads(f"x = {toml_string(text)}")["x"] == text


def test_an_audit_with_an_accepted_finding_exits_clean(tmp_path: Path) -> None:
    config = tmp_path / "audit.toml"
    config.write_text(
        f'[[network]]\nnmap_xml = ["{FIXTURES / "nmap" / "loopback-syn.xml"}"]\n')  # fmt: skip
    high = auditor("discover", "-c", str(config), "-o", str(tmp_path / "o1"))
    assert high.returncode == 1  # the unmanaged host is a high finding (default fail_on)
    accepted = accept_cli("unmanaged-host", "127.0.0.1", "-c", str(config),
                       "--reason", "the controller itself", "--expires", "2099-01-01")  # fmt: skip
    assert accepted.returncode == 0, accepted.stderr
    clean = auditor("discover", "-c", str(config), "-o", str(tmp_path / "o2"))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    report = json.loads((tmp_path / "o2" / "report.json").read_text())
    finding = next(f for f in report["findings"] if f["rule"] == "unmanaged-host")
    assert finding["accepted"]["reason"] == "the controller itself"
    assert report["summary"]["accepted"] == 1 and report["summary"]["worst_severity"] is None
