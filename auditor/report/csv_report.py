"""hosts.csv: one row per host, stable columns (append new ones at the end, never reorder).

Spreadsheet-safe: a cell that starts with = + - @ (or a tab / carriage return) would run as
a formula in Excel or LibreOffice, so it gets a leading apostrophe. Host data is hostile.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from typing import Any

from auditor.report.view import HostRow, client_teams, iter_host_rows
from auditor.visible import visible_data

COLUMNS: tuple[str, ...] = (
    "id", "label", "status", "status_reason", "addresses", "hostnames", "sources", "owner",
    "open_ports", "ssh_state", "ssh_reason", "os", "os_eol_status", "os_eol_date",
    "kernel", "uptime_days", "boot_time", "listeners", "client_teams", "latest_log_write",
    "findings", "worst_severity", "first_seen", "changes", "owner_source", "owner_detail",
)  # fmt: skip

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """A CSV cell that no spreadsheet runs as a formula."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _row(r: HostRow) -> dict[str, Any]:
    host, facts = r.host, r.facts or {}
    owner, days = host.owner, r.uptime_days
    eol = r.eol or {}
    log = facts.get("log_activity") or {}
    listeners = sorted(
        {f"{x.get('proto')}/{x.get('port')}" for x in facts.get("listeners") or ()},
        key=lambda t: (t.split("/")[0], int(t.split("/")[1]) if t.split("/")[1].isdigit() else 0),
    )
    return {
        "id": host.id,
        "label": host.label,
        "status": host.status.value,
        "status_reason": host.status_reason,
        "addresses": " ".join(host.addresses),
        "hostnames": " ".join(host.hostnames),
        "sources": " ".join(host.sources),
        "owner": owner.team if owner else None,
        "open_ports": " ".join(str(p) for p in host.open_ports),
        "ssh_state": host.ssh.state.value,
        "ssh_reason": host.ssh.reason,
        "os": r.os,
        "os_eol_status": eol.get("status"),
        "os_eol_date": eol.get("date"),
        "kernel": facts.get("kernel"),
        "uptime_days": f"{days:.1f}" if days is not None else "",
        "boot_time": facts.get("boot_time"),
        "listeners": " ".join(listeners),
        "client_teams": " ".join(client_teams(facts)),
        "latest_log_write": log.get("latest_write"),
        "findings": len(r.findings),
        "worst_severity": r.worst,
        "first_seen": r.first_seen,
        "changes": " ".join(r.changes),
        "owner_source": owner.source if owner else None,
        "owner_detail": owner.detail if owner else None,
    }


class _Lines:
    """A file for csv.writer that keeps what was written until taken."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def take(self) -> str:
        text, self.parts = "".join(self.parts), []
        return text


def csv_pieces(report: Mapping[str, Any]) -> Iterator[str]:
    """hosts.csv one line at a time: written into its file as made, never one string
    (issue 14: memory flat in fleet size)."""
    report = visible_data(report)  # host strings print as text, controls escaped
    out = _Lines()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    yield out.take()
    for r in iter_host_rows(report):
        row = _row(r)
        writer.writerow([safe_cell(row[c]) for c in COLUMNS])
        yield out.take()


def render_csv(report: Mapping[str, Any]) -> str:
    return "".join(csv_pieces(report))
