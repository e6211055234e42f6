"""Every host on the old platform against the migration plan: in the plan or not, migrated
or not, and its activity; ranked so that what still has users and is not in the plan comes
first; findings for the report. Pure.

Definitions (also in docs/workflows.md):

* on the old platform: one of its addresses is in the old address space (`--old`), or an
  old inventory (`--old-inventory`) lists it;
* in the plan: a plan entry names it (its name, short name, or one of its addresses), or a
  plan entry's target is one of its addresses;
* migrated: its plan entry is marked migrated, or the entry's target (new address, or a
  name resolved with --resolve-plan) lies outside the old space and answers on TCP (its
  SSH port, or the inventory's ansible_port). A target inside the old space means the plan
  still points at the old host: not migrated.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from auditor.inspect.model import UseState
from auditor.inspect.usage import Activity, assess_activity, judge
from auditor.model import ID_DNS, ID_NAME, Facts, Finding, Host, Severity, SshOutcome, split_ident
from auditor.premigrate.plan import Plan, PlanEntry
from auditor.targets import is_address, target_contains


class Mode(enum.StrEnum):
    BEFORE = "before"  # before the cut-over: what is not planned yet
    AFTER = "after"  # after the cut-over: what still lives on the old platform


@dataclass(frozen=True)
class OldSpace:
    targets: tuple[str, ...]  # CIDRs, addresses, nmap ranges (as --old takes them)
    exclude: tuple[str, ...] = ()
    inventory_sources: tuple[str, ...] = ()  # ansible source names of the old inventories

    def contains(self, address: str) -> bool:
        return any(target_contains(t, address) for t in self.targets) and not any(
            target_contains(t, address) for t in self.exclude
        )

    def holds(self, host: Host) -> bool:
        """Whether the host is on the old platform (see module docstring)."""
        if any(self.contains(a) for a in host.addresses):
            return True
        return any(o.source_name in self.inventory_sources for o in host.observations)


@dataclass(frozen=True)
class EntryStatus:
    """Whether a plan entry has moved, and why we think so."""

    migrated: bool
    reason: str
    new_address: str | None = None


def entry_status(
    entry: PlanEntry,
    old: OldSpace,
    answers: Mapping[str, int | None],
    resolved: Mapping[str, tuple[str, ...]],
) -> EntryStatus:
    """`answers`: new address -> the port that answered (None: nothing did);
    `resolved`: target name -> addresses (only with --resolve-plan)."""
    if entry.marked_migrated:
        return EntryStatus(True, f"marked migrated in the plan ({entry.origin})", entry.target)
    target = entry.target or (None if is_address(entry.name) else entry.name)
    if target is None:
        return EntryStatus(False, "the plan gives no new address")
    addresses = (target,) if is_address(target) else resolved.get(target, ())
    if not addresses:
        hint = "" if target in resolved else " (look names up with --resolve-plan)"
        where = "no new address in the plan" if target == entry.name else f"{target} not resolved"
        return EntryStatus(False, where + hint)
    outside = [a for a in addresses if not old.contains(a)]
    if not outside:
        return EntryStatus(
            False, f"the plan still points into the old space ({', '.join(addresses)})"
        )
    for address in outside:
        port = answers.get(address)
        if port is not None:
            return EntryStatus(True, f"answers at {address}:{port}, outside the old space", address)
    return EntryStatus(False, f"new address {', '.join(outside)} does not answer yet", outside[0])


def targets_to_check(
    plan: Plan, old: OldSpace, resolved: Mapping[str, tuple[str, ...]]
) -> dict[str, tuple[int, ...]]:
    """New addresses outside the old space to test for an answer, with the ports to try
    (the entry's port first). Marked entries need no check."""
    wanted: dict[str, tuple[int, ...]] = {}
    for entry in plan.entries:
        if entry.marked_migrated:
            continue
        target = entry.target or (None if is_address(entry.name) else entry.name)
        if target is None:
            continue
        addresses = (target,) if is_address(target) else resolved.get(target, ())
        for address in addresses:
            if not old.contains(address):
                ports = (entry.port,) if entry.port else ()
                wanted[address] = tuple(dict.fromkeys((*wanted.get(address, ()), *ports)))
    return wanted


def host_names(host: Host) -> set[str]:
    names = {n.lower().rstrip(".") for n in host.hostnames}
    for identifier in host.identifiers:
        kind, value = split_ident(identifier)
        if kind in (ID_NAME, ID_DNS):
            names.add(value.lower().rstrip("."))
    return names | {n.split(".", 1)[0] for n in names if not is_address(n)}


def match_entry(host: Host, entries: Sequence[PlanEntry]) -> PlanEntry | None:
    names = host_names(host)
    for entry in entries:
        if is_address(entry.name):
            if entry.name in host.addresses:
                return entry
        elif entry.name in names or entry.name.split(".", 1)[0] in names:
            return entry
    for entry in entries:
        if entry.target and is_address(entry.target) and entry.target in host.addresses:
            return entry
    return None


@dataclass(frozen=True)
class ActivitySummary:
    state: UseState
    clients: int
    requests: int | None
    teams: tuple[str, ...]
    last_client: datetime | None
    logins: int
    last_login: datetime | None
    last_log_write: datetime | None
    inbound: int
    scheduled_jobs: int
    evidence: tuple[str, ...]
    # "team-data 60%": each team's share of the access logs' requests, busiest first
    team_shares: tuple[str, ...] = ()


def summarize(activity: Activity | None, reason: str | None) -> ActivitySummary:
    verdict = judge(activity, reason)
    if activity is None:
        return ActivitySummary(verdict.state, 0, None, (), None, 0, None, None, 0, 0,
                               verdict.evidence)  # fmt: skip
    return ActivitySummary(
        state=verdict.state,
        clients=activity.client_count,
        requests=activity.web_requests,
        teams=activity.teams,
        last_client=activity.last_client,
        logins=len(activity.logins),
        last_login=activity.last_login,
        last_log_write=activity.last_log_write,
        inbound=len(activity.inbound),
        scheduled_jobs=len(activity.scheduled_jobs),
        evidence=verdict.evidence,
        team_shares=tuple(f"{t.team} {activity.share(t.requests)}%" for t in activity.team_use),
    )


@dataclass(frozen=True)
class Migration:
    host: str  # Host.id
    label: str
    alive: bool
    in_plan: bool
    plan_entry: str | None
    migrated: bool
    migrated_reason: str
    new_address: str | None
    activity: ActivitySummary
    group: str  # see GROUPS
    rank: int = 0  # 1 = look at this first


# Groups, most urgent first, per mode.
GROUPS = {
    Mode.BEFORE: (
        "unplanned-in-use", "unplanned-unknown", "unplanned-idle", "planned-in-use",
        "planned-unknown", "planned-idle", "migrated-in-use", "migrated-unknown",
        "migrated-idle", "not-alive",
    ),
    Mode.AFTER: (
        "unplanned-in-use", "migrated-in-use", "planned-in-use", "unplanned-unknown",
        "migrated-unknown", "planned-unknown", "unplanned-idle", "migrated-idle",
        "planned-idle", "not-alive",
    ),
}  # fmt: skip


def group_of(alive: bool, in_plan: bool, migrated: bool, state: UseState) -> str:
    if not alive:
        return "not-alive"
    plan = "migrated" if migrated else ("planned" if in_plan else "unplanned")
    use = {UseState.IN_USE: "in-use", UseState.IDLE: "idle", UseState.UNKNOWN: "unknown"}[state]
    return f"{plan}-{use}"


def classify_hosts(
    hosts: Iterable[Host],
    *,
    plan: Plan,
    statuses: Mapping[str, EntryStatus],
    facts: Mapping[str, Facts],
    ssh: Mapping[str, SshOutcome],
    mode: Mode,
    now: datetime,
    window_days: int,
    owner_of: Callable[[str], str | None],
    own_addresses: Iterable[str] = (),
    ssh_ports: Iterable[int] = (22,),
) -> tuple[Migration, ...]:
    """One Migration per host, ranked (`statuses`: plan entry name -> EntryStatus)."""
    own = tuple(own_addresses)
    ports = tuple(ssh_ports)
    found = []
    for host in hosts:
        entry = match_entry(host, plan.entries)
        status = statuses.get(entry.name) if entry else None
        outcome = ssh.get(host.id)
        host_facts = facts.get(host.id)
        activity = None
        if host_facts is not None:
            activity = assess_activity(
                host_facts,
                now=now,
                window_days=window_days,
                owner_of=owner_of,
                own_addresses=own,
                ssh_ports=(*ports, *((outcome.port,) if outcome and outcome.port else ())),
            )
        reason = outcome.reason if outcome else "not probed"
        summary = summarize(activity, reason)
        alive = host.alive or (outcome is not None and outcome.state in ("ok", "partial"))
        migrated = bool(status and status.migrated)
        found.append(
            Migration(
                host=host.id,
                label=host_facts.hostname if host_facts and host_facts.hostname else host.label,
                alive=alive,
                in_plan=entry is not None,
                plan_entry=entry.name if entry else None,
                migrated=migrated,
                migrated_reason=status.reason if status else "not in the plan",
                new_address=status.new_address if status else None,
                activity=summary,
                group=group_of(alive, entry is not None, migrated, summary.state),
            )
        )
    order = GROUPS[mode]
    ranked = sorted(
        found,
        key=lambda m: (
            order.index(m.group),
            -(m.activity.requests or 0),
            -m.activity.clients,
            -m.activity.logins,
            m.label,
        ),
    )
    return tuple(_with_rank(m, i) for i, m in enumerate(ranked, 1))


def _with_rank(migration: Migration, rank: int) -> Migration:
    from dataclasses import replace

    return replace(migration, rank=rank)


def unmatched_entries(plan: Plan, migrations: Sequence[Migration]) -> tuple[PlanEntry, ...]:
    """Plan entries that match no host on the old platform."""
    used = {m.plan_entry for m in migrations if m.plan_entry}
    return tuple(e for e in plan.entries if e.name not in used)


def teams_text(teams: Sequence[str], shares: Sequence[str]) -> str:
    """Teams, each with its share of the requests where it has one: "team-data 60%, ops"."""
    by_team = {share.rsplit(" ", 1)[0]: share for share in shares}
    return ", ".join(by_team.get(team, team) for team in teams)


def _activity_text(summary: ActivitySummary) -> str:
    parts = []
    if summary.clients:
        requests = f", {summary.requests} requests" if summary.requests else ""
        parts.append(f"{summary.clients} clients{requests}")
    if summary.teams:
        parts.append("teams " + teams_text(summary.teams, summary.team_shares))
    if summary.logins:
        parts.append(f"{summary.logins} logins")
    return "; ".join(parts) or summary.state.value


def migration_findings(
    migrations: Sequence[Migration],
    mode: Mode,
    statuses: Mapping[str, EntryStatus],
    unmatched: Sequence[PlanEntry] = (),
) -> tuple[Finding, ...]:
    """Findings for the report. Titles are stable from run to run (no counts)."""
    findings: list[Finding] = []
    for m in migrations:
        if not m.alive:
            continue
        evidence = (
            f"activity: {_activity_text(m.activity)}",
            *m.activity.evidence,
            f"plan: {m.plan_entry or 'not in the plan'}; {m.migrated_reason}",
        )
        in_use = m.activity.state is UseState.IN_USE
        if mode is Mode.BEFORE:
            if not m.in_plan:
                findings.append(
                    Finding(
                        "premigrate-unplanned",
                        Severity.HIGH if in_use else Severity.MEDIUM,
                        m.host,
                        f"{m.label} is on the old platform"
                        + (", in use," if in_use else "")
                        + " and not in the migration plan",
                        evidence,
                    )
                )
            elif not m.migrated:
                findings.append(
                    Finding(
                        "premigrate-pending",
                        Severity.LOW,
                        m.host,
                        f"{m.label} is in the migration plan, not migrated yet",
                        evidence,
                    )
                )
        elif in_use:
            findings.append(
                Finding(
                    "postmigrate-still-active",
                    Severity.CRITICAL if not m.in_plan else Severity.HIGH,
                    m.host,
                    f"{m.label} is still in use on the old platform after the cut-over",
                    evidence,
                )
            )
        else:
            findings.append(
                Finding(
                    "postmigrate-still-alive",
                    Severity.LOW,
                    m.host,
                    f"{m.label} is still alive on the old platform after the cut-over",
                    evidence,
                )
            )
    for entry in unmatched:
        status = statuses.get(entry.name)
        if status is not None and status.migrated:
            continue
        findings.append(
            Finding(
                "premigrate-plan-entry-missing",
                Severity.LOW,
                None,
                f"plan entry {entry.name} is neither on the old platform nor migrated",
                (f"{entry.origin}: {status.reason if status else 'no status'}",),
            )
        )
    return tuple(findings)
