"""The shipped fake keeps the RemoteSession contract."""

from __future__ import annotations

import threading
import time

import pytest

from auditor.config import SshSettings
from auditor.remote import (
    AuthError,
    CommandResult,
    ConnectError,
    Fail,
    Reply,
    ScriptedConnector,
    SessionError,
)

SETTINGS = SshSettings()


def test_reply_is_capped_with_flags() -> None:
    connector = ScriptedConnector({"h": Reply(stdout="x" * 100, stderr="e" * 5, exit_status=2)})
    with connector.connect("h", 22, SETTINGS, "h") as session:
        result = session.run("script", timeout=1, max_output=10)
    assert result.stdout == b"x" * 10 and result.stdout_truncated
    assert result.stderr == b"e" * 5 and not result.stderr_truncated
    assert result.exit_status == 2
    assert connector.calls[0].script == "script"


def test_a_slow_reply_times_out() -> None:
    connector = ScriptedConnector({"h": Reply(stdout="late", delay=10)})
    with connector.connect("h", 22, SETTINGS, "h") as session:
        started = time.monotonic()
        result = session.run("s", timeout=0.1, max_output=10)
    assert result.timed_out and result.exit_status is None
    assert time.monotonic() - started < 1


def test_close_interrupts_a_slow_reply() -> None:
    connector = ScriptedConnector({"h": Reply(delay=10)})
    with connector.connect("h", 22, SETTINGS, "h") as session:
        threading.Timer(0.1, session.close).start()
        with pytest.raises(SessionError):
            session.run("s", timeout=10, max_output=10)


def test_callables_and_port_specific_entries() -> None:
    connector = ScriptedConnector(
        {
            "h:22": AuthError("authentication failed"),
            "h:2222": lambda script: CommandResult(script.encode(), b"", 0),
        }
    )
    with pytest.raises(AuthError), connector.connect("h", 22, SETTINGS, "h"):
        pass
    with connector.connect("h", 2222, SETTINGS, "h") as session:
        assert session.run("echo", timeout=1, max_output=10).stdout == b"echo"
    assert connector.connects == [("h", 22), ("h", 2222)]


def test_fail_after_a_delay_and_unscripted_addresses() -> None:
    connector = ScriptedConnector({"slow": Fail(AuthError("no"), after=0.05)})
    started = time.monotonic()
    with pytest.raises(AuthError), connector.connect("slow", 22, SETTINGS, "slow"):
        pass
    assert time.monotonic() - started >= 0.05
    with (
        pytest.raises(ConnectError, match="nothing scripted"),
        connector.connect("other", 22, SETTINGS, "other"),
    ):
        pass
