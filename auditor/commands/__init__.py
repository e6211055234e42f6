"""The `auditor` commands, one per module; cli.py builds the group from `all_commands()`.
Options they share live in `options.py`, the audit/discover run in `run.py`, and the
error and outcome to exit code mapping in `auditor.exitcodes`."""

from __future__ import annotations

import click


def all_commands() -> tuple[click.Command, ...]:
    from auditor.commands.accept import accept
    from auditor.commands.audit import audit
    from auditor.commands.diff import diff
    from auditor.commands.discover import discover
    from auditor.commands.drift import drift
    from auditor.commands.eol import eol
    from auditor.commands.history import history
    from auditor.commands.init import init
    from auditor.commands.inspect import inspect
    from auditor.commands.lab import lab
    from auditor.commands.premigrate import premigrate
    from auditor.commands.report import report
    from auditor.commands.worker import worker

    return (init, audit, discover, drift, history, diff, report, inspect, premigrate, accept,
            worker, lab, eol)  # fmt: skip
