"""report.json read back as frozen dataclasses: what the renderers, history and notify share
instead of each walking the dicts on its own.

`read_report` gives a `RunView`: the run, its sources and changes parsed at once (small),
its hosts and findings as sequences that parse one entry when it is read (`Parsed`). For a
large run whose host entries are spooled on disk (auditor.spool.SpooledRows) nothing is
decoded up front and no host is held: each `HostView` keeps its facts as a mapping that
reads them through (`SpooledRows.row`), so a pass over 10,000 hosts holds one at a time.
`facts` stays report.json's facts object (its parts are many and optional across report
versions; `auditor.report.view` reads them).

`read_changes` is report.json's `changes` as `auditor.model.Changes` (the inverse of
`json_report.changes_to_dict`). Parsing is strict about shape (a missing key or a wrong type
raises ValueError naming it) and never about content: a hostile hostname stays the string
it was, whatever it looks like. A report written before a key existed reads with its
default (`returned_hosts`, `previous_started_at`, a finding change's `label`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar, overload

from auditor.model import (
    Changes,
    FactChange,
    FindingChange,
    HostLastSeen,
    HostOwner,
    HostStatus,
    NewHost,
    Severity,
    SshOutcome,
    SshState,
    StatusChange,
)
from auditor.spool import MadeRows, SpooledRows

T = TypeVar("T")


def text(data: Mapping[str, Any], key: str) -> str:
    """A string that must be there."""
    value = data.get(key)
    if not isinstance(value, str):
        raise ValueError(f"report.json: {key!r} is {type(value).__name__}, not a string")
    return value


def maybe_text(data: Mapping[str, Any], key: str) -> str | None:
    """A string, or null / absent."""
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"report.json: {key!r} is {type(value).__name__}, not a string")
    return value


def items(data: Mapping[str, Any], key: str) -> Sequence[Mapping[str, Any]]:
    """A list of objects, empty when absent or null."""
    value = data.get(key) or []
    if isinstance(value, SpooledRows | MadeRows):  # a large run's: objects, read when used
        return value
    if not isinstance(value, list) or not all(isinstance(x, Mapping) for x in value):
        raise ValueError(f"report.json: {key!r} is not a list of objects")
    return value


def _finding_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """What a finding and a finding change share: rule, severity, host, title."""
    return {
        "rule": text(data, "rule"),
        "severity": Severity(text(data, "severity")),
        "host": maybe_text(data, "host"),
        "title": text(data, "title"),
    }


def read_finding_change(data: Mapping[str, Any]) -> FindingChange:
    return FindingChange(**_finding_fields(data), label=maybe_text(data, "label"))


def _last_seen(data: Mapping[str, Any]) -> HostLastSeen:
    return HostLastSeen(text(data, "host"), text(data, "label"), maybe_text(data, "last_seen"))


def read_changes(data: Mapping[str, Any] | None) -> Changes | None:
    """report.json's `changes` (None: no history store, nothing compared)."""
    if data is None:
        return None
    first_seen = data.get("first_seen") or {}
    if not isinstance(first_seen, Mapping):
        raise ValueError("report.json: 'first_seen' is not an object")
    return Changes(
        previous_run=maybe_text(data, "previous_run"),
        previous_started_at=maybe_text(data, "previous_started_at"),
        new_hosts=tuple(
            NewHost(text(h, "host"), text(h, "label"), HostStatus(text(h, "status")))
            for h in items(data, "new_hosts")
        ),
        gone_hosts=tuple(_last_seen(h) for h in items(data, "gone_hosts")),
        returned_hosts=tuple(_last_seen(h) for h in items(data, "returned_hosts")),
        status_changed=tuple(
            StatusChange(
                text(c, "host"),
                text(c, "label"),
                HostStatus(text(c, "from")),
                HostStatus(text(c, "to")),
            )
            for c in items(data, "status_changed")
        ),
        fact_changes=tuple(
            FactChange(
                text(c, "host"),
                text(c, "label"),
                text(c, "fact"),
                maybe_text(c, "before"),
                maybe_text(c, "after"),
            )
            for c in items(data, "fact_changes")
        ),
        new_findings=tuple(read_finding_change(f) for f in items(data, "new_findings")),
        resolved_findings=tuple(read_finding_change(f) for f in items(data, "resolved_findings")),
        first_seen={str(k): v if isinstance(v, str) else None for k, v in first_seen.items()},
    )


