"""Who uses a host, the verdict (in use / idle / unknown) and the next steps: pure logic."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from auditor.config import Config, OwnerRule
from auditor.inspect.dossier import Gathered, build_dossier
from auditor.inspect.model import (
    Dossier,
    HttpFront,
    KnownBy,
    Reference,
    RepoSearch,
    SourceMention,
    UseState,
)
from auditor.inspect.usage import assess_activity, is_custom_job, judge
from auditor.model import (
    ClientUse,
    Connection,
    EolStatus,
    Facts,
    Host,
    HostOwner,
    HostStatus,
    Listener,
    LogActivity,
    Login,
    NetworkUse,
    OsIdentity,
    PathCount,
    PeerGroup,
    SshOutcome,
    TeamUse,
    WebLog,
)
from auditor.probe.facts import InspectFacts
from auditor.probe.facts.services import Ancestor, OpenFile, PackageOwner, ServiceProcess, StartedBy

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
AUDITOR = "10.250.77.1"
OWNERS = Config(
    path=None,
    owners=(OwnerRule("10.20.0.0/16", "team-payments"), OwnerRule("10.30.0.0/16", "team-data")),
)


def owner_of(address: str) -> str | None:
    return OWNERS.owner_of(address)


def quiet_facts(**changes: object) -> Facts:
    """A host that could be read completely and that nobody used."""
    base = Facts(
        collected_at=NOW,
        hostname="box",
        listeners=(Listener("tcp", "0.0.0.0", 22, 1, "sshd", "root", "/usr/sbin/sshd"),),
        connections=(Connection(22, AUDITOR),),
        web_logs=(),
        clients=(),
        logins=(),
        sessions=(),
        cron=("/etc/crontab: 01 * * * * root run-parts /etc/cron.hourly",),
        log_activity=LogActivity(NOW - timedelta(days=40), ()),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def activity(facts: Facts, **kw: object):  # type: ignore[no-untyped-def]
    return assess_activity(
        facts, now=NOW, window_days=7, owner_of=owner_of, own_addresses=(AUDITOR,),
        own_user="auditor", **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def web_log(*clients: ClientUse) -> WebLog:
    return WebLog("/var/log/httpd/access_log", sum(c.requests for c in clients), len(clients),
                  (), (PathCount("/admin/", 3),), clients)  # fmt: skip


# ------------------------------------------------------------------------ activity


def test_nothing_but_the_auditor_is_idle() -> None:
    used = activity(quiet_facts())
    verdict = judge(used)
    assert verdict.state is UseState.IDLE
    assert "no login in the last 7 days" in verdict.evidence
    assert any("last log write 2026-10-20" in e for e in verdict.evidence)


def test_web_clients_in_the_window_mean_in_use_with_their_teams() -> None:
    clients = (
        ClientUse("10.20.1.5", 300, NOW - timedelta(hours=1), "team-payments"),
        ClientUse("10.30.2.2", 20, NOW - timedelta(days=2), None),
        ClientUse(AUDITOR, 9, NOW, None),  # our own front-page fetch
        # The host kept the window by its own clock; a controller clock ahead of it (or a
        # replayed probe) does not drop what the host counted.
        ClientUse("10.20.9.9", 4, NOW - timedelta(days=30), "team-payments"),
    )
    facts = quiet_facts(web_logs=(web_log(*clients),), clients=clients)
    used = activity(facts)
    assert [c.address for c in used.clients] == ["10.20.1.5", "10.30.2.2", "10.20.9.9"]
    assert used.clients[1].owner == "team-data"  # owner_of fills what the probe left empty
    assert used.teams == ("team-data", "team-payments")
    verdict = judge(used)
    assert verdict.state is UseState.IN_USE
    assert verdict.evidence[0].startswith("324 requests from 3 clients")
    assert "clients belong to team-data, team-payments" in verdict.evidence


def test_inbound_connections_count_but_ssh_loopback_and_the_auditor_do_not() -> None:
    facts = quiet_facts(
        connections=(
            Connection(22, AUDITOR),
            Connection(5432, "127.0.0.1"),
            Connection(5432, "10.30.4.4"),
        )
    )
    used = activity(facts)
    assert used.inbound == ((5432, "10.30.4.4"),)
    assert [(c.address, c.via, c.owner) for c in used.clients] == [
        ("10.30.4.4", "connection to :5432", "team-data")
    ]
    assert judge(used).state is UseState.IN_USE


def test_someone_elses_open_ssh_connection_is_a_login() -> None:
    used = activity(quiet_facts(connections=(Connection(22, "10.20.7.7"),)))
    assert used.ssh_peers == ("10.20.7.7",)
    assert [(lg.source, lg.via) for lg in used.logins] == [("10.20.7.7", "open SSH connection")]
    assert judge(used).state is UseState.IN_USE


def test_logins_in_the_window_count_the_auditors_own_do_not() -> None:
    facts = quiet_facts(
        logins=(
            Login("auditor", AUDITOR, NOW - timedelta(hours=2)),
            Login("dave", "10.20.3.3", NOW - timedelta(days=40)),
        )
    )
    used = activity(facts)
    assert used.logins == () and [lg.user for lg in used.older_logins] == ["dave"]
    assert judge(used).state is UseState.IDLE

    accepted = (Login("deploy", "10.20.3.17", NOW - timedelta(days=1)),)
    used = activity(facts, accepted_logins=accepted)
    assert [(lg.user, lg.via, lg.owner) for lg in used.logins] == [
        ("deploy", "auth log", "team-payments")
    ]
    assert judge(used).state is UseState.IN_USE


def test_open_sessions_count_whatever_their_age() -> None:
    facts = quiet_facts(sessions=(Login("root", "pts/0", NOW - timedelta(days=90)),))
    assert judge(activity(facts)).state is UseState.IN_USE


def test_unknown_when_nothing_could_be_read_or_no_probe() -> None:
    facts = quiet_facts(
        connections=None,
        web_logs=None,
        clients=None,
        errors={"connections": "needs root", "web_logs": "needs root"},
    )
    verdict = judge(activity(facts))
    assert verdict.state is UseState.UNKNOWN
    assert "neither connections nor access logs could be read" in verdict.evidence
    missing = judge(None, "unknown host key")
    assert missing.state is UseState.UNKNOWN and "unknown host key" in missing.evidence[0]


def test_custom_cron_jobs() -> None:
    assert not is_custom_job("/etc/crontab: 01 * * * * root run-parts /etc/cron.hourly")
    assert not is_custom_job("/etc/cron.daily: logrotate")
    assert not is_custom_job("/etc/cron.d/sysstat: */10 * * * * root /usr/lib64/sa/sa1 1 1")
    assert is_custom_job("/etc/cron.d/billing: 15 2 * * * root /opt/billing/bin/nightly.sh")
    used = activity(quiet_facts(cron=("/var/spool/cron/root: @reboot /opt/app/run",)))
    assert used.scheduled_jobs == ("/var/spool/cron/root: @reboot /opt/app/run",)
    assert "runs 1 scheduled jobs of its own (cron)" in judge(used).evidence


# ------------------------------------------------------------------------ dossier + steps

HOST = Host("ip:10.0.0.5", ("10.0.0.5",), (), ("ip:10.0.0.5",), (), HostStatus.UNMANAGED, "x")
OK = SshOutcome("ok", address="10.0.0.5", port=22)


def orphan_facts() -> tuple[Facts, InspectFacts]:
    clients = (ClientUse("10.20.1.5", 300, NOW - timedelta(hours=1), "team-payments"),
               ClientUse("10.99.0.1", 2, NOW - timedelta(hours=3), None))  # fmt: skip
    facts = quiet_facts(
        hostname="legacy-billing01",
        os=OsIdentity("centos", "5.11", "CentOS", "CentOS release 5.11 (Final)", "/etc/redhat-release",
                      eol=EolStatus("centos", "5", "eol", "2017-03-31", 3500, "embedded")),
        listeners=(
            Listener("tcp", "0.0.0.0", 22, 1, "sshd", "root", "/usr/sbin/sshd"),
            Listener("tcp", "0.0.0.0", 80, 26, "httpd", "root", "/usr/sbin/httpd", "/",
                     "/usr/sbin/httpd -f /etc/httpd/conf/httpd.conf"),
        ),
        web_logs=(web_log(*clients),),
        clients=clients,
        cron=("/etc/cron.d/billing: 15 2 * * * root /opt/billing/bin/nightly-export.sh >/dev/null",),
    )  # fmt: skip
    httpd = ServiceProcess(
        pid=26, name="httpd", parent_pid=1, started_at=NOW - timedelta(days=2000), login_uid=None,
        cgroups=(), ancestors=(Ancestor(1, "init [3]"),), children=8, child_names=("httpd",),
        open_files=(OpenFile("/var/log/httpd/error_log", "w"), OpenFile("/etc/httpd/conf/magic", "r")),
        exe="/usr/sbin/httpd", program="/usr/sbin/httpd",
        package=PackageOwner("rpm", None, "not owned by any package"),
        started_by=StartedBy("rc.local", "/etc/rc.d/rc.local line 7"),
    )  # fmt: skip
    return facts, InspectFacts(services=(httpd,))


def dossier(**changes: object) -> Dossier:
    facts, deep = orphan_facts()
    gathered = Gathered(
        address="10.0.0.5", host=HOST, outcome=OK, facts=facts, deep=deep, now=NOW,
        window_days=7, login_user="auditor", own_addresses=(AUDITOR,),
        http={80: HttpFront("http://10.0.0.5/", 200, "OK", "Apache/1.3.42 (Unix)", "ACME Billing")},
    )  # fmt: skip
    return build_dossier(replace(gathered, **changes), owner_of)  # type: ignore[arg-type]


def steps_text(d: Dossier) -> str:
    return "\n".join(f"{s.kind}: {s.text}" for s in d.next_steps)


def test_the_orphans_dossier() -> None:
    d = dossier()
    assert d.host == "legacy-billing01" and d.verdict.state is UseState.IN_USE
    web = next(s for s in d.services if s.port == 80)
    assert web.http is not None and web.http.server == "Apache/1.3.42 (Unix)"
    assert web.configs == ("/etc/httpd/conf/httpd.conf", "/etc/httpd/conf/magic")
    assert web.logs == ("/var/log/httpd/error_log", "/var/log/httpd/access_log")
    assert web.admin_paths == (PathCount("/admin/", 3),) and web.clients == 2
    assert web.started_by is not None and web.started_by.kind == "rc.local"
    assert web.tree == ("pid 1: init [3]",)
    text = steps_text(d)
    assert "contact: Contact team-payments: 300 requests in the last 7 days (e.g. 10.20.1.5)" in text
    assert "Find who is behind 1 clients no team owns (10.99.0.1)" in text
    assert "backup: Back up the service configs: /etc/httpd/conf/httpd.conf" in text
    assert (
        "Copy the programs no package owns (hand-installed: they exist nowhere else): /usr/sbin/httpd"
        in text
    )
    assert "Back up the scripts its cron jobs run: /opt/billing/bin/nightly-export.sh." in text
    assert "move: Move or replace httpd on :80, Apache/1.3.42 (Unix), 'ACME Billing'" in text
    assert "Run again with --config" in text and "--repos" in text
    assert "past end of life since 2017-03-31" in text
    assert "Admin-looking pages were requested (/admin/)" in text
    assert "It is in use: agree a migration plan and date with team-payments" in text


def test_known_nowhere_and_mentioned_nowhere() -> None:
    d = dossier(
        known=KnownBy(checked=True, sources_run=("network:lab", "ansible:lab")),
        references=RepoSearch(searched=True, repos=("/src/iac",), terms=("10.0.0.5",)),
    )
    text = steps_text(d)
    assert "No inventory, state or cloud account lists it" in text
    assert "No repository mentions it" in text


def test_known_and_mentioned() -> None:
    d = dossier(
        known=KnownBy(True, (SourceMention("ansible", "lab", "hosts.ini as web01"),), "managed"),
        references=RepoSearch(True, ("/src/iac",), ("10.0.0.5",),
                              (Reference("/src/iac", "hosts.ini", 3, "web01 10.0.0.5", "10.0.0.5"),)),
    )  # fmt: skip
    text = steps_text(d)
    assert "lists it" not in text
    assert "Update what points at it when it moves: /src/iac:hosts.ini" in text


def test_idle_host_gets_a_scream_test() -> None:
    facts, deep = orphan_facts()
    idle = replace(facts, web_logs=(), clients=())
    d = dossier(facts=idle, deep=deep)
    assert d.verdict.state is UseState.IDLE
    assert "stop its services for a scream test" in steps_text(d)


def test_unreachable_host() -> None:
    d = dossier(
        facts=None, deep=None, outcome=SshOutcome("skipped", "auth refused", "10.0.0.5", 22)
    )
    assert d.verdict.state is UseState.UNKNOWN and d.services == () and d.clients == ()
    assert d.next_steps[0].kind == "access" and "auth refused" in d.next_steps[0].text


def test_every_team_with_its_share_from_the_hosts_totals() -> None:
    """The top addresses hold only one team; the host's totals name every team: the verdict,
    the contact steps and the dossier's tables use those."""
    facts, deep = orphan_facts()
    facts = replace(
        facts,
        client_teams=(
            TeamUse("team-data", 600, 400, NOW - timedelta(hours=2)),
            TeamUse("team-payments", 300, 1, NOW - timedelta(hours=1)),
        ),
        client_networks=(NetworkUse("198.51.100.0/24", 100, 7, NOW - timedelta(days=1)),),
        connection_teams=(PeerGroup(22, None, "10.250.77.0/24", 1), PeerGroup(5432, "team-ops", None, 2)),
    )
    d = dossier(facts=facts, deep=deep)
    assert d.verdict.evidence[0].startswith("1000 requests from 408 clients in the access logs")
    assert "team team-data: 600 requests (60%) from 400 clients" in d.verdict.evidence[1]
    assert any(e.startswith("100 requests (10%) from 7 clients of no team") for e in d.verdict.evidence)
    text = steps_text(d)
    assert "Contact team-data: 600 requests (60% of all) from 400 addresses in the last 7 days." in text
    assert "Contact team-payments: 300 requests (30% of all) from 1 addresses" in text
    assert "Contact team-ops: 2 peers connected now" in text
    assert "Find who is behind 7 clients no team owns (100 requests, 10% of all; busiest networks 198.51.100.0/24)" in text
    assert [t.team for t in d.teams] == ["team-data", "team-payments"]
    assert d.peer_groups == (PeerGroup(5432, "team-ops", None, 2),)  # SSH is logins, not use
    assert d.owner == HostOwner(
        "team-data", "clients",
        "inferred from clients, 60% of requests (600 of 1000 in the access logs, 400 addresses)",
    )  # fmt: skip
    declared = HostOwner("team-billing", "config", "[owners] 'legacy-*' matches its name")
    owned = dossier(facts=facts, deep=deep, host=replace(HOST, owner=declared))
    assert owned.owner == declared  # a declared owner is not overridden by the traffic
