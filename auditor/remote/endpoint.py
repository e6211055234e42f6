"""Where and as whom to connect: auditor settings first, then `~/.ssh/config`.

Precedence follows OpenSSH's "command line beats config file": what the auditor config says
explicitly (user, key_file, jump_host) applies to every host; `~/.ssh/config` fills what it
leaves open, per host (User, Port, IdentityFile, IdentitiesOnly, ProxyJump, HostName).

Names we discovered (scans, inventories, cloud tags, state) are strings others wrote. Only a
valid host name or address is ever looked up in `~/.ssh/config`, and for such names a
`Match exec` criterion is never run (its block does not apply): paramiko runs that command
through a shell with `%h` filled in. Jump hosts come from the user's own configuration
(`jump_host`, `ProxyJump`), so for them `Match exec` keeps OpenSSH's meaning.
"""

from __future__ import annotations

import getpass
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import paramiko

from auditor.config import SshSettings
from auditor.remote.algorithms import wants_legacy
from auditor.remote.errors import ConnectError, FailureKind, KeyFileError
from auditor.remote.hostkeys import known_hosts_name
from auditor.remote.proxy import expand_proxy_command
from auditor.targets import is_address, is_host_name, is_host_name_or_address

DEFAULT_IDENTITY_FILES = ("id_ed25519", "id_ecdsa", "id_rsa")


@dataclass(frozen=True)
class Hop:
    """One jump host, as `[user@]host[:port]` or `ssh://[user@]host[:port]` says."""

    host: str
    port: int = 22
    user: str | None = None

    @classmethod
    def parse(cls, text: str) -> Hop:
        text = text.strip()
        if not text:
            raise ValueError("empty jump host")
        if "://" in text:
            parts = urlsplit(text)
            if parts.scheme != "ssh" or not parts.hostname:
                raise ValueError(f"jump host {text!r}: expected ssh://[user@]host[:port]")
            return cls(host=parts.hostname, port=parts.port or 22, user=parts.username)
        user, _, rest = text.rpartition("@")
        host, port = rest, 22
        if rest.startswith("["):  # [v6]:port
            host, _, tail = rest[1:].partition("]")
            if tail.startswith(":"):
                port = int(tail[1:])
        elif rest.count(":") == 1:
            host, _, port_text = rest.partition(":")
            port = int(port_text)
        if not host or not 1 <= port <= 65535:
            raise ValueError(f"jump host {text!r}: expected [user@]host[:port]")
        return cls(host=host, port=port, user=user or None)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        user = f"{self.user}@" if self.user else ""
        return f"{user}{host}:{self.port}"


def parse_jump_chain(text: str) -> tuple[Hop, ...]:
    """`a,b` means: reach b through a, then the target through b. `none` means direct."""
    if text.strip().lower() == "none":
        return ()
    return tuple(Hop.parse(part) for part in text.split(","))


@dataclass(frozen=True)
class Endpoint:
    """One SSH server to reach, with everything needed to authenticate to it."""

    host: str  # what we TCP-connect to (or ask the jump host to connect to)
    port: int
    user: str
    identity_files: tuple[Path, ...]
    look_for_keys: bool  # no key named anywhere: try ~/.ssh/id_* like ssh does
    allow_agent: bool
    jump: tuple[Hop, ...]  # nearest to us first
    known_names: tuple[str, ...]  # known_hosts spellings; the first is recorded on TOFU
    legacy: bool
    proxy_command: tuple[str, ...] = ()  # argv of a ProxyCommand, in place of TCP

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        via = f" via {' -> '.join(str(h) for h in self.jump)}" if self.jump else ""
        if self.proxy_command:
            via = f" via proxy command {self.proxy_command[0]}"
        return f"{self.user}@{host}:{self.port}{via}"


class AuditorSSHConfig(paramiko.SSHConfig):
    """ssh_config as auditor reads it: a ProxyCommand keeps its %-tokens, to be filled per
    connection (auditor.remote.proxy): paramiko would fill %p with the config's Port, not the
    port being connected to, and fill before splitting into words."""

    def _tokenize(
        self, config: paramiko.SSHConfigDict, target_hostname: str, key: str, value: str
    ) -> str:
        if key == "proxycommand":
            return value
        tokenized: str = super()._tokenize(config, target_hostname, key, value)  # type: ignore[misc]
        return tokenized


class DiscoveredNameSSHConfig(AuditorSSHConfig):
    """ssh_config matching for names we did not get from the user: a `Match` line with an
    `exec` criterion never matches, so its command never runs (negated or not)."""

    def _does_match(
        self,
        match_list: list[dict[str, object]],
        target_hostname: str,
        canonical: bool,
        final: bool,
        options: paramiko.SSHConfigDict,
    ) -> list[dict[str, object]] | bool:
        if any(criterion.get("type") == "exec" for criterion in match_list):
            return False
        matched: list[dict[str, object]] | bool = super()._does_match(  # type: ignore[misc]
            match_list, target_hostname, canonical, final, options
        )
        return matched


