"""`auditor drift`: Terraform state and code vs the live cloud, and the [[policy]] rules.
Exit codes as audit's (auditor.exitcodes.outcome_code): 3 when nothing could be read."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import click

from auditor.commands.options import (
    config_option,
    fail_on_option,
    format_option,
    out_option,
    print_report_json,
    quiet_option,
)
from auditor.exitcodes import EXIT_USAGE, fail, outcome_code, run_guarded
from auditor.model import Severity
from auditor.visible import visible


@click.command("drift")
@config_option
@out_option
@fail_on_option
@quiet_option
@format_option
def drift(
    config_path: Path, out_dir: Path | None, fail_on: str | None, quiet: bool, output_format: str
) -> NoReturn:
    """Compare Terraform state and code with the live cloud; check [[policy]] rules."""
    run_guarded(lambda: _drift(config_path, out_dir, fail_on, quiet, output_format))


def _drift(
    config_path: Path, out_dir: Path | None, fail_on: str | None, quiet: bool, output_format: str
) -> int:
    from auditor.config import load_config
    from auditor.drift.run import drift_configured, summary_lines
    from auditor.pipeline import drift_run
    from auditor.report import write_reports

    config = load_config(config_path)
    if not drift_configured(config):
        fail(
            f"{config_path}: nothing to check: add [[terraform]] state/config or [[policy]] rules",
            EXIT_USAGE,
        )
    if not config.aws:
        fail(f"{config_path}: drift needs an [[aws]] section to read the live cloud", EXIT_USAGE)
    run, result = drift_run(config)
    written = write_reports(run, out_dir or config.audit.reports)
    if not quiet:
        # With --format json, stdout is the document alone; the summary goes to stderr.
        to_stderr = output_format == "json"
        for line in summary_lines(result):
            click.echo(visible(line), err=to_stderr)
        click.echo("reports: " + ", ".join(str(p) for p in written.values()), err=to_stderr)
    if output_format == "json":
        print_report_json(written)
    threshold = Severity.parse(fail_on) if fail_on else config.audit.fail_on
    return outcome_code(run, threshold, read_nothing=result.read_nothing)
