"""The run `auditor audit` and `auditor discover` share: load the config, read the sources,
reconcile, probe (audit only), write history and reports, print the summary, and the exit
code the outcome maps to (`auditor.exitcodes.outcome_code`). `--dry-run` prints the plan
instead (auditor.dryrun)."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from auditor.commands.options import print_report_json
from auditor.exitcodes import EXIT_FINDINGS, EXIT_OK, outcome_code
from auditor.model import Severity
from auditor.visible import visible

if TYPE_CHECKING:
    from auditor.config import Config
    from auditor.model import AuditRun
    from auditor.pipeline import Outcome
    from auditor.terminal import TerminalUI


def run_audit(
    config_path: Path,
    out_dir: Path | None,
    fail_on: str | None,
    quiet: bool,
    nmap_xml: tuple[Path, ...],
    notify_url: str | None,
    *,
    probe: bool,
    output_format: str = "text",
    dry_run: bool = False,
) -> int:
    from auditor.config import load_config
    from auditor.pipeline import execute
    from auditor.terminal import TerminalUI

    config = load_config(config_path)
    if nmap_xml:
        from auditor.config import NetworkConfig

        imported = NetworkConfig(name="nmap-xml", nmap_xml=tuple(p.resolve() for p in nmap_xml))
        config = replace(config, network=(*config.network, imported))
    if dry_run:
        if out_dir is not None:
            config = replace(config, audit=replace(config.audit, reports=out_dir))
        from auditor.dryrun import plan_dry_run, print_dry_run

        command = "audit" if probe else "discover"
        plan = plan_dry_run(config, command=command, probe=probe and config.ssh.enabled)
        return print_dry_run(plan, output_format)
    ui = TerminalUI(quiet=quiet)
    prober = None
    if probe:
        from auditor.engine.controller import probe_via_engine
        from auditor.probing import probe_hosts

        # With an [engine] the probes run at the vantages (auditor.engine).
        prober = ui.wrap_prober(probe_via_engine if config.engine else probe_hosts)
    started = time.monotonic()
    try:
        outcome = execute(
            config, out_dir=out_dir, notify_url=notify_url, prober=prober, observer=ui.on_source
        )
    except BaseException:
        _write_metrics(config, started, None, success=False)
        raise
    code = _finish(outcome, config, fail_on, output_format, ui)
    _write_metrics(config, started, outcome.run, success=code in (EXIT_OK, EXIT_FINDINGS))
    return code


def _write_metrics(config: Config, started: float, run: AuditRun | None, *, success: bool) -> None:
    """[audit] metrics: the textfile for monitoring, after the run (a failed one too)."""
    if config.audit.metrics is None:
        return
    from datetime import UTC, datetime

    from auditor.metrics import RunMetrics, write_metrics

    result = RunMetrics(datetime.now(UTC), time.monotonic() - started, success, run)
    if run is not None:
        write_metrics(config.audit.metrics, result)  # a failed write fails the run: exit 3
        return
    try:  # the run failed already: its own error is the one to report
        write_metrics(config.audit.metrics, result)
    except Exception as exc:
        logging.getLogger("auditor.metrics").warning("metrics not written: %s", exc)


def _finish(
    outcome: Outcome, config: Config, fail_on: str | None, output_format: str, ui: TerminalUI
) -> int:
    """Print the summary (and the JSON document), then the exit code the run ends with."""
    run = outcome.run
    if outcome.notify_warning:
        click.echo(
            f"auditor: warning: {visible(outcome.notify_warning)}", err=True
        )  # even when quiet
    ui.summary(run, outcome.written)
    if output_format == "json":
        print_report_json(outcome.written)
    threshold = Severity.parse(fail_on) if fail_on else config.audit.fail_on
    return outcome_code(run, threshold)
