"""The real script on this machine: `sh -s` with the script on stdin, exactly as over SSH.

Read-only and local: the probe reads /proc, /etc and /var/log and runs version commands.
The shells are dash (/bin/sh), BusyBox ash and `bash --posix`; tool fallbacks are forced by
a PATH of symlinks that leaves tools out (no ss; no ss and no netstat and no timeout, like
CentOS 5; BusyBox applets only, like Alpine).
"""

from __future__ import annotations

import gzip
import os
import platform
import pwd
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from auditor.model import Facts, Listener
from auditor.probe import ProbeOptions, build_script, parse_probe_output, split_output
from auditor.probe.facts import SoftwareFact, SystemFact
from auditor.probe.facts.software import FIND_SAFE
from tests.unit.probe_run import (
    SHELLS,
    busybox_dir,
    loopback_listener,
    program_names,
    run_fact,
    run_script,
    shell_argv,
    tool_dir,
    traced_execs,
)

IS_ROOT = os.geteuid() == 0


@dataclass(frozen=True)
class Run:
    facts: Facts
    stdout: str
    stderr: str
    options: ProbeOptions


def run_probe(
    shell: list[str],
    options: ProbeOptions,
    *,
    path: str | None = None,
    user: str | None = None,
    cwd: str = "/",
) -> Run:
    """Run the script like the SSH session does and parse what it printed."""
    started = datetime.now(UTC)
    done = run_script(
        shell,
        build_script(options),
        path=path or os.environ.get("PATH", "/usr/bin:/bin"),
        user=user,
        cwd=cwd,
        timeout=150,
    )
    stdout = done.stdout.decode("utf-8", errors="replace")
    facts = parse_probe_output(
        stdout,
        options.nonce,
        collected_at=started,
        log_days=options.log_days,
        owner_of=lambda address: "loopback" if address.startswith("127.") else None,
    )
    return Run(facts, stdout, done.stderr.decode("utf-8", errors="replace"), options)


@pytest.fixture
def listener() -> Iterator[tuple[int, socket.socket]]:
    """A TCP listener of this test process on loopback, with one established client."""
    with loopback_listener() as found:
        yield found


def our_listener(facts: Facts, port: int) -> list[Listener]:
    return [lst for lst in facts.listeners or () if lst.port == port and lst.proto == "tcp"]


def assert_sane(run: Run) -> None:
    facts = run.facts
    assert facts.hostname == socket.gethostname()
    assert facts.kernel == platform.release()
    assert facts.arch == platform.machine()
    assert facts.uptime_seconds is not None and facts.uptime_seconds > 0
    assert facts.boot_time is not None and facts.boot_time < facts.collected_at
    assert facts.os is not None and facts.os.id
    assert facts.listeners, facts.errors
    assert facts.log_activity is not None and facts.log_activity.files, facts.errors
    assert facts.cron is not None
    assert facts.software is not None
    assert "probe" not in facts.errors, facts.errors
    assert split_output(run.stdout, run.options.nonce).finished
    for field in ("hostname", "kernel", "arch", "os", "uptime_seconds", "listeners"):
        assert field not in facts.errors
    # Every field left None says why.
    for name in ("logins", "sessions", "connections", "web_logs", "fqdn"):
        if getattr(facts, name) is None:
            assert name in facts.errors, name


# --------------------------------------------------------------------------- the shells


@pytest.mark.parametrize("shell", sorted(SHELLS), ids=str)
def test_probe_runs_in_each_shell(shell: str, listener: tuple[int, socket.socket]) -> None:
    if shutil.which(SHELLS[shell][0]) is None:
        pytest.skip(f"{shell} is not installed")
    port, _ = listener
    run = run_probe(SHELLS[shell], ProbeOptions(sudo=True))
    assert_sane(run)
    found = our_listener(run.facts, port)
    assert found, run.facts.listeners
    listener_facts = found[0]
    assert listener_facts.address == "127.0.0.1"
    if IS_ROOT or os.geteuid() == os.getuid():
        assert listener_facts.pid == os.getpid()
        assert listener_facts.exe and Path(listener_facts.exe).name.startswith("python")
        assert listener_facts.cmdline
    assert run.facts.connections is not None
    assert any(c.port == port and c.peer == "127.0.0.1" for c in run.facts.connections)


