"""The migration table: terminal (rich Text, never markup), `migration.md` and a
self-contained `migration.html` (autoescaped, no script). Rendered from report.json data
(`hosts[].migration`, top-level `premigrate`), so a stored report renders the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import jinja2
from markupsafe import Markup
from rich.console import Console
from rich.table import Table
from rich.text import Text

from auditor.inspect.render import CSP
from auditor.premigrate.classify import teams_text
from auditor.report.html_report import REPORT_STYLE
from auditor.report.markdown_report import md_escape
from auditor.visible import visible_data, visible_in_html

GROUP_TEXT = {
    "unplanned-in-use": "NOT IN PLAN, IN USE",
    "unplanned-unknown": "not in plan, use unknown",
    "unplanned-idle": "not in plan, idle",
    "planned-in-use": "planned, in use",
    "planned-unknown": "planned, use unknown",
    "planned-idle": "planned, idle",
    "migrated-in-use": "migrated, old copy in use",
    "migrated-unknown": "migrated, old copy: use unknown",
    "migrated-idle": "migrated, old copy idle",
    "not-alive": "not alive",
}
_STYLE = {
    "unplanned-in-use": "bold white on red",
    "migrated-in-use": "bold red",
    "unplanned-unknown": "red",
    "unplanned-idle": "yellow",
    "planned-in-use": "yellow",
}


def _short(text: Any) -> str:
    if not text:
        return ""
    try:
        return datetime.fromisoformat(str(text)).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return str(text)


def rows(data: Mapping[str, Any]) -> list[dict[str, str]]:
    """One display row per host with a migration, in rank order."""
    out = []
    for host in data.get("hosts", ()):
        m = host.get("migration")
        if not m:
            continue
        a = m["activity"]
        use = []
        if a.get("clients"):
            requests = f" ({a['requests']} req)" if a.get("requests") else ""
            use.append(f"{a['clients']} clients{requests}")
        if a.get("teams"):
            use.append(teams_text(a["teams"], a.get("team_shares") or ()))
        if a.get("logins"):
            use.append(f"{a['logins']} logins")
        out.append(
            {
                "rank": str(m["rank"]),
                "host": str(host["label"]),
                "address": ", ".join(host.get("addresses") or ()),
                "group": m["group"],
                "verdict": GROUP_TEXT.get(m["group"], m["group"]),
                "in_plan": "yes" if m["in_plan"] else "no",
                "migrated": ("yes: " if m["migrated"] else "no: ") + str(m["migrated_reason"]),
                "migrated_short": "yes" if m["migrated"] else ("no" if m["in_plan"] else "-"),
                "state": str(a.get("state")),
                "use": "; ".join(use),
                "last_client": _short(a.get("last_client")),
                "last_login": _short(a.get("last_login")),
                "last_log_write": _short(a.get("last_log_write")),
                "status": str(host.get("status")),
            }
        )
    return out


def render_terminal(data: Mapping[str, Any], console: Console) -> None:
    data = visible_data(data)  # host strings print as text, controls escaped
    summary = data.get("premigrate") or {}
    mode = summary.get("mode", "before")
    head = "after the cut-over" if mode == "after" else "before the migration"
    console.print(
        Text.assemble(
            ("auditor premigrate ", "bold"),
            f"({head}): old space {', '.join(summary.get('old') or ()) or '-'}, "
            f"plan {summary.get('plan')} ({summary.get('plan_entries', 0)} entries)",
        )
    )
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("#", "host", "address", "verdict", "migrated", "activity", "last log write"):
        table.add_column(column, overflow="fold")
    for row in rows(data):
        table.add_row(
            Text(row["rank"]),
            Text(row["host"]),
            Text(row["address"]),
            Text(row["verdict"], style=_STYLE.get(row["group"], "")),
            Text(row["migrated_short"]),
            Text(row["use"] or row["state"]),
            Text(row["last_log_write"]),
        )
    console.print(table)
    for entry in summary.get("unmatched_plan") or ():
        console.print(
            Text(
                f"plan entry {entry['name']}: not on the old platform; "
                + ("migrated" if entry["migrated"] else "not migrated")
                + f" ({entry['reason']})"
            )
        )


def render_markdown(data: Mapping[str, Any]) -> str:
    summary = data.get("premigrate") or {}
    mode = summary.get("mode", "before")
    lines = [
        f"### auditor premigrate ({'after the cut-over' if mode == 'after' else 'before'})",
        "",
        f"Old space `{', '.join(summary.get('old') or ()) or '-'}`, plan "
        f"`{md_escape(summary.get('plan'))}` ({summary.get('plan_entries', 0)} entries), "
        f"activity window {summary.get('window_days')} days. Most urgent first.",
        "",
        "| # | host | address | verdict | in plan | migrated | activity | last log write |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows(data):
        lines.append(
            "| "
            + " | ".join(
                md_escape(row[k])
                for k in (
                    "rank",
                    "host",
                    "address",
                    "verdict",
                    "in_plan",
                    "migrated",
                    "use",
                    "last_log_write",
                )
            )
            + " |"
        )
    unmatched = summary.get("unmatched_plan") or ()
    if unmatched:
        lines += ["", "Plan entries not on the old platform:", ""]
        for entry in unmatched:
            state = "migrated" if entry["migrated"] else "not migrated"
            lines.append(f"- {md_escape(entry['name'])}: {state} ({md_escape(entry['reason'])})")
    return "\n".join(lines) + "\n"


_ENV = jinja2.Environment(
    finalize=visible_in_html,  # control characters show as \x1b, never act
    loader=jinja2.PackageLoader("auditor.report", "templates"),  # migration.html.j2
    autoescape=True,
    undefined=jinja2.ChainableUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_html(data: Mapping[str, Any]) -> str:
    return _ENV.get_template("migration.html.j2").render(
        csp=Markup(CSP),
        style=Markup(REPORT_STYLE),  # our own stylesheet: its quotes must stay quotes
        summary=data.get("premigrate") or {},
        rows=rows(data),
    )
