"""Log silence vs activity.

A host is *silent* when nothing under its log folders was written for more than
`[audit] silent_days`: likely unused, a candidate to switch off (low; medium when it is
also unmanaged: an abandoned orphan). An unmanaged host with *recent* activity (log writes,
logins, web requests within the window) is worse: someone depends on a machine nobody
manages (high). When it serves traffic to clients the unmanaged-host finding is already
critical and carries that evidence, so no second finding is made.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from auditor.model import Facts, Finding, Severity
from auditor.rules.common import UNMANAGED, RuleContext, probed_at, serves_traffic, when


def activity_evidence(facts: Facts, since_days: int) -> list[str]:
    """What shows someone uses the host: recent log writes, logins, web requests."""
    cutoff = facts.collected_at - timedelta(days=since_days)
    out: list[str] = []
    la = facts.log_activity
    if la and la.latest_write and la.latest_write >= cutoff:
        newest = max(la.files, key=lambda f: f.mtime, default=None)
        where = f" ({newest.path})" if newest else ""
        out.append(f"logs last written {when(la.latest_write)}{where}")
    recent = [x for x in facts.logins or () if x.at and x.at >= cutoff]
    if recent:
        users = sorted({x.user for x in recent})
        out.append(
            f"{len(recent)} logins since {when(cutoff)} by {', '.join(users[:5])}"
            + (f" (last from {recent[-1].source})" if recent[-1].source else "")
        )
    for web in facts.web_logs or ():
        if web.requests:
            out.append(f"{web.requests} requests from {web.clients} clients in {web.path}")
    return out


def activity_findings(ctx: RuleContext) -> Iterable[Finding]:
    days = ctx.config.audit.silent_days
    for host, facts in ctx.probed():
        la = facts.log_activity
        unmanaged = host.status in UNMANAGED
        if la is not None and la.latest_write is not None:
            idle = facts.collected_at - la.latest_write
            if idle > timedelta(days=days):
                yield Finding(
                    "log-silence",
                    Severity.MEDIUM if unmanaged else Severity.LOW,
                    host.id,
                    f"Silent: no log written in over {days} days"
                    + (" (unmanaged: likely abandoned)" if unmanaged else ""),
                    (
                        f"newest log write {when(la.latest_write)} "
                        f"({idle.days} days before the probe), {len(la.files)} log files",
                        probed_at(facts),
                    ),
                )
                continue
        if not unmanaged or serves_traffic(host, facts, ctx.ssh.get(host.id)):
            continue
        evidence = activity_evidence(facts, days)
        if evidence:
            yield Finding(
                "unmanaged-activity",
                Severity.HIGH,
                host.id,
                "Unmanaged host is in use",
                (*evidence, host.status_reason, probed_at(facts)),
            )
