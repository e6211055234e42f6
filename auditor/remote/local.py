"""Run the probe with the local `/bin/sh -s`: `--dry-run` on localhost, and tests.

Same contract as an SSH session: the script goes to stdin, stdout and stderr are drained
together (a script that floods stderr cannot deadlock us), stdout reaching the cap stops
the script, and a timeout stops the whole process group: TERM (the probe's trap prints the
parts it held and the step it was in, read for up to STOP_GRACE seconds), then KILL.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress

from auditor.config import SshSettings
from auditor.model import Host
from auditor.remote.errors import FailureKind, SessionError
from auditor.remote.session import STOP_GRACE, CommandResult, OutputBuffer, default_ports

_READ_CHUNK = 65536


class LocalShellSession:
    """Runs each script in a fresh local `/bin/sh -s` (see RemoteSession)."""

    def __init__(self, shell: str = "/bin/sh", description: str = "local /bin/sh") -> None:
        self._shell = shell
        self._description = description
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._closed = False

    @property
    def description(self) -> str:
        return self._description

    @property
    def local_address(self) -> str | None:
        return None

    @property
    def endpoint(self) -> tuple[str, int | None] | None:
        return None

    def run(self, script: str, *, timeout: float, max_output: int) -> CommandResult:
        started = time.monotonic()
        with self._lock:
            if self._closed:
                raise SessionError(f"{self._description}: session already closed")
            try:
                process = subprocess.Popen(
                    [self._shell, "-s"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=True,  # its own process group: a timeout kills it all
                )
            except OSError as exc:
                raise SessionError(f"cannot start {self._shell}: {exc.strerror}") from None
            self._process = process
        try:
            return self._drain(process, script.encode("utf-8"), timeout, max_output, started)
        finally:
            with self._lock:
                self._process = None
            _kill_group(process)
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
            process.wait()

    def _drain(
        self,
        process: subprocess.Popen[bytes],
        stdin: bytes,
        timeout: float,
        max_output: int,
        started: float,
    ) -> CommandResult:
        assert process.stdin and process.stdout and process.stderr
        buffers = {
            process.stdout.fileno(): OutputBuffer(max_output),
            process.stderr.fileno(): OutputBuffer(max_output),
        }
        out, err = buffers[process.stdout.fileno()], buffers[process.stderr.fileno()]
        pending = memoryview(stdin)
        stdin_fd = process.stdin.fileno()
        os.set_blocking(stdin_fd, False)
        with selectors.DefaultSelector() as selector:
            for fd in buffers:
                selector.register(fd, selectors.EVENT_READ)
            if pending:
                selector.register(stdin_fd, selectors.EVENT_WRITE)
            else:
                process.stdin.close()
            deadline = started + timeout
            open_reads = len(buffers)
            cut: FailureKind | None = None
            while open_reads and not out.truncated:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if cut is FailureKind.DEADLINE:
                        break  # the grace after the TERM is over too
                    cut = FailureKind.DEADLINE
                    _kill_group(process, signal.SIGTERM)
                    deadline = time.monotonic() + STOP_GRACE
                    continue
                for key, _ in selector.select(remaining):
                    fd = key.fd
                    if fd == stdin_fd:
                        try:
                            pending = pending[os.write(fd, pending[:_READ_CHUNK]) :]
                        except BrokenPipeError:
                            pending = pending[:0]  # the shell exited without reading it all
                        if not pending:
                            selector.unregister(fd)
                            process.stdin.close()
                        continue
                    data = os.read(fd, _READ_CHUNK)
                    if data:
                        buffers[fd].add(data)
                    else:
                        selector.unregister(fd)
                        open_reads -= 1
            if out.truncated:
                cut = FailureKind.OUTPUT_CAP
            status: int | None = None
            if cut is None:
                try:
                    code = process.wait(timeout=max(deadline - time.monotonic(), 0.001))
                except subprocess.TimeoutExpired:
                    cut = FailureKind.DEADLINE  # closed its output but kept running
                else:
                    status = code if code >= 0 else None  # negative: killed by a signal
                    if status is None:
                        cut = FailureKind.NO_EXIT_STATUS
            elif cut is FailureKind.DEADLINE and process.poll() is not None:
                status = process.returncode if process.returncode >= 0 else None
        return CommandResult.ended(out, err, status, started=started, cut=cut)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            process = self._process
        if process is not None:
            _kill_group(process)


def _kill_group(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    # The whole group, even after the shell exited: children it started in the background
    # may still be running and holding our pipes.
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


class LocalShellConnector:
    """A Connector whose every host is this machine. Settings (user, keys, sudo) are
    ignored: the script runs as the current user, exactly as given."""

    def __init__(self, shell: str = "/bin/sh") -> None:
        self._shell = shell

    def ports_for(self, host: Host, address: str, settings: SshSettings) -> tuple[int, ...]:
        return default_ports(host, settings)[:1] or (22,)

    def connect(
        self,
        address: str,
        port: int,
        settings: SshSettings,
        host_label: str,
        instance_id: str | None = None,
    ) -> AbstractContextManager[LocalShellSession]:
        return self._connect(host_label or address)

    @contextmanager
    def _connect(self, label: str) -> Iterator[LocalShellSession]:
        session = LocalShellSession(self._shell, description=f"local {self._shell} as {label}")
        try:
            yield session
        finally:
            session.close()
