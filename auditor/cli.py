"""Command line: parse arguments, build objects, call the library, map the outcome to an
exit code. No audit logic lives here.

Exit codes (auditor audit / discover): 0 clean, 1 findings at or above --fail-on,
2 usage or config error, 3 the run itself failed, 130 interrupted.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from auditor.exitcodes import (
    EXIT_FAILED,
    EXIT_FINDINGS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    fail,
    fail_unexpected,
    is_debug,
    run_guarded,
    set_debug,
)
from auditor.model import SEVERITY_NAMES, Finding, Severity
from auditor.visible import visible

if TYPE_CHECKING:
    from auditor.config import Config
    from auditor.model import AuditRun
    from auditor.pipeline import Outcome
    from auditor.terminal import TerminalUI

_fail = fail
_guard = run_guarded


_VERBOSE = re.compile(r"-v+")


def _verbosity(arg: str) -> int:
    """How many -v an argument stands for (`-v`, `-vv`, `--verbose`), else 0."""
    if arg == "--verbose":
        return 1
    return len(arg) - 1 if _VERBOSE.fullmatch(arg) else 0


class _Guarded(click.Group):
    """The command group. `--debug` and `-v`/`--verbose` are taken wherever they are on the
    command line (`auditor -v audit` or `auditor audit -vv`), and an exception no command
    mapped ends with exit 3 and one line, never a traceback and exit 1 (see exitcodes)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        end = args.index("--") if "--" in args else len(args)
        head, tail = args[:end], args[end:]
        debug = "--debug" in head
        if debug:
            set_debug(True)
        verbosity = sum(_verbosity(a) for a in head)
        head = [a for a in head if a != "--debug" and not _verbosity(a)]
        configure_logging(verbosity, debug=debug)
        return super().parse_args(ctx, head + tail)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            fail_unexpected(exc)


