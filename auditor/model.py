"""The data that flows between stages: observations, hosts, facts, findings, runs.

Every type is a frozen dataclass; collections are tuples (sorted where order carries no
meaning) so values compare and serialise deterministically. Change a value with
`dataclasses.replace`. JSON conversion lives in `auditor.report.json_report`, not here.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol


class Severity(enum.StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_ORDER.index(self)

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls(text.lower())
        except ValueError:
            allowed = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown severity {text!r} (expected one of: {allowed})") from None


_SEVERITY_ORDER = list(Severity)
# The same order for severities read back from report.json (strings): worst first, and each
# one's rank (info 1 ... critical 5; anything else 0), for renderers, history and groups.
SEVERITIES: tuple[str, ...] = tuple(s.value for s in reversed(_SEVERITY_ORDER))
SEVERITY_RANK: Mapping[str, int] = {s.value: s.rank + 1 for s in _SEVERITY_ORDER}
SEVERITY_NAMES: tuple[str, ...] = tuple(s.value for s in Severity)  # for --fail-on choices


class SourceKind(enum.StrEnum):
    NETWORK = "network"
    AWS = "aws"
    ANSIBLE = "ansible"
    TERRAFORM = "terraform"


class HostStatus(enum.StrEnum):
    MANAGED = "managed"  # in an inventory or IaC and alive
    UNMANAGED = "unmanaged"  # alive on the network, in no inventory and no IaC: the orphan
    CLOUD_UNMANAGED = "cloud-unmanaged"  # in the cloud, in no inventory and no state
    OWNED = "owned"  # launched by a system (ASG, stack, node group ...) no state read defines
    STALE = "stale"  # in an inventory, not seen alive anywhere
    MISSING = "missing"  # in Terraform state, gone from the cloud
    IGNORED = "ignored"  # hidden by an [[ignore]] rule (reason says which)
    UNVERIFIED = "unverified"  # listed, not seen alive, and nothing we read could have seen it


# Identifier prefixes. An identifier is "kind:value", e.g. "ip:10.0.0.5", "aws:i-0abc".
ID_IP = "ip"
ID_DNS = "dns"  # a resolvable DNS name
ID_NAME = "name"  # an inventory or tag name that is not necessarily resolvable
ID_AWS = "aws"  # EC2 instance id
ID_MAC = "mac"
ID_TF = "tf"  # terraform resource address


def ident(kind: str, value: str) -> str:
    return f"{kind}:{value}"


def split_ident(identifier: str) -> tuple[str, str]:
    kind, _, value = identifier.partition(":")
    return kind, value


@dataclass(frozen=True, slots=True)  # one per host or finding (issue 14)
class Observation:
    """One source's sighting of one machine.

    `alive` is this source's own word on whether the machine is up (nmap saw it up, EC2 says
    running); None when the source cannot tell (an inventory only lists names).
    `attributes` are source-specific (open ports, tags, groups, state ...) and JSON-serialisable.
    """

    source: SourceKind
    source_name: str
    identifiers: tuple[str, ...]
    observed_at: datetime
    alive: bool | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def values(self, kind: str) -> tuple[str, ...]:
        return tuple(v for k, v in map(split_ident, self.identifiers) if k == kind)


@dataclass(frozen=True)
class SourceResult:
    """What one configured source produced in a run: its observations, or why it failed.

    A source that failed part-way keeps what it collected (`ok` False, `error` says why).
    `errors` lists partial problems (a denied region, an unresolvable inventory name).
    """

    kind: SourceKind
    name: str
    ok: bool
    observations: tuple[Observation, ...] = ()
    error: str | None = None
    errors: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def count(self) -> int:
        return len(self.observations)


@dataclass(frozen=True)
class HostOwner:
    """Who owns a host and how we know (see auditor.host_owner): source `config` ([owners]
    by address or name), `tag` (a cloud tag) or `clients` (the team using it most)."""

    team: str
    source: str  # config | tag | clients
    detail: str  # "[owners] '10.20.0.0/16' matches its address", "inferred from clients, 80% ..."


@dataclass(frozen=True, slots=True)  # one per host or finding (issue 14)
class Host:
    """A reconciled machine: every identifier and observation of it, and its verdict."""

    id: str
    addresses: tuple[str, ...]
    hostnames: tuple[str, ...]
    identifiers: tuple[str, ...]
    sources: tuple[SourceKind, ...]
    status: HostStatus
    status_reason: str
    observations: tuple[Observation, ...] = ()
    open_ports: tuple[int, ...] = ()
    owner: HostOwner | None = None
    cloud: Mapping[str, Any] | None = field(default=None, compare=False)
    ssh_port: int | None = None  # from an inventory's ansible_port, when it gave one

    @property
    def alive(self) -> bool:
        return any(o.alive for o in self.observations)

    @property
    def primary_address(self) -> str | None:
        return self.addresses[0] if self.addresses else None

    @property
    def label(self) -> str:
        return self.hostnames[0] if self.hostnames else (self.primary_address or self.id)


# --------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class EolStatus:
    product: str | None  # endoflife.date slug, None when unknown
    cycle: str | None
    status: str  # supported | security-only | extended-support | eol | unknown
    date: str | None  # ISO date of end of life, when known
    days_past: int | None  # days since EOL as of the audit date (negative: days left)
    source: str  # "embedded 2026-08-22" or "refreshed 2026-11-28"
    seen: str | None = None  # the identity or version string we mapped from
    # Software only: whose support counts. "distribution" (a package of an OS release that is
    # still maintained: the OS's status) or "upstream" (the program's own release cycle).
    judged_by: str | None = None
    basis: str | None = None  # why, for people: "maintained by debian 12 (...)"


@dataclass(frozen=True)
class OsIdentity:
    id: str | None  # os-release style: centos, rhel, ubuntu, debian, amzn, sles, alpine ...
    version: str | None
    name: str | None
    pretty_name: str | None
    source: str | None  # which file said so, e.g. /etc/redhat-release
    raw: str | None = None  # the line that identified it (evidence)
    eol: EolStatus | None = None


@dataclass(frozen=True)
class Listener:
    proto: str  # tcp | udp (tcp6/udp6 folded into tcp/udp; the address tells the family)
    address: str
    port: int
    pid: int | None = None
    process: str | None = None
    user: str | None = None
    exe: str | None = None
    cwd: str | None = None
    cmdline: str | None = None


@dataclass(frozen=True)
class Connection:
    port: int  # our listening port
    peer: str  # peer address


@dataclass(frozen=True)
class PeerGroup:
    """Peers with an established connection to one listening port: those of one team (the
    longest [owners] network), or of no team, grouped by /24 or /64 (`network`)."""

    port: int
    team: str | None
    network: str | None
    peers: int  # distinct addresses


@dataclass(frozen=True)
class LogFile:
    path: str
    size: int
    mtime: datetime


@dataclass(frozen=True)
class LogActivity:
    latest_write: datetime | None
    files: tuple[LogFile, ...]


@dataclass(frozen=True)
class ClientUse:
    address: str
    requests: int
    last_seen: datetime | None
    owner: str | None = None


@dataclass(frozen=True)
class TeamUse:
    """One team's use of a host over the whole window: every client of the access logs
    counted (on the host), each client in the team of its longest [owners] network."""

    team: str
    requests: int
    clients: int  # distinct addresses
    last_seen: datetime | None


@dataclass(frozen=True)
class NetworkUse:
    """Clients of no team, grouped by /24 or /64 (`network`; "other" for the networks
    beyond the top ones, "not an address" for names or garbled fields)."""

    network: str
    requests: int
    clients: int
    last_seen: datetime | None


@dataclass(frozen=True)
class PathCount:
    path: str
    requests: int


@dataclass(frozen=True)
class WebLog:
    path: str
    requests: int  # in the window
    clients: int  # distinct clients in the window
    top_paths: tuple[PathCount, ...]
    admin_paths: tuple[PathCount, ...]
    top_clients: tuple[ClientUse, ...] = ()
    first_seen: datetime | None = None
    last_seen: datetime | None = None


@dataclass(frozen=True)
class Login:
    user: str
    source: str | None  # "from": remote address or tty
    at: datetime | None


@dataclass(frozen=True)
class Package:
    """The OS package that installed a program, as its package manager says."""

    manager: str  # dpkg | rpm | apk
    name: str  # nginx-light, openjdk-17-jre-headless, httpd
    version: str | None  # 1.22.1-9+deb12u1, 2.4.6-99.el7.centos.1; None when not said


@dataclass(frozen=True)
class UnknownPackage:
    """Nobody could say whether a package installed the program, and why (no package
    manager on the host, its database unreadable, the question not asked)."""

    unknown: str


NOT_ASKED = UnknownPackage("the package manager was not asked")


@dataclass(frozen=True)
class Software:
    name: str  # httpd, nginx, java, php, mysqld, postgres ...
    version: str
    raw: str | None = None  # the version output line (evidence)
    eol: EolStatus | None = None
    path: str | None = None  # the program that printed the version
    # Package: installed by the OS's package manager. None: hand-installed (the package
    # manager was asked and owns no such file). UnknownPackage: nobody could say.
    package: Package | UnknownPackage | None = NOT_ASKED


@dataclass(frozen=True)
class Facts:
    """What the SSH probe learned about one host. A fact that could not be read is None
    and has an entry in `errors` (fact name -> reason); never silently empty."""

    collected_at: datetime
    hostname: str | None = None
    fqdn: str | None = None
    kernel: str | None = None
    arch: str | None = None
    os: OsIdentity | None = None
    uptime_seconds: float | None = None
    boot_time: datetime | None = None
    listeners: tuple[Listener, ...] | None = None
    connections: tuple[Connection, ...] | None = None
    connection_teams: tuple[PeerGroup, ...] | None = None  # connections' peers, per port and team
    log_activity: LogActivity | None = None
    web_logs: tuple[WebLog, ...] | None = None
    clients: tuple[ClientUse, ...] | None = None  # the top addresses
    client_teams: tuple[TeamUse, ...] | None = None  # every client, per team, most first
    client_networks: tuple[NetworkUse, ...] | None = None  # clients of no team
    logins: tuple[Login, ...] | None = None
    sessions: tuple[Login, ...] | None = None
    cron: tuple[str, ...] | None = None
    software: tuple[Software, ...] | None = None
    errors: Mapping[str, str] = field(default_factory=dict, compare=False)


class SshState(enum.StrEnum):
    """How the probe went for one host; the values are report.json's `ssh.state` strings."""

    OK = "ok"
    PARTIAL = "partial"  # the script run was cut (deadline, output cap ...): what arrived is kept
    SKIPPED = "skipped"  # tried, and no probe ran: unreachable, refused, host key, auth ...
    NOT_ATTEMPTED = "not-attempted"  # never connected to: ignored, out of scope, not run


