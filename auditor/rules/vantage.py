"""Findings from the engine's routing (auditor.engine): vantage-no-worker, one per vantage
whose workers did not answer, naming it; vantage-none, one for all the hosts no [[vantage]]
reaches. Their hosts are `not-attempted` with the reason, so no ssh-* finding repeats them."""

from __future__ import annotations

from collections.abc import Iterable

from auditor.model import Finding, Severity
from auditor.rules.common import RuleContext

NO_WORKER = "no-worker"  # auditor.engine.controller's SshOutcome kinds
NO_VANTAGE = "no-vantage"
SHOWN = 20  # hosts named in the evidence; the rest counted


def vantage_findings(ctx: RuleContext) -> Iterable[Finding]:
    silent: dict[str, list[str]] = {}
    unrouted: list[str] = []
    labels = {h.id: h.label for h in ctx.hosts}
    for host_id, outcome in ctx.ssh.items():
        if outcome.kind == NO_WORKER and outcome.vantage:
            silent.setdefault(outcome.vantage, []).append(host_id)
        elif outcome.kind == NO_VANTAGE:
            unrouted.append(host_id)
    for vantage, host_ids in sorted(silent.items()):
        first = ctx.ssh[host_ids[0]].reason or ""
        yield Finding(
            "vantage-no-worker",
            Severity.HIGH,
            None,
            f"Vantage {vantage}: no worker answered; its hosts were not probed",
            (first, f"{len(host_ids)} hosts not probed", *_named(host_ids, labels)),
        )
    if unrouted:
        yield Finding(
            "vantage-none",
            Severity.MEDIUM,
            None,
            "Hosts no [[vantage]] reaches were not probed",
            (f"{len(unrouted)} hosts", *_named(unrouted, labels)),
        )


def _named(host_ids: list[str], labels: dict[str, str]) -> tuple[str, ...]:
    shown = tuple(labels.get(h, h) for h in host_ids[:SHOWN])
    more = len(host_ids) - SHOWN
    return shown + ((f"... and {more} more",) if more > 0 else ())
