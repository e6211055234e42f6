"""What the tests of the probe's script share: the shells and awks of this machine, the
probe's fixtures, running the script like the SSH session does (`sh -s`, the script on
stdin), a PATH made of symlinks that leaves tools out, and the programs a run execs
(strace).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from auditor.model import Facts
from auditor.probe import ProbeOptions, build_script, parse_probe_output, split_output
from auditor.probe.interface import ProbeFact
from auditor.probe.parsers.software import VersionRun
from auditor.probe.sections import Section
from tests.unit.test_probe_golden import available_awks

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "probe"
AWKS = available_awks()
SHELLS = {
    "dash": ["/bin/sh"],
    "busybox-ash": [shutil.which("busybox") or "busybox", "sh"],
    "bash-posix": [shutil.which("bash") or "bash", "--posix"],
}


def fixture(path: str) -> str:
    """A file under tests/fixtures/probe."""
    return (FIXTURES / path).read_text()


def awk_id(implementation: Sequence[str]) -> str:
    """A test id for an awk of AWKS: `mawk`, `gawk--posix`, `busyboxawk` ..."""
    return Path(implementation[0]).name + "".join(implementation[1:])


# ------------------------------------------------------------------ a PATH of symlinks


def tool_dir(tmp_path: Path, leave_out: Collection[str]) -> str:
    """A directory of symlinks to every command on this machine except `leave_out`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for directory in ("/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        if not Path(directory).is_dir():
            continue
        for entry in Path(directory).iterdir():
            target = bin_dir / entry.name
            if entry.name in leave_out or target.exists() or target.is_symlink():
                continue
            if os.access(entry, os.X_OK) and not entry.is_dir():
                target.symlink_to(entry)
    return str(bin_dir)


def busybox_dir(tmp_path: Path) -> str:
    """Only BusyBox applets, the way an Alpine host looks."""
    busybox = shutil.which("busybox")
    assert busybox is not None
    bin_dir = tmp_path / "bb"
    bin_dir.mkdir()
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True)
    for name in applets.stdout.split():
        (bin_dir / name).symlink_to(busybox)
    return str(bin_dir)


# ------------------------------------------------------------------ running the script


def shell_argv(shell: Sequence[str], user: str | None = None) -> list[str]:
    """`sh -s` (the script on stdin), as `user` (a uid or name) when given."""
    argv = [*shell, "-s"]
    if user is not None:
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
    return argv


def run_script(
    shell: Sequence[str],
    script: str,
    *,
    path: str,
    user: str | None = None,
    cwd: str | Path = "/",
    timeout: float = 120,
) -> subprocess.CompletedProcess[bytes]:
    """Run the script like the SSH session does: on the shell's stdin, PATH `path`, HOME /."""
    return subprocess.run(
        shell_argv(shell, user),
        input=script.encode(),
        capture_output=True,
        env={"PATH": path, "HOME": "/"},
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


@dataclass(frozen=True)
class FactRun:
    facts: Facts
    stdout: str
    section: Section  # the fact's parts: none when it printed none


def run_fact(
    shell: Sequence[str],
    options: ProbeOptions,
    fact: ProbeFact,
    *,
    path: str,
    edit: tuple[str, str] | None = None,
    known: Sequence[VersionRun] | None = None,
) -> FactRun:
    """The script for `fact` alone (with `edit` = (old, new) made in it), run like the SSH
    session runs the probe, nothing on stderr; parsed with `known` as the controller's
    version cache."""
    script = build_script(options, (fact,))
    if edit is not None:
        assert edit[0] in script
        script = script.replace(*edit)
    done = run_script(shell, script, path=path)
    assert done.stderr == b"", done.stderr
    stdout = done.stdout.decode()
    facts = parse_probe_output(
        stdout,
        options.nonce,
        collected_at=datetime.now(UTC),
        log_days=7,
        owner_of=lambda address: None,
        facts=(fact,),
        cached_versions=None if known is None else {run.path: run for run in known},
    )
    section = split_output(stdout, options.nonce).section(fact.name) or Section(fact.name)
    return FactRun(facts, stdout, section)


# ------------------------------------------------------------------ what a run execs


def traced_execs(
    argv: Sequence[str],
    script: str,
    trace: Path,
    *,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> tuple[list[str], bytes]:
    """Run `argv` (in /) with the script on stdin under `strace -f`: its successful execve
    calls, one strace line each, and its stdout."""
    done = subprocess.run(
        [shutil.which("strace") or "strace", "-f", "-qq", "-e", "trace=execve", "-e",
         "signal=none", "-o", str(trace), *argv],
        input=script.encode(), capture_output=True, env=env, cwd="/", timeout=timeout,
        check=True,
    )  # fmt: skip
    lines = trace.read_text().splitlines()
    return [line for line in lines if "execve(" in line and " = 0" in line], done.stdout


def program_names(execs: Sequence[str]) -> list[str]:
    """The file names of the programs traced_execs saw run, in order."""
    return [line.split('"')[1].rsplit("/", 1)[-1] for line in execs]


# ------------------------------------------------------------------ a socket to find


@contextmanager
def loopback_listener() -> Iterator[tuple[int, socket.socket]]:
    """A TCP listener of this test process on loopback, with one established client."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    try:
        yield port, server
    finally:
        for s in (client, accepted, server):
            s.close()
