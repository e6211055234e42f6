"""The contract between the fan-out (`auditor.collect`) and whatever runs the probe script.

A `Connector` opens a `RemoteSession` to one address and port; the session runs one POSIX sh
script per call over one channel (`/bin/sh -s`, the script on stdin) and returns a
`CommandResult`. Three connectors ship: `ParamikoConnector` (real SSH),
`LocalShellConnector` (local `/bin/sh`, for `--dry-run` and tests) and `ScriptedConnector`
(canned answers, for tests). They share the same drain, cap and timeout semantics.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from auditor.remote.errors import FailureKind

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

# How long a session keeps reading after it asked the host to stop the script (deadline):
# the probe's TERM trap prints the parts it still held and the step it was in. The host
# KILLs what is still running this long after the TERM; a stop that ends sooner (the usual
# case: the trap takes milliseconds) ends the wait with it. Two seconds were too few on a
# host loaded 30 times over: the KILL landed before the trap had printed its step.
STOP_GRACE = 5.0


def stop_wait(timeout: float) -> float:
    """How long a session waits for the host to confirm a stop (the stop command saying its
    TERM went out), from when it asks; `timeout` is `[ssh] timeout`. The stop is one more
    channel on the open connection (a round trip that the connect timeout already bounds
    for a slow host or a loaded controller) and a command that reads /proc (seconds on a
    loaded host); a fixed few seconds gave up under load and left the script running."""
    return timeout + STOP_GRACE


# Stops what one of our channels started on the host, run on a second exec channel of the
# same connection when we give up on a script (deadline, output cap). No pid is sent to us:
# sshd forks every channel of one connection from the same process and setsid()s it, so the
# script's session is a sibling of this command's own session (whose leader is the login
# shell, or the command itself when the login shell exec'd it). Only when that shared
# parent is an sshd (or dropbear): never a guess. Everything in the sibling sessions is
# ours: the script, its pipelines, `timeout`'s own process groups, orphans. Not a session
# that started after this one (the next script on the connection, while this command's
# login shell was still in its rc files), nor an earlier stop channel (a KILL in its rc
# files can leave the host's own lock files behind, as pyenv's rehash lock). TERM first
# (the probe's trap reports where it was), KILL for what is still there once STOP_GRACE is
# over (by the host's clock, looked for each second: on a host loaded many times over a trap
# takes seconds, and so does each look through /proc). Deaf to the client hanging up once
# its TERM went out: a client that gave up waiting must not leave the KILL unsent;
# processes running as root through `sudo -n` when the run used sudo. Reads /proc only
# (Linux): nothing is written on the host.
# The sessions are found among the sshd process's children (/proc/P/task/P/children, Linux
# 3.5+: no scan of every process), or, where the kernel does not list them, in a scan of
# /proc: on a host with thousands of processes under load a scan takes seconds, and the
# stop must have found them before the client hangs up (their parent is that sshd).
_STOP_SCRIPT = r""": auditor-stop-channel
trap '' HUP PIPE
{ read -r l </proc/$$/stat; } 2>/dev/null || exit 0
set -- ${l##*) }; M=$4
{ read -r l </proc/$M/stat; } 2>/dev/null || exit 0
set -- ${l##*) }; P=$2 T=${20}
{ read -r l </proc/$P/stat; } 2>/dev/null || exit 0
case $l in *' (sshd'*|*' (dropbear'*) ;; *) exit 0 ;; esac
_s() {
  { read -r l <"$1"; } 2>/dev/null || return 0
  p=${1#/proc/}; p=${p%/stat}; set -- ${l##*) }
  [ "$2" = "$P" ] && [ "$p" != "$M" ] && [ "$4" = "$p" ] && [ "${20}" -le "$T" ] || return 0
  grep -q auditor-stop-channel "/proc/$p/cmdline" 2>/dev/null || S="$S $p"
}
S= C=$(cat /proc/$P/task/$P/children 2>/dev/null)
if [ -n "$C" ]; then
  for c in $C; do _s /proc/$c/stat; done
else
  for f in /proc/[0-9]*/stat; do _s "$f"; done
fi
[ -n "$S" ] || { echo @STOPSENT@; exit 0; }
_f() {
  K=
  for f in /proc/[0-9]*/stat; do
    { read -r l <"$f"; } 2>/dev/null || continue
    p=${f#/proc/}; p=${p%/stat}; set -- ${l##*) }
    [ "$1" = Z ] && continue
    for s in $S; do [ "$4" = "$s" ] && K="$K $p"; done
  done
  [ -n "$K" ]
}
_k() {
  _f || return 0
  kill -$1 $K 2>/dev/null || { [ @SUDO@ = 1 ] && sudo -n kill -$1 $K 2>/dev/null; }
}
_k TERM; echo @STOPSENT@; exec >/dev/null 2>&1
read -r u _ </proc/uptime; e=$((${u%.*} + @GRACE@))
while _f; do read -r u _ </proc/uptime; [ "${u%.*}" -lt $e ] || break; sleep 1; done
_k KILL
"""


STOP_SENT = b"auditor-stop-sent"  # the stop command's word that its TERM went out


def stop_command(sudo: bool) -> str:
    """The command a second channel runs to stop a script we gave up on (see above)."""
    script = _STOP_SCRIPT.replace("@SUDO@", "1" if sudo else "0")
    script = script.replace("@GRACE@", str(int(STOP_GRACE)))
    return "/bin/sh -c " + shlex.quote(script.replace("@STOPSENT@", STOP_SENT.decode()))


def remote_command(sudo: bool) -> str:
    """The command line the exec channel runs; the script always arrives on stdin."""
    return SUDO_COMMAND if sudo else SHELL_COMMAND


@dataclass(frozen=True)
class CommandResult:
    """What one script run produced.

    `exit_status` is None when the shell gave none (killed by a signal, channel closed,
    timed out). A truncated stream kept its first `max_output` bytes; stdout reaching the
    cap ends the run (`cut` OUTPUT_CAP), stderr's excess is read and dropped so the remote
    side never blocks on a full pipe. `cut` says why the run ended before the script did:
    DEADLINE (the timeout; `timed_out` too), OUTPUT_CAP, CONNECTION_LOST, NO_EXIT_STATUS
    (the channel closed without one: the shell was killed); None when it ran to its end.
    What arrived before a cut is kept.
    """

    stdout: bytes
    stderr: bytes
    exit_status: int | None
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    timed_out: bool = False
    duration_s: float = 0.0
    cut: FailureKind | None = None

    @classmethod
    def ended(
        cls,
        out: OutputBuffer,
        err: OutputBuffer,
        exit_status: int | None,
        *,
        started: float,
        cut: FailureKind | None,
    ) -> CommandResult:
        """The result of a run that ends now (`started`: its `time.monotonic()` start),
        from the two capped streams every session reads into; `timed_out` is a DEADLINE cut."""
        return cls(
            stdout=out.getvalue(),
            stderr=err.getvalue(),
            exit_status=exit_status,
            stdout_truncated=out.truncated,
            stderr_truncated=err.truncated,
            timed_out=cut is FailureKind.DEADLINE,
            duration_s=time.monotonic() - started,
            cut=cut,
        )

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

    @property
    def local_address(self) -> str | None:
        """Our own address as the host sees it (the probe leaves it out of the host's
        clients); None when not known: through a jump host the host sees the bastion."""
        ...

    @property
    def endpoint(self) -> tuple[str, int | None] | None:
        """The address and port this session was opened to (what the host is known by, the
        software cache's key); None when the session does not say."""
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
