"""Findings from hosts, facts and history. Pure: every rule takes data and returns findings.

A rule is a callable `(RuleContext) -> Iterable[Finding]`; `ALL_RULES` lists them in the
order their findings are reported. Each finding carries the evidence a person needs to act.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from auditor.config import Config
from auditor.model import Facts, Finding, Host, HostStatus, Severity, SshOutcome


@dataclass(frozen=True)
class RuleContext:
    config: Config
    now: datetime
    hosts: tuple[Host, ...]
    ssh: Mapping[str, SshOutcome] = field(default_factory=dict)
    facts: Mapping[str, Facts] = field(default_factory=dict)


Rule = Callable[[RuleContext], Iterable[Finding]]


def _serves_clients(facts: Facts | None) -> bool:
    return bool(facts and facts.clients)


def status_findings(ctx: RuleContext) -> Iterable[Finding]:
    for host in ctx.hosts:
        facts = ctx.facts.get(host.id)
        evidence = (host.status_reason,)
        if host.status == HostStatus.UNMANAGED:
            serving = _serves_clients(facts)
            clients = facts.clients if facts and facts.clients else ()
            teams = sorted({c.owner for c in clients if c.owner})
            extra = tuple(
                f"client {c.address} ({c.owner or 'unknown owner'}): {c.requests} requests"
                for c in clients[:5]
            )
            yield Finding(
                "unmanaged-host",
                Severity.CRITICAL if serving else Severity.HIGH,
                host.id,
                f"Unmanaged host {host.label} "
                + (
                    f"serves traffic to {', '.join(teams) or 'clients'}"
                    if serving
                    else "is alive and in no inventory"
                ),
                evidence + extra,
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


def ssh_findings(ctx: RuleContext) -> Iterable[Finding]:
    for host in ctx.hosts:
        outcome = ctx.ssh.get(host.id)
        if outcome is None or outcome.state != "skipped":
            continue
        reason = outcome.reason or "unknown reason"
        if "host key" in reason.lower() and "changed" in reason.lower():
            yield Finding(
                "ssh-host-key-changed",
                Severity.CRITICAL,
                host.id,
                f"SSH host key of {host.label} changed",
                (reason,),
            )
        else:
            yield Finding(
                "ssh-unreachable",
                Severity.LOW,
                host.id,
                f"Could not probe {host.label} over SSH",
                (reason,),
            )


ALL_RULES: tuple[Rule, ...] = (status_findings, ssh_findings)


def evaluate(ctx: RuleContext, rules: Iterable[Rule] = ALL_RULES) -> tuple[Finding, ...]:
    findings = [f for rule in rules for f in rule(ctx)]
    return tuple(sorted(findings, key=lambda f: (-f.severity.rank, f.rule, f.host or "")))
