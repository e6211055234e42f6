"""Who uses a host, counted on the host over every client of its access logs: the [owners]
prefix match in awk (IPv4, IPv6, IPv4-mapped; longest prefix wins) agrees with Python's
ipaddress under every awk, and the per-team and per-network totals are exact where the top
clients would have hidden a team."""

from __future__ import annotations

import ipaddress
import os
import random
import shlex
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from auditor.config import OwnerRule
from auditor.model import NetworkUse, TeamUse
from auditor.probe.facts.sockets import AWK_SOCKETS, SocketsFact
from auditor.probe.facts.web_logs import clients_pipeline, summary_pipeline
from auditor.probe.interface import ParseContext
from auditor.probe.options import ProbeOptions
from auditor.probe.owners import (
    AWK_OWNERS,
    NOT_AN_ADDRESS,
    ClientOwners,
    client_network,
    owner_vars,
    prefix_key,
)
from auditor.probe.parsers.weblog import parse_weblog_report
from auditor.probe.sections import Part, Section
from tests.unit.probe_run import AWKS, awk_id

OWNERS = ClientOwners.from_rules(
    (
        OwnerRule("10.20.0.0/16", "team-payments"),
        OwnerRule("10.20.7.0/24", "team-fraud"),  # inside payments': the longer prefix wins
        OwnerRule("10.20.7.128/25", "team-fraud-batch"),
        OwnerRule("10.30.0.0/16", "team-data"),
        OwnerRule("172.16.0.0/12", "team-office"),  # a prefix that cuts a 16-bit group
        OwnerRule("192.0.2.77", "team-solo"),  # one address: its /32
        OwnerRule("2001:db8:1::/48", "team-v6"),
        OwnerRule("2001:db8:1:ab00::/56", "team-v6-lab"),
        OwnerRule("2001:db8:f000::/36", "team-v6-odd"),
        OwnerRule("legacy-*", "team-by-name"),  # a name pattern: no use for a client address
    )
)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=AWKS, ids=awk_id)
def awk(request: pytest.FixtureRequest) -> list[str]:
    impl: list[str] = request.param
    return impl


def awk_match(awk: list[str], owners: ClientOwners, addresses: list[str]) -> list[list[str]]:
    """What the host's awk makes of each address: canonical text, team index, network."""
    rules, p4, p6 = owners.awk_rules()
    program = AWK_OWNERS + 'BEGIN { own_init() }\n{ addr($0); print AC "|" owner() "|" net() }\n'
    done = subprocess.run(
        [*awk, "-v", f"rules={rules}", "-v", f"p4={p4}", "-v", f"p6={p6}", program],
        input="\n".join(addresses) + "\n", capture_output=True, text=True, check=True,
        env={"LC_ALL": "C", "PATH": os.environ["PATH"]},
    )  # fmt: skip
    return [line.split("|") for line in done.stdout.splitlines()]