@dataclass(frozen=True, slots=True)  # one per host or finding (issue 14)
class SshOutcome:
    """How the probe went for one host (`state`; a plain string is taken as its SshState).
    `kind` classifies a skip for rules and reports (auditor.remote.errors.FailureKind values:
    changed-host-key, unknown-host-key, auth, key-file, connect, deadline ...)."""

    state: SshState
    reason: str | None = None
    address: str | None = None
    port: int | None = None
    duration_s: float | None = None
    kind: str | None = None
    # When a jump host was the cause (kind "jump-host"): which one, and what went wrong
    # with it (a FailureKind value: changed-host-key, refused ...). One root cause per hop.
    jump: str | None = None
    jump_kind: str | None = None
    vantage: str | None = None  # with an [engine]: the [[vantage]] whose worker probed it
    # We stopped (Ctrl-C) before this host's probe ended: nothing is known against it. Set
    # by collect; report.json does not repeat it (`kind` there is "interrupted").
    interrupted: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.state, SshState):
            object.__setattr__(self, "state", SshState(self.state))  # ValueError if unknown


@dataclass(frozen=True)
class ProbeResults:
    """What the probe stage returns, wherever it ran (here, or at an engine's vantages)."""

    ssh: dict[str, SshOutcome] = field(default_factory=dict)
    facts: Mapping[str, Facts] = field(default_factory=dict)  # probe_hosts: a disk spool
    interrupted: bool = False  # Ctrl-C during the probe: these are the hosts that finished


