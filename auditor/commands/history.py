"""`auditor history`: the stored runs, newest first, with what changed in each; or one
host's status in every run (`--host`). Reads the history store (a SQLite file or a
postgresql:// URL; --store, or [audit] store of --config) read-only. Exit codes: 0 ok,
2 usage (no store given, unknown host), 3 the store cannot be read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.table import Table
from rich.text import Text

from auditor.commands.console import table_console
from auditor.commands.options import json_format_options, open_history, store_options
from auditor.exitcodes import run_guarded
from auditor.store import Store, UnknownRunError
from auditor.visible import visible


@click.command("history")
@store_options
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="How many runs, newest first.",
)
@click.option("--host", "host_id", help="One host's status in every run (a host id).")
@json_format_options
def history(
    store_path: str | None,
    config_path: Path | None,
    limit: int,
    host_id: str | None,
    output_format: str,
    as_json: bool,
) -> NoReturn:
    """List stored runs (newest first) with what changed in each."""
    as_json = as_json or output_format == "json"

    def body() -> None:
        with open_history(store_path, config_path) as store:
            if host_id:
                _host_history(store, host_id, as_json)
            else:
                _runs(store, limit, as_json)

    run_guarded(body)


def _runs(store: Store, limit: int, as_json: bool) -> None:
    rows: list[dict[str, Any]] = []
    for summary in store.runs(limit):
        digest = store.digest(summary)  # stored at save time: no report decoded (issue 14)
        counts, by_sev = digest.changes, digest.findings_by_severity
        rows.append(
            {
                "id": summary.id,
                "started_at": summary.started_at.isoformat(),
                "seconds": round((summary.finished_at - summary.started_at).total_seconds(), 1),
                "hosts": summary.hosts,
                "findings": summary.findings,
                "critical": by_sev.get("critical", 0),
                "high": by_sev.get("high", 0),
                "new_hosts": counts["new_hosts"],
                "gone_hosts": counts["gone_hosts"],
                "status_changed": counts["status_changed"],
                "new_findings": counts["new_findings"],
                "interrupted": not summary.complete,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no runs in {store.location} yet")
        return
    console = table_console()
    # The run id starts with its UTC start time (20261128T093000Z-...): on an 80-column
    # terminal the separate column would squeeze the counts' headers to "hos…".
    dated = console.width >= 100
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 1, 0, 0))
    table.add_column("run")  # "(interrupted)" may go to a line of its own; the id never breaks
    if dated:
        table.add_column("started (UTC)", no_wrap=True)
    for column in ("hosts", "findings", "crit/high", "new", "gone", "status", "new findings"):
        table.add_column(column, justify="right")
    for r in rows:
        started = [r["started_at"][:16].replace("T", " ")] if dated else []
        table.add_row(
            r["id"] + (" (interrupted)" if r["interrupted"] else ""),
            *started,
            str(r["hosts"]),
            str(r["findings"]),
            f"{r['critical']}/{r['high']}",
            str(r["new_hosts"]),
            str(r["gone_hosts"]),
            str(r["status_changed"]),
            str(r["new_findings"]),
        )
    console.print(Text(f"runs in {store.location} (newest first; new/gone hosts, status changes)"))
    console.print(table)


def _host_history(store: Store, host_id: str, as_json: bool) -> None:
    rows = store.host_history(host_id)
    if not rows:
        raise UnknownRunError(f"host {host_id!r} is in no stored run (ids look like ip:10.0.0.5)")
    sighting = store.sightings().get(host_id)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "host": host_id,
                    "first_seen": sighting.first_seen.isoformat() if sighting else None,
                    "last_seen": sighting.last_seen.isoformat()
                    if sighting and sighting.last_seen
                    else None,
                    "runs": [{"run": r, "status": s, "alive": a} for r, s, a in rows],
                },
                indent=2,
            )
        )
        return
    console = table_console()
    if sighting:
        last = sighting.last_seen.isoformat()[:16] if sighting.last_seen else "never alive"
        console.print(
            Text(
                f"{visible(sighting.label)} ({visible(host_id)}): first seen "
                f"{sighting.first_seen.isoformat()[:16]}, last seen alive {last}"
            )
        )
    for run_id, status, alive in rows:
        console.print(Text(f"  {run_id}  {status:<16} {'alive' if alive else 'not seen'}"))
