"""The contract between the fan-out (`auditor.collect`) and whatever runs the probe script.

A `Connector` opens a `RemoteSession` to one address and port; the session runs one POSIX sh
script per call over one channel (`/bin/sh -s`, the script on stdin) and returns a
`CommandResult`. Three connectors ship: `ParamikoConnector` (real SSH),
`LocalShellConnector` (local `/bin/sh`, for `--dry-run` and tests) and `ScriptedConnector`
(canned answers, for tests). They share the same drain, cap and timeout semantics.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from auditor.config import SshSettings
    from auditor.model import Host

# The remote command. `/bin/sh` rather than `sh`: it exists on every target we care about
# (CentOS 5, BusyBox, systemd distros) and does not depend on the login PATH.
SHELL_COMMAND = "/bin/sh -s"

# With sudo: probe as root when passwordless sudo works, otherwise unprivileged, still on one
# channel. `sudo -n true` reads no stdin, so the script is still there for whichever shell
# runs. Wrapped in `/bin/sh -c '...'` so a csh or fish login shell parses nothing of it.
SUDO_COMMAND = (
    "/bin/sh -c 'if sudo -n true 2>/dev/null; then exec sudo -n /bin/sh -s; fi; "
    'echo "auditor: sudo -n refused, probing unprivileged" >&2; exec /bin/sh -s\''
)

DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024


def remote_command(sudo: bool) -> str:
    """The command line the exec channel runs; the script always arrives on stdin."""
    return SUDO_COMMAND if sudo else SHELL_COMMAND


@dataclass(frozen=True)
class CommandResult:
    """What one script run produced.

    `exit_status` is None when the shell gave none (killed by a signal, channel closed,
    timed out). A truncated stream kept its first `max_output` bytes; the rest was read and
    dropped so the remote side never blocked on a full pipe.
    """

    stdout: bytes
    stderr: bytes
    exit_status: int | None
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    timed_out: bool = False
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_status == 0 and not self.timed_out

    def stdout_text(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")

    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", errors="replace")


class RemoteSession(Protocol):
    """One authenticated connection to one host.

    `run` sends `script` to `/bin/sh -s` on one new channel, closes stdin, drains stdout and
    stderr together until the shell exits, and returns; after `timeout` seconds it closes the
    channel and returns what arrived with `timed_out=True`. Failures to run at all raise a
    ProbeError subclass. `close` may be called from another thread to interrupt `run`.
    """

    @property
    def description(self) -> str:
        """Where this session runs, e.g. `root@10.0.0.5:22 via bastion:22` (no secrets)."""
        ...

    def run(self, script: str, *, timeout: float, max_output: int) -> CommandResult: ...

    def close(self) -> None: ...


class Connector(Protocol):
    """Opens sessions. Implementations are shared by all worker threads: thread-safe.

    `connect` raises a ProbeError subclass (see `auditor.remote.errors`) when no session can
    be had; the context manager closes the session (and nothing else) on exit. `instance_id`
    is the host's cloud instance id when a source knew it (a proxy command's %i: AWS SSM).
    """

    def connect(
        self,
        address: str,
        port: int,
        settings: SshSettings,
        host_label: str,
        instance_id: str | None = None,
    ) -> AbstractContextManager[RemoteSession]: ...

    def ports_for(self, host: Host, address: str, settings: SshSettings) -> tuple[int, ...]:
        """The ports to try for this host, in order."""
        ...


def default_ports(host: Host, settings: SshSettings, extra: Sequence[int] = ()) -> tuple[int, ...]:
    """host.ssh_port first (the inventory said so), then `extra`, then settings.ports."""
    ordered = [p for p in (host.ssh_port, *extra, *settings.ports) if p is not None]
    return tuple(dict.fromkeys(ordered))


class OutputBuffer:
    """Keeps the first `limit` bytes of a stream and counts the rest.

    Used by every session so a chatty or hostile target cannot exhaust our memory while we
    keep reading (a remote blocked on a full pipe would otherwise stall until the timeout).
    """

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError("max_output must be >= 0")
        self._limit = limit
        self._chunks: list[bytes] = []
        self._kept = 0
        self.dropped = 0

    def add(self, data: bytes) -> None:
        room = self._limit - self._kept
        if room > 0:
            kept = data[:room]
            self._chunks.append(kept)
            self._kept += len(kept)
            self.dropped += len(data) - len(kept)
        else:
            self.dropped += len(data)

    @property
    def truncated(self) -> bool:
        return self.dropped > 0

    def getvalue(self) -> bytes:
        return b"".join(self._chunks)
