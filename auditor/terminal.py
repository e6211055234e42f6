"""Terminal output with rich: source progress, probe progress bar, run summary."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from rich.console import Console

from auditor.config import Config
from auditor.model import AuditRun, Host, ProbeResults, SourceResult
from auditor.sources import Source
from auditor.visible import visible


class ConsoleProber(Protocol):
    """A prober that draws its progress on a console (auditor.probing.probe_hosts,
    auditor.engine.controller.probe_via_engine)."""

    def __call__(
        self, config: Config, hosts: tuple[Host, ...], *, console: Console | None = None
    ) -> ProbeResults: ...


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

    def wrap_prober(
        self, prober: ConsoleProber
    ) -> Callable[[Config, tuple[Host, ...]], ProbeResults]:
        """`prober` as pipeline.Prober, drawing on this console unless quiet."""

        def run(config: Config, hosts: tuple[Host, ...]) -> ProbeResults:
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
