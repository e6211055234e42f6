"""Terminal output with rich: source progress, probe progress bar, run summary."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from auditor.model import AuditRun, SourceResult
from auditor.sources import Source

_STATUS_STYLE = {
    "managed": "green", "unmanaged": "bold red", "cloud-unmanaged": "red",
    "stale": "yellow", "missing": "magenta", "ignored": "dim", "unverified": "dim",
}  # fmt: skip
_SEVERITY_STYLE = {
    "critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim",
}  # fmt: skip


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

        return run

    def summary(self, run: AuditRun, written: Mapping[str, Path]) -> None:
        if self.quiet:
            return
        table = Table(title=f"auditor run {run.id}", show_lines=False)
        for column in ("host", "addresses", "status", "owner", "ssh", "reason"):
            table.add_column(column)
        for host in run.hosts:
            ssh = run.ssh.get(host.id)
            style = _STATUS_STYLE.get(host.status.value, "")
            table.add_row(
                _plain(host.label), ", ".join(host.addresses),
                f"[{style}]{host.status.value}[/]", _plain(host.owner or ""),
                ssh.state if ssh else "-", _plain(host.status_reason),
            )  # fmt: skip
        self.console.print(table)
        for finding in run.findings[:20]:
            style = _SEVERITY_STYLE.get(finding.severity.value, "")
            self.console.print(f"[{style}]{finding.severity.value:>8}[/] {_plain(finding.title)}")
        if len(run.findings) > 20:
            self.console.print(f"... and {len(run.findings) - 20} more findings")
        for kind, path in written.items():
            self.console.print(f"{kind} report: {path}")


def _plain(text: str) -> str:
    """Escape rich markup: a hostname like '[bold]x' must print as itself."""
    from rich.markup import escape

    return escape(text)
