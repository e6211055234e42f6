"""What the probe script is asked to do on one host: `ProbeOptions`."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from auditor.probe.owners import ClientOwners
from auditor.probe.parsers.addresses import is_ip

if TYPE_CHECKING:
    from auditor.config import SshSettings

# Where the script looks for tools first. A non-root login's PATH often lacks the sbin
# directories, and that is where ss, netstat, httpd and mysqld live on CentOS.
DEFAULT_SEARCH_PATH: tuple[str, ...] = (
    "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin",
)  # fmt: skip

MAX_LOG_FILES = 500  # /var/log files a report lists by default, newest first

_NONCE_RE = re.compile(r"^[A-Za-z0-9]{12,64}$")
_PATH_ENTRY_RE = re.compile(r"^/[A-Za-z0-9._/+-]*$")
# A program path and its identity (`stat -L` `dev ino size mtime ctime`) go into the script:
# plain absolute paths and five numbers only, so nothing in them is shell syntax.
_PROGRAM_PATH_RE = re.compile(r"^/[A-Za-z0-9._/+@:,=~-]{1,1023}$")
_IDENTITY_RE = re.compile(r"^[0-9]{1,20}(?: [0-9]{1,20}){4}$")
MAX_KNOWN_VERSIONS = 256


def is_known_version(path: object, identity: object) -> bool:
    """Whether (path, identity) may be handed to the script as a known version run: a
    plain absolute path (no quotes, spaces, newlines or glob characters) and five numbers."""
    return (
        isinstance(path, str)
        and isinstance(identity, str)
        and _PROGRAM_PATH_RE.fullmatch(path) is not None
        and _IDENTITY_RE.fullmatch(identity) is not None
    )


def new_nonce() -> str:
    """A fresh random token for one run's section markers (96 bits, hex)."""
    return secrets.token_hex(12)


@dataclass(frozen=True)
class ProbeOptions:
    """Knobs for one probe run. `nonce` must be passed on to `parse_probe_output`.

    The caps keep what crosses the wire small whatever the host holds: access logs are
    summarised on the host, only the newest `max_log_bytes` of each is read, and every
    listing is cut at a stated size (the parser reports when it was).

    `known_versions` are (program path, `dev ino size mtime ctime`) pairs whose version
    output the controller already has (`auditor.software_cache`): a program `stat -L` still
    finds with that identity is not run again, the script says so in a `software/cache/hit`
    part instead.
    """

    sudo: bool = False  # the privileged facts in one `sudo -n sh -s`
    sudo_commands: bool = False  # only the commands of auditor.probe.privileged_commands
    log_days: int = 7
    nonce: str = field(default_factory=new_nonce)
    max_log_files: int = MAX_LOG_FILES  # /var/log files listed, newest first
    max_web_logs: int = 16  # access-log files summarised
    max_log_bytes: int = 32 * 1024 * 1024  # newest bytes read of each access log
    top_n: int = 20  # top paths per access log
    top_clients: int = 50  # top clients and admin paths per access log
    max_connections: int = 2000  # distinct (listening port, peer) pairs shipped
    max_logins: int = 50
    command_timeout: int = 10  # seconds, for each command that could hang (where `timeout` exists)
    privileged_timeout: int = 75  # seconds for the root half: sockets, logs, web logs, cron
    search_path: tuple[str, ...] = DEFAULT_SEARCH_PATH
    known_versions: tuple[tuple[str, str], ...] = ()
    # The [owners] networks, for the access logs' clients to be counted per team on the host.
    client_owners: ClientOwners = field(default_factory=ClientOwners)
    # The auditor's own address as the host sees it: its requests (inspect fetches front
    # pages) are not somebody using the host, and are left out of the counts.
    own_address: str | None = None

    def __post_init__(self) -> None:
        if self.own_address is not None and not is_ip(self.own_address):
            raise ValueError(f"own_address must be an IP address, got {self.own_address!r}")
        if not _NONCE_RE.match(self.nonce):
            raise ValueError("nonce must be 12-64 letters or digits")
        for name in (
            "log_days", "max_log_files", "max_web_logs", "max_log_bytes", "top_n",
            "top_clients", "max_connections", "max_logins", "command_timeout",
            "privileged_timeout",
        ):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for entry in self.search_path:
            # Entries are pasted into the script: no quotes, spaces or colons.
            if not _PATH_ENTRY_RE.match(entry):
                raise ValueError(f"search_path entry {entry!r} must be an absolute plain path")
        if self.sudo and self.sudo_commands:
            raise ValueError("sudo (a root shell) and sudo_commands exclude each other")
        if len(self.known_versions) > MAX_KNOWN_VERSIONS:
            raise ValueError(f"at most {MAX_KNOWN_VERSIONS} known_versions")
        for pair in self.known_versions:
            # Pasted into the script too: a path or identity holding anything but plain path
            # characters and digits is refused, never quoted around.
            if not (isinstance(pair, tuple) and len(pair) == 2 and is_known_version(*pair)):
                raise ValueError(
                    f"known_versions entry {pair!r} must be (absolute plain path, "
                    "'dev ino size mtime ctime')"
                )

    @classmethod
    def from_settings(cls, ssh: SshSettings, **overrides: Any) -> ProbeOptions:
        """Options from the `[ssh]` config section (sudo, log_days), plus overrides."""
        values: dict[str, Any] = {
            "sudo": ssh.sudo, "sudo_commands": ssh.sudo_commands, "log_days": ssh.log_days,
        }  # fmt: skip
        values.update(overrides)
        return cls(**values)
