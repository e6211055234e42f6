"""LocalShellConnector: the drain / cap / timeout contract, on a real local /bin/sh."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from auditor.collect import collect
from auditor.config import SshSettings
from auditor.model import Facts, Host, HostStatus, Observation, SourceKind
from auditor.remote import FailureKind, LocalShellConnector, LocalShellSession, RemoteSession

SETTINGS = SshSettings()
MB = 1 << 20


def test_exit_status_and_both_streams() -> None:
    with LocalShellConnector().connect("127.0.0.1", 22, SETTINGS, "localhost") as session:
        result = session.run("echo out; echo err >&2; exit 3", timeout=10, max_output=MB)
    assert (result.stdout, result.stderr, result.exit_status) == (b"out\n", b"err\n", 3)
    assert not (result.timed_out or result.stdout_truncated or result.stderr_truncated)


def test_ten_megabytes_of_stderr_does_not_deadlock() -> None:
    session = LocalShellSession()
    started = time.monotonic()
    result = session.run(
        "head -c 10000000 /dev/zero >&2; echo a little on stdout", timeout=30, max_output=MB
    )
    assert time.monotonic() - started < 10
    assert result.exit_status == 0 and not result.timed_out
    assert result.stdout == b"a little on stdout\n" and not result.stdout_truncated
    assert len(result.stderr) == MB and result.stderr_truncated


def test_endless_output_is_stopped_at_the_cap_not_at_the_deadline() -> None:
    session = LocalShellSession()
    started = time.monotonic()
    result = session.run("yes", timeout=30, max_output=1000)
    assert time.monotonic() - started < 5
    assert result.stdout == b"y\n" * 500 and result.stdout_truncated
    assert result.cut is FailureKind.OUTPUT_CAP and not result.timed_out
    assert result.exit_status is None


def test_stderr_past_the_cap_is_drained_and_dropped() -> None:
    # `yes` would block forever if we stopped reading stderr at the cap; `head` ends it.
    session = LocalShellSession()
    result = session.run("yes | head -c 5000000 >&2; echo done", timeout=30, max_output=1000)
    assert result.stderr == b"y\n" * 500 and result.stderr_truncated
    assert result.stdout == b"done\n" and result.exit_status == 0 and result.cut is None


def test_a_large_script_on_stdin_while_output_flows() -> None:
    # Larger than any pipe buffer in both directions at once.
    script = "".join(f"echo line-{i}\n" for i in range(100000))
    result = LocalShellSession().run(script, timeout=30, max_output=16 * 1024 * 1024)
    assert result.exit_status == 0 and result.cut is None
    assert result.stdout.startswith(b"line-0\nline-1\n") and b"line-99999\n" in result.stdout


def test_timeout_kills_the_shell_and_its_children() -> None:
    session = LocalShellSession()
    started = time.monotonic()
    result = session.run("echo before; sleep 60 & echo $!; wait", timeout=0.5, max_output=1024)
    assert time.monotonic() - started < 3
    assert result.timed_out and result.exit_status is None
    first, child = result.stdout_text().split()
    assert first == "before"
    time.sleep(0.2)
    assert not _running(int(child))


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie is dead, just not reaped by our container's init


def test_close_from_another_thread_interrupts_run() -> None:
    session = LocalShellSession()
    threading.Timer(0.3, session.close).start()
    started = time.monotonic()
    result = session.run("sleep 30", timeout=30, max_output=64)
    assert time.monotonic() - started < 5
    assert result.exit_status is None


def test_killed_by_a_signal_has_no_exit_status() -> None:
    result = LocalShellSession().run("kill -9 $$", timeout=10, max_output=64)
    assert result.exit_status is None and not result.timed_out


def local_host() -> Host:
    """A managed host at 127.0.0.1, seen alive just now: what the local shell connects to."""
    return Host(
        id="localhost",
        addresses=("127.0.0.1",),
        hostnames=("localhost",),
        identifiers=("ip:127.0.0.1",),
        sources=(SourceKind.NETWORK,),
        status=HostStatus.MANAGED,
        status_reason="test",
        observations=(
            Observation(
                source=SourceKind.NETWORK,
                source_name="t",
                identifiers=("ip:127.0.0.1",),
                observed_at=datetime.now(UTC),
                alive=True,
            ),
        ),
    )


def test_dry_run_of_a_probe_through_collect() -> None:
    host = local_host()

    def probe(session: RemoteSession, host: Host) -> Facts:
        result = session.run("uname -s", timeout=10, max_output=1024)
        return Facts(collected_at=datetime.now(UTC), kernel=result.stdout_text().strip())

    results = collect([host], SETTINGS, probe, connector=LocalShellConnector())
    outcome, facts = results["localhost"]
    assert outcome.state == "ok" and facts is not None and facts.kernel == "Linux"
