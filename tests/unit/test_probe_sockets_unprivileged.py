"""The sockets fact without root when the login user owns no process but the probe's own
session: no ss, no fd walk, ONE awk (AWK_PROC_NET over /proc/net/{tcp,tcp6,udp,udp6} and
/etc/passwd), and the same listeners, connections and errors the ss path gives as that user.

The awk under every awk on this machine, the shell's split of its answer and the ownership
check in dash, BusyBox ash and `bash --posix`, the parser on /proc rows, and the real script
run as `nobody` (setpriv) under strace: on this machine's loopback with sockets of this test,
and in a fresh network namespace (`unshare -n`, loopback only) holding IPv4, IPv6, dual-stack
and v6only sockets, where the two paths must agree on everything. The ss path is forced by
giving `nobody` a sleeping process for the run.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditor.model import Facts
from auditor.probe import ALL_FACTS, ProbeOptions, build_script, parse_probe_output, split_output
from auditor.probe.facts import SocketsFact
from auditor.probe.facts.sockets import _SNIPPET, ALONE, AWK_PROC_NET
from auditor.probe.interface import ParseContext, Privilege, ProbeFact
from auditor.probe.sections import Part, Section
from tests.unit.test_probe_golden import available_awks

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "probe"
AWKS = available_awks()
IS_ROOT = os.geteuid() == 0
SHELLS = {
    "dash": ["/bin/sh"],
    "busybox-ash": [shutil.which("busybox") or "busybox", "sh"],
    "bash-posix": [shutil.which("bash") or "bash", "--posix"],
}
PROC_NET = (
    FIXTURES / "proc_net/linux_6.18_tcp.txt",
    FIXTURES / "proc_net/linux_6.18_tcp6.txt",
    FIXTURES / "proc_net/linux_6.18_udp.txt",
    FIXTURES / "proc_net/linux_6.18_udp6.txt",
)
PASSWD = (
    "root:x:0:0:root:/root:/bin/bash\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "\n"
    "not a passwd line\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
)
NAMES = "root:0\ndaemon:1\nnobody:65534"

needs_root = pytest.mark.skipif(
    not IS_ROOT or shutil.which("setpriv") is None or shutil.which("strace") is None,
    reason="needs root, setpriv and strace (the script runs as nobody, traced)",
)


@pytest.fixture(params=AWKS, ids=lambda a: Path(a[0]).name + "".join(a[1:]))
def impl(request: pytest.FixtureRequest) -> list[str]:
    return list(request.param)


@pytest.fixture
def passwd(tmp_path: Path) -> Path:
    path = tmp_path / "passwd"
    path.write_text(PASSWD)
    return path


def _shell(name: str) -> list[str]:
    if shutil.which(SHELLS[name][0]) is None:
        pytest.skip(f"{name} is not installed")
    return SHELLS[name]


def proc_net_awk(impl: list[str], files: Sequence[Path], pw: Path | None = None) -> str:
    args = ["-v", "max=50"] + (["-v", f"pw={pw}"] if pw is not None else [])
    tail = [str(pw)] if pw is not None else []
    done = subprocess.run(
        [*impl, *args, AWK_PROC_NET, *map(str, files), *tail],
        capture_output=True,
        env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"},
        timeout=30,
        check=True,
    )
    assert done.stderr == b""
    return done.stdout.decode()


def _blocks(out: str) -> dict[str, list[str]]:
    """`# /proc/net/<file>` blocks of AWK_PROC_NET's answer (in any order) -> their rows."""
    blocks: dict[str, list[str]] = {}
    current = ""
    for line in out.rstrip("\n").split("\n"):
        if line.startswith("# ") and not line.startswith("# truncated"):
            current = line
            blocks[current] = []
        elif line:
            blocks.setdefault(current, []).append(line)
    return blocks


# ------------------------------------------------------------------------------ the awk


