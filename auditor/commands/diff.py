"""`auditor diff [RUN_A] [RUN_B]`: what changed between two stored runs (default: the last
two). Exit codes: 0 ok, 2 usage (no store given, unknown run), 3 the store cannot be read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NoReturn

import click
from rich.text import Text

from auditor.commands.console import table_console
from auditor.commands.options import json_format_options, open_history, store_options
from auditor.exitcodes import run_guarded
from auditor.model import Changes
from auditor.visible import visible


@click.command("diff")
@click.argument("run_a", required=False)
@click.argument("run_b", required=False)
@store_options
@json_format_options
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

        with open_history(store_path, config_path) as store:
            # Both runs read from the store's tables, host by host, not their reports
            # (issue 14: ~90 MB of JSON each at 10,000 hosts).
            a = store.open_run(run_a or "latest~1")
            b = store.open_run(run_b or "latest")
            changes = compute_changes(a.snapshot(), b.snapshot(), grace=timedelta(0))
        from auditor.report.json_report import changes_to_dict

        if as_json:
            data = changes_to_dict(changes)
            data.pop("first_seen", None)
            click.echo(json.dumps({"from": a.id, "to": b.id, **data}, indent=2))
        else:
            _print_changes(a.id, b.id, changes)

    run_guarded(body)


def _print_changes(a: str, b: str, changes: Changes) -> None:
    v = visible  # host strings print as text, controls escaped
    console = table_console()
    console.print(Text.assemble(("diff ", "bold"), a, " -> ", b))
    nothing = True
    for new in changes.new_hosts:
        console.print(
            Text.assemble(
                ("  + new host  ", "green"), v(new.label), f" ({v(new.host)}, {new.status})"
            )
        )
        nothing = False
    for gone in changes.gone_hosts:
        console.print(Text.assemble(("  - gone      ", "red"), v(gone.label), f" ({v(gone.host)})"))
        nothing = False
    for status in changes.status_changed:
        console.print(
            Text.assemble(
                ("  ~ status    ", "yellow"),
                v(status.label),
                f": {status.before} -> {status.after}",
            )
        )
        nothing = False
    for fact in changes.fact_changes:
        before = "none" if fact.before is None else v(fact.before)
        after = "gone" if fact.after is None else v(fact.after)
        console.print(
            Text.assemble(
                ("  ~ ", "cyan"),
                (f"{v(fact.fact):<10}", "cyan"),
                v(fact.label),
                f": {before} -> {after}",
            )
        )
        nothing = False
    listed = (("  + finding   ", "red", changes.new_findings),
              ("  - resolved  ", "green", changes.resolved_findings))  # fmt: skip
    for mark, style, findings in listed:
        for f in findings:
            where = f.label or f.host
            console.print(Text.assemble((mark, style), f"[{f.severity}] {v(f.title)}",
                                        f" on {v(where)}" if where else ""))  # fmt: skip
            nothing = False
    if nothing:
        console.print("  no changes")
