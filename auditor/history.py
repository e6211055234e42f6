"""What changed between two runs. Pure: snapshots and sightings in, `Changes` out.

A `RunSnapshot` is what one run knew, read from its report.json data (so a run stored
months ago compares the same way as the one just made). `Sighting`s come from the store:
when each host was first seen, and last seen alive, across every run.

`compute_changes` returns the run's `Changes` (auditor.model), report.json's `changes`:

    previous_run       id of the run compared against (null: no history yet, a baseline)
    previous_started_at
    new_hosts          [{host, label, status}]     never seen in any earlier run
    gone_hosts         [{host, label, last_seen}]  not seen alive for longer than the grace
                                                   period; reported once, in the run where
                                                   the grace ran out
    returned_hosts     [{host, label, last_seen}]  reported gone before, alive again
    status_changed     [{host, label, from, to}]
    fact_changes       [{host, label, fact, before, after}]   facts: boot (rebooted), os,
                       kernel, listener, client_team, software; only compared when both
                       runs probed the host, so a failed probe is not "everything vanished"
    new_findings       [{rule, severity, host, label, title}]  not in the previous run, or worse
    resolved_findings  [{rule, severity, host, label, title}]  in the previous run, not now
    first_seen         {host id: ISO time}              for every host of this run
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from auditor.facts_view import FactsView, ListenerView, parse_time
from auditor.model import (
    AuditRun,
    Changes,
    FactChange,
    FindingChange,
    FindingLike,
    HostLastSeen,
    HostStatus,
    NewHost,
    StatusChange,
)
from auditor.report.run_view import host_alive as host_alive  # where it lived before
from auditor.report.run_view import read_report

REBOOT_TOLERANCE = timedelta(minutes=5)  # boot times derived from uptime jitter a little


@dataclass(frozen=True)
class HostSnapshot:
    id: str
    label: str
    status: str
    alive: bool
    facts: Mapping[str, Any] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class RunSnapshot:
    run_id: str
    started_at: datetime
    hosts: Mapping[str, HostSnapshot]
    findings: Sequence[FindingLike] = ()

    @classmethod
    def from_report(cls, data: Mapping[str, Any]) -> RunSnapshot:
        view = read_report(data)  # spooled hosts: each read through, facts when compared
        hosts = {
            h.id: HostSnapshot(
                id=h.id, label=h.label, status=h.status, alive=h.alive, facts=h.facts
            )
            for h in view.hosts
        }
        return cls(
            run_id=view.run.id,
            started_at=parse_time(view.run.started_at) or datetime.min,
            hosts=hosts,
            findings=view.findings,
        )

    @classmethod
    def from_run(cls, run: AuditRun) -> RunSnapshot:
        from auditor.report.json_report import run_to_dict

        return cls.from_report(run_to_dict(run))


@dataclass(frozen=True)
class Sighting:
    host_id: str
    label: str
    first_seen: datetime
    last_present: datetime  # last run that listed the host at all
    last_seen: datetime | None  # last run that saw it alive; None: never
    gone_at: datetime | None = None  # when it was reported gone; cleared when seen again


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# --------------------------------------------------------------------------- findings


def finding_key(finding: FindingLike) -> tuple[str, str, str]:
    """Findings are the same across runs when rule, host and title are (titles are kept
    stable on purpose; counts and durations live in evidence)."""
    return (finding.rule, finding.host or "", finding.title)


def diff_findings(
    previous: Iterable[FindingLike] | None,
    current: Iterable[FindingLike],
    labels: Mapping[str, str] | None = None,
) -> tuple[list[FindingChange], list[FindingChange]]:
    """(new, resolved). New: not in `previous`, or more severe than it was there. With no
    previous run (None) every finding is new. `labels` (host id -> label) name the hosts."""
    names = labels or {}

    def brief(f: FindingLike) -> FindingChange:
        return FindingChange(f.rule, f.severity, f.host, f.title, names.get(f.host or ""))

    if not isinstance(current, Sequence):  # read twice below; a large run's made twice
        current = list(current)
    if previous is None:
        return [brief(f) for f in current], []
    before = {finding_key(f): f for f in previous}
    now_keys = {finding_key(f) for f in current}
    new = []
    for f in current:
        old = before.get(finding_key(f))
        if old is None or f.severity.rank > old.severity.rank:
            new.append(brief(f))
    resolved = [brief(f) for k, f in before.items() if k not in now_keys]
    return new, resolved


# --------------------------------------------------------------------------- facts


def rebooted(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """Booted again between the two probes (report.json facts): the boot time moved forward
    (beyond jitter), or, with no times to go by, the uptime went down."""
    return _rebooted(FactsView(before), FactsView(after))


def _rebooted(before: FactsView, after: FactsView) -> bool:
    b0, b1 = before.boot, after.boot
    if b0 is not None and b1 is not None:
        return b1 - b0 > REBOOT_TOLERANCE
    u0, u1 = before.uptime_seconds, after.uptime_seconds
    if u0 is not None and u1 is not None:
        return u1 < u0
    return False


def listener_text(listener: Mapping[str, Any]) -> str:
    """A report.json listener for people: `tcp [::]:80 nginx`."""
    return ListenerView.of(listener).text()


def fact_changes(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> list[tuple[str, str | None, str | None]]:
    """[(fact, before, after)] between two probes of one host (report.json facts dicts):
    a fact is compared only where both probes collected it."""
    old, new = FactsView(before), FactsView(after)
    out: list[tuple[str, str | None, str | None]] = []

    def add(fact: str, was: str | None, now: str | None) -> None:
        out.append((fact, was, now))

    if _rebooted(old, new):
        add("boot", iso(old.boot), iso(new.boot))
    os0, os1 = old.os_text, new.os_text
    if os0 and os1 and os0 != os1:
        add("os", os0, os1)
    k0, k1 = old.kernel, new.kernel
    if k0 and k1 and k0 != k1:
        add("kernel", k0, k1)
    if old.collected("listeners") and new.collected("listeners"):
        by0 = {x.key: x for x in old.listeners or ()}
        by1 = {x.key: x for x in new.listeners or ()}
        for key in sorted(by1.keys() - by0.keys()):
            add("listener", None, by1[key].text())
        for key in sorted(by0.keys() - by1.keys()):
            add("listener", by0[key].text(), None)
    if old.collected("clients") and new.collected("clients"):
        t0, t1 = old.client_teams or frozenset(), new.client_teams or frozenset()
        for team in sorted(t1 - t0):
            add("client_team", None, team)
        for team in sorted(t0 - t1):
            add("client_team", team, None)
    if old.collected("software") and new.collected("software"):
        s0, s1 = old.software or {}, new.software or {}
        for name in sorted(s0.keys() | s1.keys()):
            v0, v1 = s0.get(name), s1.get(name)
            if v0 != v1:
                add("software", f"{name} {v0}" if v0 else None, f"{name} {v1}" if v1 else None)
    return out


# --------------------------------------------------------------------------- changes


def compute_changes(
    previous: RunSnapshot | None,
    current: RunSnapshot | AuditRun,
    *,
    now: datetime | None = None,
    grace: timedelta = timedelta(days=7),
    sightings: Mapping[str, Sighting] | None = None,
) -> Changes:
    """The `changes` of `current` against `previous` (see the module docstring).

    `sightings` (from the store, before `current` is saved) decide new and gone hosts over
    the whole history; without them (comparing two stored runs) a host is new when
    `previous` did not list it and gone when `previous` saw it alive and `current` does
    not, once `grace` has passed since `previous`. `now` defaults to the current run's start.
    """
    cur = current if isinstance(current, RunSnapshot) else RunSnapshot.from_run(current)
    now = now or cur.started_at
    first_seen: dict[str, str | None] = {}
    for host in _sorted(cur.hosts.values()):
        seen = sightings.get(host.id) if sightings is not None else None
        first_seen[host.id] = iso(seen.first_seen if seen else cur.started_at)
    if previous is None:
        return Changes(previous_run=None, previous_started_at=None, first_seen=first_seen)
    # Titles name no host (so findings group): the label says which machine it is.
    names = {**{h: s.label for h, s in previous.hosts.items()},
             **{h: s.label for h, s in cur.hosts.items()}}  # fmt: skip
    new, resolved = diff_findings(previous.findings, cur.findings, names)
    return Changes(
        previous_run=previous.run_id,
        previous_started_at=iso(previous.started_at),
        **_host_changes(previous, cur, now, grace, sightings),
        new_findings=tuple(new),
        resolved_findings=tuple(resolved),
        first_seen=first_seen,
    )


def _host_changes(
    previous: RunSnapshot,
    cur: RunSnapshot,
    now: datetime,
    grace: timedelta,
    sightings: Mapping[str, Sighting] | None,
) -> dict[str, Any]:
    """The hosts' part of `Changes`: new, gone, returned hosts, status and fact changes."""
    new_hosts: list[NewHost] = []
    status_changed: list[StatusChange] = []
    facts: list[FactChange] = []
    for host in _sorted(cur.hosts.values()):
        known = host.id in sightings if sightings is not None else host.id in previous.hosts
        if not known:
            new_hosts.append(NewHost(host.id, host.label, HostStatus(host.status)))
        before = previous.hosts.get(host.id)
        if before is not None and before.status != host.status:
            status_changed.append(
                StatusChange(
                    host.id, host.label, HostStatus(before.status), HostStatus(host.status)
                )
            )
        if before is not None and before.facts and host.facts:
            for fact, old, new in fact_changes(before.facts, host.facts):
                facts.append(FactChange(host.id, host.label, fact, old, new))

    gone: list[HostLastSeen] = []
    returned: list[HostLastSeen] = []
    if sightings is not None:
        for s in sorted(sightings.values(), key=lambda s: s.host_id):
            alive = cur.hosts.get(s.host_id)
            if alive is not None and alive.alive:
                if s.gone_at is not None:
                    returned.append(HostLastSeen(s.host_id, s.label, iso(s.last_seen)))
                continue
            if s.gone_at is None and s.last_seen is not None and now - s.last_seen >= grace:
                gone.append(HostLastSeen(s.host_id, s.label, iso(s.last_seen)))
    elif now - previous.started_at >= grace:
        for before in _sorted(previous.hosts.values()):
            after = cur.hosts.get(before.id)
            if before.alive and (after is None or not after.alive):
                gone.append(HostLastSeen(before.id, before.label, iso(previous.started_at)))
    return {
        "new_hosts": tuple(new_hosts),
        "gone_hosts": tuple(gone),
        "returned_hosts": tuple(returned),
        "status_changed": tuple(status_changed),
        "fact_changes": tuple(facts),
    }


def _sorted(hosts: Iterable[HostSnapshot]) -> Sequence[HostSnapshot]:
    return sorted(hosts, key=lambda h: h.id)


def gone_host_ids(changes: Changes | None) -> list[str]:
    return [g.host for g in changes.gone_hosts] if changes is not None else []