def test_the_names_come_after_the_tables_from_the_same_awk(impl: list[str], passwd: Path) -> None:
    """With `-v pw=FILE` and FILE last: the /proc/net part exactly as without, `@@U`, then
    `name:uid` (the first line of /etc/passwd too: it is no table header)."""
    alone = proc_net_awk(impl, PROC_NET)
    both = proc_net_awk(impl, PROC_NET, passwd)
    tables, _, names = both.partition("\n@@U\n")
    assert _blocks(tables) == _blocks(alone) and len(_blocks(alone)) == 4
    assert names == NAMES + "\n"


def test_no_socket_rows_still_split(impl: list[str], passwd: Path, tmp_path: Path) -> None:
    empty = tmp_path / "tcp"
    empty.write_text(PROC_NET[0].read_text().split("\n", 1)[0] + "\n")  # the header alone
    assert proc_net_awk(impl, (empty,), passwd) == "@@U\n" + NAMES + "\n"


def test_the_names_are_capped(impl: list[str], tmp_path: Path) -> None:
    big = tmp_path / "passwd"
    big.write_text("".join(f"u{i}:x:{i}:{i}::/home/u{i}:/bin/sh\n" for i in range(6000)))
    names = proc_net_awk(impl, PROC_NET, big).partition("\n@@U\n")[2].split("\n")[:-1]
    assert len(names) == 5000 and names[0] == "u0:0" and names[-1] == "u4999:4999"


def test_connections_are_capped_before_the_names(impl: list[str], passwd: Path) -> None:
    done = subprocess.run(
        [*impl, "-v", "max=0", "-v", f"pw={passwd}", AWK_PROC_NET, *map(str, PROC_NET), str(passwd)],
        capture_output=True, timeout=30, check=True,
    )  # fmt: skip
    tables, _, names = done.stdout.decode().partition("\n@@U\n")
    assert tables.split("\n")[-1].startswith("# truncated ") and names == NAMES + "\n"


# ------------------------------------------------------------------ the shell's split

_SPLIT = re.search(r"^  X=\$NL\$X;.*?esac$", _SNIPPET, re.S | re.M)


@pytest.mark.parametrize("shell", sorted(SHELLS), ids=str)
@pytest.mark.parametrize(
    ("answer", "listing", "names"),
    [
        ("# /proc/net/tcp\n  0: row\n@@U\nroot:0\nnobody:65534\n", "# /proc/net/tcp\n  0: row",
         "root:0\nnobody:65534"),
        ("@@U\nroot:0\n", "", "root:0"),  # no listening socket at all
        ("# /proc/net/tcp\n  0: row\n", "# /proc/net/tcp\n  0: row", ""),  # no /etc/passwd
        ("awk: cannot open /proc/net/tcp6\n", "awk: cannot open /proc/net/tcp6", ""),
        ("", "", ""),
    ],
    ids=["both", "no-rows", "no-passwd", "error", "empty"],
)  # fmt: skip
def test_the_split_at_the_names(shell: str, answer: str, listing: str, names: str) -> None:
    assert _SPLIT is not None
    script = (
        "NL='\n'\nPL=\nX=$(cat)\n" + _SPLIT.group(0) + "\n"
        "printf '%s\\n@@@\\n%s\\n@@@\\n' \"$L\" \"$PL\"\n"
    )  # fmt: skip
    done = subprocess.run(
        [*_shell(shell), "-c", script], input=answer.encode(), capture_output=True, check=True
    )
    assert done.stderr == b""
    assert done.stdout.decode().split("\n@@@\n")[:2] == [listing, names]


# ---------------------------------------------------------------- the parser on /proc rows

_ANY6 = "0" * 32
_LOOP6 = "0" * 24 + "01000000"


def _row(n: int, local: str, port: int, state: str, uid: int = 0, remote: str = "") -> str:
    remote = remote or ("0" * len(local.split(":")[0]) + ":0000")
    return (
        f"   {n}: {local}:{port:04X} {remote} {state} 00000000:00000000 00:00000000 "
        f"00000000 {uid:>5}        0 {1000 + n} 1 0000000000000000 100 0 0 10 0"
    )


