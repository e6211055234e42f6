"""A generated fleet of any size for report tests at scale (1,000 and 10,000 hosts).

Like a real estate: mostly one image (Debian 12, in extended support by the audit date, an
nginx and a node exporter, a cron line), a tenth on Ubuntu 18.04 with a long uptime, some
unmanaged hosts (a few serving clients), a host whose name is markup, and addresses across
several /24s so that numeric order differs from text order (10.8.1.9 before 10.8.1.10).
Findings come from the real rules.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from auditor.config import AuditSettings, Config
from auditor.model import (
    AuditRun,
    ClientUse,
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
    Software,
    SourceKind,
    SourceResult,
    SshOutcome,
)
from auditor.rules import RuleContext, evaluate

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
HOSTILE_NAME = "</script><script>alert(1)</script>"
CONFIG = Config(path=None, audit=AuditSettings(uptime_days=365, expected_ports=(22, 80)))
DEBIAN12 = OsIdentity("debian", "12", "Debian GNU/Linux", "Debian GNU/Linux 12 (bookworm)",
                      "/etc/os-release", 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"',
                      EolStatus("debian", "12", "extended-support", "2026-06-10", 180,
                                "embedded 2026-08-22"))  # fmt: skip
UBUNTU18 = OsIdentity("ubuntu", "18.04", "Ubuntu", "Ubuntu 18.04.6 LTS", "/etc/os-release",
                      'PRETTY_NAME="Ubuntu 18.04.6 LTS"',
                      EolStatus("ubuntu", "18.04", "eol", "2023-05-31", 1286,
                                "embedded 2026-08-22"))  # fmt: skip


def address(n: int) -> str:
    return f"10.8.{n // 200}.{n % 200 + 1}"


def _host(n: int) -> Host:
    ip = address(n)
    name = HOSTILE_NAME if n == 7 else f"node-{n:05d}"
    unmanaged = n % 50 == 3
    obs = [Observation(SourceKind.NETWORK, "sweep", (f"ip:{ip}",), NOW, True,
                       {"open_ports": [{"port": 22, "proto": "tcp"}, {"port": 80, "proto": "tcp"}]})]
    if not unmanaged:
        obs.append(Observation(SourceKind.ANSIBLE, "hosts.ini", (f"ip:{ip}",), NOW, None,
                               {"groups": ["web"]}))
    return Host(
        id=f"ip:{ip}", addresses=(ip,), hostnames=(name,), identifiers=(f"ip:{ip}",),
        sources=(SourceKind.NETWORK,) if unmanaged else (SourceKind.NETWORK, SourceKind.ANSIBLE),
        status=HostStatus.UNMANAGED if unmanaged else HostStatus.MANAGED,
        status_reason=("answers on the network (sweep) but is in no inventory" if unmanaged
                       else f"in Ansible inventory hosts.ini as {name} (groups: web)"),
        observations=tuple(obs), open_ports=(22, 80), owner=None if unmanaged else HostOwner("team-web", "config", "[owners]"),
    )  # fmt: skip


def _facts(n: int, host: Host) -> Facts:
    ubuntu = n % 10 == 5
    boot = NOW - timedelta(days=500 if ubuntu else 20 + n % 30)
    latest = NOW - timedelta(minutes=5)
    clients = (ClientUse("10.20.1.5", 1200, NOW - timedelta(hours=1), "team-payments"),
               ClientUse("10.30.4.12", 40, NOW - timedelta(days=1), "team-reporting"))  # fmt: skip
    return Facts(
        collected_at=NOW, hostname=host.hostnames[0], kernel="6.1.0-27-amd64", arch="x86_64",
        os=UBUNTU18 if ubuntu else DEBIAN12, uptime_seconds=(NOW - boot).total_seconds(),
        boot_time=boot,
        listeners=(Listener("tcp", "0.0.0.0", 22, 600, "sshd", "root", "/usr/sbin/sshd", "/",
                            "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"),
                   Listener("tcp", "0.0.0.0", 80, 700, "nginx", "root", "/usr/sbin/nginx", "/",
                            "nginx: master process /usr/sbin/nginx -g daemon on; master_process on;"),
                   Listener("tcp", "0.0.0.0", 9100, 800, "node_exporter", "prometheus", None, None,
                            "/usr/bin/prometheus-node-exporter")),
        connections=(),
        log_activity=LogActivity(latest, (LogFile("/var/log/syslog", 48211, latest),
                                          LogFile("/var/log/auth.log", 9120, latest))),
        web_logs=(), clients=clients if host.status == HostStatus.UNMANAGED and n % 100 == 3 else (),
        logins=(Login("deploy", "10.20.1.9", NOW - timedelta(days=1)),), sessions=(),
        cron=("17 * * * * root cd / && run-parts --report /etc/cron.hourly",),
        software=(Software("nginx", "1.22.1", "nginx version: nginx/1.22.1", None),),
        errors={},
    )  # fmt: skip


def generated_run(count: int) -> AuditRun:
    """A run of `count` hosts, judged by the real rules."""
    hosts = tuple(_host(n) for n in range(count))
    facts = {h.id: _facts(n, h) for n, h in enumerate(hosts)}
    ssh = {h.id: SshOutcome("ok", None, h.primary_address, 22, 0.4) for h in hosts}
    sources = (SourceResult(SourceKind.NETWORK, "sweep", True, ()),
               SourceResult(SourceKind.ANSIBLE, "hosts.ini", True, ()))  # fmt: skip
    findings = evaluate(RuleContext(CONFIG, NOW, hosts, ssh, facts, sources))
    return AuditRun(f"20261207T090000Z-{count:06d}", NOW, NOW + timedelta(minutes=4), None,
                    sources, hosts, ssh, facts, findings)  # fmt: skip
