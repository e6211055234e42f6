"""History commands: `auditor history`, `auditor diff`, `auditor report`.

Each reads the history store (read-only: no lock, so it works while a cron audit runs), a
SQLite file or a postgresql:// URL, named by `--store` or by `[audit] store` in `--config
FILE`. Register with

    from auditor.commands import diff, history, report
    main.add_command(history); main.add_command(diff); main.add_command(report)

Exit codes: 0 ok, 2 usage (no store given, unknown run), 3 the store cannot be read.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from auditor.commands.console import StdoutConsole
from auditor.errors import ConfigError
from auditor.exitcodes import run_guarded
from auditor.store import Store, UnknownRunError, open_store
from auditor.storedb import StoreLocation, store_location
from auditor.visible import visible, visible_data


def _run(body: Callable[[], None]) -> NoReturn:
    run_guarded(body)


def _store_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "--store",
        "store_path",
        metavar="PATH|URL",
        help="The history store: a SQLite file or a postgresql:// URL (password: "
        "$AUDITOR_STORE_PASSWORD or $PGPASSWORD); default: [audit] store in --config.",
    )(func)
    return click.option(
        "--config",
        "-c",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="An audit.toml whose [audit] store (and reports) to use.",
    )(func)


def _output_format_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """`--format text|json` as on audit/discover/drift (JSON alone on stdout, for jq), and
    the older `--json` flag it replaces, kept working but no longer listed."""
    func = click.option("--json", "as_json", is_flag=True, hidden=True)(func)
    return click.option(
        "--format", "output_format", type=click.Choice(["text", "json"]), default="text",
        help="json: print JSON to stdout (for jq) instead of a table.",
    )(func)  # fmt: skip


def _store_path(store_path: str | None, config_path: Path | None) -> StoreLocation:
    if store_path is not None:
        return store_location(store_path)
    if config_path is not None:
        from auditor.config import load_config

        config = load_config(config_path)
        if config.audit.store is None:
            raise ConfigError(f"{config_path}: [audit] has no 'store' (history is off)")
        return config.audit.store
    raise ConfigError("say which history store to read: --store PATH or --config FILE")


def _open(store_path: str | None, config_path: Path | None) -> Store:
    return open_store(_store_path(store_path, config_path), readonly=True)


def _console() -> Console:
    return StdoutConsole(highlight=False, soft_wrap=False)


# --------------------------------------------------------------------------- history


@click.command("history")
@_store_options
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="How many runs, newest first.",
)
@click.option("--host", "host_id", help="One host's status in every run (a host id).")
@_output_format_options
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
        with _open(store_path, config_path) as store:
            if host_id:
                _host_history(store, host_id, as_json)
            else:
                _runs(store, limit, as_json)

    _run(body)


def _runs(store: Store, limit: int, as_json: bool) -> None:
    rows = []
    for summary in store.runs(limit):
        report = store.get_run(summary.id).report
        changes = report.get("changes") or {}
        by_sev = (report.get("summary") or {}).get("findings_by_severity") or {}
        rows.append(
            {
                "id": summary.id,
                "started_at": summary.started_at.isoformat(),
                "seconds": round((summary.finished_at - summary.started_at).total_seconds(), 1),
                "hosts": summary.hosts,
                "findings": summary.findings,
                "critical": by_sev.get("critical", 0),
                "high": by_sev.get("high", 0),
                "new_hosts": len(changes.get("new_hosts") or ()),
                "gone_hosts": len(changes.get("gone_hosts") or ()),
                "status_changed": len(changes.get("status_changed") or ()),
                "new_findings": len(changes.get("new_findings") or ()),
                "interrupted": not summary.complete,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no runs in {store.location} yet")
        return
    console = _console()
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
    console = _console()
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


# --------------------------------------------------------------------------- diff


@click.command("diff")
@click.argument("run_a", required=False)
@click.argument("run_b", required=False)
@_store_options
@_output_format_options
def diff(
    run_a: str | None,
    run_b: str | None,
    store_path: str | None,
    config_path: Path | None,
    output_format: str,
    as_json: bool,
) -> NoReturn:
    """Compare two stored runs: RUN_A (older) with RUN_B (newer).

    Default: the last two runs. A run is an id, a unique id prefix, `latest`, or
    `latest~N` (N runs before the latest).
    """
    as_json = as_json or output_format == "json"

    def body() -> None:
        from datetime import timedelta

        from auditor.history import compute_changes

        with _open(store_path, config_path) as store:
            a = store.get_run(run_a or "latest~1")
            b = store.get_run(run_b or "latest")
        changes = compute_changes(a.snapshot(), b.snapshot(), grace=timedelta(0))
        changes.pop("first_seen", None)
        if as_json:
            click.echo(json.dumps({"from": a.id, "to": b.id, **changes}, indent=2))
        else:
            _print_changes(a.id, b.id, changes)

    _run(body)


def _print_changes(a: str, b: str, changes: dict[str, Any]) -> None:
    changes = visible_data(changes)  # host strings print as text, controls escaped
    console = _console()
    console.print(Text.assemble(("diff ", "bold"), a, " -> ", b))
    nothing = True
    for item in changes["new_hosts"]:
        console.print(
            Text.assemble(
                ("  + new host  ", "green"), item["label"], f" ({item['host']}, {item['status']})"
            )
        )
        nothing = False
    for item in changes["gone_hosts"]:
        console.print(Text.assemble(("  - gone      ", "red"), item["label"], f" ({item['host']})"))
        nothing = False
    for item in changes["status_changed"]:
        console.print(
            Text.assemble(
                ("  ~ status    ", "yellow"), item["label"], f": {item['from']} -> {item['to']}"
            )
        )
        nothing = False
    for item in changes["fact_changes"]:
        before = "none" if item["before"] is None else str(item["before"])
        after = "gone" if item["after"] is None else str(item["after"])
        console.print(
            Text.assemble(
                ("  ~ ", "cyan"),
                (f"{item['fact']:<10}", "cyan"),
                item["label"],
                f": {before} -> {after}",
            )
        )
        nothing = False
    for mark, style, key in (("  + finding   ", "red", "new_findings"),
                             ("  - resolved  ", "green", "resolved_findings")):  # fmt: skip
        for f in changes[key]:
            where = f.get("label") or f.get("host")
            console.print(Text.assemble((mark, style), f"[{f['severity']}] {f['title']}",
                                        f" on {where}" if where else ""))  # fmt: skip
            nothing = False
    if nothing:
        console.print("  no changes")


# --------------------------------------------------------------------------- report


@click.command("report")
@click.option(
    "--run",
    "run_ref",
    default="latest",
    show_default=True,
    help="The stored run: id, id prefix, latest, latest~N.",
)
@click.option(
    "--out",
    "-o",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the reports (default: [audit] reports, else ./reports/RUN).",
)
@_store_options
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def report(
    run_ref: str,
    out_dir: Path | None,
    store_path: str | None,
    config_path: Path | None,
    quiet: bool,
) -> NoReturn:
    """Render a stored run again: report.json, index.html, hosts.csv, summary.md."""

    def body() -> None:
        from auditor.report import write_report_data
        from auditor.report.terminal import render_terminal_data

        with _open(store_path, config_path) as store:
            stored = store.get_run(run_ref)
        target = out_dir
        if target is None and config_path is not None:
            from auditor.config import load_config

            target = load_config(config_path).audit.reports
        target = target or Path("reports") / stored.id
        written = write_report_data(stored.report, target)
        if not quiet:
            console = _console()
            render_terminal_data(stored.report, console)
            for kind, path in written.items():
                console.print(Text(f"{kind} report: {path}"))

    _run(body)


__all__ = ["diff", "history", "report"]