def test_script_leaves_no_files_and_reads_nothing_from_stdin(tmp_path: Path) -> None:
    """Nothing written in the working directory or /tmp; trailing stdin is not eaten."""
    before = set(Path("/tmp").iterdir())
    options = ProbeOptions()
    script = build_script(options) + "echo TRAILING-STDIN-RAN\n"
    done = subprocess.run(
        ["/bin/sh", "-s"], input=script.encode(), capture_output=True, cwd=tmp_path, timeout=150
    )
    assert list(tmp_path.iterdir()) == []
    created = {p for p in set(Path("/tmp").iterdir()) - before if "auditor" in p.name.lower()}
    assert not created
    # The script is one brace group with stdin from /dev/null; text after it still runs
    # (it is the shell's own input), but no command inside consumed it.
    assert b"TRAILING-STDIN-RAN" in done.stdout
    assert split_output(done.stdout.decode(), options.nonce).finished


# ------------------------------------------------------------------------- the fallbacks


def test_without_ss_falls_back_to_netstat(
    tmp_path: Path, listener: tuple[int, socket.socket]
) -> None:
    if shutil.which("netstat") is None:
        pytest.skip("net-tools netstat is not installed")
    port, _ = listener
    path = tool_dir(tmp_path, {"ss"})
    run = run_probe(["/bin/sh"], ProbeOptions(search_path=(path,)), path=path)
    section = split_output(run.stdout, run.options.nonce).section("sockets")
    assert section is not None
    assert section.get("ss") is None
    netstat = section.get("netstat")
    assert netstat is not None and netstat.ok
    assert_sane(run)
    found = our_listener(run.facts, port)
    assert found
    if IS_ROOT:
        assert found[0].pid == os.getpid()
    assert any(c.port == port for c in run.facts.connections or ())


def test_without_ss_netstat_or_timeout_reads_proc(
    tmp_path: Path, listener: tuple[int, socket.socket]
) -> None:
    """CentOS 5 minus net-tools: /proc/net/tcp* joined with one walk of /proc/*/fd."""
    port, _ = listener
    path = tool_dir(tmp_path, {"ss", "netstat", "timeout"})
    run = run_probe(["/bin/sh"], ProbeOptions(search_path=(path,)), path=path)
    section = split_output(run.stdout, run.options.nonce).section("sockets")
    assert section is not None and section.get("proc") is not None
    meta = split_output(run.stdout, run.options.nonce).section("meta")
    assert meta is not None and "timeout=none" in (meta.get("privilege") or meta.parts[0]).body
    assert_sane(run)
    found = our_listener(run.facts, port)
    assert found
    if IS_ROOT:
        assert found[0].pid == os.getpid()
        assert found[0].user == pwd.getpwuid(os.getuid()).pw_name
    assert any(c.port == port and c.peer == "127.0.0.1" for c in run.facts.connections or ())


@pytest.mark.skipif(shutil.which("busybox") is None, reason="busybox is not installed")
def test_busybox_only_host(tmp_path: Path, listener: tuple[int, socket.socket]) -> None:
    """Alpine-like: BusyBox ash and applets only (its netstat may lack -p, its last any
    option, its find -printf)."""
    port, _ = listener
    path = busybox_dir(tmp_path)
    before = {lst.port for lst in run_probe(["/bin/sh"], ProbeOptions()).facts.listeners or ()}
    run = run_probe([str(Path(path) / "sh")], ProbeOptions(search_path=(path,)), path=path)
    assert_sane(run)
    assert our_listener(run.facts, port)
    output = split_output(run.stdout, run.options.nonce)
    logs = output.section("logs")
    assert logs is not None and logs.get("find") is None  # BusyBox find has no -printf
    software = output.section("software")
    # A BusyBox applet is never run as a version probe (BusyBox `httpd -v` serves HTTP).
    assert software is None or all("busybox" not in p.body for p in software.parts)
    time.sleep(0.2)
    after = run_probe(["/bin/sh"], ProbeOptions()).facts.listeners or ()
    started = {lst.port for lst in after} - before - {port}
    assert not {p for p in started if p in (80, 8080)}, "the probe started a server"


