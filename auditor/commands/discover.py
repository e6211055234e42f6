"""`auditor discover`: the sources and reconcile only, no SSH; the same reports and exit
codes as `auditor audit`."""

from __future__ import annotations

from typing import Any, NoReturn

import click

from auditor.commands.options import run_options
from auditor.commands.run import run_audit
from auditor.exitcodes import run_guarded


@click.command("discover")
@run_options
def discover(**options: Any) -> NoReturn:
    """Run the sources and reconcile only (no SSH); writes the same report format."""
    run_guarded(lambda: run_audit(**options, probe=False))
