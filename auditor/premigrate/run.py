"""`premigrate`: the I/O of `auditor premigrate`. Sweep the old space (the pipeline's own
sources, with one [[network]] for `--old` and the old inventories added), probe the live
hosts (`auditor.probing.probe_hosts`, the audit's probe), read the plan, test whether the
plan's new addresses answer, then judge (pure `auditor.premigrate.classify`) and build the
usual report data with a `migration` object per host.

Network reach: the sweep of `--old` and the configured sources (as `auditor audit` runs
them), SSH to the live old hosts, one TCP connect per new address outside the old space,
DNS only with --resolve-plan.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auditor.config import DEFAULT_PORTS, AnsibleConfig, Config, NetworkConfig
from auditor.dryrun import DryRun, plan_dry_run
from auditor.errors import ConfigError
from auditor.inspect.run import local_address_towards
from auditor.model import AuditRun
from auditor.parallel import parallel_map
from auditor.pipeline import Discovery, Prober, SourceObserver, build_run, discover
from auditor.premigrate.classify import (
    EntryStatus,
    Migration,
    Mode,
    OldSpace,
    classify_hosts,
    entry_status,
    migration_findings,
    targets_to_check,
    unmatched_entries,
)
from auditor.premigrate.plan import Plan, PlanEntry, load_plan
from auditor.report.json_report import jsonable, run_to_dict
from auditor.targets import is_address, validate_target

OLD_NETWORK = "old-platform"
OLD_INVENTORY = "old-inventory"


@dataclass(frozen=True)
class PremigrateRequest:
    plan: Path
    old: tuple[str, ...] = ()  # the old address space: CIDRs, addresses, nmap ranges
    old_inventories: tuple[Path, ...] = ()
    plan_kind: str = "auto"  # auto | list | ansible
    mode: Mode = Mode.BEFORE
    window_days: int | None = None  # default: [ssh] log_days
    resolve_plan: bool = False  # look plan names up in DNS
    answer_timeout: float = 3.0  # seconds for each TCP connect to a new address


@dataclass(frozen=True)
class PremigrateResult:
    run: AuditRun
    data: dict[str, Any]  # report.json data, each host with its `migration`
    migrations: tuple[Migration, ...]
    plan: Plan
    statuses: Mapping[str, EntryStatus]
    unmatched: tuple[PlanEntry, ...]


def premigrate_config(config: Config, request: PremigrateRequest) -> Config:
    """The config the sweep runs with: the config's sources, plus one network for the old
    space and one Ansible source per old inventory; no history store (a premigrate run is
    not an audit run)."""
    if not request.old and not request.old_inventories:
        raise ConfigError("say where the old platform is: --old CIDR and/or --old-inventory FILE")
    for target in request.old:
        validate_target(target)
    for path in request.old_inventories:
        if not path.exists():
            raise ConfigError(f"--old-inventory {path}: no such file or folder")
    networks = list(config.network)
    if request.old:
        ports = tuple(dict.fromkeys(p for n in config.network for p in n.ports)) or DEFAULT_PORTS
        ports = tuple(dict.fromkeys((*ports, *config.ssh.ports)))
        exclude = tuple(dict.fromkeys(e for n in config.network for e in n.exclude))
        old_network = NetworkConfig(
            name=OLD_NETWORK, targets=request.old, exclude=exclude, ports=ports
        )
        # The old space replaces any configured sweep of the same targets; others stay.
        networks = [n for n in networks if set(n.targets) != set(request.old)] + [old_network]
    inventories = tuple(
        AnsibleConfig(name=f"{OLD_INVENTORY}-{i}", inventory=(path.resolve(),))
        for i, path in enumerate(request.old_inventories, 1)
    )
    return replace(
        config,
        network=tuple(networks),
        ansible=(*config.ansible, *inventories),
        audit=replace(config.audit, store=None, notify=None),
    )


def old_space(config: Config, request: PremigrateRequest) -> OldSpace:
    exclude = tuple(dict.fromkeys(e for n in config.network for e in n.exclude))
    names = tuple(f"{OLD_INVENTORY}-{i}" for i in range(1, len(request.old_inventories) + 1))
    return OldSpace(request.old, exclude, names)


def premigrate_dry_run(config: Config, request: PremigrateRequest, reports: Path) -> DryRun:
    """`premigrate --dry-run`: the sweep's plan (old hosts only), the plan file read (local),
    and the connects and lookups a run would make, named instead of made."""
    plan = load_plan(request.plan, request.plan_kind)
    sweep = premigrate_config(config, request)
    old = old_space(config, request)
    wanted = targets_to_check(plan, old, {})
    notes = [f"plan {plan.path} ({plan.kind}): {len(plan.entries)} entries read now"]
    notes += [f"plan problem: {p}" for p in plan.problems]
    if wanted:
        ports = ", ".join(str(p) for p in sweep.ssh.ports)
        notes.append(
            f"would open (and close) a TCP connection to each new address outside the old "
            f"space, on its own ports then {ports}: {', '.join(sorted(wanted))}"
        )
    if request.resolve_plan:
        notes.append("would look the plan's names without an address up in DNS (--resolve-plan)")
    return plan_dry_run(
        sweep,
        command="premigrate",
        probe=sweep.ssh.enabled,
        notes=notes,
        keep=old.holds,
        reports=reports,
    )


def premigrate(
    config: Config,
    request: PremigrateRequest,
    *,
    prober: Prober | None = None,
    observer: SourceObserver | None = None,
) -> PremigrateResult:
    plan = load_plan(request.plan, request.plan_kind)
    sweep = premigrate_config(config, request)
    old = old_space(config, request)
    found = discover(sweep, observer=observer)
    hosts = tuple(h for h in found.hosts if old.holds(h))
    discovery = Discovery(found.started_at, found.sources, hosts)
    probe = prober(sweep, hosts) if prober is not None and sweep.ssh.enabled else None

    resolved = resolve_plan_names(plan, sweep) if request.resolve_plan else {}
    wanted = targets_to_check(plan, old, resolved)
    answers = answering_ports(wanted, sweep.ssh.ports, request.answer_timeout)
    statuses = {e.name: entry_status(e, old, answers, resolved) for e in plan.entries}

    window = request.window_days or sweep.ssh.log_days
    now = datetime.now(UTC)
    own = {a for h in hosts for a in (local_address_towards(h.primary_address or ""),) if a}
    run = build_run(sweep, discovery, probe)
    migrations = classify_hosts(
        run.hosts,
        plan=plan,
        statuses=statuses,
        facts=run.facts,
        ssh=run.ssh,
        mode=request.mode,
        now=now,
        window_days=window,
        owner_of=lambda address: sweep.owner_of(address),
        own_addresses=sorted(own),
        ssh_ports=sweep.ssh.ports,
    )
    unmatched = unmatched_entries(plan, migrations)
    mine = migration_findings(migrations, request.mode, statuses, unmatched)
    findings = sorted((*mine, *run.findings), key=lambda f: -f.severity.rank)  # stable
    summary = premigrate_summary(request, plan, migrations, statuses, unmatched, window)
    run = replace(run, findings=tuple(findings), extra={**run.extra, "premigrate": summary})
    data = with_migration(run_to_dict(run), migrations)
    return PremigrateResult(run, data, migrations, plan, statuses, unmatched)


def migration_to_dict(migration: Migration) -> dict[str, Any]:
    activity: dict[str, Any] = jsonable(migration.activity)
    return {
        "in_plan": migration.in_plan,
        "plan_entry": migration.plan_entry,
        "migrated": migration.migrated,
        "migrated_reason": migration.migrated_reason,
        "new_address": migration.new_address,
        "alive": migration.alive,
        "group": migration.group,
        "rank": migration.rank,
        "activity": activity,
    }


def with_migration(data: dict[str, Any], migrations: Sequence[Migration]) -> dict[str, Any]:
    """report.json data with `migration` on every host (hosts in rank order)."""
    by_host = {m.host: m for m in migrations}
    hosts = [h for h in data["hosts"] if h["id"] in by_host]
    for host in hosts:
        host["migration"] = migration_to_dict(by_host[host["id"]])
    hosts.sort(key=lambda h: h["migration"]["rank"])
    return {**data, "hosts": hosts}


def premigrate_summary(
    request: PremigrateRequest,
    plan: Plan,
    migrations: Sequence[Migration],
    statuses: Mapping[str, EntryStatus],
    unmatched: Sequence[PlanEntry],
    window: int,
) -> dict[str, Any]:
    groups: dict[str, int] = {}
    for m in migrations:
        groups[m.group] = groups.get(m.group, 0) + 1
    return {
        "mode": request.mode.value,
        "old": list(request.old),
        "old_inventories": [str(p) for p in request.old_inventories],
        "plan": plan.path,
        "plan_kind": plan.kind,
        "plan_entries": len(plan.entries),
        "plan_problems": list(plan.problems),
        "window_days": window,
        "groups": groups,
        "order": [m.host for m in migrations],
        "unmatched_plan": [
            {
                "name": e.name,
                "target": e.target,
                "migrated": statuses[e.name].migrated,
                "reason": statuses[e.name].reason,
            }
            for e in unmatched
        ],
    }


def answering_ports(
    wanted: Mapping[str, tuple[int, ...]], default_ports: Sequence[int], timeout: float
) -> dict[str, int | None]:
    """For each new address, the first of its ports (then the SSH ports) that accepts a
    TCP connection, or None. Connections are opened and closed; nothing is sent."""
    if not wanted:
        return {}

    def first(address: str) -> int | None:
        for port in dict.fromkeys((*wanted[address], *default_ports)):
            try:
                with socket.create_connection((address, port), timeout=timeout):
                    return port
            except OSError:
                continue
        return None

    results: dict[str, int | None] = {}
    for address, answer in parallel_map(first, wanted, timeout=None, name="answer").items():
        if isinstance(answer, Exception):  # `first` turns every socket error into None
            raise answer
        results[address] = answer
    return results


def resolve_plan_names(plan: Plan, config: Config) -> dict[str, tuple[str, ...]]:
    """DNS for the plan's names and targets that are not addresses (--resolve-plan)."""
    from auditor.sources.ansible import resolve_names

    names = set()
    for entry in plan.entries:
        for text in (entry.target, entry.name):
            if text and not is_address(text):
                names.add(text)
                break
    timeout = config.ansible[0].resolve_timeout if config.ansible else 2.0
    resolved, _problems = resolve_names(names, timeout)
    return {name: resolved.get(name, ()) for name in names}