# ------------------------------------------------------------------------- privileges


@pytest.mark.skipif(not IS_ROOT or shutil.which("setpriv") is None, reason="needs root + setpriv")
def test_unprivileged_with_sudo_refused_says_what_needed_root(
    listener: tuple[int, socket.socket],
) -> None:
    port, _ = listener
    nobody = pwd.getpwnam("nobody").pw_uid
    run = run_probe(["/bin/sh"], ProbeOptions(sudo=True), user=str(nobody))
    facts = run.facts
    assert facts.hostname == socket.gethostname()
    assert facts.errors.get("probe.sudo"), facts.errors
    found = our_listener(facts, port)
    assert found and found[0].pid is None
    # ... but the socket's uid (ss -e, /proc/net) still names its user.
    assert found[0].user == "root"
    reason = facts.errors["listeners.process"]
    assert "needs root" in reason and "sudo" in reason
    privilege = split_output(run.stdout, run.options.nonce).section("meta")
    assert privilege is not None
    part = privilege.get("privileged")
    assert part is not None and part.how == "user"


@pytest.mark.skipif(not IS_ROOT or shutil.which("setpriv") is None, reason="needs root + setpriv")
def test_unprivileged_with_sudo_off() -> None:
    nobody = pwd.getpwnam("nobody").pw_uid
    facts = run_probe(["/bin/sh"], ProbeOptions(sudo=False), user=str(nobody)).facts
    assert "probe.sudo" not in facts.errors
    if "listeners.process" in facts.errors:
        assert "sudo is off" in facts.errors["listeners.process"]


@pytest.mark.skipif(not IS_ROOT or shutil.which("setpriv") is None, reason="needs root + setpriv")
def test_sudo_commands_refused_run_as_the_login_user_and_say_so(
    listener: tuple[int, socket.socket],
) -> None:
    # [ssh] sudo = "commands" where sudo allows nothing (nobody has no sudoers entry): every
    # command line is asked for and refused, runs as the login user, and the host says so.
    port, _ = listener
    nobody = pwd.getpwnam("nobody").pw_uid
    run = run_probe(["/bin/sh"], ProbeOptions(sudo_commands=True), user=str(nobody))
    facts = run.facts
    assert "sudo refused" in facts.errors["probe.sudo"] and "ss -tuanpe" in facts.errors["probe.sudo"]
    found = our_listener(facts, port)
    assert found and found[0].pid is None and found[0].user == "root"
    assert 'sudo = "commands"' in facts.errors["listeners.process"]
    output = split_output(run.stdout, run.options.nonce)
    meta = output.section("meta")
    assert meta is not None
    asked = meta.get("sudo-commands")
    assert asked is not None and asked.lines and all(
        line.startswith("refused /") for line in asked.lines
    ), asked.body
    sockets = output.section("sockets")
    assert sockets is not None and (sockets.get("ss") or sockets.get("netstat")).how == "user"
    # The script never asked for a root shell.
    assert "sudo -n sh" not in build_script(run.options) and "sudo -n true" not in run.stdout


