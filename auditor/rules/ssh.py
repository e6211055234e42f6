"""Findings from how the SSH probe went.

`SshOutcome.kind` (auditor.remote.errors.FailureKind) decides; the reason's wording is only
matched for outcomes without a kind (older stored runs, other connectors).
"""

from __future__ import annotations

from collections.abc import Iterable

from auditor.model import Finding, Severity, SshOutcome
from auditor.rules.common import RuleContext, when


def ssh_failure(outcome: SshOutcome) -> str:
    """changed-host-key | unknown-host-key | auth | unreachable, from a skipped outcome."""
    kind = outcome.kind
    if kind is not None:
        if kind in ("changed-host-key", "unknown-host-key"):
            return kind
        return "auth" if kind in ("auth", "key-file") else "unreachable"
    reason = (outcome.reason or "").lower()
    if kind == "changed-host-key" or (
        "host key" in reason and ("changed" in reason or "revoked" in reason)
    ):
        return "changed-host-key"
    if kind == "unknown-host-key" or "unknown host key" in reason:
        return "unknown-host-key"
    if kind in ("auth", "key-file") or "authentication" in reason:
        return "auth"
    return "unreachable"


def ssh_findings(ctx: RuleContext) -> Iterable[Finding]:
    """ssh-host-key-changed (critical: a man in the middle, or a reinstalled host nobody
    announced), ssh-auth-refused (medium: we cannot see inside), ssh-host-key-unknown
    (low: strict policy, key not recorded yet), ssh-unreachable (low), ssh-probe-partial
    (low: the probe was cut short; the facts that arrived are in the report, the rest is
    unknown, so findings that need them are missing for this host)."""
    for host, _ in ctx.judged():
        outcome = ctx.ssh.get(host.id)
        if outcome is None or outcome.state not in ("skipped", "partial"):
            continue
        if outcome.kind == "interrupted" or outcome.reason == "interrupted":
            continue  # we stopped (Ctrl-C): nothing is known against the host
        reason = outcome.reason or "unknown reason"
        where = f"{outcome.address or host.primary_address or '?'}:{outcome.port or 22}"
        evidence = (reason, f"SSH to {where}, {when(ctx.now)}")
        if outcome.state == "partial":
            yield Finding(
                "ssh-probe-partial",
                Severity.LOW,
                host.id,
                "The probe was cut short",
                evidence,
            )
            continue
        failure = ssh_failure(outcome)
        if failure == "changed-host-key":
            yield Finding(
                "ssh-host-key-changed",
                Severity.CRITICAL,
                host.id,
                "SSH host key changed",
                evidence,
            )
        elif failure == "unknown-host-key":
            yield Finding(
                "ssh-host-key-unknown",
                Severity.LOW,
                host.id,
                "SSH host key is not in known_hosts",
                evidence,
            )
        elif failure == "auth":
            yield Finding(
                "ssh-auth-refused",
                Severity.MEDIUM,
                host.id,
                "SSH authentication was refused",
                evidence,
            )
        else:
            yield Finding(
                "ssh-unreachable",
                Severity.LOW,
                host.id,
                "Could not probe over SSH",
                evidence,
            )
