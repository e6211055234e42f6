"""Real SSH with paramiko: one TCP connection, one handshake, one exec channel per probe.

Order of a connect: TCP (directly, or a direct-tcpip channel through the jump host's
transport) -> handshake -> host key verified (before any credential is offered) -> public
key auth (key file, ssh-agent, ~/.ssh/id_*) -> a `ParamikoSession`. Every paramiko and
socket exception is translated here into a `RemoteError` with a reason a person can act on.
"""

from __future__ import annotations

import base64
import errno
import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import paramiko
from paramiko.pkey import UnknownKeyType
from paramiko.ssh_exception import IncompatiblePeer

from auditor.config import SshSettings
from auditor.errors import HostKeyError
from auditor.model import Host
from auditor.remote.algorithms import AuditorTransport, user_key_for
from auditor.remote.endpoint import (
    Endpoint,
    EndpointResolver,
    Hop,
    default_identity_files,
)
from auditor.remote.errors import (
    AuthError,
    ConnectError,
    FailureKind,
    JumpHostError,
    KeyFileError,
    RemoteError,
    SessionError,
    SshProtocolError,
    failure_kind,
)
from auditor.remote.hostkeys import HostKeyPolicy, OfferedKey
from auditor.remote.proxy import ProxyProcess, open_proxy
from auditor.remote.session import (
    STOP_GRACE,
    STOP_SENT,
    CommandResult,
    OutputBuffer,
    default_ports,
    remote_command,
    stop_command,
    stop_wait,
)

# sshd's MaxStartups defaults to 10:30:100: past 10 unauthenticated connections it starts
# dropping new ones. Stay under it for session starts funnelled through one jump host.
JUMP_START_LIMIT = 8
_READ_CHUNK = 65536
_POLL = 0.2

log = logging.getLogger(__name__)


def _fmt_s(seconds: float) -> str:
    return f"{seconds:g}s"


# --------------------------------------------------------------------------- session


