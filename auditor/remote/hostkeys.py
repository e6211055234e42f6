"""Host key verification: `strict` (known_hosts only) and `tofu` (trust on first use).

We read known_hosts ourselves instead of through paramiko.HostKeys because we need what it
lacks: wildcard and negated patterns, `@revoked` markers, ssh-dss entries on legacy hosts,
and the file and line of the entry that disagrees (evidence for the changed-key finding).
Keys are compared as raw public-key blobs, so no key type needs to be loadable to compare.

A changed key is refused under every policy. An unknown key is refused under `strict`, and
under `tofu` recorded in the auditor's own known_hosts file (never the user's), written
atomically under a lock so concurrent workers and concurrent runs cannot lose entries.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import functools
import hashlib
import hmac
import os
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import paramiko

from auditor.fileio import write_atomic
from auditor.remote.errors import ChangedHostKeyError, HostCertificateError, UnknownHostKeyError

STRICT = "strict"
TOFU = "tofu"

# RSA keys are recorded as "ssh-rsa" whatever signature algorithm (rsa-sha2-*) was used.
RSA_SIGNATURE_ALGORITHMS = ("rsa-sha2-512", "rsa-sha2-256")


def default_tofu_file() -> Path:
    """`$XDG_DATA_HOME/auditor/known_hosts`, i.e. `~/.local/share/auditor/known_hosts`."""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "auditor" / "known_hosts"


def default_known_hosts_files() -> tuple[Path, ...]:
    return (Path.home() / ".ssh" / "known_hosts", Path("/etc/ssh/ssh_known_hosts"))


def fingerprint(blob: bytes) -> str:
    """OpenSSH's SHA256 fingerprint of a public-key blob: `SHA256:<base64, no padding>`."""
    digest = hashlib.sha256(blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def known_hosts_name(host: str, port: int) -> str:
    """How known_hosts names a host: bare on port 22, `[host]:port` otherwise."""
    return host if port == 22 else f"[{host}]:{port}"


@dataclass(frozen=True)
class KnownHostEntry:
    patterns: tuple[str, ...]  # as written: plain, wildcard, !negated, or |1|salt|hash
    key_type: str
    blob: bytes
    source: str  # "path:line"
    marker: str | None = None  # "@revoked" / "@cert-authority" / None

    def matches(self, name: str) -> bool:
        """OpenSSH semantics: any positive pattern matches and no negated one does."""
        matched = False
        for pattern in self.patterns:
            negated = pattern.startswith("!")
            if negated:
                pattern = pattern[1:]
            if _pattern_matches(pattern, name):
                if negated:
                    return False
                matched = True
        return matched

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.blob)


def _pattern_matches(pattern: str, name: str) -> bool:
    if pattern.startswith("|1|"):
        try:
            _, _, salt_b64, hash_b64 = pattern.split("|")
            salt = base64.b64decode(salt_b64)
            expected = base64.b64decode(hash_b64)
        except (ValueError, binascii.Error):
            return False
        digest = hmac.new(salt, name.encode("utf-8"), hashlib.sha1).digest()
        return hmac.compare_digest(digest, expected)
    return _wildcard(pattern).fullmatch(name.lower()) is not None


@functools.lru_cache(maxsize=4096)
def _wildcard(pattern: str) -> re.Pattern[str]:
    # OpenSSH patterns know only `*` and `?`; brackets are literal (`[host]:port`), so
    # fnmatch, which reads `[...]` as a character class, would be wrong here.
    # Host names are case-insensitive; OpenSSH lowercases before matching.
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.lower())
    return re.compile("".join(parts), re.DOTALL)


def parse_known_hosts(text: str, source: str) -> list[KnownHostEntry]:
    """Entries of one known_hosts file; malformed lines are skipped, as OpenSSH does."""
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        marker = None
        if fields[0].startswith("@"):
            marker, fields = fields[0], fields[1:]
        if len(fields) < 3:
            continue
        try:
            blob = base64.b64decode(fields[2], validate=True)
        except (ValueError, binascii.Error):
            continue
        entries.append(
            KnownHostEntry(
                patterns=tuple(fields[0].split(",")),
                key_type=fields[1],
                blob=blob,
                source=f"{source}:{number}",
                marker=marker,
            )
        )
    return entries


