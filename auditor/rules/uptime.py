"""long-uptime: a host up longer than `[audit] uptime_days` runs an unpatched kernel (a
kernel update needs a reboot; live patching is rare on the hosts this finds)."""

from __future__ import annotations

from collections.abc import Iterable

from auditor.model import Finding, Severity
from auditor.rules.common import RuleContext, probed_at, when


def uptime_findings(ctx: RuleContext) -> Iterable[Finding]:
    limit_days = ctx.config.audit.uptime_days
    for host, facts in ctx.probed():
        if facts.uptime_seconds is None:
            continue
        days = int(facts.uptime_seconds // 86400)
        if facts.uptime_seconds <= limit_days * 86400:
            continue
        evidence = [f"up {days} days (limit [audit] uptime_days = {limit_days})"]
        if facts.boot_time:
            evidence.append(f"booted {when(facts.boot_time)}")
        if facts.kernel:
            evidence.append(f"running kernel {facts.kernel}")
        evidence.append(probed_at(facts))
        yield Finding(
            "long-uptime",
            Severity.MEDIUM,
            host.id,
            f"Not rebooted in over {limit_days} days (kernel unpatched)",
            tuple(evidence),
        )