class ParamikoSession:
    """An authenticated transport; each `run` is one exec channel (see RemoteSession)."""

    def __init__(
        self,
        transport: paramiko.Transport,
        description: str,
        *,
        sudo: bool,
        channel_timeout: float,
    ) -> None:
        self._transport = transport
        self._description = description
        self._sudo = sudo
        self._channel_timeout = channel_timeout
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._channel: paramiko.Channel | None = None
        # Channels running `stop_command`: kept (a dropped Channel object closes itself)
        # until the session closes; the host-side stop outlives them anyway.
        self._stoppers: list[paramiko.Channel] = []

    @property
    def description(self) -> str:
        return self._description

    @property
    def endpoint(self) -> tuple[str, int | None] | None:
        return None  # collect's deadline wrapper knows the address it connected to

    @property
    def local_address(self) -> str | None:
        """Our address as the host sees it (None through a jump host: it sees the bastion)."""
        sock = self._transport.sock
        if not isinstance(sock, socket.socket):
            return None
        try:
            return str(sock.getsockname()[0])
        except OSError:
            return None

    def run(self, script: str, *, timeout: float, max_output: int) -> CommandResult:
        started = time.monotonic()
        if self._closed.is_set():
            raise SessionError(f"{self._description}: session already closed")
        try:
            channel = self._transport.open_session(
                timeout=min(self._channel_timeout, max(timeout, 0.001))
            )
        except paramiko.ChannelException as exc:
            raise SessionError(
                f"{self._description}: server refused a session channel ({exc.text})"
            ) from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise SessionError(f"{self._description}: cannot open a channel: {exc}") from None
        with self._lock:
            self._channel = channel
        try:
            try:
                channel.exec_command(remote_command(self._sudo))
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise SessionError(
                    f"{self._description}: server refused to run /bin/sh "
                    f"({exc or 'channel closed'})"
                ) from None
            return self._drain(channel, script.encode("utf-8"), timeout, max_output, started)
        finally:
            with self._lock:
                self._channel = None
            channel.close()

    def _drain(
        self,
        channel: paramiko.Channel,
        stdin: bytes,
        timeout: float,
        max_output: int,
        started: float,
    ) -> CommandResult:
        out, err = OutputBuffer(max_output), OutputBuffer(max_output)
        pending = memoryview(stdin)
        stdin_open = True
        deadline = started + timeout
        cut: FailureKind | None = None
        stopping_until: float | None = None  # after a deadline: read what the TERM trap says
        stop: _Stop | None = None
        asked = 0.0  # when the stop was asked for
        while True:
            if self._closed.is_set():
                raise SessionError(f"{self._description}: session closed while the script ran")
            # Feed stdin only as far as the window allows so we never block while the remote
            # is itself blocked writing output we have not read yet.
            if stdin_open and pending and channel.send_ready():
                sent = channel.send(bytes(pending[:32768]))
                pending = pending[sent:]
            if stdin_open and not pending:
                channel.shutdown_write()  # EOF: `sh -s` ends after the last command
                stdin_open = False
            while channel.recv_ready() and not out.truncated:
                data = channel.recv(_READ_CHUNK)
                if not data:
                    break
                out.add(data)
            while channel.recv_stderr_ready():
                data = channel.recv_stderr(_READ_CHUNK)
                if not data:
                    break
                err.add(data)
            if out.truncated and cut is None:
                # Endless output: more would be dropped anyway, so stop the script now
                # rather than read until the deadline.
                cut = FailureKind.OUTPUT_CAP
                asked = time.monotonic()
                self._stop_remote().wait(asked + stop_wait(self._channel_timeout))
                break
            drained = not channel.recv_ready() and not channel.recv_stderr_ready()
            if drained and (
                channel.closed or (channel.eof_received and channel.exit_status_ready())
            ):
                break
            if not self._transport.is_active():
                break  # the connection dropped: told apart from a clean end below
            now = time.monotonic()
            if stop is None and now >= deadline:
                cut = FailureKind.DEADLINE
                asked = now
                stop = self._stop_remote()
                stopping_until = asked + stop_wait(self._channel_timeout)
                now = time.monotonic()
            if stop is not None and not stop.heard and stop.done():
                # The TERM went out (opening the stop's channel, and the stop itself, may
                # take seconds on a loaded host): read the trap's last words until the
                # script ends, for STOP_GRACE at least (a loaded host prints them slowly),
                # within the stop's own bound otherwise (what ignores TERM is KILLed STOP_GRACE on).
                stop.heard = True
                stopping_until = max(stopping_until or now, now + STOP_GRACE)
            if stopping_until is not None and now >= stopping_until:
                break
            remaining = (stopping_until or deadline) - now
            if drained and channel.eof_received:
                # After EOF the channel's pipe stays readable, so select would spin: wait
                # for the exit status (or the close) instead.
                channel.status_event.wait(min(_POLL, remaining))
                continue
            wait = min(_POLL, remaining, 0.02 if (stdin_open and pending) else _POLL)
            select.select([channel], [], [], wait)
        if stop is not None:
            stop.wait(asked + stop_wait(self._channel_timeout))
        status: int | None = None
        if channel.exit_status_ready():
            status = channel.recv_exit_status()
            if status < 0:  # paramiko's "no exit-status was sent" (killed by a signal)
                status = None
        if cut is None and status is None:
            lost = not self._transport.is_active()
            cut = FailureKind.CONNECTION_LOST if lost else FailureKind.NO_EXIT_STATUS
        return CommandResult.ended(out, err, status, started=started, cut=cut)

    def _stop_remote(self) -> _Stop:
        """Ask the host to stop what our script started (see `stop_command`), on a second
        channel of this connection; best effort: the script's channel is closed after.
        Returns the stop: `wait` for it, until `stop_wait` after asking, before the
        connection goes (the stop finds the script through the connection's sshd
        process). The channel may take as long to open as a connect may (`[ssh] timeout`)."""
        try:
            channel = self._transport.open_session(timeout=self._channel_timeout)
            channel.exec_command(stop_command(self._sudo))
            channel.shutdown_write()
        except (paramiko.SSHException, EOFError, OSError):
            log.debug("%s: could not stop the script on the host", self._description)
            return _Stop(None)
        self._stoppers.append(channel)
        return _Stop(channel)

    def close(self) -> None:
        with self._lock:
            channel = self._channel
        if channel is not None and self._transport.is_active():
            # Closed while a script runs (Ctrl-C, or a host past its deadline's grace):
            # what the script started on the host is stopped too, not left running. Asked
            # before the run is told to end, while its channel (its session) still exists.
            # Bounded by `stop_wait`; whoever closes decides how long to wait for that
            # (collect: Ctrl-C announces it, and a second Ctrl-C leaves it).
            asked = time.monotonic()
            self._stop_remote().wait(asked + stop_wait(self._channel_timeout))
        self._closed.set()
        if channel is not None:
            channel.close()
        _hang_up(self._transport, self._channel_timeout)


