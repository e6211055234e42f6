"""The dossier on one host: what it is, what runs on it, who uses it, who knows about it,
and what to do about it. Frozen dataclasses; `auditor.inspect.render` turns them into
JSON (schema `auditor/dossier@1`), Markdown, HTML and terminal text.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from auditor.model import HostOwner, NetworkUse, PathCount, PeerGroup, TeamUse

DOSSIER_SCHEMA = "auditor/dossier@1"


class UseState(enum.StrEnum):
    IN_USE = "in use"
    IDLE = "idle"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Identity:
    """What the machine is."""

    address: str
    hostnames: tuple[str, ...]
    fqdn: str | None = None
    os: str | None = None  # pretty name, e.g. "CentOS release 5.11 (Final)"
    os_id: str | None = None
    os_version: str | None = None
    os_eol: str | None = None  # eol | extended-support | security-only | supported | unknown
    os_eol_date: str | None = None
    kernel: str | None = None
    arch: str | None = None
    uptime_seconds: float | None = None
    boot_time: datetime | None = None
    virtualization: str | None = None
    virtualization_source: str | None = None
    hardware: str | None = None  # DMI vendor and product
    hypervisor_flag: bool | None = None
    cpus: int | None = None
    memory_mb: int | None = None
    cloud: str | None = None  # from the AWS source when configured, else the DMI vendor
    cloud_details: tuple[str, ...] = ()  # instance id, type, region, tags ... (AWS source)
    reached_as: str | None = None  # how the probe got in: "auditor@10.250.77.10:22"


@dataclass(frozen=True)
class HttpFront:
    """The front page of an HTTP service, fetched from the auditor's side."""

    url: str
    status: int | None = None
    reason: str | None = None
    server: str | None = None  # the Server header
    title: str | None = None
    location: str | None = None  # a redirect's target (never followed)
    content_type: str | None = None
    bytes_read: int = 0
    error: str | None = None  # why there is no answer (refused, timeout, not HTTP ...)


@dataclass(frozen=True)
class StartInfo:
    kind: str  # systemd | init-script | rc.local | inittab | supervisor | cron | by-hand ...
    detail: str
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class Service:
    """One listening service and everything known about it."""

    port: int
    proto: str
    bound: str  # the address it listens on
    process: str | None = None
    pid: int | None = None
    exe: str | None = None
    program: str | None = None  # the script an interpreter runs, when it is not the exe
    cwd: str | None = None
    user: str | None = None
    cmdline: str | None = None
    started_at: datetime | None = None
    package: str | None = None
    package_note: str | None = None  # "not owned by any package", the tool's complaint
    started_by: StartInfo | None = None
    tree: tuple[str, ...] = ()  # ancestors, parent first: "pid 1: /sbin/init"
    children: int = 0
    child_names: tuple[str, ...] = ()
    logs: tuple[str, ...] = ()
    configs: tuple[str, ...] = ()
    software: str | None = None  # "Apache/1.3.42" from the version probe
    http: HttpFront | None = None
    admin_paths: tuple[PathCount, ...] = ()  # admin-looking requests in its access logs
    clients: int = 0  # distinct client addresses seen using it (web log or connection)


@dataclass(frozen=True)
class Client:
    address: str
    requests: int | None  # from access logs; None when only seen as a connection
    owner: str | None
    last_seen: datetime | None
    via: str  # "access log", "connection to :5432"
    name: str | None = None  # reverse DNS, only with --reverse-dns


@dataclass(frozen=True)
class LoginSeen:
    user: str
    source: str | None
    at: datetime | None
    via: str  # "last", "who (open now)", "auth log", "open SSH connection"
    owner: str | None = None


@dataclass(frozen=True)
class SourceMention:
    kind: str  # network | aws | ansible | terraform
    name: str
    detail: str  # "hosts.ini as web01 (groups: web, billing)", "i-0abc us-east-1"


@dataclass(frozen=True)
class KnownBy:
    """Which configured sources list the host. `checked` False: no sources were run."""

    checked: bool
    mentions: tuple[SourceMention, ...] = ()
    status: str | None = None  # the reconcile verdict (managed, unmanaged ...)
    status_reason: str | None = None
    sources_run: tuple[str, ...] = ()
    source_errors: tuple[str, ...] = ()

    @property
    def listed_by(self) -> tuple[SourceMention, ...]:
        """The record-keeping sources (inventories, state, cloud): a network sweep only
        sees a machine, it does not list it anywhere."""
        return tuple(m for m in self.mentions if m.kind != "network")


@dataclass(frozen=True)
class Reference:
    repo: str
    path: str
    line: int
    text: str
    term: str  # the address or name that matched


@dataclass(frozen=True)
class RepoSearch:
    """`git grep` over the given checkouts. `searched` False: no --repos given."""

    searched: bool
    repos: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()
    references: tuple[Reference, ...] = ()
    truncated: tuple[str, ...] = ()  # repos whose hits were cut at the cap
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    state: UseState
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class NextStep:
    kind: str  # contact | backup | move | record | decide | access
    text: str


@dataclass(frozen=True)
class Dossier:
    host: str  # the name people know it by, else its address
    address: str
    generated_at: datetime
    window_days: int
    probe_state: str  # ok | partial | skipped | not-attempted
    probe_reason: str | None
    identity: Identity
    services: tuple[Service, ...]
    clients: tuple[Client, ...]
    logins: tuple[LoginSeen, ...]
    cron: tuple[str, ...]
    known_by: KnownBy
    references: RepoSearch
    verdict: Verdict
    next_steps: tuple[NextStep, ...]
    software: tuple[str, ...] = ()  # "httpd 1.3.42 (eol, hand-installed)" ...
    last_log_write: datetime | None = None
    errors: tuple[tuple[str, str], ...] = ()  # facts that could not be read, and why
    # Who uses it, every access-log client counted on the host: per team (busiest first),
    # clients of no team per /24 or /64, and inbound connections' peers per port and team.
    teams: tuple[TeamUse, ...] = ()
    networks: tuple[NetworkUse, ...] = ()
    peer_groups: tuple[PeerGroup, ...] = ()
    # Who owns it: [owners] or a cloud tag when the sources say, else the busiest team
    # (auditor.host_owner); None when nothing says.
    owner: HostOwner | None = None
