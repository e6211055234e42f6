"""`auditor eol show PRODUCT [CYCLE]`, `auditor eol update`: the end-of-life data."""

from __future__ import annotations

import json
from typing import NoReturn

import click

from auditor.exitcodes import EXIT_OK, EXIT_USAGE, fail, run_guarded


@click.group("eol")
def eol() -> None:
    """End-of-life data (endoflife.date, embedded; refreshable)."""


@eol.command("show")
@click.argument("product")
@click.argument("cycle", required=False)
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text")
def eol_show(product: str, cycle: str | None, output_format: str) -> NoReturn:
    """Print what the data says about PRODUCT (e.g. centos, rhel, nginx) [CYCLE]."""
    from datetime import date

    from auditor.eol import describe, load_eol_data, render_show
    from auditor.eol.show import show_json
    from auditor.errors import EolDataError

    def body() -> int:
        try:
            report = describe(product, cycle, on=date.today(), data=load_eol_data())
        except EolDataError as exc:
            fail(str(exc), EXIT_USAGE)
        if output_format == "json":
            click.echo(json.dumps(show_json(report), indent=2, ensure_ascii=False))
        else:
            click.echo(render_show(report))
        return EXIT_OK

    run_guarded(body)


@eol.command("update")
@click.option("--url", default=None, help="API base (default: the endoflife.date API v1).")
def eol_update(url: str | None) -> NoReturn:
    """Refresh the data from the endoflife.date API into the user cache."""
    from auditor.eol import DEFAULT_API_BASE, update_eol_data

    def body() -> int:
        result = update_eol_data(url or DEFAULT_API_BASE)
        click.echo(
            f"refreshed {len(result.products)} products ({result.cycles} cycles) from "
            f"{result.base_url} into {result.path}; replaces {result.replaced} data"
        )
        return EXIT_OK

    run_guarded(body)
