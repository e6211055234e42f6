"""Terminal output with rich: source progress, probe progress bar, run summary."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console

from auditor.model import AuditRun, SourceResult
from auditor.sources import Source
from auditor.visible import visible


class TerminalUI:
    def __init__(self, *, quiet: bool = False, console: Console | None = None) -> None:
        self.quiet = quiet
        self.console = console or Console(stderr=True)

    def on_source(self, source: Source, result: SourceResult | None) -> None:
        if self.quiet:
            return
        if result is None:
            self.console.print(f"[dim]reading {source.kind} source '{source.name}' ...[/]")
            return
        mark = "[green]ok[/]" if result.ok else "[red]FAILED[/]"
        self.console.print(f"  {source.kind} '{source.name}': {mark}, {result.count} sightings")
        for problem in result.errors or ((result.error,) if result.error else ()):
            self.console.print(f"    [yellow]{_plain(problem)}[/]")

    def wrap_prober(self, prober: Any) -> Any:
        def run(config: Any, hosts: Any) -> Any:
            return prober(config, hosts, console=None if self.quiet else self.console)

        run.takes_feed = getattr(prober, "takes_feed", False)  # type: ignore[attr-defined]
        return run

    def summary(self, run: AuditRun, written: Mapping[str, Path]) -> None:
        if self.quiet:
            return
        from auditor.report.terminal import render_terminal_summary

        render_terminal_summary(run, self.console)
        for kind, path in written.items():
            self.console.print(f"{kind} report: {_plain(str(path))}")


def _plain(text: str) -> str:
    """Escape rich markup and control characters: a hostname like '[bold]x' or one holding
    an ESC sequence must print as itself."""
    from rich.markup import escape

    return escape(visible(text))