class EndpointResolver:
    """Turns (address, port, label) into an Endpoint. Thread-safe; reads the config once."""

    def __init__(self, ssh_config_path: Path | None = None, allow_agent: bool = True) -> None:
        self.ssh_config_path = ssh_config_path or Path.home() / ".ssh" / "config"
        self.allow_agent = allow_agent
        self._lock = threading.Lock()
        # (the user's own names: Match exec runs; discovered names: it never does)
        self._configs: tuple[paramiko.SSHConfig, paramiko.SSHConfig] | None = None
        self._config_error: str | None = None

    def _ssh_config(self, settings: SshSettings, *, trusted: bool) -> paramiko.SSHConfig | None:
        if not settings.use_ssh_config:
            return None
        with self._lock:
            if self._configs is None and self._config_error is None:
                try:
                    text = (
                        self.ssh_config_path.read_text(errors="replace")
                        if self.ssh_config_path.exists()
                        else ""
                    )
                    self._configs = (
                        AuditorSSHConfig.from_text(text),
                        DiscoveredNameSSHConfig.from_text(text),
                    )
                except (OSError, paramiko.SSHException) as exc:
                    self._config_error = f"cannot read {self.ssh_config_path}: {exc}"
            if self._config_error or self._configs is None:
                raise KeyFileError(self._config_error or f"cannot read {self.ssh_config_path}")
            return self._configs[0] if trusted else self._configs[1]

    def options(
        self, settings: SshSettings, *names: str, trusted: bool = False
    ) -> dict[str, object]:
        """Merged ~/.ssh/config options for the first name, filled in from later ones.
        `hostname` is kept only where the config set it (paramiko defaults it to the name).
        Names that are not host names or addresses are not looked up at all; `trusted` says
        the names come from the user's own configuration (see the module docstring)."""
        config = self._ssh_config(settings, trusted=trusted)
        merged: dict[str, object] = {}
        if config is None:
            return merged
        for name in dict.fromkeys(n for n in names if n and is_host_name_or_address(n)):
            found: Mapping[str, object] = config.lookup(name)
            for key, value in found.items():
                if key == "hostname" and value == name:
                    continue
                merged.setdefault(key, value)
        return merged

    def config_port(self, settings: SshSettings, address: str, label: str) -> int | None:
        port = self.options(settings, label, address).get("port")
        return int(str(port)) if port is not None else None

    def resolve(
        self,
        address: str,
        port: int,
        settings: SshSettings,
        label: str,
        instance_id: str | None = None,
    ) -> Endpoint:
        # The address comes from discovery (it answered there), so a HostName the config
        # gives the *label* does not redirect us; one it gives the address itself does.
        by_address = self.options(settings, address)
        opts = self.options(settings, label, address)
        host = str(by_address.get("hostname", address))
        user = settings.user or _str(opts.get("user")) or getpass.getuser()
        identities_only = _yes(opts.get("identitiesonly"))
        if settings.key_file is not None:
            identity_files: tuple[Path, ...] = (settings.key_file,)
        else:
            identity_files = tuple(
                Path(str(p)).expanduser() for p in _list(opts.get("identityfile"))
            )
        # auditor's own settings first, then ~/.ssh/config; a jump host before a proxy
        # command (OpenSSH takes whichever its config gives first; paramiko cannot tell).
        jump: tuple[Hop, ...] = ()
        proxy: tuple[str, ...] = ()
        config_proxy = _str(opts.get("proxycommand"))
        if settings.jump_host:
            jump = parse_jump_chain(settings.jump_host)
        elif settings.proxy_command:
            proxy = _proxy_argv(settings.proxy_command, host, port, user, label, instance_id)
        elif opts.get("proxyjump"):
            jump = parse_jump_chain(str(opts["proxyjump"]))
        elif config_proxy and config_proxy.lower() != "none":
            proxy = _proxy_argv(config_proxy, host, port, user, label, instance_id)
        names = [host, address]
        if label and label != address and not is_address(label) and is_host_name(label):
            names.append(label)
        return Endpoint(
            host=host,
            port=port,
            user=user,
            identity_files=identity_files,
            look_for_keys=not identity_files,
            allow_agent=self.allow_agent and not identities_only,
            jump=jump,
            known_names=tuple(dict.fromkeys(known_hosts_name(n, port) for n in names)),
            legacy=wants_legacy(settings.legacy_algorithms, names),
            proxy_command=proxy,
        )

    def resolve_hop(self, hop: Hop, settings: SshSettings) -> Endpoint:
        """A jump host: its own ~/.ssh/config block applies (HostName, User, Port, keys)."""
        opts = self.options(settings, hop.host, trusted=True)
        host = str(opts.get("hostname", hop.host))
        port = hop.port
        if port == 22 and opts.get("port") is not None:
            port = int(str(opts["port"]))
        user = hop.user or _str(opts.get("user")) or settings.user or getpass.getuser()
        identity_files = tuple(Path(str(p)).expanduser() for p in _list(opts.get("identityfile")))
        if settings.key_file is not None:
            identity_files = (settings.key_file, *identity_files)
        names = [host, hop.host]
        return Endpoint(
            host=host,
            port=port,
            user=user,
            identity_files=identity_files,
            look_for_keys=not identity_files,
            allow_agent=self.allow_agent and not _yes(opts.get("identitiesonly")),
            jump=(),
            known_names=tuple(dict.fromkeys(known_hosts_name(n, port) for n in names)),
            legacy=wants_legacy(settings.legacy_algorithms, names),
        )


def _proxy_argv(
    template: str, host: str, port: int, user: str, label: str, instance_id: str | None
) -> tuple[str, ...]:
    try:
        return expand_proxy_command(template, host, port, user, label, instance_id)
    except ValueError as exc:
        raise ConnectError(str(exc), kind=FailureKind.PROXY_COMMAND) from None


def default_identity_files() -> tuple[Path, ...]:
    ssh_dir = Path.home() / ".ssh"
    return tuple(ssh_dir / name for name in DEFAULT_IDENTITY_FILES if (ssh_dir / name).exists())


def _str(value: object) -> str | None:
    return str(value) if value else None


def _yes(value: object) -> bool:
    return str(value).lower() in ("yes", "true")


def _list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)]
