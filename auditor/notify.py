"""Post a JSON summary to a webhook when a run has NEW findings (for cron).

The body is Slack-compatible (`text`, markdown-ish) and carries structured fields for
anything else (a Teams/Mattermost relay, a ticket bot):

    {"text": "...", "run": "<id>", "started_at": "...", "hosts": 12,
     "findings": 30, "new_findings": [{rule, severity, host, label, title}], "resolved": 2,
     "new_finding_groups": [{key, rule, severity, title, count, hosts}],
     "by_severity": {"critical": 1, ...}, "changes": {new_hosts: 1, ...}}

Nothing new, nothing sent. Accepted findings ([[accept]]) are never news; a finding whose
acceptance expired is, once, with `acceptance_expired` set. A webhook that cannot be
reached is a warning (the return value says why), never a failed run: the reports are
written either way.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from auditor.history import diff_findings, finding_key
from auditor.model import AuditRun, Finding
from auditor.report.groups import group_findings, group_text
from auditor.report.view import change_counts

log = logging.getLogger(__name__)

MAX_LISTED = 10


@dataclass(frozen=True)
class NotifyResult:
    sent: bool
    new_findings: int
    status: int | None = None  # HTTP status when sent
    warning: str | None = None  # why it was not delivered


def _as_dict(finding: Finding | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(finding, Finding):
        return {
            "rule": finding.rule,
            "severity": finding.severity.value,
            "host": finding.host,
            "title": finding.title,
        }
    return finding


def build_payload(run: AuditRun, new: list[dict[str, Any]]) -> dict[str, Any]:
    labels = {h.id: h.label for h in run.hosts}
    counting = [f for f in run.findings if f.counts]  # accepted findings stay quiet
    by_severity: dict[str, int] = {}
    for f in counting:
        by_severity[f.severity.value] = by_severity.get(f.severity.value, 0) + 1
    groups = group_findings(new)  # 990 hosts on Debian 12: one line, not 990
    lines = [
        f"*auditor*: {len(new)} new finding{'s' if len(new) != 1 else ''} in run {run.id} "
        f"({len(run.hosts)} hosts, {len(counting)} findings in all)"
    ]
    for group in groups[:MAX_LISTED]:
        lines.append(f"• [{str(group['severity']).upper()}] {group_text(group, labels, _plain)}")
    if len(groups) > MAX_LISTED:
        lines.append(f"• … and {len(groups) - MAX_LISTED} more")
    changes = run.changes or {}
    return {
        "text": "\n".join(lines),
        "run": run.id,
        "started_at": run.started_at.isoformat(),
        "hosts": len(run.hosts),
        "findings": len(counting),
        "accepted": len(run.findings) - len(counting),
        "by_severity": by_severity,
        "new_findings": [
            {**f, "label": labels.get(str(f.get("host")), f.get("host"))} for f in new
        ],
        "new_finding_groups": groups,
        "resolved": len(changes.get("resolved_findings") or ()),
        "changes": change_counts(changes) if changes else None,
    }


def _plain(text: str) -> str:
    """Slack reads <...> as links and mentions (<!channel>); & starts entities."""
    flat = " ".join(text.split())[:200]
    return flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def notify_if_new(
    url: str | None,
    run: AuditRun,
    previous_findings: Iterable[Finding | Mapping[str, Any]] | None,
    timeout: float = 10.0,
    previous_day: date | None = None,
) -> NotifyResult:
    """POST a summary to `url` when `run` has findings that `previous_findings` (the last
    stored run's; None when there is no history) did not have, or had at a lower severity.
    A finding whose [[accept]] entry expired since the previous run (`previous_day`) is new
    too. Returns what happened; never raises for network trouble."""
    previous = None if previous_findings is None else [_as_dict(f) for f in previous_findings]
    new, _ = diff_findings(previous, [_as_dict(f) for f in run.findings if f.counts])
    # A finding whose acceptance ran out is news (once) even though the last run had it.
    known = {finding_key(f) for f in new}
    new += [
        {**_as_dict(f), "acceptance_expired": str(f.accepted.expires)}
        for f in run.findings
        if f.accepted is not None
        and f.accepted.expired
        and (previous_day is None or f.accepted.expires >= previous_day)
        and finding_key(_as_dict(f)) not in known
    ]
    if not new or not url:
        return NotifyResult(sent=False, new_findings=len(new))
    if not url.startswith(("http://", "https://")):  # urllib would also open file:// URLs
        return NotifyResult(False, len(new), None, f"webhook URL must be http(s): {url[:40]!r}")
    body = json.dumps(build_payload(run, new)).encode("utf-8")
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "auditor-notify"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        warning = f"webhook {_redact(url)} answered HTTP {exc.code} {exc.reason}"
        log.warning(warning)
        return NotifyResult(False, len(new), exc.code, warning)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        warning = f"webhook {_redact(url)} not reached: {reason}"
        log.warning(warning)
        return NotifyResult(False, len(new), None, warning)
    return NotifyResult(True, len(new), status)


def _redact(url: str) -> str:
    """Webhook URLs carry their secret in the path: show scheme and host only."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}{':' + str(parts.port) if parts.port else ''}/…"