@dataclass(frozen=True)
class Acceptance:
    """An [[accept]] entry that matched a finding. While it holds, the finding is shown as
    accepted and counts neither for --fail-on nor for the webhook; once `expired`, the
    finding counts again and says that its acceptance ran out."""

    reason: str
    expires: date
    source: str  # where the entry is written: "audit.toml [[accept]] #2"
    expired: bool = False


@dataclass(frozen=True, slots=True)  # one per host or finding (issue 14)
class Finding:
    rule: str
    severity: Severity
    host: str | None  # Host.id, None for run-level findings
    title: str
    evidence: tuple[str, ...] = ()
    accepted: Acceptance | None = field(default=None, compare=False)

    @property
    def counts(self) -> bool:
        """False while an unexpired acceptance holds: not for --fail-on, not for the webhook."""
        return self.accepted is None or self.accepted.expired


class FindingLike(Protocol):
    """A finding of a run (`Finding`) or read from a report (report.run_view.FindingView)."""

    @property
    def rule(self) -> str: ...

    @property
    def severity(self) -> Severity: ...

    @property
    def host(self) -> str | None: ...

    @property
    def title(self) -> str: ...


# --------------------------------------------------------------------------- changes
# What changed since the previous run (auditor.history computes them; report.json `changes`).
# Times are the ISO strings report.json holds, so a stored run's changes read back exactly.