def test_every_command_through_sudo_is_a_listed_fixed_line() -> None:
    # Each `_sc` call of the script names one of PRIVILEGED_COMMANDS exactly, and the command
    # the snippet then runs as `$C ...` has the same arguments: the sudoers entry is enough.
    import re
    import shlex

    from auditor.probe.privileged_commands import PRIVILEGED_COMMANDS, sudoers_entry

    script = build_script(ProbeOptions(sudo_commands=True))
    calls = re.findall(r"\b_sc ([^;\n]+)", script)
    assert len(calls) == 5, calls  # ss, netstat twice, find, grep (in a loop)
    loops = {"\"$d\"": ("/var/spool/cron", "/var/spool/cron/crontabs", "/var/spool/cron/tabs",
                          "/etc/crontabs")}  # fmt: skip
    for call in calls:
        words = call.split()
        variants = [words]
        for i, word in enumerate(words):
            if word in loops:
                variants = [[*words[:i], d, *words[i + 1 :]] for d in loops[word]]
        for variant in variants:
            assert tuple(shlex.split(" ".join(variant))) in PRIVILEGED_COMMANDS, variant
    # ... and runs it with the very arguments it asked sudo about.
    for ran in ("$C -tuanpe 2>&1", "$C1 -tuanpW 2>&1", "$C -tuanp 2>&1",
                "$C /var/log -xdev -type f -printf '%T@ %s %p\\n' 2>&1", '$C -r ^ "$d" 2>'):  # fmt: skip
        assert ran in script, ran
    entry = sudoers_entry()
    assert "*" not in entry and "sh -s" not in entry and "ALL\n" not in entry.replace("ALL=", "")
    assert build_script(ProbeOptions()).count("sudo -n -l") == 0  # only in commands mode
    # docs/ssh.md prints this very entry (the lab test installs the doc's copy).
    doc = (Path(__file__).parents[2] / "docs" / "ssh.md").read_text()
    assert "```\n" + entry + "```" in doc


# ---------------------------------------------------------------------- forged markers


def test_forged_markers_without_the_nonce_change_nothing(
    listener: tuple[int, socket.socket],
) -> None:
    run = run_probe(["/bin/sh"], ProbeOptions())
    nonce = run.options.nonce
    forged = [
        "@@AUDITOR 0000000000000000 DONE@@",
        "@@AUDITOR 0000000000000000 END sockets/ss 0 root@@",
        "@@AUDITOR 0000000000000000 BEGIN system/uname@@",
        "evil.example.com",
        f"@@AUDITOR {nonce}x END system/uname 0 root@@",
        f"@@AUDITOR {nonce} ENDX system/uname 0 root@@",
        f" @@AUDITOR {nonce} DONE@@",
    ]
    # Inside the first line of a part body, as a log line or process title would be.
    marker = f"@@AUDITOR {nonce} BEGIN system/uname@@\n"
    tampered = run.stdout.replace(marker, marker + "\n".join(forged) + "\n", 1)
    tampered = tampered.replace(
        f"@@AUDITOR {nonce} BEGIN sockets/ss@@\n",
        f"@@AUDITOR {nonce} BEGIN sockets/ss@@\n" + "\n".join(forged) + "\n",
    )
    facts = parse_probe_output(
        tampered,
        nonce,
        collected_at=run.facts.collected_at,
        log_days=7,
        owner_of=lambda address: "loopback" if address.startswith("127.") else None,
    )
    # The forged lines are only text inside those parts: the listeners parse the same.
    assert facts.listeners == run.facts.listeners
    assert facts.uptime_seconds == run.facts.uptime_seconds
    # uname's first line is now the forged one, read as text: its first word is the name.
    assert facts.hostname == "@@AUDITOR" and facts.kernel == "0000000000000000"


# --------------------------------------------------------------------- web log discovery

_SERVER = (
    "import socket,time;s=socket.socket();s.bind(('127.0.0.1',0));s.listen();"
    "print(s.getsockname()[1],flush=True);time.sleep(300)"
)


def _combined(address: str, when: datetime, path: str) -> str:
    stamp = when.strftime("[%d/%b/%Y:%H:%M:%S +0000]")
    return f'{address} - - {stamp} "GET {path} HTTP/1.1" 200 512 "-" "curl/8.0"\n'


