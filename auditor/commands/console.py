"""`StdoutConsole`: rich output on stdout, where a reader gone (`| head`) ends the command with
141, quietly."""

from __future__ import annotations

from rich.console import Console

from auditor.exitcodes import end_quietly_on_closed_stdout


class StdoutConsole(Console):
    """A rich Console for a command's output on stdout. A reader that went away (`| head`)
    ends the command with 141, quietly (auditor.exitcodes), where rich's own handling exits
    1, which cron reads as "findings"."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        end_quietly_on_closed_stdout()


def table_console() -> StdoutConsole:
    """For tables and lists on stdout: no highlighting of numbers and words (the text is the
    hosts', shown as it is), lines never soft-wrapped into the next column."""
    return StdoutConsole(highlight=False, soft_wrap=False)