@dataclass(frozen=True)
class NewHost:
    """A host never seen in any earlier run."""

    host: str  # Host.id
    label: str
    status: HostStatus


@dataclass(frozen=True)
class HostLastSeen:
    """A host gone (not seen alive for longer than the grace period), or back again."""

    host: str
    label: str
    last_seen: str | None  # ISO time


@dataclass(frozen=True)
class StatusChange:
    host: str
    label: str
    before: HostStatus  # report.json "from"
    after: HostStatus  # report.json "to"


@dataclass(frozen=True)
class FactChange:
    """One fact of a host between two probes: boot (rebooted), os, kernel, listener,
    client_team, software. `before` None: it appeared; `after` None: it went."""

    host: str
    label: str
    fact: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class FindingChange:
    """A finding new since the previous run (or worse than it was), or resolved."""

    rule: str
    severity: Severity
    host: str | None
    title: str
    label: str | None = None  # the host's label: titles name no host


@dataclass(frozen=True)
class Changes:
    """A run against the previous complete one (None: no history yet, a baseline).
    `first_seen` is every host of the run's first sighting (ISO time), across the history."""

    previous_run: str | None
    previous_started_at: str | None
    new_hosts: tuple[NewHost, ...] = ()
    gone_hosts: tuple[HostLastSeen, ...] = ()
    returned_hosts: tuple[HostLastSeen, ...] = ()
    status_changed: tuple[StatusChange, ...] = ()
    fact_changes: tuple[FactChange, ...] = ()
    new_findings: tuple[FindingChange, ...] = ()
    resolved_findings: tuple[FindingChange, ...] = ()
    first_seen: Mapping[str, str | None] = field(default_factory=dict, compare=False)

    def counts(self) -> dict[str, int]:
        """How many of each kind of change (the summary lines of every report)."""
        return {
            "new_hosts": len(self.new_hosts),
            "gone_hosts": len(self.gone_hosts),
            "returned_hosts": len(self.returned_hosts),
            "status_changed": len(self.status_changed),
            "fact_changes": len(self.fact_changes),
            "new_findings": len(self.new_findings),
            "resolved_findings": len(self.resolved_findings),
        }


@dataclass(frozen=True)
class AuditRun:
    id: str
    started_at: datetime
    finished_at: datetime
    config_path: str | None
    sources: tuple[SourceResult, ...]
    hosts: tuple[Host, ...]
    ssh: Mapping[str, SshOutcome] = field(default_factory=dict, compare=False)
    facts: Mapping[str, Facts] = field(default_factory=dict, compare=False)
    findings: tuple[Finding, ...] = ()
    changes: Changes | None = field(default=None, compare=False)
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)
    # Ctrl-C during the probe: the hosts that finished are in, the run is no baseline and
    # alerts nobody about itself (report.json says `"interrupted": true`).
    interrupted: bool = False
