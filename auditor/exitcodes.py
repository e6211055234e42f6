"""Exit codes and the error-to-exit-code mapping every command shares.

0 clean, 1 findings at or above --fail-on, 2 usage or config error (bad config, bad target,
unknown run), 3 the run itself failed, 130 interrupted.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn

import click

from auditor.errors import AuditorError, ConfigError, TargetError
from auditor.visible import visible

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"auditor: error: {visible(message)}", err=True)
    sys.exit(code)


def run_guarded(body: Callable[[], int | None]) -> NoReturn:
    """Run a command body, mapping library errors and Ctrl-C to exit codes."""
    from auditor.store import UnknownRunError

    try:
        code = body()
    except (ConfigError, TargetError, UnknownRunError) as exc:
        fail(str(exc), EXIT_USAGE)
    except AuditorError as exc:
        fail(str(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        click.echo("auditor: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(code or EXIT_OK)
