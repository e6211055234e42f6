"""Exit codes, and the one mapping every command shares from an error, or from a finished
run's outcome (`outcome_code`), to one.

0 clean, 1 findings at or above --fail-on, 2 usage or config error (bad config, bad target,
unknown run), 3 the run itself failed, 130 interrupted, 141 stdout was closed before the
output was written (`auditor history | head`): quiet, the status a shell gives a program
SIGPIPE ends (`yes | head`). Python ignores SIGPIPE, so a write to a closed pipe raises
BrokenPipeError instead; the files a run writes (reports, history) are written before
anything goes to stdout, so they are complete whichever way the pipe went.

1 means "findings" to cron, so nothing else may end with 1: a failed write (full disk,
read-only folder, permission) and any unexpected exception end with 3 and one line on
stderr; the traceback only with `auditor --debug` (or AUDITOR_DEBUG=1).
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, NoReturn

import click

from auditor.errors import AuditorError, ConfigError, TargetError
from auditor.visible import visible

if TYPE_CHECKING:
    from auditor.model import AuditRun, Finding, Severity

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_STDOUT_CLOSED = 141  # 128 + SIGPIPE

_debug = os.environ.get("AUDITOR_DEBUG", "") not in ("", "0")


def set_debug(on: bool) -> None:
    """`--debug`: failures print their traceback too."""
    global _debug
    _debug = _debug or on


def is_debug() -> bool:
    return _debug


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"auditor: error: {visible(message)}", err=True)
    sys.exit(code)


def fails(findings: Iterable[Finding], threshold: Severity) -> bool:
    """A finding at or above --fail-on that counts: accepted findings ([[accept]]) do not,
    until their acceptance expires."""
    return any(f.counts and f.severity.rank >= threshold.rank for f in findings)


def outcome_code(run: AuditRun, threshold: Severity, *, read_nothing: bool | None = None) -> int:
    """The exit code a finished run ends with, for every command that makes one (audit,
    discover, drift, premigrate): 130 interrupted (Ctrl-C mid-run: what was read is
    stored), 3 the run read nothing (every source failed and no host was found; drift says
    so itself by `read_nothing`), 1 a finding at or above `threshold` that counts, else 0."""
    if run.interrupted:
        return EXIT_INTERRUPTED
    if read_nothing is None:
        read_nothing = any(not s.ok and s.count == 0 for s in run.sources) and not run.hosts
    if read_nothing:
        return EXIT_FAILED
    return EXIT_FINDINGS if fails(run.findings, threshold) else EXIT_OK


def stdout_closed() -> bool:
    """Whether our stdout is a pipe nobody reads any more (the reader of `| head` exited):
    poll reports an error on such a pipe's write end. A BrokenPipeError from anything else
    (a socket, a child's stdin) is a failure like any other."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.__stdout__.fileno() if sys.__stdout__ else 1, select.POLLOUT)
        return any(event & select.POLLERR for _, event in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def end_quietly_on_closed_stdout() -> NoReturn:
    """The reader went away: nothing more to say to anybody. stdout now points to /dev/null,
    so the interpreter's last flush does not print "Exception ignored ... BrokenPipeError"."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.__stdout__.fileno() if sys.__stdout__ else 1)
    sys.exit(EXIT_STDOUT_CLOSED)


def fail_unexpected(exc: BaseException) -> NoReturn:
    """Exit 3 for an exception nobody translated: one line, the traceback under --debug.
    A closed stdout is no failure: exit 141, quietly."""
    if isinstance(exc, BrokenPipeError) and stdout_closed():
        end_quietly_on_closed_stdout()
    if _debug:
        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        fail(f"{exc.strerror}{where}", EXIT_FAILED)
    hint = "" if _debug else " (run `auditor --debug ...` for the traceback)"
    fail(f"unexpected {type(exc).__name__}: {exc}{hint}", EXIT_FAILED)


def run_guarded(body: Callable[[], int | None]) -> NoReturn:
    """Run a command body, mapping library errors and Ctrl-C to exit codes."""
    from auditor.store import UnknownRunError

    try:
        code = body()
    except (ConfigError, TargetError, UnknownRunError) as exc:
        _trace(exc)
        fail(str(exc), EXIT_USAGE)
    except AuditorError as exc:
        _trace(exc)
        fail(str(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        click.echo("auditor: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException:
        raise  # usage errors: click prints them and exits 2
    except Exception as exc:
        fail_unexpected(exc)
    sys.exit(code or EXIT_OK)


def _trace(exc: BaseException) -> None:
    if _debug:
        traceback.print_exception(exc, file=sys.stderr)