class _Stop:
    """A stop command on its way (see `_stop_remote`; no channel: it could not be sent).
    It is done once it says its TERM went out, or ends: it finds the script through this
    connection's sshd process, which is gone once we hang up, and the host's rc files (a
    login shell's .bashrc) or its load may delay it."""

    def __init__(self, channel: paramiko.Channel | None) -> None:
        self.channel = channel
        self.heard = False  # (the caller's note that it acted on `done`)
        self._said = b""
        self._done = channel is None

    def done(self) -> bool:
        """Without waiting."""
        channel = self.channel
        if self._done or channel is None:
            return True
        while not self._done and channel.recv_ready():
            self._said = (self._said + channel.recv(256))[-64:]
            self._done = STOP_SENT in self._said
        self._done = self._done or channel.exit_status_ready()
        return self._done

    def wait(self, until: float) -> None:
        """Until it is done, or `until` (a `time.monotonic()`) at most."""
        while not self.done() and self.channel is not None:
            remaining = until - time.monotonic()
            if remaining <= 0:
                return
            select.select([self.channel], [], [], min(remaining, _POLL))


# --------------------------------------------------------------------------- credentials


@dataclass
class _Credentials:
    keys: list[tuple[str, paramiko.PKey]] = field(default_factory=list)  # (label, key)
    notes: list[str] = field(default_factory=list)  # why a key could not be used
    agent: paramiko.Agent | None = None

    def close(self) -> None:
        if self.agent is not None:
            self.agent.close()


class _KeyCache:
    """Private keys are read and decrypted once per run, not once per host."""

    def __init__(self, passphrase: str | None) -> None:
        self._passphrase = passphrase
        self._lock = threading.Lock()
        self._keys: dict[Path, paramiko.PKey | KeyFileError] = {}

    def load(self, path: Path) -> paramiko.PKey:
        with self._lock:
            if path not in self._keys:
                self._keys[path] = self._read(path)
            found = self._keys[path]
        if isinstance(found, KeyFileError):
            raise found
        return found

    def _read(self, path: Path) -> paramiko.PKey | KeyFileError:
        # Messages name the file, never the passphrase or any key material.
        try:
            return _load_private_key(path, self._passphrase)
        except FileNotFoundError:
            return KeyFileError(f"key file {path} does not exist")
        except PermissionError:
            return KeyFileError(f"key file {path} is not readable by this user")
        except UnknownKeyType:
            return KeyFileError(
                f"key file {path}: unsupported key type (use ed25519, ecdsa or rsa)"
            )
        except (paramiko.SSHException, ValueError, TypeError, OSError):
            # cryptography reports a missing or superfluous passphrase as TypeError.
            pass
        if self._passphrase is None:
            if _looks_encrypted(path):
                return KeyFileError(
                    f"key file {path} is encrypted and no passphrase was given "
                    "(add the key to ssh-agent with ssh-add, or give auditor the passphrase)"
                )
            return _unreadable(path)
        try:
            # The passphrase belongs to another key; this one may be unencrypted.
            return _load_private_key(path, None)
        except (paramiko.SSHException, ValueError, TypeError, OSError):
            pass
        return KeyFileError(
            f"key file {path} could not be decrypted (wrong passphrase?) or is not a private key"
        )


def _load_private_key(path: Path, passphrase: str | None) -> paramiko.PKey:
    # paramiko 5 hands the password straight to cryptography's loaders, which want bytes
    # (its stubs still say str).
    load: Callable[..., paramiko.PKey] = paramiko.PKey.from_path
    return load(path, password=passphrase.encode("utf-8") if passphrase is not None else None)


def _unreadable(path: Path) -> KeyFileError:
    return KeyFileError(f"key file {path} is not a private key paramiko can read")