def _proc_part(alone: bool) -> Part:
    body = "\n".join(
        [
            "# /proc/net/tcp6",
            _row(1, _ANY6, 8080, "0A"),  # dual stack: no IPv4 socket on 8080
            _row(2, _ANY6, 22, "0A"),  # v6only beside sshd's 0.0.0.0:22
            _row(3, _LOOP6, 9000, "0A", uid=1),
            _row(4, _LOOP6, 9000, "01", remote=f"{_LOOP6}:C000"),
            "# /proc/net/tcp",
            _row(5, "00000000", 22, "0A"),
            "# /proc/net/udp6",
            _row(6, _ANY6, 5353, "07"),  # v6only beside 0.0.0.0:5353
            _row(7, _ANY6, 4789, "07"),  # dual stack
            "# /proc/net/udp",
            _row(8, "00000000", 5353, "07"),
        ]
        + ([ALONE + " ss not run"] if alone else [])
    )
    return Part("proc", body, 0, "user")


def _context() -> ParseContext:
    return ParseContext(
        collected_at=datetime(2026, 11, 29, tzinfo=UTC),
        log_days=7,
        owner_of=lambda address: None,
        privilege=Privilege(uid=65534, user="nobody"),
    )


def test_alone_the_ipv6_wildcard_is_spelled_as_ss_spells_it() -> None:
    """`*` for a `::` socket no IPv4 socket shares a port with (dual stack, as new ss says
    from IPV6_V6ONLY), `::` beside an IPv4 twin (v6only, `[::]` in ss)."""
    section = Section("sockets", (_proc_part(alone=True), Part("passwd", NAMES, 0, "user")))
    update = SocketsFact().parse(section, _context())
    listeners = {(x.proto, x.address, x.port, x.user) for x in update.values["listeners"]}
    assert listeners == {
        ("tcp", "*", 8080, "root"),
        ("tcp", "::", 22, "root"),
        ("tcp", "0.0.0.0", 22, "root"),
        ("tcp", "::1", 9000, "daemon"),
        ("udp", "::", 5353, "root"),
        ("udp", "0.0.0.0", 5353, "root"),
        ("udp", "*", 4789, "root"),
    }
    assert [(c.port, c.peer) for c in update.values["connections"]] == [(9000, "::1")]
    assert "needs root" in update.errors["listeners.process"]


def test_the_proc_fallback_keeps_its_spelling() -> None:
    """Without the alone line (the fallback after ss and netstat): as before, `::`."""
    section = Section("sockets", (_proc_part(alone=False), Part("passwd", NAMES, 0, "user")))
    update = SocketsFact().parse(section, _context())
    assert "*" not in {x.address for x in update.values["listeners"]}


# ------------------------------------------------------------------- the script, as nobody

NOBODY = pwd.getpwnam("nobody") if IS_ROOT else None


def _as_nobody(argv: list[str]) -> list[str]:
    assert NOBODY is not None
    uid, gid = NOBODY.pw_uid, NOBODY.pw_gid
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", *argv]


def _nobody_owns_a_process() -> bool:
    assert NOBODY is not None
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == NOBODY.pw_uid:
                    return True
            except OSError:
                continue
    return False


@pytest.fixture
def nobody_alone() -> None:
    if NOBODY is None or _nobody_owns_a_process():
        pytest.skip("nobody owns a process on this machine: the alone path cannot be taken")


@pytest.fixture
def nobody_busy() -> Iterator[None]:
    """`nobody` owns a sleeping process (as a deploy user runs the service): ss must run."""
    sleeper = subprocess.Popen(_as_nobody(["sleep", "60"]))
    try:
        yield
    finally:
        sleeper.kill()
        sleeper.wait()


@dataclass(frozen=True)
class Traced:
    facts: Facts
    sockets: Section
    execs: list[list[str]]  # argv of every program the run exec'd

    def programs(self) -> Counter[str]:
        return Counter(Path(argv[0]).name for argv in self.execs)

    def sockets_awks(self) -> list[list[str]]:
        """AWK_PROC_NET runs (the alone path, the /proc fallback) and AWK_SOCKETS runs."""
        return [
            a
            for a in self.execs
            if Path(a[0]).name == "awk" and ("/proc/net/tcp" in a or a[-2:] == ["-", "/etc/passwd"])
        ]


