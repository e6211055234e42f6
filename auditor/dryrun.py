"""`--dry-run`: what a run would read, run and probe, worked out without sending a packet.

Network reads (nmap, AWS API calls, S3 or http state, DNS) are described, never made. Local
reads are made, because they cost nothing and show the real list: static Ansible inventory
files (through ansible-inventory, with no name looked up in DNS) and Terraform state files on
disk. A dynamic inventory (an executable script, or a plugin file such as aws_ec2.yml) may
call the network, so it is only named.

Which listed hosts would be probed is decided by the probe's own rule
(`auditor.collect.not_attempted_reason`); the hosts a sweep would find cannot be known
before the sweep, so each [[network]] range stands for "the hosts found alive there".
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auditor.collect import ProbeScope, not_attempted_reason
from auditor.config import AnsibleConfig, Config, NetworkConfig, TerraformConfig
from auditor.errors import TargetError
from auditor.model import ID_DNS, ID_IP, Host, HostStatus, SourceKind, SourceResult
from auditor.urls import is_http_state, shown


@dataclass(frozen=True)
class PlannedSource:
    """One configured source: what it would read, and what was read locally already."""

    kind: str  # network | aws | ansible | terraform
    name: str
    would: tuple[str, ...]  # network reads, described (not made)
    read_now: tuple[str, ...] = ()  # local reads made for the plan, with what they gave
    commands: tuple[tuple[str, ...], ...] = ()  # exact argv of each nmap run
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlannedHost:
    label: str
    address: str | None
    listed_by: tuple[str, ...]  # "ansible inv", "terraform prod"
    probe: bool
    why: str
    vantage: str | None = None  # with an [engine]: the vantage whose worker would probe it
    no_vantage: bool = False  # with an [engine]: would be probed, but no vantage reaches it


@dataclass(frozen=True)
class PlannedSweep:
    """With an [engine]: one [[network]] sweep a worker of `vantage` would run."""

    vantage: str
    network: str
    targets: tuple[str, ...]


@dataclass(frozen=True)
class VantageCount:
    """What one vantage would do; `vantage` None counts what no vantage reaches."""

    vantage: str | None
    sweeps: int
    targets: int
    hosts: int  # listed hosts its workers would probe (or: no vantage would)


@dataclass(frozen=True)
class PlannedEngine:
    """Where an engine run would send each sweep and probe (auditor.engine.routing)."""

    broker: str  # shown without credentials
    sweeps: tuple[PlannedSweep, ...]
    unrouted: tuple[tuple[str, str, str], ...]  # (network, target, reason): never swept
    counts: tuple[VantageCount, ...]


@dataclass(frozen=True)
class PlannedRecheck:
    """The direct re-check (auditor.recheck) of listed hosts a sweep misses. Which ones it
    misses is the sweep's answer, so the plan covers every listed host in a swept range:
    a run checks the ones the sweep did not see, with these arguments."""

    addresses: tuple[str, ...]
    commands: tuple[tuple[str, ...], ...]  # exact argv of each nmap run (one per family)
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class DryRun:
    command: str  # audit | discover | premigrate
    sources: tuple[PlannedSource, ...]
    probe: bool  # whether the command probes over SSH at all
    swept_ranges: tuple[str, ...]  # "[[network]] lab: 10.0.0.0/24 (excluding ...)"
    hosts: tuple[PlannedHost, ...]
    notes: tuple[str, ...]  # the rest of the run: drift, history, reports
    recheck: PlannedRecheck | None = None
    engine: PlannedEngine | None = None


# --------------------------------------------------------------------------- planning


def plan_dry_run(
    config: Config,
    *,
    command: str,
    probe: bool,
    notes: Sequence[str] = (),
    keep: Callable[[Host], bool] | None = None,
    reports: Path | None = None,
) -> DryRun:
    """The plan for `config`. Reads local files only; opens no socket. `keep`: the hosts
    the command looks at (premigrate: the old platform's)."""
    now = datetime.now(UTC)
    planned: list[PlannedSource] = []
    local: list[SourceResult] = []
    for network in config.network:
        source, result = _plan_network(network, now)
        planned.append(source)
        if result is not None:
            local.append(result)
    for aws in config.aws:
        planned.append(_plan_aws(aws))
    for ansible in config.ansible:
        source, result = _plan_ansible(ansible, now)
        planned.append(source)
        if result is not None:
            local.append(result)
    for terraform in config.terraform:
        if terraform.state:
            source, result = _plan_terraform(terraform, now)
            planned.append(source)
            if result is not None:
                local.append(result)
    listed = _listed_hosts(config, local, now, keep) if local else []
    hosts = _planned_hosts(config, listed)
    ranges = tuple(
        f"[[network]] {n.name}: {', '.join(n.targets)}"
        + (f" (excluding {', '.join(n.exclude)})" if n.exclude else "")
        for n in config.network
        if n.targets
    )
    rest = _run_notes(config, command, reports or config.audit.reports)
    recheck = _plan_recheck(config, listed)
    engine = _plan_engine(config, hosts) if config.engine is not None else None
    return DryRun(command, tuple(planned), probe, ranges, hosts, (*notes, *rest), recheck, engine)


def _at_vantage(config: Config, host: Host, planned: PlannedHost) -> PlannedHost:
    """With an [engine]: the vantage that would probe the host; one no vantage reaches
    would not be probed (the run says why, and so does the plan)."""
    from auditor.engine.routing import route_host

    if config.engine is None or not planned.probe:
        return planned
    route = route_host(config, host)
    if route.vantage is None:
        return replace(planned, probe=False, why=route.reason, no_vantage=True)
    return replace(planned, vantage=route.vantage)


def _plan_engine(config: Config, hosts: Sequence[PlannedHost]) -> PlannedEngine:
    from auditor.engine.routing import plan_sweeps

    assert config.engine is not None
    plan = plan_sweeps(config)
    sweeps = tuple(
        PlannedSweep(vantage, n.name, n.targets)
        for vantage, networks in plan.sweeps.items()
        for n in networks
    )
    probed = [h for h in hosts if h.probe and h.vantage is not None]
    unreached = [h for h in hosts if h.no_vantage]
    counts = [
        VantageCount(
            v.name,
            sweeps=sum(1 for s in sweeps if s.vantage == v.name),
            targets=sum(len(s.targets) for s in sweeps if s.vantage == v.name),
            hosts=sum(1 for h in probed if h.vantage == v.name),
        )
        for v in config.vantage
    ]
    if plan.unrouted or unreached:
        networks = {name for name, _, _ in plan.unrouted}
        counts.append(VantageCount(None, len(networks), len(plan.unrouted), len(unreached)))
    return PlannedEngine(shown(config.engine.broker_url()), sweeps, plan.unrouted, tuple(counts))


def _plan_network(
    network: NetworkConfig, now: datetime
) -> tuple[PlannedSource, SourceResult | None]:
    """The sweep, planned; scans imported from files (`nmap_xml`) are read now: their live
    hosts are what a run would probe from them."""
    from auditor.sources.network import NmapSource, nmap_command, plan_scan

    imported: SourceResult | None = None
    read_now: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    if network.nmap_xml:
        imported = NmapSource(replace(network, targets=(), exclude=())).collect(now)
        files = ", ".join(str(p) for p in network.nmap_xml)
        read_now = (f"nmap XML {files}: {imported.count} hosts up",)
        problems = imported.errors
    if not network.targets:
        return PlannedSource("network", network.name, (), read_now, problems=problems), imported
    try:
        plan = plan_scan(network)
    except TargetError as exc:
        failed = PlannedSource(
            "network", network.name, (), read_now, problems=(*problems, str(exc))
        )
        return failed, imported
    nmap_path = shutil.which("nmap") or "nmap"
    would: tuple[str, ...] = (
        f"sweep {', '.join(plan.targets)} on ports {plan.ports} with nmap: {plan.scan_type}",
    )
    if network.second_look:
        would += (
            "then sweep the addresses that stayed silent once more: the same command with "
            "the hosts found up in an --excludefile ([[network]] second_look)",
        )
    command = nmap_command(plan, nmap_path)
    planned = PlannedSource(
        "network", network.name, would, read_now, commands=(command,), problems=problems
    )
    return planned, imported


def _plan_aws(aws: Any) -> PlannedSource:
    where = f" at {shown(aws.endpoint_url)}" if aws.endpoint_url else ""
    profile = f"profile {aws.profile}" if aws.profile else "the default credentials"
    would = [f"use {profile}{where}"]
    if aws.assume_role:
        would += [f"call sts:AssumeRole for {arn}" for arn in aws.assume_role]
    else:
        would.append("call sts:GetCallerIdentity (the account)")
    if aws.regions:
        would.append(f"call ec2:DescribeInstances in regions {', '.join(aws.regions)}")
    else:
        would.append("call ec2:DescribeRegions, then ec2:DescribeInstances in every enabled region")
    accounts = len(aws.assume_role) or 1
    if accounts > 1:
        would.append(f"for each of {accounts} accounts")
    return PlannedSource("aws", aws.name, tuple(would))


_PLUGIN_LINE = re.compile(rb"^plugin\s*:", re.MULTILINE)


def dynamic_inventory(path: Path) -> str | None:
    """Why running this inventory could reach the network (None: a static file or folder).
    Ansible runs an executable file as a script, and a YAML file with a `plugin:` key
    through that plugin (aws_ec2, azure_rm ...): either may call out."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        if path.is_dir() and {"group_vars", "host_vars"} & set(file.relative_to(path).parts):
            continue  # variables only: ansible never runs these
        if os.access(file, os.X_OK):
            return f"{file} is executable (an inventory script)"
        if file.suffix in (".yml", ".yaml"):
            try:
                head = file.read_bytes()[:65536]
            except OSError:
                continue
            if _PLUGIN_LINE.search(head):
                return f"{file} names an inventory plugin"
    return None


def _no_lookup(_name: str) -> tuple[str, ...]:
    return ()  # --dry-run sends no DNS query: names stay names


def _plan_ansible(
    ansible: AnsibleConfig, now: datetime
) -> tuple[PlannedSource, SourceResult | None]:
    from auditor.sources.ansible import AnsibleInventorySource

    static: list[Path] = []
    would: list[str] = []
    for path in ansible.inventory:
        reason = dynamic_inventory(path) if path.exists() else None
        if reason:
            would.append(f"run the dynamic inventory {path} ({reason}; not run now)")
        else:
            static.append(path)
    if not static:
        return PlannedSource("ansible", ansible.name, tuple(would)), None
    source = AnsibleInventorySource(replace(ansible, inventory=tuple(static)), resolver=_no_lookup)
    result = source.collect(now)
    by_name = sorted(
        {n for o in result.observations if not o.values(ID_IP) for n in o.values(ID_DNS)}
    )
    if by_name:
        would.append(f"look up in DNS: {', '.join(by_name)}")
    listed = [o.attributes.get("inventory") for o in result.observations]
    read_now = tuple(f"inventory {p}: {listed.count(str(p))} hosts" for p in static)
    return (
        PlannedSource("ansible", ansible.name, tuple(would), read_now, problems=result.errors),
        result,
    )


def _plan_terraform(
    terraform: TerraformConfig, now: datetime
) -> tuple[PlannedSource, SourceResult | None]:
    from auditor.sources.terraform import TerraformStateSource

    remote = [s for s in terraform.state if s.startswith("s3://") or is_http_state(s)]
    local = [s for s in terraform.state if s not in remote]
    would = [
        f"read state {shown(s)}"
        + (" (s3:ListBucket, s3:GetObject)" if s.startswith("s3://") else "")
        for s in remote
    ]
    if not local:
        return PlannedSource("terraform", terraform.name, tuple(would)), None
    source = TerraformStateSource(replace(terraform, state=tuple(local)))
    result = source.collect(now)
    read_now = tuple(
        f"state {f['location']}: {f.get('resources', '?')} resources"
        for f in result.details.get("state_files", [])
    )
    return (
        PlannedSource("terraform", terraform.name, tuple(would), read_now, problems=result.errors),
        result,
    )


def _listed_hosts(
    config: Config,
    local: Sequence[SourceResult],
    now: datetime,
    keep: Callable[[Host], bool] | None,
) -> list[Host]:
    """The hosts the local sources list (reconciled), those the command looks at."""
    from auditor.reconcile import reconcile

    return [h for h in reconcile(local, config, now.date()) if keep is None or keep(h)]


def _planned_hosts(config: Config, hosts: Sequence[Host]) -> tuple[PlannedHost, ...]:
    """Each listed host with whether the probe would try it and why."""
    scope = ProbeScope(
        targets=tuple(t for n in config.network for t in n.targets),
        exclude=tuple(t for n in config.network for t in n.exclude),
    )
    out = [_at_vantage(config, host, _planned_host(host, config, scope)) for host in hosts]
    return tuple(sorted(out, key=lambda h: (not h.probe, h.label)))


def _plan_recheck(config: Config, hosts: Sequence[Host]) -> PlannedRecheck | None:
    """The re-check a run would make if the sweep missed every listed host it covers
    (`plan_recheck` on them as if stale: the same addresses, ports and nmap arguments)."""
    from auditor.recheck import plan_recheck, recheck_scans
    from auditor.sources.network import nmap_command

    unseen = [
        replace(h, status=HostStatus.STALE)
        for h in hosts
        if h.status is not HostStatus.IGNORED
        and not any(o.source is SourceKind.NETWORK and o.alive for o in h.observations)
    ]
    plan = plan_recheck(unseen, config)
    if plan is None:
        return None
    try:
        scans = recheck_scans(plan)
    except TargetError as exc:
        return PlannedRecheck(plan.addresses, (), (str(exc),))
    nmap_path = shutil.which("nmap") or "nmap"
    return PlannedRecheck(plan.addresses, tuple(nmap_command(s, nmap_path) for s in scans))


def _planned_host(host: Host, config: Config, scope: ProbeScope) -> PlannedHost:
    listed_by = tuple(sorted({f"{o.source.value} {o.source_name}" for o in host.observations}))
    address = host.primary_address
    reason = not_attempted_reason(host, config.ssh, scope)
    if reason is None and any(
        o.source is SourceKind.NETWORK and o.alive for o in host.observations
    ):
        return PlannedHost(host.label, address, listed_by, True, "up in an imported nmap scan")
    if address is not None and scope.targets and scope.covers(address):
        # Inside a swept range the sweep decides; the dry run cannot know its answer.
        return PlannedHost(
            host.label, address, listed_by, True,
            "in a [[network]] range: probed if found alive (by the sweep, or by the direct "
            "re-check of a listed host the sweep misses)",
        )  # fmt: skip
    if reason is None:
        listed = any(o.source is SourceKind.ANSIBLE for o in host.observations)
        why = (
            "listed in an inventory: the SSH connect is the liveness test"
            if listed
            else ("listed, no [[network]] target limits the probe")
        )
        return PlannedHost(host.label, address, listed_by, True, why)
    return PlannedHost(host.label, address, listed_by, False, reason)


def _run_notes(config: Config, command: str, reports: Path) -> tuple[str, ...]:
    from auditor.drift.run import drift_configured

    notes = []
    if command != "premigrate" and config.aws and drift_configured(config):
        notes.append("drift check: would read the live cloud through [[aws]] for Terraform/policy")
    notes.append(
        f"history: {config.audit.store}" if config.audit.store else "history: off ([audit] store)"
    )
    notes.append(f"reports: would be written to {reports}")
    return tuple(notes)


# --------------------------------------------------------------------------- output


def dry_run_json(plan: DryRun) -> dict[str, Any]:
    return {
        "dry_run": True,
        "command": plan.command,
        "sources": [
            {
                "kind": s.kind,
                "name": s.name,
                "would": list(s.would),
                "read_now": list(s.read_now),
                "nmap_commands": [list(c) for c in s.commands],
                "problems": list(s.problems),
            }
            for s in plan.sources
        ],
        "recheck": None
        if plan.recheck is None
        else {
            "addresses": list(plan.recheck.addresses),
            "nmap_commands": [list(c) for c in plan.recheck.commands],
            "problems": list(plan.recheck.problems),
        },
        "probe": plan.probe,
        "swept_ranges": list(plan.swept_ranges),
        "hosts": [
            {
                "host": h.label,
                "address": h.address,
                "listed_by": list(h.listed_by),
                "probe": h.probe,
                "why": h.why,
                "vantage": h.vantage,
            }
            for h in plan.hosts
        ],
        "engine": None if plan.engine is None else _engine_json(plan.engine),
        "notes": list(plan.notes),
    }


def _engine_json(engine: PlannedEngine) -> dict[str, Any]:
    return {
        "broker": engine.broker,
        "sweeps": [
            {"vantage": s.vantage, "network": s.network, "targets": list(s.targets)}
            for s in engine.sweeps
        ],
        "unrouted_targets": [
            {"network": name, "target": target, "why": why} for name, target, why in engine.unrouted
        ],
        "vantages": [
            {"vantage": c.vantage, "sweeps": c.sweeps, "targets": c.targets, "hosts": c.hosts}
            for c in engine.counts
        ],
    }


def _engine_lines(engine: PlannedEngine) -> list[str]:
    lines = [f"Vantage points (engine, broker {engine.broker}):"]
    for c in engine.counts:
        who = f"vantage {c.vantage}" if c.vantage else "no vantage reaches"
        lines.append(
            f"  {who}: {c.sweeps} sweeps ({c.targets} targets), {c.hosts} listed hosts"
            + (" to probe" if c.vantage else " (not swept, not probed)")
        )
    lines += [f"  sweep [[network]] {s.network} at vantage {s.vantage}: "
              f"{', '.join(s.targets)}" for s in engine.sweeps]  # fmt: skip
    lines += [f"  not swept ([[network]] {name}): {why}" for name, _, why in engine.unrouted]
    return [*lines, ""]


def dry_run_lines(plan: DryRun) -> list[str]:
    """The plan as text, one fact a line; every nmap command ready to copy."""
    import shlex

    lines = [f"auditor {plan.command} --dry-run: nothing was sent; a run would do this.", ""]
    lines.append("Sources:")
    if not plan.sources:
        lines.append("  (none configured)")
    for s in plan.sources:
        lines.append(f"  [[{s.kind}]] {s.name}")
        lines += [f"    would {w}" for w in s.would]
        lines += [f"    $ {shlex.join(c)}" for c in s.commands]
        lines += [f"    read now: {r}" for r in s.read_now]
        lines += [f"    problem: {p}" for p in s.problems]
    if plan.recheck is not None:
        shown = ", ".join(plan.recheck.addresses[:10])
        more = len(plan.recheck.addresses) - 10
        lines.append("  direct re-check: a listed host the sweep misses, before it is called stale")
        lines.append(f"    (at most these: {shown}{f' and {more} more' if more > 0 else ''})")
        lines += [f"    $ {shlex.join(c)}" for c in plan.recheck.commands]
        lines += [f"    problem: {p}" for p in plan.recheck.problems]
    lines.append("")
    if plan.engine is not None:
        lines += _engine_lines(plan.engine)
    if not plan.probe:
        lines.append("SSH probe: none (this command does not probe).")
    else:
        lines.append("Would probe over SSH:")
        lines += [f"  the hosts found alive in {r}" for r in plan.swept_ranges]
    probed = [h for h in plan.hosts if h.probe]
    skipped = [h for h in plan.hosts if not h.probe]
    if plan.probe:
        lines += [_host_line(h) for h in probed]
        if not probed and not plan.swept_ranges:
            lines.append("  (no host)")
    if skipped and plan.probe:
        lines += ["", "Would not probe:"] + [_host_line(h) for h in skipped]
    if not plan.probe and plan.hosts:
        lines += ["", "Listed hosts:"] + [_host_line(h) for h in plan.hosts]
    lines += ["", *plan.notes]
    return lines


def print_dry_run(plan: DryRun, output_format: str) -> int:
    """Print the plan on stdout (text, or JSON for jq); the exit code, always 0."""
    import json

    import click

    from auditor.visible import visible

    if output_format == "json":
        click.echo(json.dumps(dry_run_json(plan), indent=2, ensure_ascii=False))
    else:
        for line in dry_run_lines(plan):
            click.echo(visible(line))
    return 0


def _host_line(host: PlannedHost) -> str:
    where = f" {host.address}" if host.address and host.address != host.label else ""
    at = f" at vantage {host.vantage}" if host.vantage else ""
    return f"  {host.label}{where} [{', '.join(host.listed_by)}]{at}: {host.why}"