def _literal(pattern: str) -> bool:
    """A pattern that matches one name only (no wildcard, negation or hash)."""
    return not pattern.startswith(("!", "|1|")) and "*" not in pattern and "?" not in pattern


class KnownHostsIndex:
    """The entries of known_hosts files, found by name without a scan of every line: with
    a line per host, a scan per connection made a fleet's connects quadratic (1,000 hosts:
    ~10 ms of CPU per connect). Entries whose patterns are all literal names are looked up
    by name; the others (wildcards, negations, hashed names) are matched one by one."""

    def __init__(self, entries: Sequence[KnownHostEntry]) -> None:
        self.entries = tuple(entries)
        self._by_name: dict[str, list[int]] = {}
        self._patterned: list[int] = []
        for position, entry in enumerate(self.entries):
            if all(_literal(p) for p in entry.patterns):
                for pattern in dict.fromkeys(p.lower() for p in entry.patterns):
                    self._by_name.setdefault(pattern, []).append(position)
            else:
                self._patterned.append(position)

    def matching(self, names: Sequence[str]) -> list[KnownHostEntry]:
        """The entries matching any of `names`, in file order (as a scan finds them)."""
        found = {i for name in names for i in self._by_name.get(name.lower(), ())}
        found.update(i for i in self._patterned if any(self.entries[i].matches(n) for n in names))
        return [self.entries[i] for i in sorted(found)]


def read_known_hosts(paths: Iterable[Path]) -> list[KnownHostEntry]:
    entries: list[KnownHostEntry] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            continue
        entries.extend(parse_known_hosts(text, str(path)))
    return entries


@dataclass(frozen=True)
class OfferedKey:
    """The key a server proved it holds during the handshake."""

    key_type: str  # "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ssh-dss" ...
    blob: bytes

    @classmethod
    def from_pkey(cls, key: paramiko.PKey) -> OfferedKey:
        return cls(key_type=key.get_name(), blob=key.asbytes())

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.blob)


class HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Decides whether to trust a server's host key. Thread-safe; share one per run.

    `verify` accepts, records (tofu, first sight) or raises UnknownHostKeyError /
    ChangedHostKeyError. It also works as a paramiko MissingHostKeyPolicy for code that uses
    paramiko.SSHClient directly (the bench), so that code never falls back to AutoAddPolicy.
    """

    def __init__(
        self,
        policy: str = STRICT,
        known_hosts: Sequence[Path] | None = None,
        tofu_file: Path | None = None,
    ) -> None:
        if policy not in (STRICT, TOFU):
            raise ValueError(f"host key policy must be {STRICT!r} or {TOFU!r}, not {policy!r}")
        self.policy = policy
        self.known_hosts = (
            tuple(known_hosts) if known_hosts is not None else default_known_hosts_files()
        )
        self.tofu_file = tofu_file or default_tofu_file()
        self._lock = threading.Lock()
        self._entries: KnownHostsIndex | None = None

    # ------------------------------------------------------------------ lookups

    def _load(self) -> KnownHostsIndex:
        with self._lock:
            if self._entries is None:
                files = list(self.known_hosts)
                if self.policy == TOFU:
                    files.append(self.tofu_file)
                self._entries = KnownHostsIndex(read_known_hosts(files))
            return self._entries

    def _matching(self, names: Sequence[str]) -> list[KnownHostEntry]:
        return self._load().matching(names)

    def known_key_types(self, names: Sequence[str]) -> tuple[str, ...]:
        """Key types on record for these names, so the handshake can ask for them first
        (otherwise a host known by its RSA key that prefers ed25519 would look unknown)."""
        types = [e.key_type for e in self._matching(names) if e.marker is None]
        return tuple(dict.fromkeys(types))

    # ------------------------------------------------------------------ the decision

    def verify(self, names: Sequence[str], key: OfferedKey) -> None:
        """Accept `key` for a host known as any of `names` (known_hosts spelling, see
        `known_hosts_name`; the first is the one recorded on first use), or raise."""
        host = names[0]
        entries = self._matching(names)
        _refuse_revoked(entries, host, key)
        if _check_recorded(entries, host, key):
            return
        _refuse_certificate_only(entries, host, key)
        if self.policy == STRICT:
            where = ", ".join(str(p) for p in self.known_hosts)
            raise UnknownHostKeyError(
                f"unknown host key for {host}: {key.key_type} {key.fingerprint} is not in "
                f"known_hosts ({where}); strict policy refuses it (add it with ssh-keyscan "
                'after checking the fingerprint, or use host_key_policy = "tofu")',
                host=host,
                key_type=key.key_type,
                fingerprint=key.fingerprint,
            )
        self._record(host, names, key)

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        self.verify([hostname], OfferedKey.from_pkey(key))

    # ------------------------------------------------------------------ tofu

    def _record(self, host: str, names: Sequence[str], key: OfferedKey) -> None:
        path = self.tofu_file
        with self._lock, _file_lock(path):
            # Another worker or another run may have recorded this host meanwhile: re-read
            # under the lock so two first sights of different keys cannot both be accepted.
            on_disk = read_known_hosts([path])
            if _check_recorded([e for e in on_disk if any(e.matches(n) for n in names)], host, key):
                self._entries = None
                return
            line = f"{host} {key.key_type} {base64.b64encode(key.blob).decode('ascii')}\n"
            _append_atomically(path, line)
            self._entries = None  # reload next time, with the new entry and its line number


def _refuse_revoked(entries: Sequence[KnownHostEntry], host: str, key: OfferedKey) -> None:
    for entry in entries:
        if entry.marker == "@revoked" and entry.blob == key.blob:
            raise ChangedHostKeyError(
                f"host key of {host} is REVOKED: {key.key_type} {key.fingerprint} is marked "
                f"@revoked at {entry.source}",
                host=host,
                key_type=key.key_type,
                known_fingerprint=entry.fingerprint,
                offered_fingerprint=key.fingerprint,
                known_at=entry.source,
            )


def _refuse_certificate_only(entries: Sequence[KnownHostEntry], host: str, key: OfferedKey) -> None:
    """A host that known_hosts vouches for only through a @cert-authority line: its owner
    meant trust to come from the CA's signature, which paramiko cannot check. Neither strict
    nor tofu may stand in for it (tofu would quietly trust whatever answers first)."""
    for entry in entries:
        if entry.marker == "@cert-authority":
            raise HostCertificateError(
                f"host certificate for {host}: known_hosts trusts a certificate authority "
                f"for it ({entry.source}) and has no key of its own for it; CA checking is "
                f"not supported (paramiko cannot verify host certificates). Add the host's "
                f"own key ({key.key_type} {key.fingerprint}) with ssh-keyscan after checking "
                "it",
                host=host,
                key_type=key.key_type,
                fingerprint=key.fingerprint,
            )


def _check_recorded(entries: Sequence[KnownHostEntry], host: str, key: OfferedKey) -> bool:
    """True if a recorded entry vouches for `key`; raise if recorded keys contradict it;
    False if nothing is recorded for this host at all."""
    plain = [e for e in entries if e.marker is None]
    if any(e.key_type == key.key_type and e.blob == key.blob for e in plain):
        return True
    same_type = [e for e in plain if e.key_type == key.key_type]
    if same_type:
        known = same_type[0]
        raise ChangedHostKeyError(
            f"host key CHANGED for {host}: known {known.key_type} {known.fingerprint} "
            f"({known.source}), offered {key.fingerprint}; refusing to connect "
            "(possible man-in-the-middle, or the host was reinstalled)",
            host=host,
            key_type=key.key_type,
            known_fingerprint=known.fingerprint,
            offered_fingerprint=key.fingerprint,
            known_at=known.source,
        )
    if plain:
        # Known, but under other key types the server did not offer although we asked for
        # them first. OpenSSH would warn; we refuse, because a server that lost its old key
        # types is as suspicious as one whose key changed.
        known = plain[0]
        raise ChangedHostKeyError(
            f"host key CHANGED for {host}: known {known.key_type} {known.fingerprint} "
            f"({known.source}), but the server offered only {key.key_type} "
            f"{key.fingerprint}; refusing to connect",
            host=host,
            key_type=key.key_type,
            known_fingerprint=known.fingerprint,
            offered_fingerprint=key.fingerprint,
            known_at=known.source,
        )
    return False


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _append_atomically(path: Path, line: str) -> None:
    """Old content + line, written to a temp file and renamed over: readers never see half."""
    try:
        old = path.read_bytes()
    except FileNotFoundError:
        old = b""
    if old and not old.endswith(b"\n"):
        old += b"\n"
    write_atomic(path, old + line.encode("ascii"), mode=0o600)
