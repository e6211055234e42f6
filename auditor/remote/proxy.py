"""ProxyCommand: reach a host through a program's stdin/stdout instead of a TCP connection.

The recipe that matters most is AWS Systems Manager, for fleets with no port 22 open:
`aws ssm start-session --target %i --document-name AWS-StartSSHSession --parameters portNumber=%p`.
A command comes from `[ssh] proxy_command` or a `ProxyCommand` line in ~/.ssh/config.

Safety: the command is split into words *first* (shell rules, like OpenSSH reads it), then
`%h` (address), `%p` (port), `%r` (user), `%n` (name), `%i` (the EC2 instance id a source
gave: what `aws ssm start-session --target` wants) and `%%` are filled inside each word, so
a value can never become a second word, an option or a shell construct; the program is
started without a shell. The
values are checked too: `%h`/`%n` must be a host name or address (discovered names that are
not never get here), `%r` a plain user name. A command that wants a shell says so itself
(`sh -c '...'`) and is the user's own text.

The process runs in its own session (process group); closing the transport ends it and
reaps it. When it exits early, the error carries the end of what it wrote to stderr (the AWS
CLI explains a missing Session Manager plugin there).
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shlex
import signal
import subprocess
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import paramiko

if TYPE_CHECKING:  # the stubs' name for bytes-like (collections.abc has it from 3.12)
    from typing_extensions import Buffer

from auditor.targets import is_host_name_or_address

_TOKEN = re.compile(r"%(.)")
_INSTANCE_ID = re.compile(r"^(i|mi)-[0-9a-f]{8,32}$")  # EC2, and SSM managed instances
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$")
STDERR_KEPT = 1000  # characters of the proxy's stderr an error message shows


def expand_proxy_command(
    template: str, host: str, port: int, user: str, alias: str, instance_id: str | None = None
) -> tuple[str, ...]:
    """The argv of `template` for one connection. Raises ValueError naming the problem."""
    if instance_id is not None and not _INSTANCE_ID.match(instance_id):
        raise ValueError(f"proxy command: {instance_id!r} is not an instance id")
    if not is_host_name_or_address(host):
        raise ValueError(f"proxy command: {host!r} is not a host name or address")
    if not is_host_name_or_address(alias):
        alias = host
    if not _USER.match(user):
        raise ValueError(f"proxy command: {user!r} is not a plain user name")
    values = {"h": host, "p": str(port), "r": user, "n": alias, "%": "%"}
    if instance_id is not None:
        values["i"] = instance_id

    def fill(match: re.Match[str]) -> str:
        token = match.group(1)
        if token == "i" and instance_id is None:
            raise ValueError("proxy command uses %i, but no source knows this host's instance id")
        if token not in values:
            raise ValueError(f"proxy command: unknown token %{token} (known: %h %p %r %n %i %%)")
        return values[token]

    try:
        words = shlex.split(template)
    except ValueError as exc:
        raise ValueError(f"proxy command: {exc}") from None
    if not words:
        raise ValueError("proxy command is empty")
    return tuple(_TOKEN.sub(fill, word) for word in words)


EXIT_WAIT = 1.0  # seconds a proxy may take to exit once its input ended, before TERM


class ProxyProcess(paramiko.ProxyCommand):
    """paramiko's ProxyCommand with an argv (no re-split), its own process group, an error
    instead of a busy loop when the program exits, and a reaped process on close."""

    def __init__(self, argv: Sequence[str]) -> None:  # no super().__init__: it would spawn
        self.cmd = list(argv)
        self.process = subprocess.Popen(
            self.cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            start_new_session=True,
        )
        self.timeout: float | None = None

    def send(self, content: Buffer) -> int:
        stdin = self.process.stdin
        assert stdin is not None
        try:
            stdin.write(content)
        except OSError:
            raise paramiko.ProxyCommandFailure(shlex.join(self.cmd), self._why_it_ended()) from None
        return memoryview(content).nbytes

    def recv(self, size: int) -> bytes:
        stdout = self.process.stdout
        assert stdout is not None
        buffer = b""
        start = time.monotonic()
        while len(buffer) < size:
            wait = None
            if self.timeout is not None:
                wait = self.timeout - (time.monotonic() - start)
                if wait <= 0:
                    if buffer:
                        return buffer
                    raise TimeoutError()
            readable, _, _ = select.select([stdout], [], [], wait)
            if not readable:
                continue
            chunk = os.read(stdout.fileno(), size - len(buffer))
            if not chunk:
                if buffer:
                    return buffer
                raise paramiko.ProxyCommandFailure(shlex.join(self.cmd), self._why_it_ended())
            buffer += chunk
        return buffer

    def _why_it_ended(self) -> str:
        try:
            code = self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "it closed its output"
        said = ""
        if self.process.stderr is not None:
            said = self.process.stderr.read(64 * 1024).decode("utf-8", "replace").strip()
        said = said[-STDERR_KEPT:]
        return f"it exited with status {code}" + (f": {said}" if said else "")

    def close(self) -> None:
        if self.process.poll() is None and self.process.stdin is not None:
            # Its input ends first: a proxy that tunnels (`ssh -W`) passes the end on and
            # exits once the far side has hung up on the target, so a session limit is
            # free again only when the target has seen the session end (issue #15). One
            # that does not exit on its own is stopped after EXIT_WAIT.
            with contextlib.suppress(OSError):
                self.process.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=EXIT_WAIT)
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def settimeout(self, timeout: float | None) -> None:
        self.timeout = timeout


def open_proxy(argv: Sequence[str]) -> ProxyProcess:
    """Start the proxy program. Raises OSError when it cannot be started."""
    return ProxyProcess(argv)
