"""`auditor report --run ID`: render a stored run again (report.json, index.html, hosts.csv,
summary.md). Exit codes: 0 ok, 2 usage (no store given, unknown run), 3 the store cannot be
read or the reports written."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import click
from rich.text import Text

from auditor.commands.console import table_console
from auditor.commands.options import open_history, quiet_option, store_options
from auditor.exitcodes import run_guarded


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
@store_options
@quiet_option
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

        with open_history(store_path, config_path) as store:
            stored = store.get_run(run_ref, spooled=True)  # hosts read one at a time
        target = out_dir
        if target is None and config_path is not None:
            from auditor.config import load_config

            target = load_config(config_path).audit.reports
        target = target or Path("reports") / stored.id
        written = write_report_data(stored.report, target)
        if not quiet:
            console = table_console()
            render_terminal_data(stored.report, console)
            for kind, path in written.items():
                console.print(Text(f"{kind} report: {path}"))

    run_guarded(body)
