"""The `auditor` command group: global options (-v, --debug, -V), logging, and the commands
of `auditor.commands` (one per module) added to it. No command and no audit logic lives
here; exit codes: auditor.exitcodes.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any

import click

from auditor.commands import all_commands
from auditor.exitcodes import fail_unexpected, is_debug, set_debug
from auditor.visible import visible

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


for _command in all_commands():
    main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    main()