def _looks_encrypted(path: Path) -> bool:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return False
    if "ENCRYPTED" in text:  # PEM: "Proc-Type: 4,ENCRYPTED" / "BEGIN ENCRYPTED PRIVATE KEY"
        return True
    if "BEGIN OPENSSH PRIVATE KEY" in text:
        body = "".join(line for line in text.splitlines() if not line.startswith("-----"))
        try:
            raw = base64.b64decode(body)
        except ValueError:
            return False
        # openssh-key-v1: magic, then the cipher name as an SSH string; "none" = plain.
        magic = b"openssh-key-v1\x00"
        if raw.startswith(magic):
            size = int.from_bytes(raw[len(magic) : len(magic) + 4], "big")
            start = len(magic) + 4
            return raw[start : start + size] != b"none"
    return False


# --------------------------------------------------------------------------- jump hosts


@dataclass
class _Jump:
    lock: threading.Lock = field(default_factory=threading.Lock)
    starts: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(JUMP_START_LIMIT)
    )
    transport: paramiko.Transport | None = None
    failure: JumpHostError | None = None


# --------------------------------------------------------------------------- connector


class ParamikoConnector:
    """Opens real SSH sessions. Share one per run across threads; `close()` it at the end
    (it keeps the jump host connections, one per hop, that all targets share).

    `tofu_file`: the auditor's own known_hosts for first-seen keys (default
    `~/.local/share/auditor/known_hosts`). `known_hosts`: files trusted under both policies
    (default settings.known_hosts, else ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts).
    `key_passphrase` decrypts settings.key_file / IdentityFile keys; it is never logged.
    """

    def __init__(
        self,
        *,
        tofu_file: Path | None = None,
        known_hosts: tuple[Path, ...] | None = None,
        key_passphrase: str | None = None,
        ssh_config: Path | None = None,
        allow_agent: bool = True,
    ) -> None:
        self._tofu_file = tofu_file
        self._known_hosts = known_hosts
        self._keys = _KeyCache(key_passphrase)
        self._resolver = EndpointResolver(ssh_config, allow_agent=allow_agent)
        self._policies: dict[tuple[str, tuple[Path, ...] | None, Path | None], HostKeyPolicy] = {}
        self._lock = threading.Lock()
        self._jumps: dict[tuple[Hop, ...], _Jump] = {}

    # ------------------------------------------------------------------ Connector

    def ports_for(self, host: Host, address: str, settings: SshSettings) -> tuple[int, ...]:
        try:
            configured = self._resolver.config_port(settings, address, host.label)
        except (RemoteError, ValueError):
            configured = None  # the connect will report the config problem
        return default_ports(host, settings, (configured,) if configured else ())

    def connect(
        self,
        address: str,
        port: int,
        settings: SshSettings,
        host_label: str,
        instance_id: str | None = None,
    ) -> AbstractContextManager[ParamikoSession]:
        return self._connect(address, port, settings, host_label, instance_id)

    @contextmanager
    def _connect(
        self,
        address: str,
        port: int,
        settings: SshSettings,
        host_label: str,
        instance_id: str | None,
    ) -> Iterator[ParamikoSession]:
        session = self.open_session(address, port, settings, host_label, instance_id)
        try:
            yield session
        finally:
            session.close()

    def open_session(
        self,
        address: str,
        port: int,
        settings: SshSettings,
        host_label: str,
        instance_id: str | None = None,
    ) -> ParamikoSession:
        """Connect and authenticate; the caller closes the session. Raises RemoteError or
        HostKeyError (both ProbeError)."""
        try:
            endpoint = self._resolver.resolve(address, port, settings, host_label, instance_id)
        except ValueError as exc:  # a malformed jump_host / ProxyJump
            raise ConnectError(
                f"bad jump host setting: {exc}", kind=FailureKind.JUMP_HOST
            ) from None
        if not endpoint.jump:
            transport = self._handshake_direct(endpoint, settings)
        else:
            jump = self._jump(endpoint.jump, settings)
            with jump.starts:
                transport = self._handshake_via(jump, endpoint, settings)
        return ParamikoSession(
            transport, str(endpoint), sudo=settings.sudo, channel_timeout=settings.timeout
        )

    def close(self) -> None:
        with self._lock:
            jumps, self._jumps = list(self._jumps.items()), {}
        # Close the longest chains first: their transports ride on the shorter ones.
        for _, jump in sorted(jumps, key=lambda item: -len(item[0])):
            if jump.transport is not None:
                jump.transport.close()

    def __enter__(self) -> ParamikoConnector:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ pieces

    def _policy(self, settings: SshSettings) -> HostKeyPolicy:
        files = self._known_hosts
        if files is None and settings.known_hosts is not None:
            files = (settings.known_hosts,)
        tofu_file = self._tofu_file or settings.tofu_known_hosts
        key = (settings.host_key_policy, files, tofu_file)
        with self._lock:
            if key not in self._policies:
                self._policies[key] = HostKeyPolicy(
                    settings.host_key_policy, known_hosts=files, tofu_file=tofu_file
                )
            return self._policies[key]

    def _handshake_direct(self, endpoint: Endpoint, settings: SshSettings) -> paramiko.Transport:
        sock: socket.socket | ProxyProcess
        if endpoint.proxy_command:
            sock = _proxy_connect(endpoint.proxy_command)
        else:
            sock = _tcp_connect(endpoint.host, endpoint.port, settings.timeout)
        try:
            return self._handshake(sock, endpoint, settings)
        except paramiko.ProxyCommandFailure as exc:
            raise ConnectError(
                f"proxy command {endpoint.proxy_command[0]} failed: {exc.error}",
                kind=FailureKind.PROXY_COMMAND,
            ) from None

    def _handshake_via(
        self, jump: _Jump, endpoint: Endpoint, settings: SshSettings
    ) -> paramiko.Transport:
        hop_transport = jump.transport
        assert hop_transport is not None
        try:
            channel = hop_transport.open_channel(
                "direct-tcpip",
                (endpoint.host, endpoint.port),
                ("127.0.0.1", 0),
                timeout=settings.timeout,
            )
        except paramiko.ChannelException as exc:
            raise ConnectError(
                f"jump host could not reach {endpoint.host}:{endpoint.port} ({exc.text}); "
                "refused, filtered or no route from the jump host",
                kind=FailureKind.REFUSED,
            ) from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise JumpHostError(
                f"jump host connection failed while opening a tunnel to "
                f"{endpoint.host}:{endpoint.port}: {exc or type(exc).__name__}",
                hop_kind=FailureKind.SESSION,
            ) from None
        return self._handshake(channel, endpoint, settings)

    def _handshake(
        self,
        sock: socket.socket | paramiko.Channel | ProxyProcess,
        endpoint: Endpoint,
        settings: SshSettings,
    ) -> paramiko.Transport:
        """Handshake, host key check, auth on an open socket or tunnel. Owns `sock`."""
        policy = self._policy(settings)
        timeout = settings.timeout
        transport = AuditorTransport(
            sock,
            legacy=endpoint.legacy,
            prefer_key_types=policy.known_key_types(endpoint.known_names),
        )
        transport.banner_timeout = timeout
        transport.handshake_timeout = timeout
        transport.auth_timeout = timeout
        transport.channel_timeout = timeout
        try:
            _start_client(transport, endpoint, timeout)
            # Before any credential leaves: the server must prove it is who we think.
            policy.verify(
                endpoint.known_names, OfferedKey.from_pkey(transport.get_remote_server_key())
            )
            transport.adapt_user_auth_to_server()
            self._authenticate(transport, endpoint)
        except BaseException:
            _hang_up(transport, timeout)
            raise
        return transport

    def _authenticate(self, transport: AuditorTransport, endpoint: Endpoint) -> None:
        credentials = self._credentials(endpoint)
        tried: list[str] = []
        try:
            for label, key in credentials.keys:
                tried.append(label)
                if self._offer_key(transport, endpoint, key, tried):
                    return
                if transport.may_retry_rsa_with_sha1(key):
                    # A legacy host that advertised rsa-sha2 signatures but accepts only
                    # ssh-rsa ones (some OpenSSH 7.x builds, or PubkeyAcceptedAlgorithms).
                    with transport.rsa_sha1_signatures():
                        if self._offer_key(transport, endpoint, key, tried):
                            return
        finally:
            credentials.close()
        offered = ", ".join(tried) if tried else "no key at all"
        notes = f"; {'; '.join(credentials.notes)}" if credentials.notes else ""
        raise AuthError(
            f"authentication failed for {endpoint}: server refused every key offered "
            f"({offered}){notes}"
        )

    @staticmethod
    def _offer_key(
        transport: AuditorTransport, endpoint: Endpoint, key: paramiko.PKey, tried: list[str]
    ) -> bool:
        """True when `key` authenticated us; False when the server refused it."""
        try:
            remaining = transport.auth_publickey(endpoint.user, user_key_for(key, transport))
        except paramiko.BadAuthenticationType as exc:
            allowed = ", ".join(exc.allowed_types) or "none"
            raise AuthError(
                f"authentication failed for {endpoint}: the server does not accept "
                f"public keys (it allows: {allowed}); auditor authenticates with keys only"
            ) from None
        except paramiko.AuthenticationException:
            return False
        except (paramiko.SSHException, EOFError, OSError) as exc:
            # sshd drops the connection after MaxAuthTries failures.
            raise AuthError(
                f"authentication failed for {endpoint}: connection closed after "
                f"trying {', '.join(tried)} ({exc or type(exc).__name__}); "
                "too many keys offered? set ssh.key_file"
            ) from None
        if remaining:
            raise AuthError(
                f"authentication for {endpoint} needs a further step "
                f"({', '.join(remaining)}) after {tried[-1]}; auditor cannot do that"
            )
        return transport.is_authenticated()

    def _credentials(self, endpoint: Endpoint) -> _Credentials:
        creds = _Credentials()
        explicit_errors: list[KeyFileError] = []
        for path in endpoint.identity_files:
            try:
                creds.keys.append((f"key file {path}", self._keys.load(path)))
            except KeyFileError as exc:
                explicit_errors.append(exc)
                creds.notes.append(str(exc))
        if endpoint.allow_agent:
            try:
                agent = paramiko.Agent()
                agent_keys = agent.get_keys()
            except (paramiko.SSHException, OSError):
                agent_keys = ()
            else:
                creds.agent = agent
            for number, key in enumerate(agent_keys, start=1):
                creds.keys.append((f"agent key {number} ({key.get_name()})", key))
        if endpoint.look_for_keys:
            for path in default_identity_files():
                try:
                    creds.keys.append((f"key file {path}", self._keys.load(path)))
                except KeyFileError as exc:
                    creds.notes.append(str(exc))
        if not creds.keys and explicit_errors:
            creds.close()
            raise explicit_errors[0]  # the configured key is the whole story: say so
        return creds

    def _jump(self, hops: tuple[Hop, ...], settings: SshSettings) -> _Jump:
        """The shared, authenticated transport to the last hop of `hops` (opened through
        the earlier ones). A hop that failed is not retried for this connector's lifetime:
        retrying per target would hammer it (and trip fail2ban) for the same answer."""
        with self._lock:
            jump = self._jumps.setdefault(hops, _Jump())
        with jump.lock:
            if jump.failure is not None:
                raise jump.failure
            if jump.transport is not None and jump.transport.is_active():
                return jump
            endpoint = self._resolver.resolve_hop(hops[-1], settings)
            try:
                if len(hops) == 1:
                    transport = self._handshake_direct(endpoint, settings)
                else:
                    outer = self._jump(hops[:-1], settings)
                    with outer.starts:
                        transport = self._handshake_via(outer, endpoint, settings)
            except (RemoteError, HostKeyError) as exc:
                kind = failure_kind(exc) or FailureKind.JUMP_HOST
                hop = str(endpoint)
                if isinstance(exc, JumpHostError):  # an outer hop of the chain failed
                    kind, hop = exc.hop_kind, exc.hop or hop
                jump.failure = JumpHostError(f"jump host {endpoint}: {exc}", hop_kind=kind, hop=hop)
                raise jump.failure from None
            transport.set_keepalive(30)
            jump.transport = transport
            return jump


