"""Findings from how the SSH probe went.

`SshOutcome.kind` (auditor.remote.errors.FailureKind) decides; the reason's wording is only
matched for outcomes without a kind (older stored runs, other connectors).
"""

from __future__ import annotations

from collections.abc import Iterable

from auditor.model import Finding, Severity, SshOutcome
from auditor.rules.common import RuleContext, when


def ssh_failure(outcome: SshOutcome) -> str:
    """changed-host-key | unknown-host-key | host-certificate | auth | unreachable, from a
    skipped outcome."""
    kind = outcome.kind
    if kind is not None:
        if kind in ("changed-host-key", "unknown-host-key", "host-certificate"):
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
    announced), ssh-jump-host (one per failed bastion, run-level: critical when its key
    changed), ssh-host-certificate (medium: only a @cert-authority vouches for the host, and
    CA checking is not supported), ssh-auth-refused (medium: we cannot see inside),
    ssh-host-key-unknown (low: strict policy, key not recorded yet), ssh-unreachable (low),
    ssh-probe-partial (low: the probe was cut short; the facts that arrived are in the
    report, the rest is unknown, so findings that need them are missing for this host)."""
    behind_jump: dict[str, list[tuple[str, SshOutcome]]] = {}
    for host, _ in ctx.judged():
        outcome = ctx.ssh.get(host.id)
        if outcome is None or outcome.state not in ("skipped", "partial"):
            continue
        if outcome.interrupted:
            continue  # we stopped (Ctrl-C): nothing is known against the host
        if outcome.state == "skipped" and outcome.kind == "jump-host" and outcome.jump:
            behind_jump.setdefault(outcome.jump, []).append((host.id, outcome))
            continue
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
        elif failure == "host-certificate":
            yield Finding(
                "ssh-host-certificate",
                Severity.MEDIUM,
                host.id,
                "Host certificate: CA checking not supported",
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
    yield from _jump_host_findings(behind_jump, ctx)


# A bastion whose key changed is as suspect as a target whose key changed: everything behind
# it would be reached through whoever now answers in its place.
_JUMP_SEVERITY = {"changed-host-key": Severity.CRITICAL, "auth": Severity.MEDIUM,
                  "key-file": Severity.MEDIUM, "unknown-host-key": Severity.LOW}  # fmt: skip


def _jump_host_findings(
    behind_jump: dict[str, list[tuple[str, SshOutcome]]], ctx: RuleContext
) -> Iterable[Finding]:
    """One ssh-jump-host finding per failed jump host (run-level), naming every host it left
    unprobed: the root cause once, instead of one ssh-unreachable per host behind it."""
    for jump, hosts in sorted(behind_jump.items()):
        first = hosts[0][1]
        severity = _JUMP_SEVERITY.get(first.jump_kind or "", Severity.HIGH)
        names = ", ".join(host_id for host_id, _ in hosts[:10])
        more = f" and {len(hosts) - 10} more" if len(hosts) > 10 else ""
        yield Finding(
            "ssh-jump-host",
            severity,
            None,
            f"Jump host {jump} failed ({first.jump_kind or 'unknown cause'}): "
            f"{len(hosts)} hosts not probed",
            (first.reason or "unknown reason", f"hosts behind it: {names}{more}", when(ctx.now)),
        )
