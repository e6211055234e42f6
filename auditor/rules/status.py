"""Findings from a host's reconciled status, and from sources that failed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from auditor.config import OwnershipRule
from auditor.launchers import CLOUDFORMATION, LaunchedBy, launched_by
from auditor.model import Finding, Host, HostOwner, HostStatus, Severity
from auditor.reconcile import declared_owner
from auditor.rules.common import RuleContext, inbound_connections, when


def owner_evidence(owner: HostOwner) -> str:
    return f"owner {owner.team} ({owner.source}: {owner.detail})"


def status_findings(ctx: RuleContext) -> Iterable[Finding]:
    """unmanaged-host (critical when it serves traffic), cloud-unmanaged, stale-inventory,
    missing-from-cloud. The status reason (which source said what) is the first evidence."""
    for host, facts in ctx.judged():
        evidence = (host.status_reason,)
        if host.status == HostStatus.UNMANAGED:
            clients = facts.clients if facts and facts.clients else ()
            inbound = inbound_connections(host, facts, ctx.ssh.get(host.id))
            serving = bool(clients or inbound)
            teams = sorted({c.owner for c in clients if c.owner})
            extra = [] if host.owner is None else [owner_evidence(host.owner)]
            extra += [
                f"client {c.address} ({c.owner or 'unknown owner'}): {c.requests} requests"
                + (f", last {when(c.last_seen)}" if c.last_seen else "")
                for c in clients[:5]
            ]
            if len(clients) > 5:
                extra.append(f"... and {len(clients) - 5} more clients")
            extra += [
                f"established connection to port {c.port} from {c.peer}"
                + (f" ({when(facts.collected_at)})" if facts else "")
                for c in inbound[:5]
            ]
            if facts is not None and facts.client_teams:
                extra += [
                    f"team {t.team}: {t.requests} requests from {t.clients} clients"
                    + (f", last {when(t.last_seen)}" if t.last_seen else "")
                    for t in facts.client_teams
                ]
            elif teams:
                extra.append("client teams: " + ", ".join(teams))
            yield Finding(
                "unmanaged-host",
                Severity.CRITICAL if serving else Severity.HIGH,
                host.id,
                "Unmanaged host "
                + ("serves traffic to clients" if serving else "is alive and in no inventory"),
                (*evidence, *extra),
            )
        elif host.status == HostStatus.CLOUD_UNMANAGED:
            yield Finding(
                "cloud-unmanaged",
                Severity.HIGH,
                host.id,
                "Cloud instance was created outside IaC",
                evidence,
            )
        elif host.status == HostStatus.STALE:
            yield Finding(
                "stale-inventory",
                Severity.MEDIUM,
                host.id,
                "Inventory entry is not alive",
                evidence,
            )
        elif host.status == HostStatus.MISSING:
            yield Finding(
                "missing-from-cloud",
                Severity.MEDIUM,
                host.id,
                "In Terraform state but gone from the cloud",
                evidence,
            )


OwnedLaunchers = dict[tuple[str, str, str, str], tuple[LaunchedBy, list[Host]]]
"""(launcher tag, key, account, region) -> the launcher and the `owned` hosts it launched."""


def owned_launchers(hosts: Iterable[Host], ownership: Sequence[OwnershipRule]) -> OwnedLaunchers:
    """The launchers in no state read that `owned` hosts belong to (by their AWS tags),
    leaving out hosts an [[ownership]] rule gives to a system: the user said who owns them."""
    groups: OwnedLaunchers = {}
    for host in hosts:
        if host.status != HostStatus.OWNED or not host.cloud:
            continue
        tags = host.cloud.get("tags") or {}
        found = launched_by(tags)
        if not found or declared_owner(tags, ownership) is not None:
            continue
        account = str(host.cloud.get("account") or "?")
        region = str(host.cloud.get("region") or "?")
        key = (found[0].launcher.tag, found[0].key, account, region)
        groups.setdefault(key, (found[0], []))[1].append(host)
    return groups


def launcher_findings(ctx: RuleContext) -> Iterable[Finding]:
    """unmanaged-launcher: one finding per system (an ASG, a stack, a node group ...) that
    launched `owned` instances and that no Terraform state read defines, naming its
    instances, instead of one finding per instance. Medium, like any resource made outside
    Terraform; info for a CloudFormation stack, which is infrastructure as code of its own."""
    groups = owned_launchers((h for h, _ in ctx.judged()), ctx.config.ownership)
    for key in sorted(groups):
        launched, hosts = groups[key]
        _, _, account, region = key
        instances = [_instance_text(h) for h in hosts]
        more = len(instances) - _MAX_INSTANCES_SHOWN
        shown = ", ".join(instances[:_MAX_INSTANCES_SHOWN]) + (
            f" ... and {more} more" if more > 0 else ""
        )
        yield Finding(
            "unmanaged-launcher",
            Severity.INFO if launched.launcher is CLOUDFORMATION else Severity.MEDIUM,
            None,
            f"{launched.label} in {account}/{region} launches instances but is in no "
            "Terraform state read",
            (
                f"tag {launched.launcher.tag}={launched.tag_value} on {len(hosts)} "
                f"instance(s): {shown}",
                f"its instances are `owned`, not orphans: the {launched.launcher.kind} "
                "replaces them; define it in Terraform (or declare it with [[ownership]])",
            ),
        )


_MAX_INSTANCES_SHOWN = 20


def _instance_text(host: Host) -> str:
    instance = str((host.cloud or {}).get("instance_id") or host.id)
    return f"{instance} ({host.label})" if host.label != instance else instance


def source_findings(ctx: RuleContext) -> Iterable[Finding]:
    """source-failed: a source that could not be read (wholly or in part) weakens every
    verdict it feeds: hosts it would have listed look unmanaged, hosts it would have seen
    look unverified. Complete failure is high; partial problems are low."""
    for source in ctx.sources:
        if source.ok and not source.errors:
            continue
        problems: tuple[str, ...] = (source.error,) if source.error else ()
        problems += tuple(e for e in source.errors if e != source.error)
        failed = not source.ok and source.count == 0
        yield Finding(
            "source-failed",
            Severity.HIGH if failed else Severity.LOW,
            None,
            f"Source {source.kind.value} '{source.name}' "
            + ("could not be read" if failed else "was read only in part"),
            (*problems[:10], f"{source.count} sightings kept; run at {when(ctx.now)}"),
        )