# --------------------------------------------------------------------------- helpers


def _hang_up(transport: paramiko.Transport, timeout: float) -> None:
    """Close `transport` and return once the host has seen the connection end, so that a
    session limit (auditor.remote.limits) is free again only then."""
    transport.close()
    # The transport's thread still reads the socket (a 0.1 s poll): the connection is
    # really closed when it lets go.
    if transport.is_alive() and transport is not threading.current_thread():
        transport.join(timeout=1.0)
    tunnel = transport.sock
    if isinstance(tunnel, paramiko.Channel):
        # Through a jump host, closing only sent CHANNEL_CLOSE on the tunnel; the bastion
        # hangs up on the target when it reads it. Until it says so, another worker's
        # session through another bastion connection could reach the target first: one
        # over its limit (jump_host_concurrency, issue #15). One round trip, bounded.
        tunnel.close()  # (already, unless the transport never started: then it is ours)
        hop = tunnel.get_transport()
        if isinstance(hop, AuditorTransport) and not hop.wait_closed_by_peer(tunnel, timeout):
            log.debug("jump host did not confirm the tunnel closed within %s", _fmt_s(timeout))


def _proxy_connect(argv: tuple[str, ...]) -> ProxyProcess:
    try:
        return open_proxy(argv)
    except OSError as exc:
        raise ConnectError(
            f"cannot start proxy command {argv[0]}: {exc.strerror or exc}",
            kind=FailureKind.PROXY_COMMAND,
        ) from None