@pytest.fixture
def fake_httpd(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A process called httpd (`-f CONF` on its command line) listening on loopback, with
    an Apache-style config: ServerRoot-relative CustomLog, an Include, a piped log, and logs
    with rotations (one old enough to be left out, one gzipped)."""
    root = tmp_path / "apache"
    (root / "bin").mkdir(parents=True)
    (root / "conf" / "conf.d").mkdir(parents=True)
    (root / "logs").mkdir()
    (root / "bin" / "httpd").symlink_to(os.path.realpath(sys.executable))
    conf = root / "conf" / "httpd.conf"
    conf.write_text(
        f'ServerRoot "{root}"\nListen 80\nCustomLog logs/access_log combined\n'
        "Include conf/conf.d/*.conf\n"
    )
    (root / "conf" / "conf.d" / "vhost.conf").write_text(
        f'<VirtualHost *:80>\n  CustomLog "{root}/logs/shop_access.log" combined\n'
        '  TransferLog "|/usr/sbin/rotatelogs /var/log/x 86400"\n</VirtualHost>\n'
    )
    now = datetime.now(UTC).replace(microsecond=0)
    lines = [_combined("10.20.1.5", now - timedelta(hours=h), "/billing/") for h in (1, 2, 3)]
    lines.append(_combined("203.0.113.9", now - timedelta(hours=4), "/phpmyadmin/"))
    lines.append(_combined("10.20.1.5", now - timedelta(days=30), "/too-old"))
    (root / "logs" / "access_log").write_text("".join(lines))
    (root / "logs" / "access_log.1").write_text(
        _combined("10.30.0.7", now - timedelta(days=2), "/export.csv")
    )
    with gzip.open(root / "logs" / "access_log.2.gz", "wt") as handle:
        handle.write(_combined("10.30.0.8", now - timedelta(days=3), "/export.csv"))
    stale = root / "logs" / "access_log.9"
    stale.write_text(_combined("10.30.0.9", now - timedelta(days=40), "/export.csv"))
    old = time.time() - 40 * 86400
    os.utime(stale, (old, old))
    (root / "logs" / "shop_access.log").write_text(
        _combined("2001:db8::7", now - timedelta(hours=5), "/shop")
    )
    server = subprocess.Popen(
        [str(root / "bin" / "httpd"), "-c", _SERVER, "-f", str(conf)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        yield port, root
    finally:
        server.kill()
        server.wait()


def test_web_logs_found_from_the_servers_command_line(fake_httpd: tuple[int, Path]) -> None:
    port, _root = fake_httpd
    facts = run_probe(["/bin/sh"], ProbeOptions(log_days=7)).facts
    assert any(lst.port == port and lst.process == "httpd" for lst in facts.listeners or ())
    logs = {Path(w.path).name: w for w in facts.web_logs or ()}
    assert set(logs) >= {"access_log", "access_log.1", "access_log.2.gz", "shop_access.log"}
    assert "access_log.9" not in logs  # last written 40 days ago: outside the window
    main = logs["access_log"]
    assert (main.requests, main.clients) == (4, 2)  # the 30-day-old line is out of window
    assert [p.path for p in main.admin_paths] == ["/phpmyadmin/"]
    assert main.top_clients[0].address == "10.20.1.5" and main.top_clients[0].requests == 3
    assert logs["access_log.2.gz"].requests == 1
    assert logs["shop_access.log"].top_clients[0].address == "2001:db8::7"
    clients = {c.address: c for c in facts.clients or ()}
    assert clients["10.20.1.5"].requests == 3
    assert {"10.30.0.7", "10.30.0.8"} <= set(clients)
    assert "web_logs.piped" in facts.errors


# ------------------------------------------------------------------- nothing is written

_WRITES = (
    "openat,open,creat,mkdir,mkdirat,rename,renameat,renameat2,unlink,unlinkat,rmdir,"
    "truncate,ftruncate,symlink,symlinkat,link,linkat,chmod,fchmodat,chown,fchownat"
)


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_nothing_is_written_on_the_host(tmp_path: Path) -> None:
    """Every process of the probe, traced: no file is created, changed or removed."""
    trace = tmp_path / "trace"
    subprocess.run(
        ["strace", "-f", "-ff", "-qq", "-e", "signal=none", "-o", str(trace),
         "-e", f"trace={_WRITES}", "/bin/sh", "-s"],
        input=build_script(ProbeOptions(sudo=True)).encode(),
        capture_output=True, cwd="/", timeout=300, check=False,
    )  # fmt: skip
    offending = []
    lines = [line for f in tmp_path.glob("trace.*") for line in f.read_text().splitlines()]
    assert lines, "strace recorded nothing"
    for call in lines:
        if call.startswith(("+++", "---")) or " = -1 " in call:
            continue  # exits, signals, and calls that failed: nothing happened
        if call.startswith(("openat(", "open(")):
            if not any(f in call for f in ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC")):
                continue
            if '"/dev/null"' in call or '"/proc/self/' in call:
                continue  # /proc/self/coredump_filter is the JVM's own process knob
        offending.append(call)
    assert not offending, offending[:10]


# ------------------------------------------------------------------ software versions

FINDS = {"gnu": ["find"], "busybox": [shutil.which("busybox") or "busybox", "find"]}


@pytest.mark.skipif(not IS_ROOT, reason="needs root: files owned by root and by others")
@pytest.mark.parametrize("find", sorted(FINDS), ids=str)
def test_only_root_owned_unwritable_files_pass_the_owner_check(find: str, tmp_path: Path) -> None:
    """FIND_SAFE sees what `ls -lnL` would: the target's owner and mode, after symlinks."""
    if shutil.which(FINDS[find][0]) is None:
        pytest.skip(f"{find} find is not installed")
    files = {}
    for name, mode, uid in (
        ("ok", 0o755, 0), ("group-writable", 0o775, 0), ("other-writable", 0o757, 0),
        ("user-owned", 0o755, 1000),
    ):  # fmt: skip
        path = tmp_path / name
        path.write_text("#!/bin/sh\n")
        path.chmod(mode)
        os.chown(path, uid, 0)
        files[name] = path
    (tmp_path / "link-to-ok").symlink_to(files["ok"])
    os.chown(tmp_path / "link-to-ok", 1000, 0, follow_symlinks=False)  # the link's owner: moot
    (tmp_path / "link-to-user-owned").symlink_to(files["user-owned"])
    (tmp_path / "a-directory").mkdir()
    names = [*files, "link-to-ok", "link-to-user-owned", "a-directory", "missing"]
    args = FIND_SAFE.replace("@FILES@", " ".join(str(tmp_path / n) for n in names)).split()
    done = subprocess.run([*FINDS[find], *args], capture_output=True, text=True, check=False)
    assert sorted(Path(line).name for line in done.stdout.splitlines()) == ["link-to-ok", "ok"]


def _fake_program(path: Path, output: str, mode: int = 0o755) -> Path:
    """A program printing `output` when run, whatever its arguments."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\nprintf '%s\\n' '{output}'\n")
    path.chmod(mode)
    return path


def _software(tmp_path: Path, bin_dir: Path) -> tuple[Facts, str]:
    options = ProbeOptions(search_path=(str(bin_dir),))
    run = run_fact(["/bin/sh"], options, SoftwareFact(), path="/usr/bin:/bin")
    return run.facts, run.stdout


@pytest.mark.skipif(not IS_ROOT, reason="the programs must be owned by root to be run")
def test_a_jvm_with_a_release_file_is_not_run(tmp_path: Path) -> None:
    jdk = tmp_path / "jdk-21"
    _fake_program(jdk / "bin" / "java", 'openjdk version "1.0.0-RAN" 2000-01-01')
    (jdk / "release").write_text(
        'IMPLEMENTOR="Eclipse Adoptium"\nJAVA_VERSION="21.0.5"\nMODULES="java.base"\n'
    )
    facts, stdout = _software(tmp_path, jdk / "bin")
    versions = {s.version for s in facts.software or () if s.name == "java"}
    assert "21.0.5" in versions and "1.0.0-RAN" not in versions
    assert f"{jdk}/release:" in stdout and 'IMPLEMENTOR="Eclipse Adoptium"' in stdout
    assert not any(k.startswith(f"software:{jdk}") for k in facts.errors), facts.errors


@pytest.mark.skipif(not IS_ROOT, reason="the programs must be owned by root to be run")
def test_a_jdk8_jre_finds_the_release_file_one_level_up(tmp_path: Path) -> None:
    jdk = tmp_path / "jdk8"
    _fake_program(jdk / "jre" / "bin" / "java", 'java version "1.0.0-RAN"')
    (jdk / "release").write_text('JAVA_VERSION="1.8.0_452"\n')
    facts, _ = _software(tmp_path, jdk / "jre" / "bin")
    versions = {s.version for s in facts.software or () if s.name == "java"}
    assert "1.8.0_452" in versions and "1.0.0-RAN" not in versions


@pytest.mark.skipif(not IS_ROOT, reason="the programs must be owned by root to be run")
def test_a_jvm_without_a_trusted_release_file_is_run(tmp_path: Path) -> None:
    old = tmp_path / "jdk6"
    _fake_program(old / "bin" / "java", 'java version "1.6.0_45"')
    facts, _ = _software(tmp_path, old / "bin")
    assert "1.6.0_45" in {s.version for s in facts.software or () if s.name == "java"}
    # A release file others may write is not believed: the (root-owned) binary is asked.
    (old / "release").write_text('JAVA_VERSION="99.0.0"\n')
    (old / "release").chmod(0o666)
    facts, _ = _software(tmp_path, old / "bin")
    versions = {s.version for s in facts.software or () if s.name == "java"}
    assert "1.6.0_45" in versions and "99.0.0" not in versions


@pytest.mark.skipif(not IS_ROOT, reason="needs root: a program owned by another user")
def test_programs_others_could_have_planted_are_not_run(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    _fake_program(bin_dir / "nginx", "nginx version: nginx/0.0.1-RAN", mode=0o775)
    _fake_program(bin_dir / "php", "PHP 0.0.2-RAN (cli)")
    os.chown(bin_dir / "php", 1000, 1000)
    _fake_program(bin_dir / "httpd", "Server version: Apache/2.4.99 (Unix)\n" + "x\n" * 20)
    facts, stdout = _software(tmp_path, bin_dir)
    assert "RAN" not in stdout
    for name in ("nginx", "php"):
        assert "not run" in facts.errors[f"software:{bin_dir / name}"]
    httpd = [s for s in facts.software or () if s.name == "httpd"]
    assert httpd and httpd[0].version == "2.4.99"
    body = stdout.split("BEGIN software/httpd@@\n", 1)[1].split("\n@@AUDITOR", 1)[0]
    assert body.count("\n") <= 7  # the path, then at most 6 lines of output


@pytest.mark.skipif(shutil.which("busybox") is None, reason="busybox is not installed")
@pytest.mark.skipif(not IS_ROOT, reason="the programs must be owned by root to be run")
def test_busybox_readlink_resolves_one_file_at_a_time(tmp_path: Path) -> None:
    """BusyBox readlink takes one operand: the per-file fallback still finds where a
    symlinked java really lives (and so its release file); applets are never run."""
    bin_dir = Path(busybox_dir(tmp_path))
    jdk = tmp_path / "jdk-11"
    _fake_program(jdk / "bin" / "java", 'openjdk version "1.0.0-RAN"')
    (jdk / "release").write_text('JAVA_VERSION="11.0.99"\n')
    (bin_dir / "java").symlink_to(jdk / "bin" / "java")
    facts, stdout = _software(tmp_path, bin_dir)
    assert "11.0.99" in {s.version for s in facts.software or () if s.name == "java"}
    assert "RAN" not in stdout
    assert f"BEGIN software/httpd@@\n{bin_dir}" not in stdout  # BusyBox's httpd applet


# -------------------------------------------------------------------- the skeleton


def test_a_script_without_privileged_facts_is_valid_sh() -> None:
    """`{` + nothing + `}` is a syntax error: the empty privileged half holds a `:`."""
    options = ProbeOptions()
    for shell in SHELLS.values():
        if shutil.which(shell[0]) is None:
            continue
        done = subprocess.run(
            [*shell, "-s"],
            input=build_script(options, (SystemFact(),)).encode(),
            capture_output=True,
            cwd="/",
            timeout=60,
            check=False,
        )
        assert done.stderr == b"", (shell, done.stderr)
        output = split_output(done.stdout.decode(), options.nonce)
        assert output.finished
        meta = output.section("meta")
        assert meta is not None
        privileged = meta.get("privileged")
        assert privileged is not None and privileged.status == 0


def _execs(tmp_path: Path, script: str, user: str | None = None) -> list[str]:
    """The programs a script execs (successful execve calls), run like the SSH session."""
    execs, _ = traced_execs(shell_argv(["/bin/sh"], user), script, tmp_path / "trace")
    return execs


def test_the_skeleton_starts_no_process_besides_the_shell(tmp_path: Path) -> None:
    """Who we are from /proc and /etc/passwd, `timeout` only looked up, no clock read."""
    execs = _execs(tmp_path, build_script(ProbeOptions(), ()))
    assert program_names(execs) == ["sh"], execs


@pytest.mark.skipif(not IS_ROOT, reason="needs root to run the script as another user")
def test_the_timeout_syntax_is_asked_once_and_only_when_needed(tmp_path: Path) -> None:
    """With sudo on as a user sudo refuses, `sudo -n` runs under `timeout`: its usage text
    is read once, and the privileged half then runs in the same shell (no second `sh`)."""
    options = ProbeOptions(sudo=True)
    nobody = str(pwd.getpwnam("nobody").pw_uid)
    execs = _execs(tmp_path, build_script(options, (SystemFact(),)), user=nobody)
    assert sum('["timeout", "--help"]' in line for line in execs) == 1, execs
    assert sum('["timeout", "10", "sudo", "-n", "true"]' in line for line in execs) == 1
    assert sum('/sh", ["sh"' in line or '/sh", ["/bin/sh"' in line for line in execs) == 1


def test_system_fact_reads_names_from_proc_and_etc_hosts(tmp_path: Path) -> None:
    """No `uname`, `hostname` or `id` where /proc/sys/kernel and /etc/hosts answer; the
    values are the ones those programs print."""
    options = ProbeOptions()
    execs = _execs(tmp_path, build_script(options, (SystemFact(),)))
    programs = set(program_names(execs))
    proc_has_all = all(
        Path("/proc/sys/kernel", name).exists() for name in ("hostname", "osrelease", "arch")
    )
    if proc_has_all:
        assert "uname" not in programs
    assert not programs & {"id", "hostname"} or not _hosts_names(platform.node()), programs
    run = run_probe(SHELLS["dash"], options)
    assert run.facts.kernel == platform.release()
    assert run.facts.arch == platform.machine()
    assert run.facts.hostname == platform.node()
    fqdn = subprocess.run(["hostname", "-f"], capture_output=True, text=True, check=False)
    if fqdn.returncode == 0:
        assert run.facts.fqdn == fqdn.stdout.strip()


def _hosts_names(node: str) -> bool:
    """Whether /etc/hosts lists `node` on some line."""
    try:
        lines = Path("/etc/hosts").read_text().splitlines()
    except OSError:
        return False
    return any(node in line.split("#", 1)[0].split()[1:] for line in lines)


@pytest.mark.skipif(not IS_ROOT, reason="needs root for a mount namespace")
def test_without_proc_uptime_the_uptime_comes_from_btime_and_the_hosts_clock() -> None:
    """/proc/uptime empty (a mount namespace binds /dev/null over it): the btime fallback
    reads the host's clock itself, since the skeleton no longer does."""
    options = ProbeOptions()
    done = subprocess.run(
        ["unshare", "--mount", "sh", "-c", "mount --bind /dev/null /proc/uptime && exec sh -s"],
        input=build_script(options, (SystemFact(),)).encode(),
        capture_output=True, cwd="/", timeout=60, check=True,
    )  # fmt: skip
    started = datetime.now(UTC)
    facts = parse_probe_output(
        done.stdout.decode(),
        options.nonce,
        collected_at=started,
        log_days=7,
        owner_of=lambda address: None,
        facts=(SystemFact(),),
    )
    assert "uptime_seconds" not in facts.errors, facts.errors
    real = float(Path("/proc/uptime").read_text().split()[0])
    assert facts.uptime_seconds is not None and abs(facts.uptime_seconds - real) < 5
    assert facts.boot_time is not None