_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def run_traced(
    shell: list[str],
    tmp_path: Path,
    *,
    facts: tuple[ProbeFact, ...] | None = None,
    prefix: Sequence[str] = (),
    options: ProbeOptions | None = None,
) -> Traced:
    """The script as nobody (behind `prefix`: nsenter), every execve traced (one file per
    process: `-ff`, so no call is split into unfinished and resumed lines)."""
    options = options or ProbeOptions()
    facts = facts if facts is not None else ALL_FACTS
    trace = tmp_path / f"run{len(list(tmp_path.glob('run*')))}"
    trace.mkdir()
    script = build_script(options, facts)
    done = subprocess.run(
        ["strace", "-f", "-ff", "--seccomp-bpf", "-qq", "-s", "64", "-e", "trace=execve", "-e", "signal=none",
         "-o", str(trace / "t"), *prefix, *_as_nobody([*shell, "-s"])],
        input=script.encode(), capture_output=True, cwd="/", timeout=300, check=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/", "LOGNAME": "nobody"},
    )  # fmt: skip
    assert done.stderr == b"", done.stderr
    stdout = done.stdout.decode("utf-8", errors="replace")
    execs = []
    for path in sorted(trace.iterdir()):
        for line in path.read_text().splitlines():
            if line.startswith("execve(") and line.rstrip().endswith(" = 0"):
                execs.append(_QUOTED.findall(line)[1:])
    parsed = parse_probe_output(
        stdout,
        options.nonce,
        collected_at=datetime.now(UTC),
        log_days=7,
        owner_of=lambda address: None,
        facts=facts,
    )
    section = split_output(stdout, options.nonce).section("sockets")
    assert section is not None
    return Traced(parsed, section, execs)


def _is_alone(run: Traced) -> bool:
    proc = run.sockets.get("proc")
    return proc is not None and ALONE in proc.body