def _tcp_connect(host: str, port: int, timeout: float) -> socket.socket:
    where = f"{host}:{port}"
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror as exc:
        raise ConnectError(
            f"cannot resolve {host}: {exc.strerror or exc}", kind=FailureKind.DNS
        ) from None
    except ConnectionRefusedError:
        raise ConnectError(
            f"connection refused on {where} (no SSH server listening)", kind=FailureKind.REFUSED
        ) from None
    except TimeoutError:
        raise ConnectError(
            f"connection to {where} timed out after {_fmt_s(timeout)} (filtered or host down)",
            kind=FailureKind.CONNECT_TIMEOUT,
        ) from None
    except OSError as exc:
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN):
            raise ConnectError(
                f"{where} unreachable: {exc.strerror}", kind=FailureKind.UNREACHABLE
            ) from None
        raise ConnectError(
            f"cannot connect to {where}: {exc.strerror or exc}", kind=FailureKind.UNREACHABLE
        ) from None


def _start_client(transport: paramiko.Transport, endpoint: Endpoint, timeout: float) -> None:
    try:
        transport.start_client(timeout=timeout)
    except paramiko.ProxyCommandFailure:
        raise  # the proxy's own story (auditor.remote.proxy); told by the caller
    except IncompatiblePeer as exc:
        hint = (
            ""
            if endpoint.legacy
            else "; an old server (CentOS 5 era)? list it in ssh.legacy_algorithms"
        )
        raise SshProtocolError(
            f"{endpoint}: no common SSH algorithms ({exc}){hint}",
            kind=FailureKind.NO_COMMON_ALGORITHMS,
        ) from None
    except paramiko.SSHException as exc:
        text = str(exc)
        if "protocol banner" in text or "Indecipherable" in text or "Invalid SSH banner" in text:
            raise SshProtocolError(
                f"{endpoint.host}:{endpoint.port} did not answer with an SSH banner "
                "(not an SSH server?)",
                kind=FailureKind.NOT_SSH,
            ) from None
        raise SshProtocolError(f"{endpoint}: SSH handshake failed: {text}") from None
    except (EOFError, OSError) as exc:
        raise SshProtocolError(
            f"{endpoint}: connection closed during the SSH handshake "
            f"({exc or type(exc).__name__}; sshd MaxStartups, tcp_wrappers or a firewall?)"
        ) from None
    done = transport.completion_event
    if done is None or not done.is_set() or not transport.is_active():
        if not transport.remote_version:
            # Something accepted the connection but never said "SSH-": a tarpit, a
            # half-dead sshd, or another service waiting for the client to speak first.
            raise SshProtocolError(
                f"{endpoint.host}:{endpoint.port} sent no SSH banner within {_fmt_s(timeout)} "
                "(not an SSH server?)",
                kind=FailureKind.NOT_SSH,
            )
        raise SshProtocolError(f"{endpoint}: SSH handshake timed out after {_fmt_s(timeout)}")
