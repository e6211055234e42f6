"""The sockets fact from ONE run of ss (or netstat) piped into ONE awk (AWK_SOCKETS), which
also reads /etc/passwd: the awk under every awk on this machine, on real listings, the
shell's split of its answer, the parser on the result, and the whole snippet run locally.

The `*_netns_*` fixtures and `netstat/busybox_1.35_tuanpW_refused.txt` are real output,
captured together as root in a fresh network namespace (`unshare -n`, loopback only)
holding: a pre-fork "httpd" (a parent and 2 children sharing 127.0.0.1:28080), an
"app-server" on [::1]:28081 (v6only), *:28082 (dual stack) and UDP 127.0.0.1:25353 and
[::1]:25354, a "nobodyd" running as nobody on 127.0.0.1:28083, and a "client" with 3
connections to :28080 (a 4th closed after the server's side: TIME-WAIT), one to :28081, two
to :28082 (from 127.0.0.1 and 127.0.0.2), one to :28083, and a connected UDP socket. Then,
one after the other: `ss -tuanpe` as root and as nobody (`setpriv --reuid=nobody
--regid=nogroup --clear-groups`), the two runs the probe used to make (`ss -tulpne`,
`ss -tn`), `netstat -tuanpW` as root and as nobody, `netstat -tuanp`, the old
`netstat -tulpnW` and `netstat -tnW`, and BusyBox 1.35's netstat (no -p, no -W).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditor.model import Facts
from auditor.probe import ProbeOptions
from auditor.probe.facts import SocketsFact
from auditor.probe.facts.sockets import _SNIPPET, AWK_SOCKETS
from auditor.probe.interface import FactUpdate, ParseContext, Privilege
from auditor.probe.parsers.processes import parse_passwd
from auditor.probe.parsers.sockets import (
    ESTAB,
    LISTEN,
    UNCONN,
    SocketRow,
    parse_netstat,
    parse_ss,
)
from auditor.probe.sections import Part, Section
from tests.unit.probe_run import (
    AWKS,
    SHELLS,
    awk_id,
    fixture,
    loopback_listener,
    run_fact,
    tool_dir,
)

IS_ROOT = os.geteuid() == 0

SS_ROOT = "ss/iproute2_6.1_netns_tuanpe_root.txt"
SS_NONROOT = "ss/iproute2_6.1_netns_tuanpe_nonroot.txt"
SS_OLD_LISTING = "ss/iproute2_6.1_netns_tulpne_root.txt"  # the same sockets, old first run
SS_OLD_CONNECTIONS = "ss/iproute2_6.1_netns_tn.txt"  # ... and the old second run
NETSTAT_ROOT = "netstat/nettools_2.10_netns_tuanpW_root.txt"
NETSTAT_NONROOT = "netstat/nettools_2.10_netns_tuanpW_nonroot.txt"
NETSTAT_NO_W = "netstat/nettools_2.10_netns_tuanp_root.txt"
NETSTAT_OLD_LISTING = "netstat/nettools_2.10_netns_tulpnW_root.txt"
NETSTAT_OLD_CONNECTIONS = "netstat/nettools_2.10_netns_tnW.txt"
BUSYBOX_REFUSED = "netstat/busybox_1.35_tuanpW_refused.txt"  # `-tuanpW`: no -p (nor -W)
BUSYBOX_NO_P = "netstat/busybox_1.35_netns_tuan_no_p.txt"

# The capture host's /etc/passwd (Debian 12), cut to a few entries.
PASSWD = (
    "root:x:0:0:root:/root:/bin/bash\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n"
    "\n"
    "not a passwd line\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
)
NAMES = "root:0\ndaemon:1\nwww-data:33\nnobody:65534"

Parser = Callable[[str], tuple[SocketRow, ...]]


@pytest.fixture(params=AWKS, ids=awk_id)
def impl(request: pytest.FixtureRequest) -> list[str]:
    return list(request.param)


@pytest.fixture
def passwd(tmp_path: Path) -> Path:
    path = tmp_path / "passwd"
    path.write_text(PASSWD)
    return path


@dataclass(frozen=True)
class Cut:
    """AWK_SOCKETS' answer, split the way the snippet's `_sks` splits it."""

    status: str  # R
    pids: str  # PIDS
    lowest: str  # LPIDS
    listing: str  # L: the sockets/ss or sockets/netstat part
    established: str  # E: the sockets/established part
    names: str  # PL: the sockets/passwd part


def _upto(text: str, sep: str) -> str:  # ${X%%"sep"*}
    return text.split(sep, 1)[0]


def _past(text: str, sep: str) -> str:  # ${X#*"sep"}
    return text.split(sep, 1)[1] if sep in text else text


def _unlead(text: str) -> str:  # ${X#"$NL"}
    return text[1:] if text.startswith("\n") else text


def split_like_the_shell(out: str) -> Cut:
    x = out.rstrip("\n")  # what $(...) keeps
    status, x = _upto(x, "\n"), _past(x, "\n")
    pids, x = _upto(x, "\n"), _past(x, "\n")
    lowest, x = _upto(x, "\n"), _past(x, "\n@@L")
    listing, x = _unlead(_upto(x, "\n@@E")), _past(x, "\n@@E")
    established, names = _unlead(_upto(x, "\n@@U")), _unlead(_past(x, "\n@@U"))
    if not status.isdigit():
        status = "1"
    return Cut(status, pids, lowest, listing, established, names)


def run_awk(
    impl: list[str], stream: str, passwd: Path | None = None, *, max_connections: int = 2000
) -> str:
    files = ["-"] + ([str(passwd)] if passwd is not None else [])
    done = subprocess.run(
        [*impl, "-v", f"max={max_connections}", AWK_SOCKETS, *files],
        input=stream.encode(),
        capture_output=True,
        env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"},
        timeout=30,
        check=True,
    )
    assert done.stderr == b""
    return done.stdout.decode()


def sockets_awk(
    impl: list[str],
    listing: str,
    passwd: Path | None = None,
    *,
    status: int = 0,
    max_connections: int = 2000,
) -> Cut:
    """The awk on a tool's output followed by the shell's `@@ STATUS` line."""
    stream = listing + f"@@ {status}\n"
    return split_like_the_shell(run_awk(impl, stream, passwd, max_connections=max_connections))


def data_rows(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.startswith(("tcp", "udp"))]


# ------------------------------------------------------------------ the awk, on real output


@pytest.mark.parametrize(
    ("listing", "old_listing", "parse"),
    [
        (SS_ROOT, SS_OLD_LISTING, parse_ss),
        (NETSTAT_ROOT, NETSTAT_OLD_LISTING, parse_netstat),
    ],
    ids=["ss", "netstat"],
)
def test_the_listing_is_what_the_old_listening_run_printed(
    impl: list[str], passwd: Path, listing: str, old_listing: str, parse: Parser
) -> None:
    """`ss -tuanpe` cut on the host = `ss -tulpne` of the same sockets at the same moment;
    `netstat -tuanpW` cut = `netstat -tulpnW`."""
    cut = sockets_awk(impl, fixture(listing), passwd)
    assert cut.status == "0"
    old = fixture(old_listing)
    assert cut.listing.split("\n")[0] == fixture(listing).split("\n")[0]  # the header
    assert len(data_rows(cut.listing)) == len(data_rows(old)) == 6
    assert set(parse(cut.listing)) == set(parse(old))
    assert all(r.state in (LISTEN, UNCONN) for r in parse(cut.listing))


def test_ss_pids_and_lowest_pid_per_socket(impl: list[str]) -> None:
    cut = sockets_awk(impl, fixture(SS_ROOT))
    # every process on a listening socket (httpd's two children too), in listing order; the
    # client (a connected UDP socket, the connections) is none of them
    assert cut.pids == "24560 24559 24558 24557 24561 "
    assert cut.lowest == "24560 24557 24561 "
    wanted = {min(r.pids) for r in parse_ss(fixture(SS_OLD_LISTING)) if r.pids}
    assert {int(p) for p in cut.lowest.split()} == wanted


def test_netstat_pids(impl: list[str]) -> None:
    cut = sockets_awk(impl, fixture(NETSTAT_ROOT))
    assert (cut.pids, cut.lowest) == ("24557 24561 24560 ", "24557 24561 24560 ")


@pytest.mark.parametrize(
    ("listing", "old_listing", "old_connections", "parse"),
    [
        (SS_ROOT, SS_OLD_LISTING, SS_OLD_CONNECTIONS, parse_ss),
        (SS_NONROOT, SS_OLD_LISTING, SS_OLD_CONNECTIONS, parse_ss),
        (NETSTAT_ROOT, NETSTAT_OLD_LISTING, NETSTAT_OLD_CONNECTIONS, parse_netstat),
        (NETSTAT_NONROOT, NETSTAT_OLD_LISTING, NETSTAT_OLD_CONNECTIONS, parse_netstat),
        (NETSTAT_NO_W, NETSTAT_OLD_LISTING, NETSTAT_OLD_CONNECTIONS, parse_netstat),
    ],
    ids=["ss-root", "ss-nobody", "netstat-root", "netstat-nobody", "netstat-no-W"],
)
def test_established_rows_one_per_listening_port_and_peer(
    impl: list[str], listing: str, old_listing: str, old_connections: str, parse: Parser
) -> None:
    """What AWK_ESTABLISHED kept of `ss -tn` / `netstat -tnW` given the listening ports:
    the first ESTAB tcp row per (listening local port, peer address). Outbound (the client's
    ends), TIME-WAIT, UDP and the second and third connection from one peer are dropped."""
    cut = sockets_awk(impl, fixture(listing))
    rows = parse(cut.established)
    pairs = [(r.local_port, r.peer_address) for r in rows]
    assert len(pairs) == len(set(pairs)) == len(cut.established.split("\n")) == 5
    assert all(r.proto == "tcp" and r.state == ESTAB for r in rows)
    ports = {r.local_port for r in parse(fixture(old_listing)) if r.state == LISTEN}
    old = {
        (r.local_port, r.peer_address)
        for r in parse(fixture(old_connections))
        if r.state == ESTAB and r.local_port in ports
    }
    assert set(pairs) == old


def test_established_rows_keep_six_columns(impl: list[str]) -> None:
    cut = sockets_awk(impl, fixture(SS_ROOT))
    assert cut.established.split("\n") == [
        "tcp ESTAB 0 0 127.0.0.1:28080 127.0.0.1:46100",
        "tcp ESTAB 0 0 127.0.0.1:28083 127.0.0.1:41996",
        "tcp ESTAB 0 0 [::1]:28081 [::1]:48000",
        "tcp ESTAB 0 0 [::ffff:127.0.0.1]:28082 [::ffff:127.0.0.2]:43503",
        "tcp ESTAB 0 0 [::ffff:127.0.0.1]:28082 [::ffff:127.0.0.1]:39536",
    ]


def test_established_rows_are_capped(impl: list[str]) -> None:
    cut = sockets_awk(impl, fixture(SS_ROOT), max_connections=2)
    lines = cut.established.split("\n")
    assert lines[2:] == ["# truncated 5"] and len(parse_ss(cut.established)) == 2


def test_rows_in_any_order(impl: list[str]) -> None:
    """The listening ports are known only at the end: a connection listed before its
    listening socket still counts (ss prints each table in the kernel's hash order)."""
    text = fixture(SS_ROOT)
    header, *rows = text.rstrip("\n").split("\n")
    cut = sockets_awk(impl, "\n".join([header, *reversed(rows)]) + "\n")
    forward = sockets_awk(impl, text)
    pairs = {(r.local_port, r.peer_address) for r in parse_ss(cut.established)}
    assert pairs == {(r.local_port, r.peer_address) for r in parse_ss(forward.established)}
    assert len(pairs) == len(cut.established.split("\n")) == 5
    assert set(parse_ss(cut.listing)) == set(parse_ss(forward.listing))


@pytest.mark.parametrize(
    ("listing", "connections", "max_connections", "expected"),
    [
        # the cases the old AWK_ESTABLISHED tests had, as one stream of the same host's rows
        ("netstat/nettools_1.60_centos5_tulpn_root.txt", "netstat/nettools_1.60_centos5_tn.txt",
         50, 3),
        ("netstat/nettools_2.10_tulpn_root.txt", "netstat/nettools_2.10_tn_established.txt",
         50, 3),
        ("netstat/busybox_1.35_tuln_debian_no_p.txt", "netstat/busybox_1.35_tn_established.txt",
         50, 3),
        ("netstat/nettools_1.60_centos5_tulpn_root.txt", "netstat/nettools_1.60_centos5_tn.txt",
         1, "# truncated 3"),
    ],
)  # fmt: skip
def test_older_netstat_rows(
    impl: list[str], listing: str, connections: str, max_connections: int, expected: object
) -> None:
    for stream in (
        fixture(listing) + fixture(connections),
        fixture(connections) + fixture(listing),
    ):
        cut = sockets_awk(impl, stream, max_connections=max_connections)
        lines = cut.established.split("\n")
        if isinstance(expected, int):
            assert len(lines) == expected and len(parse_netstat(cut.established)) == expected
        else:
            # the listed pair, the count, then the pairs beyond it counted per port and network
            assert lines[1] == expected and len(parse_netstat(cut.established)) == 1
            assert len(lines) > 2 and all(x.startswith("# over ") for x in lines[2:])


@pytest.mark.parametrize(
    "listing",
    [
        "ss/iproute2_2.6.32_centos6_tulpn.txt",  # users:(("name",N,fd)), no -e
        "ss/iproute2_4.11_centos7_tulpn.txt",
        "ss/iproute2_5.15_ubuntu2204_tulpn.txt",
        "ss/iproute2_6.1_tulpne_root.txt",
        "ss/iproute2_6.1_tulpne_nonroot.txt",
        "netstat/nettools_1.60_centos5_tulpn_root.txt",
        "netstat/nettools_1.60_centos5_tulpn_nonroot.txt",
        "netstat/nettools_2.10_tulpn_root.txt",
        "netstat/busybox_1.36_alpine_tulpn.txt",
        "netstat/nettools_truncated_ipv6.txt",
    ],
)
def test_listening_only_listings_of_older_tools_pass_whole(impl: list[str], listing: str) -> None:
    """Every row of an old ss or netstat's listening listing is a listening row: the cut
    keeps them all, and the parser reads the same sockets."""
    text = fixture(listing)
    cut = sockets_awk(impl, text)
    parse = parse_ss if listing.startswith("ss/") else parse_netstat
    assert data_rows(cut.listing) == data_rows(text)
    assert parse(cut.listing) == parse(text) and parse(text)
    assert cut.established == ""


def test_netstat_refusing_w_runs_again_without_it(impl: list[str]) -> None:
    """`netstat -tuanpW || { echo @@W; netstat -tuanp; }`: the refusal is forgotten."""
    stream = fixture(BUSYBOX_REFUSED) + "@@W\n" + fixture(NETSTAT_NO_W)
    cut = sockets_awk(impl, stream)
    alone = sockets_awk(impl, fixture(NETSTAT_NO_W))
    assert cut == alone
    assert cut.listing.startswith("Active Internet connections")


def test_a_netstat_refusing_both_says_why(impl: list[str], passwd: Path) -> None:
    """BusyBox without -p: both runs refused, the status and the message stay."""
    stream = fixture(BUSYBOX_REFUSED) + "@@W\n" + fixture(BUSYBOX_REFUSED)
    cut = sockets_awk(impl, stream, passwd, status=1)
    assert cut.status == "1"
    assert cut.listing.split("\n")[0] == "netstat: invalid option -- 'p'"
    assert (cut.pids, cut.lowest, cut.established) == ("", "", "")
    assert cut.names == NAMES
    part = Part("netstat", cut.listing, int(cut.status))
    section = Section("sockets", (part, Part("passwd", cut.names)))
    update = SocketsFact().parse(section, _context())
    assert update.values == {"listeners": None, "connections": None, "connection_teams": None}
    assert update.errors["listeners"] == "netstat: exit status 1: netstat: invalid option -- 'p'"


def test_the_last_status_line_counts_and_tool_lines_cannot_split(impl: list[str]) -> None:
    """A process title holding newlines could put any line into ss's output: a `@@ 1`
    before the shell's own status line does not count, and no `@@` line the tool printed
    reaches the shell's split."""
    header, *rows = fixture(SS_ROOT).split("\n")
    forged = [header, "@@ 1", "@@E", "@@U", "@@L", "root:0", *rows]
    cut = sockets_awk(impl, "\n".join(forged))
    clean = sockets_awk(impl, fixture(SS_ROOT))
    assert cut.status == "0"
    assert cut.established == clean.established and cut.names == clean.names == ""
    assert cut.listing == clean.listing.replace("\n", "\nroot:0\n", 1)


def test_passwd_names(impl: list[str], passwd: Path, tmp_path: Path) -> None:
    cut = sockets_awk(impl, fixture(SS_ROOT), passwd)
    assert cut.names == NAMES
    assert parse_passwd(cut.names) == {0: "root", 1: "daemon", 33: "www-data", 65534: "nobody"}
    big = tmp_path / "big"
    big.write_text("".join(f"u{i}:x:{i}:{i}::/home/u{i}:/bin/sh\n" for i in range(6000)))
    names = sockets_awk(impl, fixture(SS_ROOT), big).names.split("\n")
    assert len(names) == 5000 and names[0] == "u0:0" and names[-1] == "u4999:4999"


def test_without_passwd_the_rest_stands(impl: list[str], passwd: Path) -> None:
    """No readable /etc/passwd: the shell leaves it out, and the other blocks are the same.
    (Every awk gives up at a file it cannot open: why the snippet checks `[ -r ]` first.)"""
    without = sockets_awk(impl, fixture(SS_ROOT))
    assert without.names == ""
    assert without == replace(sockets_awk(impl, fixture(SS_ROOT), passwd), names="")
    missing = subprocess.run(
        [*impl, AWK_SOCKETS, "-", str(passwd.with_name("missing"))],
        input=b"@@ 0\n", capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    assert missing.returncode != 0


def test_empty_blocks_split_cleanly(impl: list[str]) -> None:
    cut = sockets_awk(impl, "", status=0)
    assert cut == Cut("0", "", "", "", "", "")


# ------------------------------------------------------------------ the parser on the cut


def _context(root: bool = True) -> ParseContext:
    privilege = Privilege(uid=0 if root else 65534, user="root" if root else "nobody")
    return ParseContext(
        collected_at=datetime(2026, 11, 29, tzinfo=UTC),
        log_days=7,
        owner_of=lambda address: None,
        privilege=privilege,
    )


def _parse(tool: str, listing: str, established: str, names: str, how: str) -> FactUpdate:
    section = Section(
        "sockets",
        (
            Part(tool, listing, 0, how),
            Part("established", established, 0, how),
            Part("passwd", names, 0, how),
        ),
    )
    return SocketsFact().parse(section, _context(how != "user"))


@pytest.mark.parametrize(
    ("tool", "listing", "old_listing", "old_connections"),
    [
        ("ss", SS_ROOT, SS_OLD_LISTING, SS_OLD_CONNECTIONS),
        ("netstat", NETSTAT_ROOT, NETSTAT_OLD_LISTING, NETSTAT_OLD_CONNECTIONS),
    ],
)
def test_facts_are_those_of_the_two_runs(
    impl: list[str],
    passwd: Path,
    tool: str,
    listing: str,
    old_listing: str,
    old_connections: str,
) -> None:
    """Listeners (pid, process, user), connections and errors: the same as the parser made
    of the old `-tulpne` + `-tn` runs (their established part shipped unreduced here: the
    parser keeps one connection per pair anyway) and the old passwd awk's lines."""
    cut = sockets_awk(impl, fixture(listing), passwd)
    new = _parse(tool, cut.listing, cut.established, cut.names, "root")
    old = _parse(tool, fixture(old_listing), fixture(old_connections), NAMES, "root")
    assert new == old
    listeners = new.values["listeners"]
    assert {(x.port, x.pid, x.process, x.user) for x in listeners if x.proto == "tcp"} == (
        {
            (28080, 24557, "httpd", "root"),
            (28081, 24560, "app-server", "root"),
            (28082, 24560, "app-server", "root"),
            (28083, 24561, "nobodyd", "nobody"),
        }
        if tool == "ss"
        else {
            (28080, 24557, "python3", None),
            (28081, 24560, "python3", None),
            (28082, 24560, "python3", None),
            (28083, 24561, "python3", None),
        }
    )
    connections = {(c.port, c.peer) for c in new.values["connections"]}
    assert connections == {
        (28080, "127.0.0.1"),
        (28081, "::1"),
        (28082, "127.0.0.1"),
        (28082, "127.0.0.2"),
        (28083, "127.0.0.1"),
    }


def test_as_another_user_the_sockets_uid_names_the_user(impl: list[str], passwd: Path) -> None:
    cut = sockets_awk(impl, fixture(SS_NONROOT), passwd)
    assert (cut.pids, cut.lowest) == ("", "")
    update = _parse("ss", cut.listing, cut.established, cut.names, "user")
    listeners = update.values["listeners"]
    assert all(x.pid is None for x in listeners)
    users = {x.port: x.user for x in listeners}
    assert users[28083] == "nobody" and users[28080] == "root"
    assert "needs root" in update.errors["listeners.process"]
    assert len(update.values["connections"]) == 5


def test_truncation_is_reported(impl: list[str]) -> None:
    cut = sockets_awk(impl, fixture(SS_ROOT), max_connections=1)
    update = _parse("ss", cut.listing, cut.established, "", "root")
    assert "connections.truncated" in update.errors
    assert len(update.values["connections"]) == 1


# ------------------------------------------------------------- the shell's split, for real

_SKS = re.search(r"^_sks\(\) \{.*?; \}$", _SNIPPET, re.S | re.M)


@pytest.mark.parametrize("shell", sorted(SHELLS), ids=str)
@pytest.mark.parametrize(
    ("listing", "status"),
    [(SS_ROOT, 0), (SS_NONROOT, 0), (BUSYBOX_REFUSED, 1), ("", 0)],
    ids=["ss-root", "ss-nobody", "refused", "empty"],
)
def test_the_snippets_split_is_this_tests_split(
    shell: str, listing: str, status: int, passwd: Path
) -> None:
    if shutil.which(SHELLS[shell][0]) is None:
        pytest.skip(f"{shell} is not installed")
    assert _SKS is not None
    out = run_awk(AWKS[0], (fixture(listing) if listing else "") + f"@@ {status}\n", passwd)
    script = (
        "NL='\n'\nX=$(cat)\n" + _SKS.group(0) + "\n_sks\n"
        "for v in \"$R\" \"$PIDS\" \"$LPIDS\" \"$L\" \"$E\" \"$PL\"; do printf '%s\\n@@@\\n' \"$v\"; done\n"
    )  # fmt: skip
    done = subprocess.run(
        [*SHELLS[shell], "-c", script], input=out.encode(), capture_output=True, check=True
    )
    values = done.stdout.decode().split("\n@@@\n")[:6]
    assert Cut(*values) == split_like_the_shell(out)


# ------------------------------------------------------------------ the snippet, run here


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP listener of this test process on loopback, with one established client."""
    with loopback_listener() as (port, _):
        yield port


def _counting(bin_dir: Path, name: str, log: Path, body: str = "") -> None:
    """`name` in bin_dir: logs its arguments (one line per run) and runs the real one."""
    real = shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    assert real is not None, name
    wrapper = bin_dir / name
    wrapper.write_text(
        f"#!/bin/sh\nprintf '%s' \"$*\" | tr '\\n' ' ' | head -c 60 >>{log}; echo >>{log}\n"
        f'{body}exec {real} "$@"\n'
    )
    wrapper.chmod(0o755)


@dataclass(frozen=True)
class SnippetRun:
    facts: Facts
    section: Section
    calls: dict[str, list[str]]


def _run_sockets(
    shell: list[str], tmp_path: Path, leave_out: set[str], **bodies: str
) -> SnippetRun:
    """The script for the sockets fact alone, with ss, netstat, awk and timeout counted."""
    # symlinks to every command on this machine but `leave_out` and the counted ones
    bin_dir = Path(tool_dir(tmp_path, leave_out | {"ss", "netstat", "awk", "timeout"}))
    logs = {}
    for name in ("ss", "netstat", "awk", "timeout"):
        logs[name] = tmp_path / f"{name}.log"
        logs[name].write_text("")
        if name not in leave_out:
            _counting(bin_dir, name, logs[name], bodies.get(name, ""))
    options = ProbeOptions(search_path=(str(bin_dir),))
    run = run_fact(shell, options, SocketsFact(), path=str(bin_dir))
    assert run.section.parts, run.stdout  # the snippet printed its section
    calls = {name: log.read_text().split("\n")[:-1] for name, log in logs.items()}
    return SnippetRun(run.facts, run.section, calls)


def _ours(run: SnippetRun, port: int) -> None:
    found = [x for x in run.facts.listeners or () if x.port == port and x.proto == "tcp"]
    assert found, run.facts.errors
    if IS_ROOT:
        assert found[0].pid == os.getpid() and found[0].cmdline
    assert any(c.port == port and c.peer == "127.0.0.1" for c in run.facts.connections or ())
    names = run.section.get("passwd")
    assert names is not None and "root:0" in names.lines


def test_the_snippet_holds_no_timeout_and_one_ss() -> None:
    snippet = SocketsFact().snippet(ProbeOptions())
    assert "$TT" not in snippet and "_tt" not in snippet and "timeout" not in snippet
    assert len(re.findall(r"\bss -", snippet)) == 1
    assert "/etc/passwd" in snippet and "-F:" not in snippet


@pytest.mark.parametrize("shell", sorted(SHELLS), ids=str)
def test_ss_runs_once_into_one_awk(shell: str, tmp_path: Path, listener: int) -> None:
    if shutil.which(SHELLS[shell][0]) is None or shutil.which("ss") is None:
        pytest.skip(f"{shell} or ss is not installed")
    run = _run_sockets(SHELLS[shell], tmp_path, set())
    assert run.calls["ss"] == ["-tuanpe"]
    assert run.calls["netstat"] == []
    assert not any(" ss" in c or " netstat" in c for c in run.calls["timeout"])
    # AWK_SOCKETS, and AWK_PROC_DETAILS when a listening socket's process was seen
    assert len(run.calls["awk"]) == 1 + (run.section.get("procs") is not None)
    assert [p.name for p in run.section.parts][:2] == ["ss", "established"]
    _ours(run, listener)


@pytest.mark.skipif(shutil.which("netstat") is None, reason="net-tools netstat is not installed")
def test_without_ss_netstat_runs_once(tmp_path: Path, listener: int) -> None:
    run = _run_sockets(["/bin/sh"], tmp_path, {"ss"})
    assert run.calls["netstat"] == ["-tuanpW"]
    assert len(run.calls["awk"]) == 1 + (run.section.get("procs") is not None)
    _ours(run, listener)


@pytest.mark.skipif(shutil.which("netstat") is None, reason="net-tools netstat is not installed")
def test_a_netstat_without_w_runs_twice_into_one_awk(tmp_path: Path, listener: int) -> None:
    refuse = "case $1 in *W*) echo \"netstat: invalid option -- 'W'\" >&2; exit 1 ;; esac\n"
    run = _run_sockets(["/bin/sh"], tmp_path, {"ss"}, netstat=refuse)
    assert run.calls["netstat"] == ["-tuanpW", "-tuanp"]
    assert len(run.calls["awk"]) == 1 + (run.section.get("procs") is not None)
    part = run.section.get("netstat")
    assert part is not None and part.ok and "invalid option" not in part.body
    _ours(run, listener)


def test_the_proc_fallback_needs_no_passwd_awk(tmp_path: Path, listener: int) -> None:
    run = _run_sockets(["/bin/sh"], tmp_path, {"ss", "netstat"})
    assert run.section.get("proc") is not None
    # AWK_PROC_NET, the listening inodes, the fd walk, AWK_SOCKETS (pids and names), details
    assert len(run.calls["awk"]) == 4 + (run.section.get("procs") is not None)
    _ours(run, listener)
