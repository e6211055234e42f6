"""One writer at a time: an exclusive `flock` on a lock file that says who holds it.

Used for the history store (`<store>.lock`) and for a report folder (`<folder>/.lock`), so a
second audit on either fails at once, naming the holder, instead of interleaving with the
first. flock, so a crashed audit never leaves a lock held. The holder line names the pid,
the machine, the subcommand and the time: never the command line's options, which may hold
a webhook URL or other secrets.

A `reentrant` lock is held once per process: taking it again while this process holds it
(the audit holds its report folder's lock, and the report writer takes it again) is a no-op
whose release does nothing. A store lock is not: a second open in the same process is
refused like one from another process.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from auditor.errors import AuditorError

_held: dict[Path, ExclusiveLock] = {}
_held_lock = threading.Lock()


def holder_name() -> str:
    """Who this process is: pid, machine, subcommand (no options, no secrets)."""
    words = [a for a in sys.argv[1:] if not a.startswith("-")]
    command = f"auditor {words[0]}" if words else Path(sys.argv[0]).name
    return f"pid {os.getpid()} on {socket.gethostname()}, '{command}'"


def holder_line() -> str:
    """Who takes the lock: pid, machine, subcommand, since when (no options, no secrets)."""
    since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{holder_name()}, since {since}"


class ExclusiveLock:
    """`with ExclusiveLock(path, busy=...):` holds the lock; `busy(holder)` makes the error
    raised when another process holds it. Failing to create the lock file raises
    `unavailable(reason)`."""

    def __init__(
        self,
        path: Path,
        *,
        busy: Callable[[str], AuditorError],
        unavailable: Callable[[str], AuditorError],
        reentrant: bool = False,
    ) -> None:
        self.path = path
        self._reentrant = reentrant
        self._busy = busy
        self._unavailable = unavailable
        self.fd: int | None = None
        self._reentered = False

    def acquire(self) -> ExclusiveLock:
        key = self.path.resolve()
        with _held_lock:
            if self._reentrant and key in _held:
                self._reentered = True
                return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise self._unavailable(f"cannot create lock file {self.path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            raise self._busy(holder) from None
        with contextlib.suppress(OSError):  # a full disk must not stop us taking the lock
            os.ftruncate(fd, 0)
            os.pwrite(fd, holder_line().encode("utf-8") + b"\n", 0)
        self.fd = fd
        if self._reentrant:
            with _held_lock:
                _held[key] = self
        return self

    def release(self) -> None:
        if self._reentered or self.fd is None:
            return
        if self._reentrant:
            with _held_lock:
                _held.pop(self.path.resolve(), None)
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, 0)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> ExclusiveLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
