"""Findings from a host's reconciled status, and from sources that failed."""

from __future__ import annotations

from collections.abc import Iterable

from auditor.model import Finding, HostStatus, Severity
from auditor.rules.common import RuleContext, inbound_connections, when


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
            extra = [
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
            if teams:
                extra.append("client teams: " + ", ".join(teams))
            yield Finding(
                "unmanaged-host",
                Severity.CRITICAL if serving else Severity.HIGH,
                host.id,
                f"Unmanaged host {host.label} "
                + ("serves traffic to clients" if serving else "is alive and in no inventory"),
                (*evidence, *extra),
            )
        elif host.status == HostStatus.CLOUD_UNMANAGED:
            yield Finding(
                "cloud-unmanaged",
                Severity.HIGH,
                host.id,
                f"Cloud instance {host.label} was created outside IaC",
                evidence,
            )
        elif host.status == HostStatus.STALE:
            yield Finding(
                "stale-inventory",
                Severity.MEDIUM,
                host.id,
                f"Inventory entry {host.label} is not alive",
                evidence,
            )
        elif host.status == HostStatus.MISSING:
            yield Finding(
                "missing-from-cloud",
                Severity.MEDIUM,
                host.id,
                f"{host.label} is in Terraform state but gone from the cloud",
                evidence,
            )


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
