"""Post a JSON summary to a webhook when a run has NEW findings (for cron).

The body is Slack-compatible (`text`, markdown-ish) and carries structured fields for
anything else (a Teams/Mattermost relay, a ticket bot):

    {"text": "...", "run": "<id>", "started_at": "...", "hosts": 12,
     "findings": 30, "new_findings": [{rule, severity, host, label, title}], "resolved": 2,
     "new_finding_groups": [{key, rule, severity, title, count, hosts}],
     "by_severity": {"critical": 1, ...}, "changes": {new_hosts: 1, ...}}

Nothing new, nothing sent. Accepted findings ([[accept]]) are never news; a finding whose
acceptance expired is, once, with `acceptance_expired` set.

Delivery is tried `DELIVERY_ATTEMPTS` times with a doubling pause (1 s, 2 s) on a connection
failure, a timeout, HTTP 408, 429 or 5xx; another 4xx is not retried. An alert still not
delivered is a warning, never a failed run, and with a history store it is kept pending
there (`PendingAlerts`, at most `MAX_PENDING`): the next run sends it first, with
`delayed_from` set, to the URL configured then. The URL is a secret (webhook URLs carry
their token in the path): it is never stored, logged or put in a message; messages name the
scheme and host only.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from auditor.history import diff_findings, finding_key
from auditor.model import AuditRun, FindingLike
from auditor.report.groups import group_findings, group_text, group_views
from auditor.report.json_report import finding_brief

log = logging.getLogger(__name__)

MAX_LISTED = 10
DELIVERY_ATTEMPTS = 3
BACKOFF_S = 1.0  # the pause after the first failed attempt; doubled after each one
MAX_PENDING = 20  # undelivered alerts kept for the next run; the oldest go first
_RETRY_STATUS = frozenset({408, 429})


@dataclass(frozen=True)
class PendingAlert:
    id: int
    run_id: str
    created_at: str  # ISO time the alert was first meant to go out
    payload: Mapping[str, Any]
    attempts: int


class PendingAlerts(Protocol):
    """Where undelivered alerts wait for the next run (the history store)."""

    def pending_alerts(self) -> Sequence[PendingAlert]: ...

    def keep_alert(self, run_id: str, payload: Mapping[str, Any], error: str) -> int:
        """Keep an alert; returns how many older ones were dropped to stay in bounds."""
        ...

    def alert_delivered(self, alert_id: int) -> None: ...

    def alert_failed(self, alert_id: int, error: str) -> None: ...


@dataclass(frozen=True)
class Delivery:
    delivered: bool
    attempts: int
    status: int | None = None  # the last HTTP status
    error: str | None = None  # why the last attempt failed (no URL in it)


@dataclass(frozen=True)
class NotifyResult:
    sent: bool
    new_findings: int
    status: int | None = None  # HTTP status when sent
    warning: str | None = None  # why it was not delivered
    pending_sent: int = 0  # alerts of earlier runs delivered now
    pending_left: int = 0  # alerts still waiting for a later run


@dataclass(frozen=True)
class NewFinding:
    """A finding of this run that is news: new, worse than in the previous run, or (once)
    its [[accept]] entry expired (`acceptance_expired`: the day it did)."""

    finding: FindingLike
    acceptance_expired: date | None = None

    def brief(self) -> dict[str, Any]:
        """As the webhook lists it: rule, severity, host, title (and acceptance_expired)."""
        brief = finding_brief(self.finding)
        if self.acceptance_expired is not None:
            brief["acceptance_expired"] = str(self.acceptance_expired)
        return brief


def build_payload(run: AuditRun, new: Sequence[NewFinding]) -> dict[str, Any]:
    labels = {h.id: h.label for h in run.hosts}
    counting = [f for f in run.findings if f.counts]  # accepted findings stay quiet
    by_severity: dict[str, int] = {}
    for f in counting:
        by_severity[f.severity.value] = by_severity.get(f.severity.value, 0) + 1
    briefs = [n.brief() for n in new]
    groups = group_findings(briefs)  # 990 hosts on Debian 12: one line, not 990
    lines = [
        f"*auditor*: {len(new)} new finding{'s' if len(new) != 1 else ''} in run {run.id} "
        f"({len(run.hosts)} hosts, {len(counting)} findings in all)"
    ]
    for group in group_views(groups[:MAX_LISTED]):
        lines.append(f"• [{group.severity.value.upper()}] {group_text(group, labels, _plain)}")
    if len(groups) > MAX_LISTED:
        lines.append(f"• … and {len(groups) - MAX_LISTED} more")
    changes = run.changes
    return {
        "text": "\n".join(lines),
        "run": run.id,
        "started_at": run.started_at.isoformat(),
        "hosts": len(run.hosts),
        "findings": len(counting),
        "accepted": len(run.findings) - len(counting),
        "by_severity": by_severity,
        "new_findings": [
            {**b, "label": labels.get(str(n.finding.host), n.finding.host)}
            for n, b in zip(new, briefs, strict=True)
        ],
        "new_finding_groups": groups,
        "resolved": len(changes.resolved_findings) if changes is not None else 0,
        "changes": changes.counts() if changes is not None else None,
    }


def _plain(text: str) -> str:
    """Slack reads <...> as links and mentions (<!channel>); & starts entities."""
    flat = " ".join(text.split())[:200]
    return flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def new_findings(
    run: AuditRun,
    previous_findings: Iterable[FindingLike] | None,
    previous_day: date | None = None,
) -> list[NewFinding]:
    """The findings of `run` that are news against `previous_findings` (see notify_if_new)."""
    changed, _ = diff_findings(previous_findings, [f for f in run.findings if f.counts])
    new = [NewFinding(f) for f in changed]
    # A finding whose acceptance ran out is news (once) even though the last run had it.
    known = {finding_key(f) for f in changed}
    new += [
        NewFinding(f, f.accepted.expires)
        for f in run.findings
        if f.accepted is not None
        and f.accepted.expired
        and (previous_day is None or f.accepted.expires >= previous_day)
        and finding_key(f) not in known
    ]
    return new


def notify_if_new(
    url: str | None,
    run: AuditRun,
    previous_findings: Iterable[FindingLike] | None,
    timeout: float = 10.0,
    previous_day: date | None = None,
    *,
    pending: PendingAlerts | None = None,
    announce: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> NotifyResult:
    """POST a summary to `url` when `run` has findings that `previous_findings` (the last
    stored complete run's; None when there is no history) did not have, or had at a lower
    severity. A finding whose [[accept]] entry expired since the previous run
    (`previous_day`) is new too. With `pending`, alerts earlier runs could not deliver go
    first, and this run's is kept there when it cannot be delivered. `announce=False` (an
    interrupted run) sends only what is pending. Never raises for network trouble."""
    new = new_findings(run, previous_findings, previous_day) if announce else []
    waiting = list(pending.pending_alerts()) if pending is not None and url else []
    if not url or (not new and not waiting):
        return NotifyResult(sent=False, new_findings=len(new))
    if not url.startswith(("http://", "https://")):  # urllib would also open file:// URLs
        warning = "webhook URL must be http(s) (the URL is not shown: it may hold a secret)"
        return NotifyResult(False, len(new), None, warning)
    failed: Delivery | None = None
    sent_before = 0
    for alert in waiting:  # oldest first
        if failed is None:
            delivery = deliver(url, {**alert.payload, "delayed_from": alert.created_at},
                               timeout, sleep=sleep)  # fmt: skip
            if delivery.delivered:
                assert pending is not None
                pending.alert_delivered(alert.id)
                sent_before += 1
                continue
            failed = delivery
        assert pending is not None
        pending.alert_failed(alert.id, failed.error or "not delivered")
    if not new:
        return _result(url, None, failed, 0, sent_before, pending)
    payload = build_payload(run, new)
    this = failed or deliver(url, payload, timeout, sleep=sleep)  # down: do not hammer it
    if not this.delivered and pending is not None:
        dropped = pending.keep_alert(run.id, payload, this.error or "not delivered")
        if dropped:
            log.warning("%d undelivered webhook alerts dropped (at most %d kept)", dropped,
                        MAX_PENDING)  # fmt: skip
    return _result(url, this, failed, len(new), sent_before, pending)


def _result(
    url: str,
    this: Delivery | None,
    failed: Delivery | None,
    new: int,
    sent_before: int,
    pending: PendingAlerts | None,
) -> NotifyResult:
    left = len(pending.pending_alerts()) if pending is not None else 0
    problem = this if this is not None and not this.delivered else failed
    warning = None
    if problem is not None:
        kept = (
            f"; {left} alert{'s' if left != 1 else ''} kept for the next run"
            if left
            else "; the alert is lost (no history store to keep it in)"
        )
        warning = (
            f"webhook {_redact(url)} {problem.error}"
            + (f" after {problem.attempts} attempts" if problem.attempts > 1 else "")
            + kept
        )
        log.warning(warning)
    sent = this is not None and this.delivered
    last = this or failed
    status = last.status if last is not None else None
    return NotifyResult(sent, new, status, warning, sent_before, left)


def deliver(
    url: str,
    payload: Mapping[str, Any],
    timeout: float,
    *,
    attempts: int = DELIVERY_ATTEMPTS,
    backoff: float = BACKOFF_S,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """POST `payload` as JSON, retrying what may pass on a second try (see the docstring)."""
    body = json.dumps(payload).encode("utf-8")
    last = Delivery(False, 0)
    for attempt in range(1, attempts + 1):
        status, error, retry = _post(url, body, timeout)
        if error is None:
            return Delivery(True, attempt, status)
        last = Delivery(False, attempt, status, error)
        if not retry or attempt == attempts:
            break
        sleep(backoff * 2 ** (attempt - 1))
    return last


def _post(url: str, body: bytes, timeout: float) -> tuple[int | None, str | None, bool]:
    """(status, why it failed or None, worth retrying)."""
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "auditor-notify"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), None, False
    except urllib.error.HTTPError as exc:
        retry = exc.code >= 500 or exc.code in _RETRY_STATUS
        return exc.code, f"answered HTTP {exc.code} {exc.reason}", retry
    except ValueError:  # its message may quote the URL
        return None, "not reached: the URL is not valid", False
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, f"not reached: {reason}", True


def _redact(url: str) -> str:
    """Webhook URLs carry their secret in the path: show scheme and host only."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}{':' + str(parts.port) if parts.port else ''}/…"
