"""The inspect script on this machine, as over SSH (`sh -s`, script on stdin): dash,
BusyBox ash and `bash --posix`; as root and as nobody; and under strace, nothing written."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from auditor.inspect.probe import inspect_script, parse_inspect_output
from auditor.probe import ProbeOptions, parse_probe_output
from auditor.probe.facts import InspectFacts
from auditor.probe.facts.services import parse_proc_stat, start_time

SHELLS = {
    "dash": ["/bin/sh"],
    "busybox-ash": [shutil.which("busybox") or "busybox", "sh"],
    "bash-posix": [shutil.which("bash") or "bash", "--posix"],
}
IS_ROOT = os.geteuid() == 0


def run(shell: list[str], user: str | None = None) -> tuple[InspectFacts, str]:
    options = ProbeOptions()
    argv = [*shell, "-s"]
    if user is not None:
        gid = pwd.getpwnam(user).pw_gid
        argv = ["setpriv", f"--reuid={user}", f"--regid={gid}", "--clear-groups", *argv]
    done = subprocess.run(
        argv, input=inspect_script(options).encode(), capture_output=True, cwd="/", timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": "/"}, check=False,
    )  # fmt: skip
    stdout = done.stdout.decode("utf-8", errors="replace")
    deep = parse_inspect_output(
        stdout, options.nonce, collected_at=datetime.now(UTC), log_days=7, owner_of=lambda a: None
    )
    return deep, stdout


@pytest.fixture(scope="module")
def listening() -> Iterator[int]:
    """This test process listens, so it is one of the host's services."""
    server = socket.create_server(("127.0.0.1", 0))
    yield server.getsockname()[1]
    server.close()


def _own_start() -> datetime | None:
    stat = parse_proc_stat(Path("/proc/self/stat").read_text())
    btime = next(
        int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
        if line.startswith("btime")
    )  # fmt: skip
    assert stat is not None
    return start_time(btime, stat.start_ticks, os.sysconf("SC_CLK_TCK"))


@pytest.mark.skipif(not IS_ROOT, reason="reading other processes' /proc entries needs root")
@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_services_of_this_machine_as_root(shell: str, listening: int) -> None:
    if shutil.which(SHELLS[shell][0]) is None:
        pytest.skip(f"{shell} is not installed")
    deep, stdout = run(SHELLS[shell])
    assert deep.services is not None, deep.errors
    mine = next((s for s in deep.services if s.pid == os.getpid()), None)
    assert mine is not None, [s.pid for s in deep.services]
    assert mine.exe == os.path.realpath(f"/proc/{os.getpid()}/exe")
    started = _own_start()
    assert mine.started_at is not None and started is not None
    assert abs(mine.started_at - started) < timedelta(seconds=1)
    assert mine.ancestors and mine.package is not None and mine.started_by is not None
    assert deep.machine is not None and deep.machine.cpus
    assert deep.accepted_logins is not None
    assert not {k for k in deep.errors if not k.startswith("accepted_logins")}, deep.errors
    facts = parse_probe_output(
        stdout, _nonce(stdout), collected_at=datetime.now(UTC), log_days=7, owner_of=lambda a: None
    )
    assert any(lst.port == listening and lst.pid == os.getpid() for lst in facts.listeners or ())


def _nonce(stdout: str) -> str:
    for line in stdout.splitlines():
        if line.startswith("@@AUDITOR "):
            return line.split()[1]
    raise AssertionError("no marker in the output")


@pytest.mark.skipif(not IS_ROOT or shutil.which("setpriv") is None, reason="needs root and setpriv")
def test_as_nobody_the_services_need_root(listening: int) -> None:
    deep, _ = run(["/bin/sh"], user="nobody")
    assert deep.services == ()
    assert "needs root" in deep.errors["services.files"]
    assert deep.machine is not None  # machine hints need no root


_WRITES = (
    "openat,open,creat,mkdir,mkdirat,rename,renameat,renameat2,unlink,unlinkat,rmdir,"
    "truncate,ftruncate,symlink,symlinkat,link,linkat,chmod,fchmodat,chown,fchownat"
)


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_nothing_is_written_on_the_host(tmp_path: Path, listening: int) -> None:
    trace = tmp_path / "trace"
    subprocess.run(
        ["strace", "-f", "-ff", "-qq", "-e", "signal=none", "-o", str(trace),
         "-e", f"trace={_WRITES}", "/bin/sh", "-s"],
        input=inspect_script(ProbeOptions(sudo=True)).encode(),
        capture_output=True, cwd="/", timeout=300, check=False,
    )  # fmt: skip
    lines = [line for f in tmp_path.glob("trace.*") for line in f.read_text().splitlines()]
    assert lines, "strace recorded nothing"
    offending = []
    for call in lines:
        if call.startswith(("+++", "---")) or " = -1 " in call:
            continue
        if call.startswith(("openat(", "open(")):
            if not any(f in call for f in ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC")):
                continue
            if '"/dev/null"' in call or '"/proc/self/' in call:
                continue
        offending.append(call)
    assert not offending, offending[:10]
