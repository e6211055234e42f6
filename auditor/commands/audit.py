"""`auditor audit`: sources, reconcile, SSH probe, findings, history, reports. Exit codes:
0 clean, 1 findings at or above --fail-on, 2 usage or config error, 3 the run itself
failed, 130 interrupted (auditor.exitcodes)."""

from __future__ import annotations

from typing import Any, NoReturn

import click

from auditor.commands.options import run_options
from auditor.commands.run import run_audit
from auditor.exitcodes import run_guarded


@click.command("audit")
@run_options
@click.option("--no-probe", is_flag=True, help="Skip the SSH probe (same as `discover`).")
def audit(no_probe: bool, **options: Any) -> NoReturn:
    """Run a full audit: sources, reconcile, SSH probe, findings, history, reports."""
    run_guarded(lambda: run_audit(**options, probe=not no_probe))