@click.group(cls=_Guarded, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(None, "-V", "--version", package_name="auditor", prog_name="auditor")
@click.option(
    "--debug",
    is_flag=True,
    help="Log everything (DEBUG) and print the traceback of a failure (also AUDITOR_DEBUG=1).",
)
@click.option(
    "--verbose", "-v", count=True,
    help="Log the run's stages to stderr with timestamps (-v: progress, -vv: detail).",
)  # fmt: skip
def main(debug: bool, verbose: int) -> None:
    """auditor: find unknown servers and infrastructure drift, agentlessly.

    Sweeps networks (nmap), reads AWS, Ansible inventories and Terraform state, compares
    them to flag unmanaged hosts, stale inventory entries and hand-made cloud hosts, probes
    hosts over SSH (nothing installed on them), and writes HTML/JSON reports.

    Start with `auditor init` to write a starter audit.toml.
    """
    set_debug(debug)


class _LogFormatter(logging.Formatter):
    """UTC timestamps, and every message made inert (hostnames and banners in log lines
    come from machines we do not trust: auditor.visible)."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime(datefmt or "%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = visible(record.message)
        return super().formatMessage(record)


def configure_logging(verbosity: int, *, debug: bool = False) -> None:
    """The one place logging is set up: auditor's own loggers to stderr, WARNING by default,
    INFO with -v, DEBUG with -vv or --debug (or AUDITOR_DEBUG=1). Libraries stay at WARNING
    whatever the level: botocore's DEBUG prints request headers with session tokens, and
    paramiko's is noise to an auditor's user."""
    debug = debug or is_debug()
    level = logging.DEBUG if debug or verbosity >= 2 else logging.INFO if verbosity else None
    ours = logging.getLogger("auditor")
    for handler in [h for h in ours.handlers if getattr(h, "auditor_cli", False)]:
        ours.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.auditor_cli = True  # type: ignore[attr-defined]
    handler.setFormatter(
        _LogFormatter("%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s",
                      "%Y-%m-%dT%H:%M:%S")
    )  # fmt: skip
    ours.addHandler(handler)
    ours.setLevel(level or logging.WARNING)


@main.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path), default="audit.toml")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: Path, force: bool) -> None:
    """Write a commented starter config to PATH (default: ./audit.toml)."""
    from auditor.starter import default_store, starter_config

    if path.exists() and not force:
        _fail(f"{path} exists; use --force to overwrite", EXIT_USAGE)
    store = default_store()
    path.write_text(starter_config(store), encoding="utf-8")
    click.echo(
        f"wrote {path}: it reads nothing yet. Uncomment and edit the [[network]] targets,\n"
        f"inventories, cloud accounts and state, then run\n"
        f"  auditor audit --config {path}\n"
        f"History goes to {store}."
    )


def _found_config(_ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path:
    from auditor.config import find_config
    from auditor.errors import ConfigError

    try:
        return find_config(value)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def _config_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--config", "-c", "config_path", callback=_found_config,
        type=click.Path(dir_okay=False, path_type=Path),
        help="The audit.toml to run (default: $AUDITOR_CONFIG, ./audit.toml, "
        "~/.config/auditor/audit.toml, /etc/auditor/audit.toml).",
    )(func)  # fmt: skip


def _out_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--out", "-o", "out_dir", type=click.Path(file_okay=False, path_type=Path),
        help="Report folder (default: [audit] reports in the config).",
    )(func)  # fmt: skip


def _fail_on_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--fail-on", type=click.Choice(SEVERITY_NAMES, case_sensitive=False), default=None,
        help="Exit 1 when a finding has this severity or worse (default: [audit] fail_on).",
    )(func)  # fmt: skip


def _quiet_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors (for cron).")(
        func
    )


def _notify_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--notify", "notify_url", metavar="URL",
        help="POST a JSON summary (Slack-compatible) when the run has new findings.",
    )(func)  # fmt: skip


def _format_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--format", "output_format", type=click.Choice(["text", "json"]), default="text",
        help="json: print the run's report.json to stdout (for jq); progress and the summary "
        "stay on stderr. Reports are written as usual.",
    )(func)  # fmt: skip


def _print_report_json(written: Mapping[str, Path]) -> None:
    """report.json as written, to stdout: the same document, byte for byte."""
    sys.stdout.write(written["json"].read_text(encoding="utf-8"))
    sys.stdout.flush()


def _dry_run_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--dry-run", is_flag=True,
        help="Print the sources it would read, the exact nmap commands and the hosts it would "
        "probe (and why), without sending a packet; exit 0. With --format json, as JSON.",
    )(func)  # fmt: skip


def _nmap_xml_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--nmap-xml", "nmap_xml", multiple=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="Import an nmap XML scan made elsewhere (repeatable); adds to [[network]].",
    )(func)  # fmt: skip


def _run_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options `audit` and `discover` share (everything `_run` takes but `probe`)."""
    for option in reversed((
        _config_option, _out_option, _fail_on_option, _quiet_option, _nmap_xml_option,
        _notify_option, _format_option, _dry_run_option,
    )):  # fmt: skip
        func = option(func)
    return func


@main.command()
@_run_options
@click.option("--no-probe", is_flag=True, help="Skip the SSH probe (same as `discover`).")
def audit(no_probe: bool, **options: Any) -> NoReturn:
    """Run a full audit: sources, reconcile, SSH probe, findings, history, reports."""
    _guard(lambda: _run(**options, probe=not no_probe))


@main.command()
@_run_options
def discover(**options: Any) -> NoReturn:
    """Run the sources and reconcile only (no SSH); writes the same report format."""
    _guard(lambda: _run(**options, probe=False))


def _run(
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
        _print_report_json(outcome.written)
    if run.interrupted:
        return EXIT_INTERRUPTED
    threshold = Severity.parse(fail_on) if fail_on else config.audit.fail_on
    if any(not s.ok and s.count == 0 for s in run.sources) and not run.hosts:
        return EXIT_FAILED
    return EXIT_FINDINGS if fails(run.findings, threshold) else EXIT_OK


def fails(findings: Iterable[Finding], threshold: Severity) -> bool:
    """A finding at or above --fail-on that counts: accepted findings ([[accept]]) do not,
    until their acceptance expires."""
    return any(f.counts and f.severity.rank >= threshold.rank for f in findings)


# --------------------------------------------------------------------------- drift


@main.command()
@_config_option
@_out_option
@_fail_on_option
@_quiet_option
@_format_option
def drift(
    config_path: Path, out_dir: Path | None, fail_on: str | None, quiet: bool, output_format: str
) -> NoReturn:
    """Compare Terraform state and code with the live cloud; check [[policy]] rules."""
    _guard(lambda: _drift(config_path, out_dir, fail_on, quiet, output_format))


def _drift(
    config_path: Path, out_dir: Path | None, fail_on: str | None, quiet: bool, output_format: str
) -> int:
    from auditor.config import load_config
    from auditor.drift.run import drift_configured, summary_lines
    from auditor.pipeline import drift_run
    from auditor.report import write_reports

    config = load_config(config_path)
    if not drift_configured(config):
        _fail(
            f"{config_path}: nothing to check: add [[terraform]] state/config or [[policy]] rules",
            EXIT_USAGE,
        )
    if not config.aws:
        _fail(f"{config_path}: drift needs an [[aws]] section to read the live cloud", EXIT_USAGE)
    run, result = drift_run(config)
    written = write_reports(run, out_dir or config.audit.reports)
    if not quiet:
        # With --format json, stdout is the document alone; the summary goes to stderr.
        to_stderr = output_format == "json"
        for line in summary_lines(result):
            click.echo(visible(line), err=to_stderr)
        click.echo("reports: " + ", ".join(str(p) for p in written.values()), err=to_stderr)
    if output_format == "json":
        _print_report_json(written)
    if result.read_nothing:
        return EXIT_FAILED
    threshold = Severity.parse(fail_on) if fail_on else config.audit.fail_on
    return EXIT_FINDINGS if fails(run.findings, threshold) else EXIT_OK


# --------------------------------------------------------------------------- history


def _register_commands() -> None:
    from auditor.commands import diff, history, report
    from auditor.commands.accept import accept
    from auditor.commands.inspect import inspect
    from auditor.commands.premigrate import premigrate
    from auditor.commands.worker import worker

    for command in (history, diff, report, inspect, premigrate, accept, worker):
        main.add_command(command)


_register_commands()


# --------------------------------------------------------------------------- lab


@main.group()
def lab() -> None:
    """The demo/test fleet: network namespaces with real sshd hosts (needs root)."""


@lab.command("up")
@click.option("--hosts", "extra_hosts", type=int, default=0, help="Extra filler hosts.")
def lab_up_cmd(extra_hosts: int) -> NoReturn:
    """Build the lab (idempotent)."""
    from auditor.lab.cli import main as lab_main

    sys.exit(lab_main(["up", "--hosts", str(extra_hosts)]))


@lab.command("down")
def lab_down_cmd() -> NoReturn:
    """Remove everything the lab created."""
    from auditor.lab.cli import main as lab_main

    sys.exit(lab_main(["down"]))


@lab.command("status")
def lab_status_cmd() -> NoReturn:
    """Show the lab's hosts and whether their sshd answers."""
    from auditor.lab.cli import main as lab_main

    sys.exit(lab_main(["status"]))


# --------------------------------------------------------------------------- eol


@main.group()
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
            _fail(str(exc), EXIT_USAGE)
        if output_format == "json":
            click.echo(json.dumps(show_json(report), indent=2, ensure_ascii=False))
        else:
            click.echo(render_show(report))
        return EXIT_OK

    _guard(body)


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

    _guard(body)


if __name__ == "__main__":  # pragma: no cover
    main()
