"""Which SSH algorithms we speak, per host.

Paramiko 5 ships only modern algorithms (no SHA-1 kex, no ssh-rsa/SHA-1 signatures, no DSA).
CentOS 5's OpenSSH 4.3 speaks nothing else, so for hosts the config lists under
`ssh.legacy_algorithms` we add them back here: diffie-hellman-group1/14/gex-sha1 kex,
ssh-rsa and ssh-dss host keys, ssh-rsa user-auth signatures, CBC ciphers and hmac-sha1/md5.
They go at the END of each preference list, so a modern host that matches a legacy pattern
still negotiates modern algorithms. Every other host gets the weak ones disabled explicitly.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from hashlib import sha1
from typing import Any, ClassVar

import paramiko
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from paramiko.kex_gex import KexGexSHA256
from paramiko.kex_group14 import KexGroup14SHA256
from paramiko.message import Message

# Paramiko logs every failed handshake with a traceback at ERROR from its own thread. We
# translate those failures into reasons, so by default its log is quiet; `--debug` (or
# anyone) can lower this logger's level to see the protocol chatter again.
PARAMIKO_LOGGER = "auditor.remote.paramiko"
logging.getLogger(PARAMIKO_LOGGER).setLevel(logging.CRITICAL)

# Disabled on non-legacy hosts: paramiko still offers these, modern sshd never needs them.
WEAK_ALGORITHMS: dict[str, tuple[str, ...]] = {
    "ciphers": ("aes128-cbc", "aes192-cbc", "aes256-cbc", "3des-cbc"),
    "macs": ("hmac-sha1", "hmac-sha1-96", "hmac-md5", "hmac-md5-96"),
}

# AES-GCM first (OpenSSH has it since 6.2, 2013; older servers pick the next, aes-ctr): an
# AEAD cipher checks each packet's tag inside OpenSSL, where aes-ctr + hmac-sha2 makes
# paramiko compute and compare every packet's MAC in Python (a byte-by-byte compare):
# ~1.5 ms less controller CPU per host for a connect + one command.
AEAD_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")

LEGACY_KEX = (
    "diffie-hellman-group14-sha1",
    "diffie-hellman-group-exchange-sha1",
    "diffie-hellman-group1-sha1",
)
LEGACY_HOST_KEYS = ("ssh-rsa", "ssh-dss")
LEGACY_PUBKEYS = ("ssh-rsa",)


def wants_legacy(patterns: Iterable[str], names: Iterable[str]) -> bool:
    """True when any name (address, hostname, label) matches any legacy_algorithms pattern."""
    names = [n.lower() for n in names if n]
    return any(fnmatch.fnmatchcase(n, p.lower()) for p in patterns for n in names)


# --------------------------------------------------------------------------- kex


class KexGroup14SHA1(KexGroup14SHA256):
    name = "diffie-hellman-group14-sha1"
    hash_algo = sha1


class KexGroup1SHA1(KexGroup14SHA256):
    # RFC 2409 Oakley group 2 (1024-bit), the only kex some pre-2007 servers have.
    P = 0xFFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF  # noqa: E501
    name = "diffie-hellman-group1-sha1"
    hash_algo = sha1


class KexGexSHA1(KexGexSHA256):
    name = "diffie-hellman-group-exchange-sha1"
    hash_algo = sha1


LEGACY_KEX_INFO: dict[str, type[Any]] = {
    KexGroup14SHA1.name: KexGroup14SHA1,
    KexGexSHA1.name: KexGexSHA1,
    KexGroup1SHA1.name: KexGroup1SHA1,
}


# --------------------------------------------------------------------------- keys


class LegacyRSAKey(paramiko.RSAKey):
    """An RSA key that also signs and verifies the SHA-1 `ssh-rsa` signature algorithm."""

    SHA1_ALGORITHMS: ClassVar[frozenset[str]] = frozenset(
        {"ssh-rsa", "ssh-rsa-cert-v01@openssh.com"}
    )

    @classmethod
    def wrapping(cls, key: paramiko.RSAKey) -> LegacyRSAKey:
        return cls(key=key.key)

    def sign_ssh_data(self, data: bytes, algorithm: str | None = None) -> Message:
        if algorithm not in self.SHA1_ALGORITHMS:
            return super().sign_ssh_data(data, algorithm)
        private = self.private_key
        if private is None:
            raise paramiko.SSHException("cannot sign with a public RSA key")
        signature = private.sign(data, padding.PKCS1v15(), hashes.SHA1())
        message = Message()
        message.add_string("ssh-rsa")
        message.add_string(signature)
        return message

    def verify_ssh_sig(self, data: bytes, msg: Message) -> bool:
        algorithm = msg.get_text()
        if algorithm != "ssh-rsa":
            msg.rewind()
            return super().verify_ssh_sig(data, msg)
        key = self.key
        if isinstance(key, rsa.RSAPrivateKey):
            key = key.public_key()
        if key is None:
            return False
        signature = msg.get_binary()
        # Some servers drop leading zero bytes; cryptography wants the full modulus length.
        signature = signature.rjust((key.key_size + 7) // 8, b"\x00")
        try:
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA1())
        except InvalidSignature:
            return False
        return True


class LegacyDSSKey(paramiko.PKey):
    """Just enough of an ssh-dss public key to verify a server's host-key signature.
    (Paramiko 5 removed DSA; CentOS 5 hosts may offer nothing else.)"""

    name = "ssh-dss"

    def __init__(self, msg: Message | None = None, data: str | None = None) -> None:
        if msg is None:
            raise paramiko.SSHException("ssh-dss keys are only read from a handshake")
        if msg.get_text() != self.name:
            raise paramiko.SSHException("not an ssh-dss key")
        p, q, g, y = msg.get_mpint(), msg.get_mpint(), msg.get_mpint(), msg.get_mpint()
        self.public_blob = None
        self._numbers = (p, q, g, y)
        self._key = dsa.DSAPublicNumbers(y, dsa.DSAParameterNumbers(p, q, g)).public_key()

    @property
    def _fields(self) -> tuple[Any, ...]:
        return (self.name, *self._numbers)

    def asbytes(self) -> bytes:
        message = Message()
        message.add_string(self.name)
        for number in self._numbers:
            message.add_mpint(number)
        return message.asbytes()

    def get_name(self) -> str:
        return self.name

    def get_bits(self) -> int:
        return self._numbers[0].bit_length()

    def can_sign(self) -> bool:
        return False

    def verify_ssh_sig(self, data: bytes, msg: Message) -> bool:
        if msg.get_text() != self.name:
            return False
        signature = msg.get_binary()
        if len(signature) != 40:  # r and s, 160 bits each (RFC 4253 6.6)
            return False
        r = int.from_bytes(signature[:20], "big")
        s = int.from_bytes(signature[20:], "big")
        try:
            self._key.verify(encode_dss_signature(r, s), data, hashes.SHA1())
        except InvalidSignature:
            return False
        return True


# --------------------------------------------------------------------------- transport


def _rsa_signature_names(key_types: Iterable[str], legacy: bool) -> list[str]:
    """known_hosts says "ssh-rsa" for any RSA key; the handshake names the signature."""
    out: list[str] = []
    for key_type in key_types:
        if key_type == "ssh-rsa":
            out += ["rsa-sha2-512", "rsa-sha2-256"] + (["ssh-rsa"] if legacy else [])
        else:
            out.append(key_type)
    return out


class AuditorTransport(paramiko.Transport):
    """A client Transport with per-host algorithm choices.

    `legacy` appends the CentOS 5-era algorithms (see module docstring); otherwise the weak
    ones paramiko still ships are disabled. `prefer_key_types` moves host key types already
    on record for this host to the front, as OpenSSH does, so a host known by its RSA key
    is not mistaken for an unknown host because it prefers to show its ed25519 key.
    """

    def __init__(
        self,
        sock: Any,
        *,
        legacy: bool = False,
        prefer_key_types: Sequence[str] = (),
    ) -> None:
        super().__init__(sock, disabled_algorithms=None if legacy else WEAK_ALGORITHMS)
        self.set_log_channel(PARAMIKO_LOGGER)
        self._unlinked = threading.Condition()  # see `wait_closed_by_peer`
        self.legacy = legacy
        base = paramiko.Transport
        self._preferred_kex: tuple[str, ...] = tuple(base._preferred_kex)  # type: ignore[attr-defined]
        self._kex_info: dict[str, Any] = dict(base._kex_info)  # type: ignore[attr-defined]
        self._preferred_keys: tuple[str, ...] = tuple(base._preferred_keys)  # type: ignore[attr-defined]
        self._key_info: dict[str, Any] = dict(base._key_info)  # type: ignore[attr-defined]
        self._preferred_pubkeys: tuple[str, ...] = tuple(base._preferred_pubkeys)  # type: ignore[attr-defined]
        ciphers: tuple[str, ...] = tuple(base._preferred_ciphers)  # type: ignore[attr-defined]
        aead = tuple(c for c in AEAD_CIPHERS if c in ciphers)
        self._preferred_ciphers = (*aead, *(c for c in ciphers if c not in aead))
        if legacy:
            self._preferred_kex += LEGACY_KEX
            self._kex_info.update(LEGACY_KEX_INFO)
            self._preferred_keys += LEGACY_HOST_KEYS
            self._key_info.update({"ssh-rsa": LegacyRSAKey, "ssh-dss": LegacyDSSKey})
            self._preferred_pubkeys += LEGACY_PUBKEYS
        wanted = [k for k in _rsa_signature_names(prefer_key_types, legacy) if k in self._key_info]
        if wanted:
            rest = [k for k in self._preferred_keys if k not in wanted]
            self._preferred_keys = tuple(dict.fromkeys([*wanted, *rest]))

    @property
    def preferred_keys(self) -> Sequence[str]:
        # Paramiko adds a -cert-v01 variant of every key type; offer only the ones we can
        # parse, or a server holding e.g. an ssh-dss certificate would crash the handshake.
        return tuple(k for k in super().preferred_keys if k in self._key_info)

    def adapt_user_auth_to_server(self) -> None:
        """Call after the handshake, before auth. A server that sent no `server-sig-algs`
        predates OpenSSH 7.2 and rsa-sha2 signatures: sign RSA user keys with ssh-rsa."""
        if not self.legacy:
            return
        extensions = getattr(self, "server_extensions", None) or {}
        if "server-sig-algs" not in extensions:
            self._preferred_pubkeys = (
                "ssh-rsa",
                *(k for k in self._preferred_pubkeys if k != "ssh-rsa"),
            )

    def wait_closed_by_peer(self, channel: paramiko.Channel, timeout: float) -> bool:
        """After `channel.close()`: wait until the server has answered with its own
        CHANNEL_CLOSE (True), or `timeout`, or this transport ends (False). One round trip.
        Paramiko's `close()` only sends ours; the channel leaves this transport's table when
        the answer arrives (or the transport ends). For a direct-tcpip channel, OpenSSH
        closes its socket to the target before it answers, so after this the target has
        seen the connection end."""
        until = time.monotonic() + timeout
        with self._unlinked:
            while self._channels.get(channel.get_id()) is channel:  # type: ignore[attr-defined]
                remaining = until - time.monotonic()
                if remaining <= 0 or not self.is_active():
                    return False
                # Woken by `_unlink_channel`; the 0.1 s cap notices a transport that died.
                self._unlinked.wait(min(remaining, 0.1))
        return True

    def _unlink_channel(self, chanid: int) -> None:
        super()._unlink_channel(chanid)  # type: ignore[misc]
        with self._unlinked:
            self._unlinked.notify_all()

    def may_retry_rsa_with_sha1(self, key: paramiko.PKey) -> bool:
        return (
            self.legacy
            and isinstance(key, paramiko.RSAKey | paramiko.AgentKey)
            and key.get_name() == "ssh-rsa"
            and self._preferred_pubkeys[:1] != ("ssh-rsa",)
        )

    @contextmanager
    def rsa_sha1_signatures(self) -> Iterator[None]:
        """Within the block, RSA user keys sign with ssh-rsa (SHA-1) only."""
        saved = self._preferred_pubkeys
        self._preferred_pubkeys = ("ssh-rsa", *(k for k in saved if "rsa" not in k))
        try:
            yield
        finally:
            self._preferred_pubkeys = saved


def user_key_for(key: paramiko.PKey, transport: AuditorTransport) -> paramiko.PKey:
    """The key object to authenticate with: RSA keys on legacy hosts may sign with SHA-1."""
    if transport.legacy and isinstance(key, paramiko.RSAKey) and not isinstance(key, LegacyRSAKey):
        return LegacyRSAKey.wrapping(key)
    return key
