"""`auditor premigrate`: before (and after) a platform migration.

Sweeps the old address space (and/or reads its inventory), probes every live host, and
lists each with: in the plan or not, migrated or not, activity (clients, logins, last log
write), most urgent first. `--after`: after the cut-over, every host still alive on the
old platform with recent activity is a finding. Writes the usual reports (report.json with
`migration` per host, index.html, hosts.csv, summary.md) plus migration.md and
migration.html. Exit codes: 0 nothing at or above --fail-on, 1 findings at or above it,
2 usage or config error, 3 the run failed, 130 interrupted.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import click

from auditor.commands.options import SshFlags, quiet_option, ssh_options
from auditor.exitcodes import outcome_code, run_guarded
from auditor.model import SEVERITY_NAMES


@click.command("premigrate")
@ssh_options
@click.option(
    "--old",
    "old",
    multiple=True,
    metavar="CIDR",
    help="The old platform's address space: CIDR, address or nmap range (repeatable).",
)
@click.option(
    "--old-inventory",
    "old_inventories",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="An inventory of the old platform (repeatable): its hosts are old hosts.",
)
@click.option(
    "--plan",
    "plan",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="The migration plan: the new Ansible inventory (ansible_host = where a host lives "
    "now; host var migrated: true marks it done), or a text list (see below).",
)
@click.option(
    "--plan-format",
    type=click.Choice(("auto", "list", "ansible")),
    default="auto",
    show_default=True,
    help="How to read --plan.",
)
@click.option(
    "--after",
    is_flag=True,
    help="After the cut-over: flag every old host still alive with recent activity.",
)
@click.option(
    "--resolve-plan",
    is_flag=True,
    help="Look plan names without an address up in DNS (off by default).",
)
@click.option(
    "--out",
    "-o",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Report folder (default: [audit] reports/premigrate or /postmigrate).",
)
@click.option(
    "--fail-on",
    type=click.Choice(SEVERITY_NAMES),
    default="high",
    show_default=True,
    help="Exit 1 when a finding has this severity or worse.",
)
@quiet_option
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print what it would sweep, read, probe and connect to, without sending a packet.",
)
@click.option(
    "--format", "output_format", type=click.Choice(["text", "json"]), default="text",
    help="json: with --dry-run, the plan as JSON on stdout.",
)  # fmt: skip
def premigrate(
    ssh: SshFlags,
    old: tuple[str, ...],
    old_inventories: tuple[Path, ...],
    plan: Path,
    plan_format: str,
    after: bool,
    resolve_plan: bool,
    out_dir: Path | None,
    fail_on: str,
    quiet: bool,
    dry_run: bool,
    output_format: str,
) -> NoReturn:  # fmt: skip
    """Check a migration: every live host on the old platform, in the plan or not,
    migrated or not, and still used or not (not planned and in use first).

    \b
    auditor premigrate -c audit.toml --old 10.250.77.0/24 --plan plan.txt
    auditor premigrate -c audit.toml --old 10.1.0.0/16 --plan new/hosts.ini --after

    A text plan has one entry per line; `#` starts a comment:

    \b
    # old name or address    [new address or name]    [migrated]
    web01                                             # planned, nowhere new yet
    web02      10.40.0.12                             # migrated once 10.40.0.12 answers
    db01    -> db01.new.example.com   migrated        # marked done
    """

    def body() -> int:

        from auditor.commands.console import StdoutConsole
        from auditor.fileio import write_atomic
        from auditor.model import Severity
        from auditor.premigrate.classify import Mode
        from auditor.premigrate.render import render_html, render_markdown, render_terminal
        from auditor.premigrate.run import PremigrateRequest
        from auditor.premigrate.run import premigrate as run_premigrate
        from auditor.probing import probe_hosts
        from auditor.report import write_report_data
        from auditor.terminal import TerminalUI

        config = ssh.config()
        request = PremigrateRequest(
            plan=plan,
            old=old,
            old_inventories=old_inventories,
            plan_kind=plan_format,
            mode=Mode.AFTER if after else Mode.BEFORE,
            window_days=ssh.days,
            resolve_plan=resolve_plan,
        )
        folder = out_dir or config.audit.reports / ("postmigrate" if after else "premigrate")
        if dry_run:
            from auditor.dryrun import print_dry_run
            from auditor.premigrate.run import premigrate_dry_run

            return print_dry_run(premigrate_dry_run(config, request, folder), output_format)
        if output_format == "json":
            raise click.UsageError("--format json goes with --dry-run here (reports: --out)")
        ui = TerminalUI(quiet=quiet)
        result = run_premigrate(
            config, request, prober=ui.wrap_prober(probe_hosts), observer=ui.on_source
        )
        written = write_report_data(result.data, folder)
        extra = {"migration.md": render_markdown(result.data),
                 "migration.html": render_html(result.data)}  # fmt: skip
        for name, text in extra.items():
            write_atomic(folder / name, text)
        if not quiet:
            console = StdoutConsole(highlight=False)
            if not console.is_terminal:
                console = StdoutConsole(highlight=False, width=140)
            render_terminal(result.data, console)
            for path in [*written.values(), *(folder / n for n in extra)]:
                click.echo(f"report: {path}", err=True)
        return outcome_code(result.run, Severity.parse(fail_on))

    run_guarded(body)


__all__ = ["premigrate"]