def tricky_addresses() -> list[str]:
    rng = random.Random(12)
    fixed = [
        "10.20.0.1", "10.20.7.5", "10.20.7.128", "10.20.7.255", "10.20.8.0", "10.19.255.255",
        "10.30.200.1", "172.16.0.1", "172.31.255.254", "172.32.0.1", "172.15.255.255",
        "192.0.2.77", "192.0.2.78", "::ffff:10.20.7.200", "::FFFF:10.30.1.1",
        "2001:db8:1::1", "2001:DB8:1:AB12::9", "2001:db8:1:ac00::1", "2001:db8:2::1",
        "2001:0db8:0001:0000:0000:0000:0000:0001", "2001:db8:f000::1", "2001:db8:ffff::1",
        "2001:db8:efff:ffff::1", "fe80::1%eth0", "::1", "::", "0.0.0.0", "255.255.255.255",
        "010.020.001.001", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1::2::3", "2001:db8:12345::1",
        "-", "example.org", "::ffff:1.2.3", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8",
    ]  # fmt: skip
    nets = [ipaddress.ip_network(n) for n, _ in OWNERS.networks]
    near = []
    for _ in range(300):  # around and across every network's edges
        net = rng.choice(nets)
        span = 1 << (net.max_prefixlen - net.prefixlen)
        value = int(net.network_address) + rng.randrange(-span // 2, 2 * span)
        value %= 1 << net.max_prefixlen
        near.append(
            str(ipaddress.IPv4Address(value) if net.version == 4 else ipaddress.IPv6Address(value))
        )
    return fixed + near


def python_view(address: str) -> tuple[str | None, str]:
    """(team, network) the controller's Python would give: the reference."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return None, NOT_AN_ADDRESS
    return OWNERS.owner_of(str(ip)), client_network(str(ip))


def test_prefix_keys_are_the_awks() -> None:
    assert prefix_key(ipaddress.ip_network("10.20.0.0/16")) == "4/16/2580"
    assert prefix_key(ipaddress.ip_network("172.16.0.0/12")) == "4/12/2753"
    assert prefix_key(ipaddress.ip_network("2001:db8:1::/48")) == "6/48/8193/3512/1"
    assert prefix_key(ipaddress.ip_network("0.0.0.0/0")) == "4/0"
    rules, p4, p6 = OWNERS.awk_rules()
    assert (p4, p6) == ("32 25 24 16 12", "56 48 36")
    assert "team" not in rules  # team names never go to the host


def test_the_awk_matches_like_python(awk: list[str]) -> None:
    addresses = tricky_addresses()
    answers = awk_match(awk, OWNERS, addresses)
    assert len(answers) == len(addresses)
    for address, (canonical, index, network) in zip(addresses, answers, strict=True):
        team, expected_network = python_view(address)
        assert OWNERS.team(index) == team, address
        if "." in expected_network:  # IPv4, or IPv4-mapped: one client either way
            mapped = ipaddress.ip_address(address)
            plain = mapped.ipv4_mapped if isinstance(mapped, ipaddress.IPv6Address) else mapped
            assert canonical == str(plain), address
        if team is None:
            got = NOT_AN_ADDRESS if network == "?" else str(ipaddress.ip_network(network))
            assert got == expected_network, address


def test_longest_prefix_wins(awk: list[str]) -> None:
    answers = awk_match(awk, OWNERS, ["10.20.7.129", "10.20.7.1", "10.20.9.1", "2001:db8:1:ab01::"])
    teams = [OWNERS.team(index) for _, index, _ in answers]
    assert teams == ["team-fraud-batch", "team-fraud", "team-payments", "team-v6-lab"]


def test_no_owners_at_all(awk: list[str]) -> None:
    [[canonical, index, network]] = awk_match(awk, ClientOwners(), ["::ffff:10.1.2.3"])
    assert (canonical, index, network) == ("10.1.2.3", "", "10.1.2.0/24")


# ------------------------------------------------------------ a log that hides a team


def log_line(address: str, at: datetime, path: str = "/api/pay") -> str:
    stamp = at.strftime("%d/%b/%Y:%H:%M:%S +0000")
    return f'{address} - - [{stamp}] "GET {path} HTTP/1.1" 200 512 "-" "curl/8"\n'


def write_logs(tmp_path: Path) -> tuple[Path, Path]:
    """Two rotations of one access log. 60 addresses of nobody's network send 1,000 requests
    each (500 per file: they fill the top 50); team-payments sends 1,500 requests from 3
    addresses (fewer than 500 per address per file), team-data one request each from 400 addresses; one
    team-data address writes in both files (one client); old lines fall out of the window."""
    rng = random.Random(7)
    recent = NOW - timedelta(hours=1)
    current: list[str] = []
    rotated: list[str] = []
    for i in range(60):
        for k in range(1000):
            (current if k % 2 else rotated).append(log_line(f"198.51.100.{i}", recent))
    for i in range(3):
        for k in range(500):
            target = current if k % 10 else rotated
            target.append(log_line(f"10.20.{i}.9", recent - timedelta(minutes=k % 50)))
    for i in range(400):
        current.append(log_line(f"10.30.{i // 200}.{i % 200 + 1}", recent))
    rotated.append(log_line("10.30.0.1", recent - timedelta(days=1)))
    rotated.append(log_line("::ffff:10.30.0.2", recent))  # the same client as 10.30.0.2
    rotated.append(log_line("10.30.9.9", NOW - timedelta(days=30)))  # out of the window
    rotated.append(log_line("crawler.example.net", recent))  # HostnameLookups on
    rng.shuffle(current)
    rng.shuffle(rotated)
    first, second = tmp_path / "access.log", tmp_path / "access.log.1"
    first.write_text("".join(current))
    second.write_text("".join(rotated))
    return first, second


def summarise(awk: list[str], options: ProbeOptions, logs: tuple[Path, ...]) -> str:
    """The snippet's per-log pipelines, then the clients' totals, as on the host."""
    command = " ".join(shlex.quote(a) for a in awk)
    per_log = "; ".join(
        f"printf 'F {log.stat().st_size} 0 %s\\n' {shlex.quote(str(log))}; "
        f"{{ {summary_pipeline(options, command)}; }} < {shlex.quote(str(log))}"
        for log in logs
    )
    script = f"WNOW={int(NOW.timestamp())}; {{ {per_log}; }} | {clients_pipeline(options, command)}"
    done = subprocess.run(
        ["/bin/sh", "-c", script], capture_output=True, text=True, check=True, timeout=120,
        env={"LC_ALL": "C", "PATH": os.environ["PATH"]},
    )  # fmt: skip
    return done.stdout


def test_every_team_with_exact_counts(awk: list[str], tmp_path: Path) -> None:
    logs = write_logs(tmp_path)
    options = ProbeOptions(client_owners=OWNERS)
    report = parse_weblog_report(summarise(awk, options, logs), OWNERS.owner_of, OWNERS)
    assert len(report.summaries) == 2
    top = {c.address for s in report.summaries for c in s.log.top_clients}
    assert len(top) == 50 and all(a.startswith("198.51.100.") for a in top)
    recent = NOW - timedelta(hours=1)
    assert report.teams == (
        TeamUse("team-payments", 1500, 3, recent),
        TeamUse("team-data", 402, 400, recent),
    )
    assert report.networks == (
        NetworkUse("198.51.100.0/24", 60000, 60, recent),
        NetworkUse(NOT_AN_ADDRESS, 1, 1, recent),
    )
    # The logs' own totals are the whole window's, not the top clients' sum.
    current = next(s.log for s in report.summaries if s.log.path.endswith("access.log"))
    assert (current.requests, current.clients) == (30000 + 1350 + 400, 60 + 3 + 400)


def test_top_networks_and_the_rest(awk: list[str], tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    recent = NOW - timedelta(minutes=5)
    lines = [log_line(f"203.0.{n}.1", recent) for n in range(30) for _ in range(n + 1)]
    lines += [log_line(f"203.0.{n}.2", recent) for n in range(30)]
    lines += [log_line(f"2001:db8:aaaa:{n:x}::5", recent) for n in range(3)]
    log.write_text("".join(lines))
    options = ProbeOptions(client_owners=OWNERS)
    report = parse_weblog_report(summarise(awk, options, (log,)), OWNERS.owner_of, OWNERS)
    assert report.teams == ()
    assert report.networks is not None and len(report.networks) == 21
    assert report.networks[0] == NetworkUse("203.0.29.0/24", 31, 2, recent)
    assert report.networks[19] == NetworkUse("203.0.10.0/24", 12, 2, recent)
    # Ten /24s with 2..11 requests plus three /64s with one request each.
    assert report.networks[20] == NetworkUse("other", sum(range(2, 12)) + 3, 23, recent)


def test_the_auditors_own_requests_do_not_count(awk: list[str], tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    recent = NOW - timedelta(minutes=5)
    log.write_text(
        log_line("10.250.77.1", recent) + log_line("::ffff:10.250.77.1", recent)
        + log_line("10.20.1.1", recent)
    )  # fmt: skip
    options = ProbeOptions(client_owners=OWNERS, own_address="10.250.77.1")
    report = parse_weblog_report(summarise(awk, options, (log,)), OWNERS.owner_of, OWNERS)
    assert report.teams == (TeamUse("team-payments", 1, 1, recent),)
    assert report.networks == ()
    assert report.summaries[0].log.requests == 1


def test_totals_cut_off_are_not_taken_for_no_clients() -> None:
    text = "F 10 0 /var/log/a\nS 1 1 1 1 1795000000 1795000000\nC 1 10.20.0.1 1795000000\n"
    report = parse_weblog_report(text, OWNERS.owner_of, OWNERS)
    assert report.summaries and report.teams is None and report.networks is None
    finished = parse_weblog_report(text + "T 1 1 1 1795000000\nU 1 1\n", OWNERS.owner_of, OWNERS)
    assert finished.teams is not None and finished.teams[0].team == "team-fraud"
    hostile = text + "T 99 1 1 1795000000\nT x 1 1 1\nN <b>x</b> 5 1 1795000000\nU 1 1\n"
    assert parse_weblog_report(hostile, OWNERS.owner_of, OWNERS).networks == (
        NetworkUse(NOT_AN_ADDRESS, 5, 1, datetime.fromtimestamp(1795000000, UTC)),
    )


# ------------------------------------------------ connections beyond the listed ones


def ss_listing(peers: list[str]) -> str:
    """`ss -tuanpe` of a database listening on 5432 with one connection per peer."""
    rows = [
        "Netid State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process",
        "tcp   LISTEN 0      128    0.0.0.0:5432       0.0.0.0:*         "
        'users:(("postgres",pid=700,fd=5)) ino:1 sk:1 <->',
    ]
    for n, peer in enumerate(peers):
        local = "10.9.0.5:5432" if "." in peer else "[::ffff:10.9.0.5]:5432"
        remote = f"{peer}:{40000 + n % 20000}" if "." in peer else f"[{peer}]:{40000 + n % 20000}"
        rows.append(f"tcp   ESTAB  0      0      {local}  {remote}")
    return "\n".join(rows) + "\n@@ 0\n"


def test_connections_beyond_the_cap_are_counted_on_the_host(awk: list[str]) -> None:
    peers = [f"10.20.{n // 200}.{n % 200 + 1}" for n in range(2500)]  # team-payments
    peers += [f"10.30.0.{n + 1}" for n in range(30)]  # team-data
    peers += [f"198.51.100.{n + 1}" for n in range(40)] + ["2001:db8:aa::1", "127.0.0.1"]
    options = ProbeOptions(client_owners=OWNERS, max_connections=100)
    assert f"awk -v max=100 {owner_vars(OWNERS)} " in SocketsFact().snippet(options)
    done = subprocess.run(
        [*awk, "-v", "max=100", *shlex.split(owner_vars(OWNERS)), AWK_SOCKETS, "-"],
        input=ss_listing(peers), capture_output=True, text=True, check=True,
        env={"LC_ALL": "C", "PATH": os.environ["PATH"]},
    )  # fmt: skip
    established = done.stdout.split("@@E\n", 1)[1].split("@@U", 1)[0]
    assert established.count("\ntcp") + established.startswith("tcp") == 100
    assert "# truncated 2572" in established
    section = Section(
        "sockets",
        (Part("ss", ss_listing([]).rsplit("@@", 1)[0], 0), Part("established", established, 0)),
    )
    context = ParseContext(NOW, 7, OWNERS.owner_of, client_owners=OWNERS)
    update = SocketsFact().parse(section, context)
    groups = {(g.team or g.network): g.peers for g in update.values["connection_teams"]}
    # 10.20.7.1-127 and .128-200 are the longer prefixes' (team-fraud, team-fraud-batch).
    assert groups == {
        "team-payments": 2300, "team-fraud": 127, "team-fraud-batch": 73, "team-data": 30,
        "198.51.100.0/24": 40, "2001:db8:aa::/64": 1,
    }  # fmt: skip
    assert "connections.truncated" in update.errors  # the list itself is still partial
