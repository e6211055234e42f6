"""Every rule, pure, on crafted hosts and facts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from auditor.config import AuditSettings, Config
from auditor.model import (
    ClientUse,
    Connection,
    EolStatus,
    Facts,
    Finding,
    Host,
    HostStatus,
    Listener,
    LogActivity,
    LogFile,
    Login,
    OsIdentity,
    Package,
    Severity,
    Software,
    SourceKind,
    SourceResult,
    SshOutcome,
    WebLog,
)
from auditor.rules import (
    ALL_RULES,
    RuleContext,
    activity_findings,
    eol_findings,
    eol_severity,
    evaluate,
    listener_findings,
    source_findings,
    ssh_findings,
    status_findings,
    uptime_findings,
)
from tests import builders

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def mkhost(status: HostStatus = HostStatus.MANAGED, *, n: int = 5, ports: tuple[int, ...] = (22,),
           **kw: Any) -> Host:
    return builders.mkhost(n, status, at=NOW, reason=f"reason for {status}", ports=ports, **kw)


def mkfacts(**kw: Any) -> Facts:
    return builders.mkfacts(NOW, **kw)


def ctx(hosts: list[Host], facts: dict[str, Facts] | None = None,
        ssh: dict[str, SshOutcome] | None = None, **audit: object) -> RuleContext:
    config = Config(path=None, audit=AuditSettings(**audit))  # type: ignore[arg-type]
    return RuleContext(config, NOW, tuple(hosts), ssh or {}, facts or {})


def only(findings: object) -> Finding:
    items = list(findings)  # type: ignore[call-overload]
    assert len(items) == 1, items
    return items[0]  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- status


def test_unmanaged_host_is_high_when_it_serves_nobody() -> None:
    h = mkhost(HostStatus.UNMANAGED)
    f = only(status_findings(ctx([h], {h.id: mkfacts(clients=())})))
    assert (f.rule, f.severity, f.host) == ("unmanaged-host", Severity.HIGH, h.id)
    assert f.evidence[0] == h.status_reason


def test_unmanaged_host_serving_clients_is_critical_with_teams_in_evidence() -> None:
    h = mkhost(HostStatus.UNMANAGED)
    facts = mkfacts(clients=(ClientUse("10.20.1.5", 40, NOW, "team-payments"),
                             ClientUse("10.20.1.6", 2, None, None)))
    f = only(status_findings(ctx([h], {h.id: facts})))
    assert f.severity is Severity.CRITICAL and "serves traffic" in f.title
    assert any("team-payments" in e and "40 requests" in e for e in f.evidence)
    assert "client teams: team-payments" in f.evidence


def test_unmanaged_host_with_inbound_connections_is_critical_but_ssh_and_loopback_are_not() -> None:
    h = mkhost(HostStatus.UNMANAGED, ssh_port=2222)
    admin = mkfacts(connections=(Connection(22, "10.9.9.9"), Connection(2222, "10.9.9.9"),
                                 Connection(5432, "127.0.0.1")))
    assert only(status_findings(ctx([h], {h.id: admin}))).severity is Severity.HIGH
    served = mkfacts(connections=(Connection(5432, "10.20.1.5"),))
    f = only(status_findings(ctx([h], {h.id: served})))
    assert f.severity is Severity.CRITICAL
    assert any("port 5432 from 10.20.1.5" in e for e in f.evidence)


@pytest.mark.parametrize(("status", "rule", "severity"), [
    (HostStatus.CLOUD_UNMANAGED, "cloud-unmanaged", Severity.HIGH),
    (HostStatus.STALE, "stale-inventory", Severity.MEDIUM),
    (HostStatus.MISSING, "missing-from-cloud", Severity.MEDIUM),
])
def test_status_rules(status: HostStatus, rule: str, severity: Severity) -> None:
    h = mkhost(status)
    f = only(status_findings(ctx([h])))
    assert (f.rule, f.severity) == (rule, severity)
    assert f.evidence == (h.status_reason,)


@pytest.mark.parametrize("status", [HostStatus.MANAGED, HostStatus.UNVERIFIED, HostStatus.IGNORED])
def test_no_status_finding(status: HostStatus) -> None:
    assert list(status_findings(ctx([mkhost(status)]))) == []


def test_ignored_hosts_get_no_findings_at_all() -> None:
    h = mkhost(HostStatus.IGNORED)
    facts = mkfacts(uptime_seconds=10_000 * 86400.0,
                    listeners=(Listener("tcp", "0.0.0.0", 4444),))
    ssh = {h.id: SshOutcome("skipped", "host key CHANGED for x")}
    assert evaluate(ctx([h], {h.id: facts}, ssh)) == ()


def test_source_failed() -> None:
    c = ctx([])
    sources = (
        SourceResult(SourceKind.AWS, "prod", ok=False, error="AccessDenied: ec2:DescribeInstances"),
        SourceResult(SourceKind.ANSIBLE, "inv", ok=True, errors=("name 'x' does not resolve",)),
        SourceResult(SourceKind.NETWORK, "lan", ok=True),
    )
    from dataclasses import replace

    found = list(source_findings(replace(c, sources=sources)))
    assert [(f.rule, f.severity, f.host) for f in found] == [
        ("source-failed", Severity.HIGH, None), ("source-failed", Severity.LOW, None)]
    assert "AccessDenied" in found[0].evidence[0] and "could not be read" in found[0].title
    assert "read only in part" in found[1].title


# --------------------------------------------------------------------------- ssh


@pytest.mark.parametrize(("reason", "rule", "severity"), [
    ("host key CHANGED for 10.0.0.5: known ssh-ed25519 SHA256:a (known_hosts:3), offered "
     "SHA256:b; refusing to connect", "ssh-host-key-changed", Severity.CRITICAL),
    ("host key of 10.0.0.5 is REVOKED: ssh-rsa SHA256:c is marked @revoked",
     "ssh-host-key-changed", Severity.CRITICAL),
    ("unknown host key for 10.0.0.5: ssh-ed25519 SHA256:d is not in known_hosts",
     "ssh-host-key-unknown", Severity.LOW),
    ("authentication failed for auditor@10.0.0.5:22: server refused every key offered (id_ed25519)",
     "ssh-auth-refused", Severity.MEDIUM),
    ("connection refused by 10.0.0.5:22", "ssh-unreachable", Severity.LOW),
    ("deadline exceeded after 90s", "ssh-unreachable", Severity.LOW),
])
def test_ssh_outcomes(reason: str, rule: str, severity: Severity) -> None:
    h = mkhost()
    f = only(ssh_findings(ctx([h], ssh={h.id: SshOutcome("skipped", reason, "10.0.0.5", 22)})))
    assert (f.rule, f.severity) == (rule, severity)
    assert f.evidence[0] == reason and "10.0.0.5:22" in f.evidence[1]


def test_ssh_ok_and_not_attempted_make_no_finding() -> None:
    a, b = mkhost(n=1), mkhost(n=2)
    ssh = {a.id: SshOutcome("ok"), b.id: SshOutcome("not-attempted", "stale")}
    assert list(ssh_findings(ctx([a, b], ssh=ssh))) == []


def test_an_interrupted_probe_is_no_finding_whatever_its_reason_says() -> None:
    a, b = mkhost(n=1), mkhost(n=2)
    ssh = {
        a.id: SshOutcome("skipped", "connection refused", "10.0.0.1", 22, interrupted=True),
        b.id: SshOutcome("skipped", "interrupted", "10.0.0.2", 22),  # a host's own words
    }
    found = list(ssh_findings(ctx([a, b], ssh=ssh)))
    assert [(f.host, f.rule) for f in found] == [(b.id, "ssh-unreachable")]


# --------------------------------------------------------------------------- eol


def eol(status: str, days: int | None, date: str | None = "2020-01-01") -> EolStatus:
    return EolStatus("centos", "7", status, date, days, "embedded 2026-08-22")


@pytest.mark.parametrize(("status", "days", "expected"), [
    ("eol", 3 * 365 + 1, Severity.CRITICAL),
    ("eol", 3 * 365, Severity.HIGH),
    ("eol", 366, Severity.HIGH),
    ("eol", 365, Severity.MEDIUM),
    ("eol", 0, Severity.MEDIUM),
    ("eol", None, Severity.MEDIUM),
    ("extended-support", 900, Severity.MEDIUM),
    ("security-only", -30, Severity.LOW),
    ("supported", -400, None),
    ("unknown", None, None),
])
def test_eol_severity_table(status: str, days: int | None, expected: Severity | None) -> None:
    assert eol_severity(eol(status, days)) is expected


def test_eol_os_and_software_findings_with_evidence() -> None:
    h = mkhost()
    os = OsIdentity("centos", "5.11", "CentOS", "CentOS release 5.11 (Final)",
                    "/etc/redhat-release", "CentOS release 5.11 (Final)",
                    EolStatus("centos", "5", "eol", "2017-03-31", 3529, "embedded 2026-08-22"))
    software = (
        Software("httpd", "2.2.3", "Server version: Apache/2.2.3",
                 EolStatus("apache-http-server", "2.2", "eol", "2017-07-11", 500, "embedded")),
        Software("php", "8.3.1", None, EolStatus("php", "8.3", "security-only", "2027-12-31",
                                                  -400, "embedded")),
        Software("nginx", "1.27.0", None, EolStatus("nginx", "1.27", "supported", None, None, "e")),
        Software("java", "1.6", None, None),
    )
    found = list(eol_findings(ctx([h], {h.id: mkfacts(os=os, software=software)})))
    assert [(f.rule, f.severity) for f in found] == [
        ("eol-os", Severity.CRITICAL), ("eol-software", Severity.HIGH),
        ("eol-software", Severity.LOW)]
    assert found[0].title == "CentOS 5 is end of life"
    assert "2017-03-31 (3529 days ago)" in found[0].evidence[0]
    assert "/etc/redhat-release" in found[0].evidence[1]
    assert found[1].title == "httpd 2.2 is end of life"
    assert "in 400 days" in found[2].evidence[0] and "security fixes only" in found[2].title


def test_a_program_the_distribution_maintains_gets_no_finding_of_its_own() -> None:
    """Debian 12's nginx 1.22 is maintained by Debian (in LTS): the OS's extended-support
    finding is the one to act on; a hand-built nginx 1.22 next to it is end of life."""
    h = mkhost()
    debian = EolStatus("debian", "12", "extended-support", "2026-07-11", 149, "embedded")
    os = OsIdentity("debian", "12.11", "Debian GNU/Linux", "Debian GNU/Linux 12.11 (bookworm)",
                    "/etc/os-release", None, debian)
    upstream = EolStatus("nginx", "1.22", "eol", "2023-04-11", 1336, "embedded",
                         judged_by="upstream", basis="upstream nginx 1.22 cycle: hand-installed")
    software = (
        Software("nginx", "1.22.1", "nginx version: nginx/1.22.1",
                 replace(debian, judged_by="distribution", basis="maintained by debian 12"),
                 path="/usr/sbin/nginx", package=Package("dpkg", "nginx", "1.22.1-9")),
        Software("nginx", "1.22.1", "nginx version: nginx/1.22.1", upstream,
                 path="/opt/nginx/sbin/nginx", package=None),
    )
    found = list(eol_findings(ctx([h], {h.id: mkfacts(os=os, software=software)})))
    assert [(f.rule, f.severity) for f in found] == [
        ("eol-os", Severity.MEDIUM), ("eol-software", Severity.CRITICAL)]
    assert "upstream nginx 1.22 cycle: hand-installed" in found[1].evidence


def test_no_eol_finding_without_facts_or_eol() -> None:
    h = mkhost()
    os = OsIdentity("ubuntu", "24.04", "Ubuntu", None, None)
    assert list(eol_findings(ctx([h], {h.id: mkfacts(os=os)}))) == []
    assert list(eol_findings(ctx([h]))) == []


# --------------------------------------------------------------------------- uptime


def test_long_uptime_uses_the_configured_threshold() -> None:
    h = mkhost()
    facts = mkfacts(uptime_seconds=400 * 86400.0, boot_time=NOW - timedelta(days=400),
                    kernel="3.10.0-1160.el7.x86_64")
    f = only(uptime_findings(ctx([h], {h.id: facts})))
    assert (f.rule, f.severity) == ("long-uptime", Severity.MEDIUM)
    assert "over 365 days" in f.title and "up 400 days" in f.evidence[0]
    assert any("3.10.0-1160" in e for e in f.evidence)
    assert list(uptime_findings(ctx([h], {h.id: facts}, uptime_days=500))) == []
    assert list(uptime_findings(ctx([h], {h.id: mkfacts(uptime_seconds=None)}))) == []


# --------------------------------------------------------------------------- listeners


def test_unexpected_listener_definition() -> None:
    h = mkhost(ports=(22, 80), groups=("web",))
    listeners = (
        Listener("tcp", "0.0.0.0", 22, 1, "sshd"),  # expected_ports default
        Listener("tcp", "0.0.0.0", 80, 2, "nginx"),  # open in the sweep
        Listener("tcp", "::", 443, 2, "nginx"),  # the web group expects it
        Listener("tcp", "127.0.0.1", 6379, 3, "redis-server"),  # loopback: not reachable
        Listener("tcp", "::1", 9000, 3, "php-fpm"),
        Listener("udp", "0.0.0.0", 68, 4, "dhclient"),  # UDP is left out
        Listener("tcp", "0.0.0.0", 4444, 5, "nc", "root", None, None, "nc -lk 4444"),
        Listener("tcp", "::", 4444, 5, "nc", "root"),
        Listener("tcp", "10.0.0.5", 8080, None, None),  # bound to its own address
    )
    c = ctx([h], {h.id: mkfacts(listeners=listeners)},
            expected_ports_by_group={"web": (443,)})
    found = list(listener_findings(c))
    assert [f.title for f in found] == [
        "Unexpected listener on port 4444/tcp",
        "Unexpected listener on port 8080/tcp"]
    assert all(f.rule == "unexpected-listener" and f.severity is Severity.MEDIUM for f in found)
    ev = found[0].evidence
    assert "tcp 0.0.0.0:4444 (pid 5, nc, user root) cmdline 'nc -lk 4444'" in ev
    assert any("tcp :::4444" in e for e in ev)
    assert any("group web [443]" in e and "sweep saw: 22, 80" in e for e in ev)
    assert "unknown (needs root)" in found[1].evidence[-3]


def test_listener_on_the_ssh_port_used_is_expected() -> None:
    h = mkhost(ports=(), network=False)
    facts = mkfacts(listeners=(Listener("tcp", "0.0.0.0", 2222, 1, "sshd"),))
    ssh = {h.id: SshOutcome("ok", None, "10.0.0.5", 2222)}
    assert list(listener_findings(ctx([h], {h.id: facts}, ssh))) == []
    found = list(listener_findings(ctx([h], {h.id: facts})))
    assert "no network sweep saw this host" in found[0].evidence[-2]


# --------------------------------------------------------------------------- activity


def logs(days_ago: float) -> LogActivity:
    at = NOW - timedelta(days=days_ago)
    return LogActivity(at, (LogFile("/var/log/messages", 10, at),))


def test_silent_managed_host_is_low_and_unmanaged_is_medium() -> None:
    m, u = mkhost(n=1), mkhost(HostStatus.UNMANAGED, n=2)
    facts = {m.id: mkfacts(log_activity=logs(45)), u.id: mkfacts(log_activity=logs(400))}
    found = {f.host: f for f in activity_findings(ctx([m, u], facts))}
    assert found[m.id].rule == "log-silence" and found[m.id].severity is Severity.LOW
    assert found[u.id].severity is Severity.MEDIUM and "abandoned" in found[u.id].title
    assert "45 days before the probe" in found[m.id].evidence[0]
    assert list(activity_findings(ctx([m], facts, silent_days=60))) == []


def test_active_unmanaged_host_is_worse_than_a_silent_one() -> None:
    u = mkhost(HostStatus.UNMANAGED)
    facts = mkfacts(log_activity=logs(0.5), logins=(Login("root", "10.1.1.1", NOW - timedelta(days=1)),),
                    web_logs=(WebLog("/var/log/nginx/access.log", 12, 2, (), ()),))
    f = only(activity_findings(ctx([u], {u.id: facts})))
    assert (f.rule, f.severity) == ("unmanaged-activity", Severity.HIGH)
    assert any("logs last written" in e and "/var/log/messages" in e for e in f.evidence)
    assert any("1 logins" in e and "root" in e for e in f.evidence)
    assert any("12 requests from 2 clients" in e for e in f.evidence)
    # a managed active host is fine; an unmanaged one serving clients is already critical
    assert list(activity_findings(ctx([mkhost()], {"ip:10.0.0.5": facts}))) == []
    serving = mkfacts(log_activity=logs(0.5), clients=(ClientUse("10.2.2.2", 3, NOW),))
    assert list(activity_findings(ctx([u], {u.id: serving}))) == []


def test_no_activity_finding_without_log_facts() -> None:
    u = mkhost(HostStatus.UNMANAGED)
    assert list(activity_findings(ctx([u], {u.id: mkfacts()}))) == []


# --------------------------------------------------------------------------- evaluate


def test_evaluate_orders_worst_first_and_is_deterministic() -> None:
    a, b = mkhost(HostStatus.STALE, n=1), mkhost(HostStatus.UNMANAGED, n=2)
    ssh = {a.id: SshOutcome("skipped", "host key CHANGED for x")}
    found = evaluate(ctx([a, b], ssh=ssh))
    assert [f.severity for f in found] == sorted((f.severity for f in found),
                                                 key=lambda s: -s.rank)
    assert found[0].rule == "ssh-host-key-changed"
    assert evaluate(ctx([b, a], ssh=ssh)) == found
    assert len(ALL_RULES) == 9


def test_titles_are_stable_across_days() -> None:
    """History matches findings by (rule, host, title): titles must not grow with time."""
    h = mkhost(HostStatus.UNMANAGED)

    def run(days: int) -> set[str]:
        facts = Facts(collected_at=NOW + timedelta(days=days),
                      uptime_seconds=(400 + days) * 86400.0, log_activity=logs(100 - days),
                      listeners=(Listener("tcp", "0.0.0.0", 4444, 7 + days, "nc"),))
        c = RuleContext(Config(path=None), NOW + timedelta(days=days), (h,), {}, {h.id: facts})
        return {f.title for f in evaluate(c)}

    assert run(0) == run(3)


def test_ssh_failure_kind_beats_reason_wording() -> None:
    from auditor.model import SshOutcome
    from auditor.rules.ssh import ssh_failure

    # a bastion's unknown key is the jump host's problem, not the target's
    jump = SshOutcome("skipped", "jump host bastion: unknown host key ...", kind="jump-host")
    assert ssh_failure(jump) == "unreachable"
    assert ssh_failure(SshOutcome("skipped", "cannot read key file", kind="key-file")) == "auth"
    assert ssh_failure(SshOutcome("skipped", "x", kind="changed-host-key")) == "changed-host-key"
    assert ssh_failure(SshOutcome("skipped", "Unknown host key for 10.0.0.1")) == "unknown-host-key"


def test_within_a_severity_findings_follow_rule_order() -> None:
    from datetime import UTC, datetime

    from auditor.config import Config
    from auditor.model import Finding, Severity
    from auditor.rules import RuleContext, evaluate

    ctx = RuleContext(Config(path=None), datetime(2026, 11, 28, tzinfo=UTC), ())

    def first(_: RuleContext) -> list[Finding]:
        return [Finding("zz-orphan", Severity.CRITICAL, "h", "orphan serves traffic")]

    def second(_: RuleContext) -> list[Finding]:
        return [Finding("aa-eol", Severity.CRITICAL, "h", "old openssl"),
                Finding("aa-eol", Severity.HIGH, "h", "old php")]

    assert [f.rule for f in evaluate(ctx, (first, second))] == ["zz-orphan", "aa-eol", "aa-eol"]


def test_one_finding_per_failed_jump_host_not_one_per_host_behind_it() -> None:
    hosts = [mkhost(n=i) for i in range(1, 13)]
    changed = SshOutcome(
        "skipped", "jump host ops@10.9.0.1:22: host key CHANGED for 10.9.0.1: ...", "10.0.0.1",
        22, kind="jump-host", jump="ops@10.9.0.1:22", jump_kind="changed-host-key",
    )  # fmt: skip
    down = replace(changed, reason="jump host ops@10.9.0.2:22: connection refused",
                   jump="ops@10.9.0.2:22", jump_kind="refused")  # fmt: skip
    ssh = {h.id: changed for h in hosts[:11]} | {hosts[11].id: down}
    findings = list(ssh_findings(ctx(hosts, ssh=ssh)))
    assert [(f.rule, f.severity, f.host) for f in findings] == [
        ("ssh-jump-host", Severity.CRITICAL, None),  # a bastion's changed key: critical
        ("ssh-jump-host", Severity.HIGH, None),
    ]
    assert "11 hosts not probed" in findings[0].title and "and 1 more" in findings[0].evidence[1]
    assert findings[1].evidence[1] == f"hosts behind it: {hosts[11].id}"


def test_a_host_certificate_the_probe_cannot_check_is_its_own_finding() -> None:
    h = mkhost()
    outcome = SshOutcome("skipped", "host certificate for 10.0.0.5: ...", "10.0.0.5", 22,
                         kind="host-certificate")  # fmt: skip
    f = only(ssh_findings(ctx([h], ssh={h.id: outcome})))
    assert (f.rule, f.severity, f.title) == (
        "ssh-host-certificate", Severity.MEDIUM, "Host certificate: CA checking not supported"
    )


def test_equal_finding_text_is_held_once_across_hosts() -> None:
    """Titles never name the host: a fleet's same finding is one string, however many
    hosts have it (memory flat in fleet size), and the values are what the rules made."""
    from tests.unit.big_fleet import generated_run

    run = generated_run(40)
    by_text: dict[tuple[str, str], list[Finding]] = {}
    for finding in run.findings:
        by_text.setdefault((finding.rule, finding.title), []).append(finding)
    repeated = [same for same in by_text.values() if len(same) > 1]
    assert repeated
    for same in repeated:
        assert all(f.title is same[0].title for f in same)
        for f in same:
            for line in f.evidence:
                twin = next((g for g in same if line in g.evidence and g is not f), None)
                if twin is not None:
                    assert twin.evidence[twin.evidence.index(line)] is line