@pytest.fixture
def loopback_sockets() -> Iterator[tuple[int, int]]:
    """Root's TCP listener on 127.0.0.1 with one established client, and a UDP socket."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    try:
        yield server.getsockname()[1], udp.getsockname()[1]
    finally:
        for s in (client, accepted, server, udp):
            s.close()


def _ours(facts: Facts, ports: set[int]) -> tuple[object, ...]:
    listeners = sorted(
        (x.proto, x.address, x.port, x.user, x.pid, x.process, x.exe)
        for x in facts.listeners or ()
        if x.port in ports
    )
    connections = sorted((c.port, c.peer) for c in facts.connections or () if c.port in ports)
    return tuple(listeners), tuple(connections)


@needs_root
@pytest.mark.parametrize("shell", sorted(SHELLS), ids=str)
def test_the_sockets_fact_alone_is_one_awk(
    shell: str, tmp_path: Path, nobody_alone: None, loopback_sockets: tuple[int, int]
) -> None:
    """The fact by itself (sudo off): the shell, then ONE awk, no ss, no ls, no cat."""
    argv0 = Path(_shell(shell)[0]).name
    run = run_traced(_shell(shell), tmp_path, facts=(SocketsFact(),))
    assert run.programs() == Counter(["setpriv", argv0, "awk"]), run.execs
    assert _is_alone(run)
    (awk,) = run.sockets_awks()
    assert awk[-5:] == [*(f"/proc/net/{t}" for t in ("tcp", "tcp6", "udp", "udp6")), "/etc/passwd"]
    assert [p.name for p in run.sockets.parts] == ["proc", "passwd"]
    tcp, udp = loopback_sockets
    assert _ours(run.facts, {tcp, udp}) == (
        (("tcp", "127.0.0.1", tcp, "root", None, None, None),
         ("udp", "127.0.0.1", udp, "root", None, None, None)),
        ((tcp, "127.0.0.1"),),
    )  # fmt: skip


@needs_root
@pytest.mark.parametrize("shell", sorted(SHELLS), ids=str)
def test_a_user_with_a_process_gets_ss(
    shell: str, tmp_path: Path, nobody_busy: None, loopback_sockets: tuple[int, int]
) -> None:
    argv0 = Path(_shell(shell)[0]).name
    run = run_traced(_shell(shell), tmp_path, facts=(SocketsFact(),))
    assert run.programs() == Counter(["setpriv", argv0, "ss", "awk"]), run.execs
    assert not _is_alone(run) and run.sockets.get("ss") is not None


@needs_root
@pytest.mark.parametrize("shell", sorted(SHELLS), ids=str)
def test_the_whole_script_as_nobody_same_facts_either_way(
    shell: str, tmp_path: Path, nobody_alone: None, loopback_sockets: tuple[int, int]
) -> None:
    """The whole script, sudo off: alone, no ss and one awk for the sockets; with a process
    of nobody's, ss. The test's sockets read the same both ways."""
    tcp, udp = loopback_sockets
    alone = run_traced(_shell(shell), tmp_path)
    assert "ss" not in alone.programs()
    assert _is_alone(alone)
    awks = alone.sockets_awks()
    assert len(awks) == 1 and "/proc/net/tcp" in awks[0], awks
    # no fd walk: `ls -l /proc/[0-9]*/fd` is the /proc fallback's, not the alone path's
    assert not any(a[0].endswith("ls") and any(x.endswith("/fd") for x in a) for a in alone.execs)

    sleeper = subprocess.Popen(_as_nobody(["sleep", "60"]))
    try:
        with_ss = run_traced(_shell(shell), tmp_path)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert with_ss.programs()["ss"] == 1 and not _is_alone(with_ss)
    assert len(with_ss.sockets_awks()) == 1

    assert _ours(alone.facts, {tcp, udp}) == _ours(with_ss.facts, {tcp, udp}) == (
        (("tcp", "127.0.0.1", tcp, "root", None, None, None),
         ("udp", "127.0.0.1", udp, "root", None, None, None)),
        ((tcp, "127.0.0.1"),),
    )  # fmt: skip
    for run in (alone, with_ss):
        reason = run.facts.errors["listeners.process"]
        assert "needs root" in reason and "sudo is off" in reason


@needs_root
def test_sudo_refused_is_alone_too(
    tmp_path: Path, nobody_alone: None, loopback_sockets: tuple[int, int]
) -> None:
    """sudo on but refused (nobody is no sudoer): the privileged half runs as the user, by
    `eval` in the same shell, and takes the alone path."""
    run = run_traced(["/bin/sh"], tmp_path, options=ProbeOptions(sudo=True))
    assert run.facts.errors.get("probe.sudo")
    assert _is_alone(run) and "ss" not in run.programs()


# ---------------------------------------------- in a network namespace: the two paths agree

_NETNS_HELPER = r"""
import json, os, socket, subprocess, sys
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
keep = []
def bound(family, address, kind=socket.SOCK_STREAM, v6only=None, port=0, euid=None):
    if euid is not None:
        os.seteuid(euid)  # the socket's uid is its creator's: daemon's, in a root process
    try:
        s = socket.socket(family, kind)
    finally:
        if euid is not None:
            os.seteuid(0)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    s.bind((address, port))
    if kind == socket.SOCK_STREAM:
        s.listen()
    keep.append(s)
    return s.getsockname()[1]
def client(family, source, address, port):
    c = socket.socket(family)
    c.bind((source, 0))
    c.connect((address, port))
    keep.append(c)
