"""`auditor diff [RUN_A] [RUN_B]`: what changed between two stored runs (default: the last
two). Exit codes: 0 ok, 2 usage (no store given, unknown run), 3 the store cannot be read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.text import Text

from auditor.commands.console import table_console
from auditor.commands.options import json_format_options, open_history, store_options
from auditor.exitcodes import run_guarded
from auditor.visible import visible_data


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
            a = store.get_run(run_a or "latest~1")
            b = store.get_run(run_b or "latest")
        changes = compute_changes(a.snapshot(), b.snapshot(), grace=timedelta(0))
        changes.pop("first_seen", None)
        if as_json:
            click.echo(json.dumps({"from": a.id, "to": b.id, **changes}, indent=2))
        else:
            _print_changes(a.id, b.id, changes)

    run_guarded(body)


def _print_changes(a: str, b: str, changes: dict[str, Any]) -> None:
    changes = visible_data(changes)  # host strings print as text, controls escaped
    console = table_console()
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
