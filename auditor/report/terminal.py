"""The run summary for a terminal (rich): status counts, findings, changes since last run.

Host strings go in as `rich.text.Text`, never as markup, so '[bold]x' prints as itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from auditor.model import AuditRun
from auditor.report.groups import (
    acceptance_note,
    group_views,
    hosts_phrase,
    report_groups,
    split_accepted,
)
from auditor.report.run_view import GroupView, read_report
from auditor.report.view import labels, severity_counts, status_counts
from auditor.visible import visible_data

STATUS_STYLE = {
    "managed": "green", "unmanaged": "bold red", "cloud-unmanaged": "red", "owned": "cyan",
    "stale": "yellow", "missing": "magenta", "ignored": "dim", "unverified": "dim",
}  # fmt: skip
SEVERITY_STYLE = {
    "critical": "bold white on red", "high": "bold red", "medium": "yellow",
    "low": "cyan", "info": "dim",
}  # fmt: skip


def _note(group: GroupView) -> str:
    note = acceptance_note(group)
    return f" ({note})" if note else ""


def render_terminal_summary(run: AuditRun, console: Console, *, top: int = 15) -> None:
    """Print the summary of `run` to `console`."""
    from auditor.report.json_report import run_to_dict

    render_terminal_data(run_to_dict(run), console, top=top)


def render_terminal_data(report: Mapping[str, Any], console: Console, *, top: int = 15) -> None:
    """The same summary from report.json data (a stored run)."""
    report = visible_data(report)  # host strings print as text, controls escaped
    view = read_report(report)
    run, summary = view.run, view.summary
    groups, accepted = split_accepted(group_views(report_groups(report)))
    head = Text.assemble(
        ("auditor ", "bold"), (run.id, "bold cyan"),
        f"  {summary.get('hosts', 0)} hosts, {len(view.findings)} findings"
        f" in {len(groups)} group{'' if len(groups) == 1 else 's'}",
    )  # fmt: skip
    console.print(head)
    counts = Text()
    for status, n in status_counts(report):
        if n:
            counts.append(f" {status} ", style=STATUS_STYLE.get(status, ""))
            counts.append(f"{n}  ")
    sev = Text()
    for severity, n in severity_counts(report):
        if n:
            sev.append(f" {severity} ", style=SEVERITY_STYLE.get(severity, ""))
            sev.append(f"{n}  ")
    console.print(counts)
    if sev:
        console.print(sev)
    for source in run.sources:
        if not source.ok:
            console.print(
                Text.assemble(
                    ("source failed: ", "red"),
                    f"{source.kind} '{source.name}': {source.error or ''}",
                )
            )

    if groups:
        names = labels(report)
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        table.add_column("severity", no_wrap=True)
        table.add_column("finding", overflow="fold")
        table.add_column("hosts", overflow="fold", max_width=60)
        for group in groups[:top]:
            table.add_row(
                Text(group.severity.value, style=SEVERITY_STYLE.get(group.severity, "")),
                Text.assemble(group.title, (_note(group), "yellow")),
                Text(hosts_phrase(group.count, group.hosts, names) or "-"),
            )
        console.print(table)
        if len(groups) > top:
            console.print(Text(f"... and {len(groups) - top} more finding groups", style="dim"))
    if accepted:
        n = sum(g.count for g in accepted)
        console.print(
            Text(
                f"{n} accepted finding{'' if n == 1 else 's'} in {len(accepted)} group"
                f"{'' if len(accepted) == 1 else 's'} ([[accept]]; not counted for --fail-on)",
                style="dim",
            )
        )

    changes = view.changes
    if changes is not None and changes.previous_run:
        c = changes.counts()
        console.print(
            Text(
                f"since {changes.previous_run}: {c['new_hosts']} new hosts, "
                f"{c['gone_hosts']} gone, {c['status_changed']} status changes, "
                f"{c['fact_changes']} fact changes, {c['new_findings']} new and "
                f"{c['resolved_findings']} resolved findings"
            )
        )
        for item in changes.status_changed[:5]:
            console.print(
                Text.assemble(
                    "  ", item.label or item.host, ": ",
                    (str(item.before), STATUS_STYLE.get(item.before, "")), " -> ",
                    (str(item.after), STATUS_STYLE.get(item.after, "")),
                )
            )  # fmt: skip
