"""Findings identical but for the host, grouped: one line for 990 hosts on Debian 12.

Rule titles never name the host (`auditor.rules`), so findings with the same rule, severity
and title are the same problem on different machines. Every reporter shows these groups
(report.json `finding_groups`, the HTML findings table, the terminal, summary.md, the
webhook); the per-host `findings` stay in report.json for tools.

Order: unmanaged hosts that serve clients first (an orphan somebody depends on is the one
finding that cannot wait), then severity, then how many hosts, then rule and title.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from auditor.report.view import SEVERITY_RANK

# unmanaged-host is critical exactly when the host serves traffic (auditor.rules.status).
SERVES_CLIENTS = ("unmanaged-host", "critical")


def group_key(rule: str, severity: str, title: str) -> str:
    """Stable from run to run and safe in URLs and HTML ids: the rule and a digest."""
    digest = hashlib.sha256(f"{rule}\0{severity}\0{title}".encode()).hexdigest()[:12]
    return f"{rule}:{digest}"


def serves_clients(group: Mapping[str, Any]) -> bool:
    return (group["rule"], group["severity"]) == SERVES_CLIENTS


def group_order(group: Mapping[str, Any]) -> tuple[int, int, int, str, str]:
    return (
        0 if serves_clients(group) else 1,
        -SEVERITY_RANK.get(str(group["severity"]), 0),
        -int(group["count"]),
        str(group["rule"]),
        str(group["title"]),
    )


def group_findings(findings: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """[{key, rule, severity, title, count, hosts}] in report order. `count` is the number
    of findings in the group (a run-level finding has no host); `hosts` are host ids in the
    order their findings came."""
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    seen: dict[tuple[str, str, str], set[str]] = {}
    for finding in findings:
        rule, severity, title = (
            str(finding["rule"]),
            str(finding["severity"]),
            str(finding["title"]),
        )
        ident = (rule, severity, title)
        group = groups.get(ident)
        if group is None:
            group = groups[ident] = {
                "key": group_key(rule, severity, title),
                "rule": rule,
                "severity": severity,
                "title": title,
                "count": 0,
                "hosts": [],
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


def hosts_phrase(count: int, hosts: list[str], labels: Mapping[str, str], shown: int = 3) -> str:
    """'web01' for one host, '990 hosts (web-0001, web-0002, web-0003, …)' for many."""
    names = [labels.get(h, h) for h in hosts[:shown]]
    if count <= 1:
        return names[0] if names else ""
    more = ", …" if len(hosts) > shown else ""
    return f"{count} hosts ({', '.join(names)}{more})" if names else f"{count} times"


def group_text(
    group: Mapping[str, Any], labels: Mapping[str, str], escape: Callable[[str], str]
) -> str:
    """'<title> — 990 hosts (a, b, c, …)', each part escaped for the medium (Markdown, Slack)."""
    where = hosts_phrase(int(group["count"]), list(group["hosts"]), labels)
    return escape(str(group["title"])) + (f" — {escape(where)}" if where else "")
