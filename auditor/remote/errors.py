"""Why an SSH attempt failed, as data.

Every failure of the remote layer is a `ProbeError` subclass whose message is a reason a
person can act on, safe to show and store: it never contains passphrases or key material.
`kind` is a stable token for code (reports, rules, the bench) so nobody parses messages.

    ProbeError                     (auditor.errors)
    ├── ConnectError               no TCP connection: refused, timeout, unreachable, DNS
    ├── SshProtocolError           connected, but no SSH session: no banner, no common
    │                              algorithms, handshake timeout, connection dropped
    ├── AuthError                  the server refused every credential we offered
    ├── KeyFileError               our own key file is unreadable, encrypted without a
    │                              passphrase, or of an unsupported type
    ├── SessionError               authenticated, but the exec channel failed or closed
    ├── JumpHostError              the jump host failed (wraps the hop's own failure)
    └── HostKeyError               (auditor.errors)
        ├── UnknownHostKeyError    strict policy, the key is not in known_hosts
        │   └── HostCertificateError  only a @cert-authority vouches for it: unsupported
        └── ChangedHostKeyError    the key differs from the recorded one: refused always
"""

from __future__ import annotations

import enum

from auditor.errors import HostKeyError, ProbeError


class FailureKind(enum.StrEnum):
    """Stable names for failure causes (stored, compared; never renamed)."""

    DNS = "dns"
    REFUSED = "refused"
    CONNECT_TIMEOUT = "connect-timeout"
    UNREACHABLE = "unreachable"
    NOT_SSH = "not-ssh"
    NO_COMMON_ALGORITHMS = "no-common-algorithms"
    HANDSHAKE = "handshake"
    AUTH = "auth"
    KEY_FILE = "key-file"
    SESSION = "session"
    JUMP_HOST = "jump-host"
    HOST_CERTIFICATE = "host-certificate"
    PROXY_COMMAND = "proxy-command"
    UNKNOWN_HOST_KEY = "unknown-host-key"
    CHANGED_HOST_KEY = "changed-host-key"
    DEADLINE = "deadline"
    PROBE = "probe"
    # Why a script run ended before the script did (`CommandResult.cut`): the host is then
    # probed partially, with every section that arrived before the cut.
    OUTPUT_CAP = "output-cap"
    CONNECTION_LOST = "connection-lost"
    NO_EXIT_STATUS = "no-exit-status"
    INTERRUPTED = "interrupted"  # Ctrl-C: we stopped, the host did nothing wrong
    # No free slot of a vantage's or a jump host's session limit (auditor.remote.limits)
    CONCURRENCY_LIMIT = "concurrency-limit"


# Failures where the port is the problem, not the host: another configured port may be sshd.
_PORT_LEVEL_KINDS = frozenset(
    {FailureKind.REFUSED, FailureKind.CONNECT_TIMEOUT, FailureKind.NOT_SSH}
)


class RemoteError(ProbeError):
    """Base of the remote layer's failures; `kind` says which, `str()` is the reason."""

    kind: FailureKind = FailureKind.PROBE

    def __init__(self, reason: str, *, kind: FailureKind | None = None) -> None:
        super().__init__(reason)
        if kind is not None:
            self.kind = kind

    @property
    def reason(self) -> str:
        return str(self)

    @property
    def another_port_may_help(self) -> bool:
        """True when nothing SSH answered on this port, so trying the next one makes sense."""
        return self.kind in _PORT_LEVEL_KINDS


class ConnectError(RemoteError):
    kind = FailureKind.REFUSED


class SshProtocolError(RemoteError):
    kind = FailureKind.HANDSHAKE


class AuthError(RemoteError):
    kind = FailureKind.AUTH


class KeyFileError(RemoteError):
    kind = FailureKind.KEY_FILE


class SessionError(RemoteError):
    kind = FailureKind.SESSION


class JumpHostError(RemoteError):
    """The hop failed; `hop_kind` keeps the hop's own cause (e.g. its host key changed) and
    `hop` names the hop that failed (the innermost one of a chain), so that one bastion
    that is down is one root cause, not one failure per host behind it."""

    kind = FailureKind.JUMP_HOST

    def __init__(self, reason: str, *, hop_kind: FailureKind, hop: str = "") -> None:
        super().__init__(reason)
        self.hop_kind = hop_kind
        self.hop = hop


class UnknownHostKeyError(HostKeyError):
    """Strict policy and no known_hosts entry for this host and key type."""

    kind = FailureKind.UNKNOWN_HOST_KEY
    another_port_may_help = False

    def __init__(self, reason: str, *, host: str, key_type: str, fingerprint: str) -> None:
        super().__init__(reason)
        self.host = host
        self.key_type = key_type
        self.fingerprint = fingerprint

    @property
    def reason(self) -> str:
        return str(self)


class HostCertificateError(UnknownHostKeyError):
    """known_hosts trusts a certificate authority (@cert-authority) for this host and has
    no key of its own for it: paramiko cannot check host certificates, so we cannot either."""

    kind = FailureKind.HOST_CERTIFICATE


class ChangedHostKeyError(HostKeyError):
    """The host offered a key that differs from the recorded one. Refused under every
    policy; the caller reports it as a critical finding (possible man-in-the-middle)."""

    kind = FailureKind.CHANGED_HOST_KEY
    another_port_may_help = False

    def __init__(
        self,
        reason: str,
        *,
        host: str,
        key_type: str,
        known_fingerprint: str,
        offered_fingerprint: str,
        known_at: str,
    ) -> None:
        super().__init__(reason)
        self.host = host
        self.key_type = key_type
        self.known_fingerprint = known_fingerprint
        self.offered_fingerprint = offered_fingerprint
        self.known_at = known_at  # "file:line" of the entry that disagrees

    @property
    def reason(self) -> str:
        return str(self)


def failure_kind(exc: BaseException) -> FailureKind | None:
    """The FailureKind an exception carries, or None for foreign exceptions."""
    kind = getattr(exc, "kind", None)
    return kind if isinstance(kind, FailureKind) else None