def strings(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    """A list of strings, empty when absent or null."""
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ValueError(f"report.json: {key!r} is not a list of strings")
    return tuple(value)


def _object(data: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = data.get(key)
    if value is not None and not isinstance(value, Mapping):
        raise ValueError(f"report.json: {key!r} is {type(value).__name__}, not an object")
    return value


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class SourceView:
    """One configured source as the run read it (report.json `run.sources[]`)."""

    kind: str
    name: str
    ok: bool
    error: str | None
    errors: tuple[str, ...]
    count: int
    details: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class RunInfo:
    id: str
    started_at: str  # ISO time, as written
    finished_at: str
    config: str | None
    sources: tuple[SourceView, ...]


@dataclass(frozen=True)
class AcceptedView:
    """The [[accept]] entry that covers a finding (report.json `accepted`)."""

    reason: str
    expires: str  # ISO date, as written
    source: str
    expired: bool = False

    @property
    def holds(self) -> bool:
        """Still holds: the finding is shown, marked accepted, and does not count."""
        return not self.expired


@dataclass(frozen=True)
class FindingView:
    rule: str
    severity: Severity
    host: str | None
    title: str
    evidence: tuple[str, ...] = ()
    accepted: AcceptedView | None = None

    @property
    def counts(self) -> bool:
        """Counts for the severity cards, the worst severity and --fail-on."""
        return self.accepted is None or not self.accepted.holds


@dataclass(frozen=True)
class GroupView:
    """Findings identical but for the host (report.json `finding_groups[]`, made by
    auditor.report.groups): `count` findings, on `hosts` (ids, in the order they came)."""

    key: str
    rule: str
    severity: Severity
    title: str
    count: int
    hosts: tuple[str, ...] = ()
    accepted: AcceptedView | None = None

    @property
    def counts(self) -> bool:
        """Counts for the severity cards and --fail-on (no acceptance holds for it)."""
        return self.accepted is None or not self.accepted.holds


@dataclass(frozen=True)
class HostView:
    """One host entry of report.json. `facts` is report.json's facts object (None: not
    probed); for a spooled run it reads the host's row from disk when used."""

    index: int  # its place in the run's hosts, from 0
    id: str
    label: str
    status: HostStatus
    status_reason: str
    alive: bool
    addresses: tuple[str, ...] = ()
    hostnames: tuple[str, ...] = ()
    identifiers: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    open_ports: tuple[int, ...] = ()
    owner: HostOwner | None = None
    ssh: SshOutcome = field(default_factory=lambda: SshOutcome(SshState.NOT_ATTEMPTED))
    facts: Mapping[str, Any] | None = field(default=None, compare=False)
    cloud: Mapping[str, Any] | None = field(default=None, compare=False)


def host_alive(host: Mapping[str, Any]) -> bool:
    """Alive: a source saw it up, or we logged in to it (reports from before `alive` was
    written say so through their ssh state and observations)."""
    if "alive" in host:
        return bool(host["alive"])
    ssh = host.get("ssh") or {}
    return ssh.get("state") == "ok" or any(o.get("alive") for o in host.get("observations", ()))


def _owner(host: Mapping[str, Any]) -> HostOwner | None:
    """{team, source, detail}; a report from before owners had a source held the team
    alone, from [owners]."""
    owner = host.get("owner")
    if isinstance(owner, str):
        return HostOwner(owner, "config", "[owners]") if owner else None
    if owner is None:
        return None
    if not isinstance(owner, Mapping):
        raise ValueError("report.json: 'owner' is not an object")
    return HostOwner(text(owner, "team"), text(owner, "source"), str(owner.get("detail") or ""))


def _ssh(host: Mapping[str, Any]) -> SshOutcome:
    ssh = _object(host, "ssh") or {"state": "not-attempted"}
    port, duration = ssh.get("port"), ssh.get("duration_s")
    kind = maybe_text(ssh, "kind")
    return SshOutcome(
        state=SshState(text(ssh, "state")),
        reason=maybe_text(ssh, "reason"),
        address=maybe_text(ssh, "address"),
        port=port if isinstance(port, int) else None,
        duration_s=float(duration) if isinstance(duration, int | float) else None,
        kind=kind,
        jump=maybe_text(ssh, "jump"),
        jump_kind=maybe_text(ssh, "jump_kind"),
        vantage=maybe_text(ssh, "vantage"),
        interrupted=kind == "interrupted",  # report.json's word for it (json_report.ssh_to_dict)
    )


def read_host(data: Mapping[str, Any], index: int = 0) -> HostView:
    """One host entry (a dict, or a spooled row read through)."""
    ports = data.get("open_ports") or []
    if not isinstance(ports, list) or not all(isinstance(p, int) for p in ports):
        raise ValueError("report.json: 'open_ports' is not a list of numbers")
    host_id = text(data, "id")
    return HostView(
        index=index,
        id=host_id,
        label=str(data.get("label") or host_id),
        status=HostStatus(text(data, "status")),
        status_reason=str(data.get("status_reason") or ""),
        alive=host_alive(data),
        addresses=strings(data, "addresses"),
        hostnames=strings(data, "hostnames"),
        identifiers=strings(data, "identifiers"),
        sources=strings(data, "sources"),
        open_ports=tuple(ports),
        owner=_owner(data),
        ssh=_ssh(data),
        facts=_object(data, "facts"),
        cloud=_object(data, "cloud"),
    )


class Parsed(Sequence[T]):
    """A list of report.json entries, each parsed when read (`read(entries, index)`):
    nothing is decoded up front, and nothing parsed is kept."""

    def __init__(
        self,
        entries: Sequence[Mapping[str, Any]],
        read: Callable[[Sequence[Mapping[str, Any]], int], T],
    ) -> None:
        self._entries, self._read = entries, read

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...

    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        if isinstance(index, slice):
            return [self._read(self._entries, i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._read(self._entries, index)

    def __iter__(self) -> Iterator[T]:
        for index in range(len(self)):
            yield self._read(self._entries, index)

    def __len__(self) -> int:
        return len(self._entries)


def _host_at(rows: Sequence[Mapping[str, Any]], index: int) -> HostView:
    if isinstance(rows, SpooledRows):
        row = rows[index]
        facts = rows.row(index, "facts") if row.get("facts") is not None else None
        return replace(read_host({**row, "facts": None}, index), facts=facts)
    return read_host(rows[index], index)


def host_views(rows: Sequence[Mapping[str, Any]]) -> Parsed[HostView]:
    """A run's hosts (a list, or spooled rows), each parsed when read."""
    return Parsed(rows, _host_at)


def _accepted(data: Mapping[str, Any]) -> AcceptedView | None:
    accepted = _object(data, "accepted")
    if accepted is None:
        return None
    return AcceptedView(
        reason=text(accepted, "reason"),
        expires=text(accepted, "expires"),
        source=str(accepted.get("source") or ""),
        expired=bool(accepted.get("expired")),
    )


def read_finding(data: Mapping[str, Any]) -> FindingView:
    return FindingView(
        **_finding_fields(data), evidence=strings(data, "evidence"), accepted=_accepted(data)
    )


def read_group(data: Mapping[str, Any]) -> GroupView:
    count = data.get("count")
    if not isinstance(count, int):
        raise ValueError("report.json: a finding group's 'count' is not a number")
    return GroupView(
        key=text(data, "key"),
        rule=text(data, "rule"),
        severity=Severity(text(data, "severity")),
        title=text(data, "title"),
        count=count,
        hosts=strings(data, "hosts"),
        accepted=_accepted(data),
    )


def _source(data: Mapping[str, Any]) -> SourceView:
    count = data.get("count")
    return SourceView(
        kind=text(data, "kind"),
        name=str(data.get("name") or ""),
        ok=bool(data.get("ok")),
        error=maybe_text(data, "error"),
        errors=strings(data, "errors"),
        count=count if isinstance(count, int) else 0,
        details=_object(data, "details") or {},
    )


@dataclass(frozen=True)
class RunView:
    """A run as report.json has it (see the module docstring). `extra` holds the top-level
    keys other parts of auditor add (drift, policy_violations ...), as written."""

    schema: str
    run: RunInfo
    summary: Mapping[str, Any]
    hosts: Parsed[HostView]
    findings: Parsed[FindingView]
    changes: Changes | None
    interrupted: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)


_KNOWN = frozenset(
    {"schema", "run", "summary", "hosts", "findings", "finding_groups", "changes", "interrupted"}
)


def read_report(data: Mapping[str, Any]) -> RunView:
    """report.json data (a fresh run's, a stored one's, or a file's) as a `RunView`.
    Raises ValueError naming what is malformed."""
    run = _object(data, "run")
    if run is None:
        raise ValueError("report.json: 'run' is missing")
    hosts = data.get("hosts") or []
    if not isinstance(hosts, Sequence) or isinstance(hosts, str):
        raise ValueError("report.json: 'hosts' is not a list")
    return RunView(
        schema=str(data.get("schema") or ""),
        run=RunInfo(
            id=text(run, "id"),
            started_at=text(run, "started_at"),
            finished_at=text(run, "finished_at"),
            config=maybe_text(run, "config"),
            sources=tuple(_source(s) for s in items(run, "sources")),
        ),
        summary=_object(data, "summary") or {},
        hosts=host_views(hosts),
        findings=Parsed(items(data, "findings"), lambda found, i: read_finding(found[i])),
        changes=read_changes(_object(data, "changes")),
        interrupted=data.get("interrupted") is True,
        extra={k: v for k, v in data.items() if k not in _KNOWN},
    )
