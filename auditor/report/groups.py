"""Findings identical but for the host, grouped: one line for 990 hosts on Debian 12.

Rule titles never name the host (`auditor.rules`), so findings with the same rule, severity
and title are the same problem on different machines. Every reporter shows these groups
(report.json `finding_groups`, the HTML findings table, the terminal, summary.md, the
webhook); the per-host `findings` stay in report.json for tools.

Order: unmanaged hosts that serve clients first (an orphan somebody depends on is the one
finding that cannot wait), then severity, then how many hosts, then rule and title. Findings
an [[accept]] entry covers group apart (same problem, same acceptance) and come last; a group
whose acceptance expired is an ordinary group that says so.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from auditor.model import SEVERITY_RANK
from auditor.report.run_view import GroupView, read_group
from auditor.report.view import holds

# unmanaged-host is critical exactly when the host serves traffic (auditor.rules.status).
SERVES_CLIENTS = ("unmanaged-host", "critical")


def group_key(rule: str, severity: str, title: str, accepted: Any = None) -> str:
    """Stable from run to run and safe in URLs and HTML ids: the rule and a digest."""
    text = f"{rule}\0{severity}\0{title}"
    if accepted:
        text += "\0" + json.dumps(accepted, sort_keys=True)
    return f"{rule}:{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def serves_clients(group: Mapping[str, Any]) -> bool:
    return (group["rule"], group["severity"]) == SERVES_CLIENTS


def group_order(group: Mapping[str, Any]) -> tuple[int, int, int, int, str, str]:
    return (
        1 if holds(group.get("accepted")) else 0,
        0 if serves_clients(group) else 1,
        -SEVERITY_RANK.get(str(group["severity"]), 0),
        -int(group["count"]),
        str(group["rule"]),
        str(group["title"]),
    )


def group_findings(findings: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """[{key, rule, severity, title, count, hosts, accepted}] in report order. `count` is
    the number of findings in the group (a run-level finding has no host); `hosts` are host
    ids in the order their findings came."""
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    seen: dict[tuple[str, ...], set[str]] = {}
    for finding in findings:
        rule, severity = str(finding["rule"]), str(finding["severity"])
        title, accepted = str(finding["title"]), finding.get("accepted") or None
        ident = (rule, severity, title, json.dumps(accepted, sort_keys=True) if accepted else "")
        group = groups.get(ident)
        if group is None:
            group = groups[ident] = {
                "key": group_key(rule, severity, title, accepted),
                "rule": rule,
                "severity": severity,
                "title": title,
                "count": 0,
                "hosts": [],
                "accepted": accepted,
            }
            seen[ident] = set()
        group["count"] += 1
        host = finding.get("host")
        if host and host not in seen[ident]:
            seen[ident].add(host)
            group["hosts"].append(host)
    return sorted(groups.values(), key=group_order)


def report_groups(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The run's groups: as written, or computed for a report stored before they existed."""
    stored = report.get("finding_groups")
    if isinstance(stored, list):
        return stored
    return group_findings(report.get("findings", ()))


def hosts_phrase(
    count: int, hosts: Sequence[str], labels: Mapping[str, str], shown: int = 3
) -> str:
    """'web01' for one host, '990 hosts (web-0001, web-0002, web-0003, …)' for many."""
    names = [labels.get(h, h) for h in hosts[:shown]]
    if count <= 1:
        return names[0] if names else ""
    more = ", …" if len(hosts) > shown else ""
    return f"{count} hosts ({', '.join(names)}{more})" if names else f"{count} times"


def group_views(groups: Iterable[Mapping[str, Any]]) -> list[GroupView]:
    """Groups as `group_findings` makes them (report.json `finding_groups`), typed."""
    return [read_group(g) for g in groups]


def group_text(group: GroupView, labels: Mapping[str, str], escape: Callable[[str], str]) -> str:
    """'<title> — 990 hosts (a, b, c, …)', each part escaped for the medium (Markdown, Slack)."""
    where = hosts_phrase(group.count, group.hosts, labels)
    return escape(group.title) + (f" — {escape(where)}" if where else "")


def acceptance_note(group: GroupView) -> str:
    """'accepted until 2027-01-31: <reason>', 'acceptance expired on 2026-11-30: <reason>'
    or '' for a group no [[accept]] entry covers."""
    accepted = group.accepted
    if accepted is None:
        return ""
    if accepted.expired:
        return f"acceptance expired on {accepted.expires}: {accepted.reason}"
    return f"accepted until {accepted.expires}: {accepted.reason}"


def split_accepted(groups: Iterable[GroupView]) -> tuple[list[GroupView], list[GroupView]]:
    """(groups that count, groups an unexpired acceptance covers)."""
    counting: list[GroupView] = []
    accepted: list[GroupView] = []
    for group in groups:
        (counting if group.counts else accepted).append(group)
    return counting, accepted
