"""The fake, shipped with the real thing: canned SSH answers for tests (design habit 8).

    connector = ScriptedConnector({
        "10.0.0.5": Reply(stdout=golden_output),                 # any port
        "10.0.0.6:22": ConnectError("connection refused ...", kind=FailureKind.REFUSED),
        "10.0.0.6:2222": lambda script: Reply(stdout=run_it_somehow(script)),
        "10.0.0.7": Fail(ConnectError("timed out", kind=FailureKind.CONNECT_TIMEOUT), after=0.5),
        "10.0.0.8": Reply(stdout="late", delay=5.0),              # slow remote: timeouts
        "10.0.0.9": Reply(delay=60, stop_delay=3.0),              # slow to stop (Ctrl-C)
    })

Keys are "address:port" or "address" (any port). It honours the RemoteSession contract
(cap, truncated flags, timeout, close from another thread) and records what happened:
`calls` (every script run), `connects` (every attempt), `stopped` (the addresses whose
running script a close stopped) and `max_active` (the most sessions open at once, to check
a concurrency bound).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

from auditor.config import SshSettings
from auditor.model import Host
from auditor.remote.errors import ConnectError, FailureKind, SessionError
from auditor.remote.session import CommandResult, OutputBuffer, default_ports


@dataclass(frozen=True)
class Reply:
    """What the scripted remote answers to any script. `delay` is how long the remote
    takes to answer: a run whose timeout is shorter times out. `connect_delay` is spent
    in connect (slow handshake), before the session exists. `stop_delay` is how long a
    close takes to stop a script still running (a real session's stop channel on a loaded
    host), before the run is told to end."""

    stdout: bytes | str = b""
    stderr: bytes | str = b""
    exit_status: int | None = 0
    delay: float = 0.0
    connect_delay: float = 0.0
    stop_delay: float = 0.0


@dataclass(frozen=True)
class Fail:
    """Raise `error` from connect, after `after` seconds (e.g. a connect timeout)."""

    error: BaseException
    after: float = 0.0


Responder = Callable[[str], "Reply | CommandResult"]
Behaviour = Reply | Fail | BaseException | Responder


@dataclass(frozen=True)
class ScriptedCall:
    address: str
    port: int
    label: str
    script: str


def _bytes(value: bytes | str) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


class ScriptedSession:
    """A session whose remote side is a Reply or a function of the script."""

    def __init__(
        self,
        connector: ScriptedConnector,
        address: str,
        port: int,
        label: str,
        behaviour: Behaviour,
    ) -> None:
        self._connector = connector
        self._address, self._port, self._label = address, port, label
        self._behaviour = behaviour
        self._closed = threading.Event()
        self._running = False  # a script's delay is being waited out

    @property
    def description(self) -> str:
        return f"scripted {self._address}:{self._port}"

    @property
    def local_address(self) -> str | None:
        return None

    @property
    def endpoint(self) -> tuple[str, int | None] | None:
        return self._address, self._port

    def run(self, script: str, *, timeout: float, max_output: int) -> CommandResult:
        if self._closed.is_set():
            raise SessionError(f"{self.description}: session already closed")
        self._connector._record(ScriptedCall(self._address, self._port, self._label, script))
        started = time.monotonic()
        behaviour = self._behaviour
        answer = behaviour if isinstance(behaviour, Reply) else None
        if answer is None and callable(behaviour):
            produced = behaviour(script)
            if isinstance(produced, CommandResult):
                return produced
            answer = produced
        if answer is None:
            raise SessionError(f"{self.description}: no scripted reply")
        if answer.delay > 0:
            # Event.wait, not sleep: close() from another thread must interrupt it.
            self._running = True
            try:
                closed = self._closed.wait(min(answer.delay, timeout))
            finally:
                self._running = False
            if closed:
                raise SessionError(f"{self.description}: session closed while the script ran")
            if answer.delay > timeout:
                nothing = OutputBuffer(max_output)
                return CommandResult.ended(
                    nothing, nothing, None, started=started, cut=FailureKind.DEADLINE
                )
        out, err = OutputBuffer(max_output), OutputBuffer(max_output)
        out.add(_bytes(answer.stdout))
        err.add(_bytes(answer.stderr))
        cut = None
        if out.truncated:
            cut = FailureKind.OUTPUT_CAP
        elif answer.exit_status is None:
            cut = FailureKind.NO_EXIT_STATUS
        return CommandResult.ended(out, err, answer.exit_status, started=started, cut=cut)

    def close(self) -> None:
        behaviour = self._behaviour
        if self._running and not self._closed.is_set() and isinstance(behaviour, Reply):
            if behaviour.stop_delay > 0:
                time.sleep(behaviour.stop_delay)  # the stop goes out before the run ends
            self._connector._record_stop(self._address)
        self._closed.set()


class ScriptedConnector:
    """A Connector over a table of canned behaviours (see module docstring)."""

    def __init__(
        self,
        hosts: Mapping[str, Behaviour],
        *,
        default: Behaviour | None = None,
    ) -> None:
        self._hosts = dict(hosts)
        self._default = default
        self._lock = threading.Lock()
        self._active = 0
        self.max_active = 0
        self.calls: list[ScriptedCall] = []
        self.connects: list[tuple[str, int]] = []
        self.stopped: list[str] = []

    def ports_for(self, host: Host, address: str, settings: SshSettings) -> tuple[int, ...]:
        return default_ports(host, settings)

    def connect(
        self,
        address: str,
        port: int,
        settings: SshSettings,
        host_label: str,
        instance_id: str | None = None,
    ) -> AbstractContextManager[ScriptedSession]:
        return self._connect(address, port, host_label)

    @contextmanager
    def _connect(self, address: str, port: int, label: str) -> Iterator[ScriptedSession]:
        with self._lock:
            self.connects.append((address, port))
        behaviour = self._hosts.get(f"{address}:{port}", self._hosts.get(address, self._default))
        if behaviour is None:
            raise ConnectError(
                f"connection refused on {address}:{port} (nothing scripted there)",
                kind=FailureKind.REFUSED,
            )
        if isinstance(behaviour, BaseException):
            behaviour = Fail(behaviour)
        if isinstance(behaviour, Fail):
            if behaviour.after > 0:
                time.sleep(behaviour.after)
            raise behaviour.error
        if isinstance(behaviour, Reply) and behaviour.connect_delay > 0:
            time.sleep(behaviour.connect_delay)
        session = ScriptedSession(self, address, port, label, behaviour)
        with self._lock:
            self._active += 1
            self.max_active = max(self.max_active, self._active)
        try:
            yield session
        finally:
            session.close()
            with self._lock:
                self._active -= 1

    def _record(self, call: ScriptedCall) -> None:
        with self._lock:
            self.calls.append(call)

    def _record_stop(self, address: str) -> None:
        with self._lock:
            self.stopped.append(address)
