"""A realistic small fleet (two runs, with history) that report tests and the browser test
share, and the tests that need a whole fleet: schema, formats, size limits."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from auditor.config import AuditSettings, Config
from auditor.history import RunSnapshot, compute_changes
from auditor.model import (
    AuditRun,
    ClientUse,
    Connection,
    EolStatus,
    Facts,
    Host,
    HostOwner,
    HostStatus,
    Listener,
    LogActivity,
    LogFile,
    Login,
    Observation,
    OsIdentity,
    PathCount,
    Software,
    SourceKind,
    SourceResult,
    SshOutcome,
    WebLog,
)
from auditor.report import render_all, write_reports
from auditor.report.json_report import run_to_dict, validate_report
from auditor.rules import RuleContext, evaluate

NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
HOSTILE_LOG = '"><svg onload=alert(2)>/admin/../<iframe src=//evil>'
CONFIG = Config(path=None, audit=AuditSettings(uptime_days=365, expected_ports=(22,),
                                               expected_ports_by_group={"web": (80, 443)}))


def eol(product: str, cycle: str, status: str, date: str | None, days: int | None) -> EolStatus:
    return EolStatus(product, cycle, status, date, days, "embedded 2026-08-22")


def osid(id_: str, version: str, name: str, pretty: str, e: EolStatus) -> OsIdentity:
    return OsIdentity(id_, version, name, pretty, "/etc/os-release", pretty, e)


def host(n: int, name: str, status: HostStatus, reason: str, *, ports: tuple[int, ...] = (22,),
         sources: tuple[SourceKind, ...] = (SourceKind.NETWORK,), owner: str | None = None,
         groups: tuple[str, ...] = (), alive: bool = True) -> Host:
    ip = f"10.250.77.{n}"
    observations = []
    if SourceKind.NETWORK in sources and alive:
        observations.append(Observation(SourceKind.NETWORK, "lab", (f"ip:{ip}",), NOW, True,
                                        {"open_ports": [{"port": p, "proto": "tcp"} for p in ports]}))
    if SourceKind.ANSIBLE in sources:
        observations.append(Observation(SourceKind.ANSIBLE, "hosts.ini", (f"ip:{ip}",), NOW, None,
                                        {"groups": list(groups)}))
    return Host(id=f"ip:{ip}", addresses=(ip,), hostnames=(name,), identifiers=(f"ip:{ip}",),
                sources=sources, status=status, status_reason=reason,
                observations=tuple(observations), open_ports=ports if alive else (),
                owner=HostOwner(owner, "config", "[owners]") if owner else None)


def facts(name: str, os: OsIdentity, uptime_days: float, *, listeners: tuple[Listener, ...] = (),
          clients: tuple[ClientUse, ...] = (), logins: tuple[Login, ...] = (),
          software: tuple[Software, ...] = (), last_log_days: float = 0.2,
          web: tuple[WebLog, ...] = (), connections: tuple[Connection, ...] = (),
          kernel: str = "5.15.0-91-generic", at: datetime = NOW) -> Facts:
    boot = NOW - timedelta(days=uptime_days)  # uptime as of NOW: the same boot in both runs
    uptime_days = (at - boot).total_seconds() / 86400
    latest = at - timedelta(days=last_log_days)
    return Facts(
        collected_at=at, hostname=name, kernel=kernel, arch="x86_64", os=os,
        uptime_seconds=uptime_days * 86400, boot_time=boot,
        listeners=(Listener("tcp", "0.0.0.0", 22, 801, "sshd", "root", "/usr/sbin/sshd",
                            "/", "sshd: /usr/sbin/sshd -D"), *listeners),
        connections=connections,
        log_activity=LogActivity(latest, (LogFile("/var/log/syslog", 48211, latest),
                                          LogFile("/var/log/auth.log", 9120, latest - timedelta(hours=3)))),
        web_logs=web, clients=clients, logins=logins, sessions=(), cron=("0 3 * * * /usr/local/bin/backup.sh",),
        software=software, errors={},
    )


def fleet(previous: bool = False) -> AuditRun:
    """The lab-like fleet. previous=True: the run a week earlier (fewer hosts, other facts)."""
    at = NOW - timedelta(days=7) if previous else NOW
    centos5 = osid("centos", "5.11", "CentOS", "CentOS release 5.11 (Final)",
                   eol("centos", "5", "eol", "2017-03-31", 3529))
    ubuntu18 = osid("ubuntu", "18.04", "Ubuntu", "Ubuntu 18.04.6 LTS",
                    eol("ubuntu", "18.04", "extended-support", "2023-05-31", 1277))
    ubuntu22 = osid("ubuntu", "22.04", "Ubuntu", "Ubuntu 22.04.4 LTS",
                    eol("ubuntu", "22.04", "supported", "2027-04-01", -124))
    debian11 = osid("debian", "11", "Debian GNU/Linux", "Debian GNU/Linux 11 (bullseye)",
                    eol("debian", "11", "security-only", "2026-08-31", 89))
    alpine = osid("alpine", "3.12.0", "Alpine Linux", "Alpine Linux v3.12",
                  eol("alpine", "3.12", "eol", "2022-05-01", 1672))
    hosts = [
        host(10, "legacy-billing", HostStatus.UNMANAGED,
             "answers on the network (nmap lab) but is in no inventory, state or cloud account",
             ports=(22, 80)),
        host(11, "web01", HostStatus.MANAGED, "in Ansible inventory hosts.ini as web01 (groups: web)",
             ports=(22, 80, 443), sources=(SourceKind.NETWORK, SourceKind.ANSIBLE), owner="team-web",
             groups=("web",)),
        host(12, "web02", HostStatus.MANAGED, "in Ansible inventory hosts.ini as web02 (groups: web)",
             ports=(22, 80, 443), sources=(SourceKind.NETWORK, SourceKind.ANSIBLE), owner="team-web",
             groups=("web",)),
        host(13, "db01", HostStatus.MANAGED if previous else HostStatus.UNMANAGED,
             "answers on the network (nmap lab) but is in no inventory" if not previous
             else "in Ansible inventory hosts.ini as db01",
             ports=(22, 5432), sources=(SourceKind.NETWORK,) if not previous
             else (SourceKind.NETWORK, SourceKind.ANSIBLE)),
        host(14, "old-ftp", HostStatus.STALE, "in Ansible inventory hosts.ini as old-ftp; not seen "
             "by the sweep of 10.250.77.0/24", sources=(SourceKind.ANSIBLE,), alive=False),
        host(15, "build-agent", HostStatus.MANAGED, "in Ansible inventory hosts.ini as build-agent",
             sources=(SourceKind.NETWORK, SourceKind.ANSIBLE), owner="team-ci"),
        host(16, "edge-proxy", HostStatus.UNMANAGED, "answers on the network (nmap lab) but is in "
             "no inventory, state or cloud account", ports=(22, 8080)),
        host(17, HOSTILE, HostStatus.UNMANAGED, f"answers on the network {HOSTILE}", ports=(22, 80)),
    ]
    if previous:
        hosts = [h for h in hosts if h.hostnames[0] not in ("edge-proxy", HOSTILE)]
        hosts.append(host(18, "tmp-test", HostStatus.UNMANAGED, "answers on the network",
                          ports=(22,)))
    F: dict[str, Facts] = {}
    F["ip:10.250.77.10"] = facts(
        "legacy-billing", centos5, 812, at=at,
        kernel="2.6.18-419.el5",
        listeners=(Listener("tcp", "0.0.0.0", 80, 2201, "httpd", "root", "/usr/sbin/httpd", "/",
                            "/usr/sbin/httpd -f /etc/httpd/conf/httpd.conf"),
                   Listener("tcp", "0.0.0.0", 8009, 2230, "java", "tomcat", None, None,
                            "/usr/lib/jvm/jre/bin/java -jar /opt/billing/billing.jar"))
        + (() if previous else (Listener("tcp", "0.0.0.0", 4444, 3120, "nc", "root", None, None,
                                          "nc -lk 4444"),)),
        clients=(ClientUse("10.20.1.5", 1840, NOW - timedelta(hours=2), "team-payments"),
                 ClientUse("10.20.1.6", 622, NOW - timedelta(hours=5), "team-payments"),
                 ClientUse("10.30.4.12", 48, NOW - timedelta(days=2), "team-reporting"),
                 ClientUse("192.168.77.3", 3, NOW - timedelta(days=6), None))[: 2 if previous else 4],
        logins=(Login("root", "10.20.1.9", NOW - timedelta(days=3)),
                Login("deploy", "10.20.1.9", NOW - timedelta(days=1))),
        software=(Software("httpd", "2.2.3", "Server version: Apache/2.2.3",
                           eol("apache-http-server", "2.2", "eol", "2017-07-11", 3427)),
                  Software("java", "1.6.0_41", 'java version "1.6.0_41"',
                           eol("java", "6", "eol", "2018-12-31", 2889))),
        web=(WebLog("/var/log/httpd/access_log", 2513, 4,
                    (PathCount("/billing/invoice", 1900), PathCount("/billing/status", 540),
                     PathCount(HOSTILE_LOG, 2)),
                    (PathCount("/server-status", 12),),
                    first_seen=NOW - timedelta(days=7), last_seen=NOW - timedelta(hours=2)),),
    )
    F["ip:10.250.77.11"] = facts("web01", ubuntu22, 12.3, listeners=(
        Listener("tcp", "0.0.0.0", 443, 911, "nginx", "root", None, None, "nginx: master process"),
        Listener("tcp", "127.0.0.1", 6379, 700, "redis-server", "redis", None, None, "redis-server 127.0.0.1:6379")),
        software=(Software("nginx", "1.18.0", "nginx version: nginx/1.18.0",
                           eol("nginx", "1.18", "eol", "2021-04-20", 2048)),), at=at)
    F["ip:10.250.77.12"] = facts("web02", ubuntu18, 402, at=at)
    F["ip:10.250.77.13"] = facts("db01", debian11, 2 if not previous else 95, listeners=(
        Listener("tcp", "0.0.0.0", 5432, 612, "postgres", "postgres", None, None,
                 "/usr/lib/postgresql/13/bin/postgres -D /var/lib/postgresql/13/main"),),
        connections=(Connection(5432, "10.20.1.5"),), at=at)
    F["ip:10.250.77.15"] = facts("build-agent", ubuntu22, 40, last_log_days=64, at=at)
    F["ip:10.250.77.16"] = facts("edge-proxy", alpine, 1600, listeners=(
        Listener("tcp", "::", 8080, 88, "haproxy", "haproxy", None, None, "haproxy -f /etc/haproxy.cfg"),),
        logins=(Login("admin", "10.20.9.9", NOW - timedelta(days=2)),), at=at)
    F["ip:10.250.77.17"] = facts(HOSTILE, debian11, 30, listeners=(
        Listener("tcp", "0.0.0.0", 31337, 666, HOSTILE, "root", None, None, f"sh -c '{HOSTILE}'"),),
        clients=(ClientUse("10.20.1.5", 5, NOW, HOSTILE),),
        web=(WebLog(f"/var/log/{HOSTILE}.log", 5, 1, (PathCount(HOSTILE_LOG, 5),), ()),), at=at)
    ssh = {h.id: SshOutcome("ok", None, h.primary_address, 22, 0.4) for h in hosts}
    ssh["ip:10.250.77.14"] = SshOutcome("not-attempted", "not alive (stale)", "10.250.77.14")
    if not previous:
        ssh["ip:10.250.77.15"] = SshOutcome(
            "skipped", "host key CHANGED for 10.250.77.15: known ssh-ed25519 SHA256:abc "
            "(known_hosts:3), offered SHA256:xyz; refusing to connect", "10.250.77.15", 22, 0.2)
        F.pop("ip:10.250.77.15")
    if previous:
        F["ip:10.250.77.18"] = facts("tmp-test", ubuntu22, 10, at=at)
    F = {k: v for k, v in F.items() if any(h.id == k for h in hosts)}
    sources = (SourceResult(SourceKind.NETWORK, "lab", True, ()),
               SourceResult(SourceKind.ANSIBLE, "hosts.ini", True, (),
                            errors=() if previous else ("name 'gone.example' does not resolve",)))
    ctx = RuleContext(CONFIG, at, tuple(hosts), ssh, F, sources)
    run_id = at.strftime("%Y%m%dT%H%M%SZ") + ("-aaaaaa" if previous else "-bbbbbb")
    return AuditRun(run_id, at, at + timedelta(seconds=42), "/etc/auditor/audit.toml", sources,
                    tuple(hosts), ssh, F, evaluate(ctx))


def fleet_with_changes() -> AuditRun:
    prev, cur = fleet(previous=True), fleet()
    changes = compute_changes(RunSnapshot.from_run(prev), RunSnapshot.from_run(cur),
                              grace=timedelta(days=3))
    return replace(cur, changes=changes)


# --------------------------------------------------------------------------- tests


def test_fleet_report_is_valid_and_has_changes() -> None:
    data = run_to_dict(fleet_with_changes())
    validate_report(data)
    changes = data["changes"]
    assert changes["previous_run"].endswith("-aaaaaa")
    assert {h["label"] for h in changes["new_hosts"]} == {"edge-proxy", HOSTILE}
    assert [h["label"] for h in changes["gone_hosts"]] == ["tmp-test"]
    assert {"host": "ip:10.250.77.13", "label": "db01", "from": "managed", "to": "unmanaged"} \
        in changes["status_changed"]
    facts = {(c["label"], c["fact"], c["before"], c["after"]) for c in changes["fact_changes"]}
    assert any(f[0] == "db01" and f[1] == "boot" for f in facts)  # up 88 d, a week later 2 d
    assert not any(f[0] == "web01" and f[1] == "boot" for f in facts)  # up 12 d both times
    assert ("legacy-billing", "listener", None, "tcp 0.0.0.0:4444 nc") in facts
    assert ("legacy-billing", "client_team", None, "team-reporting") in facts


def test_all_formats_render_and_write(tmp_path: Path) -> None:
    written = write_reports(fleet_with_changes(), tmp_path)
    assert sorted(p.name for p in written.values()) == [
        "hosts.csv", "index.html", "report.json", "summary.md"]
    hidden = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    assert hidden == [".current", ".lock", ".sets"]  # the set's switch and lock: no temp file
    rows = list(csv.DictReader(io.StringIO(written["csv"].read_text())))
    assert len(rows) == 8
    json.loads(written["json"].read_text())


def test_render_all_is_deterministic() -> None:
    run = fleet_with_changes()
    assert render_all(run_to_dict(run)) == render_all(run_to_dict(run))
