"""`auditor init [PATH]`: a commented starter config that reads nothing until edited."""

from __future__ import annotations

from pathlib import Path

import click

from auditor.exitcodes import EXIT_USAGE, fail


@click.command("init")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path), default="audit.toml")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: Path, force: bool) -> None:
    """Write a commented starter config to PATH (default: ./audit.toml)."""
    from auditor.starter import default_store, starter_config

    if path.exists() and not force:
        fail(f"{path} exists; use --force to overwrite", EXIT_USAGE)
    store = default_store()
    path.write_text(starter_config(store), encoding="utf-8")
    click.echo(
        f"wrote {path}: it reads nothing yet. Uncomment and edit the [[network]] targets,\n"
        f"inventories, cloud accounts and state, then run\n"
        f"  auditor audit --config {path}\n"
        f"History goes to {store}."
    )