ports = {
    "v4": bound(socket.AF_INET, "127.0.0.1"),
    "daemon": bound(socket.AF_INET, "127.0.0.1", euid=1),
    "dual": bound(socket.AF_INET6, "::", v6only=0),
    "v6only": bound(socket.AF_INET6, "::", v6only=1),
    "loop6": bound(socket.AF_INET6, "::1", v6only=1),
    "udp4": bound(socket.AF_INET, "127.0.0.1", socket.SOCK_DGRAM),
    "udp_dual": bound(socket.AF_INET6, "::", socket.SOCK_DGRAM, v6only=0),
    "udp_v6only": bound(socket.AF_INET6, "::", socket.SOCK_DGRAM, v6only=1),
}
bound(socket.AF_INET, "0.0.0.0", port=ports["v6only"])  # its IPv4 twin, as sshd has
bound(socket.AF_INET, "0.0.0.0", socket.SOCK_DGRAM, port=ports["udp_v6only"])
client(socket.AF_INET, "127.0.0.1", "127.0.0.1", ports["v4"])
client(socket.AF_INET, "127.0.0.2", "127.0.0.1", ports["v4"])
client(socket.AF_INET, "127.0.0.1", "127.0.0.1", ports["daemon"])
client(socket.AF_INET, "127.0.0.3", "127.0.0.1", ports["dual"])
client(socket.AF_INET6, "::1", "::1", ports["dual"])
client(socket.AF_INET6, "::1", "::1", ports["loop6"])
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.connect(("127.0.0.1", ports["udp4"]))  # a connected UDP socket: no listener
keep.append(udp)
print(json.dumps(ports), flush=True)
sys.stdin.read()
"""


@pytest.fixture
def netns() -> Iterator[tuple[int, dict[str, int]]]:
    """A process in a fresh network namespace holding root's (and daemon's) sockets."""
    if not IS_ROOT or shutil.which("unshare") is None or shutil.which("nsenter") is None:
        pytest.skip("needs root, unshare and nsenter")
    helper = subprocess.Popen(
        ["unshare", "-n", sys.executable, "-c", _NETNS_HELPER],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert helper.stdout is not None and helper.stdin is not None
    line = helper.stdout.readline()
    if not line:
        helper.wait()
        pytest.skip(f"no network namespace here: {helper.stderr.read() if helper.stderr else ''}")
    try:
        yield helper.pid, json.loads(line)
    finally:
        helper.stdin.close()
        helper.wait(timeout=30)


@needs_root
@pytest.mark.parametrize("shell", sorted(SHELLS), ids=str)
def test_in_a_namespace_the_two_paths_agree_on_everything(
    shell: str, tmp_path: Path, nobody_alone: None, netns: tuple[int, dict[str, int]]
) -> None:
    pid, ports = netns
    enter = ["nsenter", f"--net=/proc/{pid}/ns/net", "--"]
    alone = run_traced(_shell(shell), tmp_path, facts=(SocketsFact(),), prefix=enter)
    assert _is_alone(alone) and "ss" not in alone.programs()
    sleeper = subprocess.Popen(_as_nobody(["sleep", "60"]))
    try:
        with_ss = run_traced(_shell(shell), tmp_path, facts=(SocketsFact(),), prefix=enter)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert not _is_alone(with_ss) and with_ss.programs()["ss"] == 1

    assert alone.facts.listeners == with_ss.facts.listeners
    assert alone.facts.connections == with_ss.facts.connections
    assert alone.facts.errors == with_ss.facts.errors
    assert {(x.proto, x.address, x.port, x.user) for x in alone.facts.listeners or ()} == {
        ("tcp", "127.0.0.1", ports["v4"], "root"),
        ("tcp", "127.0.0.1", ports["daemon"], "daemon"),
        ("tcp", "*", ports["dual"], "root"),
        ("tcp", "::", ports["v6only"], "root"),
        ("tcp", "0.0.0.0", ports["v6only"], "root"),
        ("tcp", "::1", ports["loop6"], "root"),
        ("udp", "127.0.0.1", ports["udp4"], "root"),
        ("udp", "*", ports["udp_dual"], "root"),
        ("udp", "::", ports["udp_v6only"], "root"),
        ("udp", "0.0.0.0", ports["udp_v6only"], "root"),
    }
    assert {(c.port, c.peer) for c in alone.facts.connections or ()} == {
        (ports["v4"], "127.0.0.1"),
        (ports["v4"], "127.0.0.2"),
        (ports["daemon"], "127.0.0.1"),
        (ports["dual"], "127.0.0.3"),
        (ports["dual"], "::1"),
        (ports["loop6"], "::1"),
    }
    assert alone.facts.errors["listeners.process"] == (
        "10 of 10 listening sockets have no process: needs root "
        "(logged in as nobody and sudo is off ([ssh] sudo = false))"
    )
