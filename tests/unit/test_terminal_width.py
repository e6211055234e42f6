"""What auditor prints to a terminal fits 80 columns: the run summary, the source progress
lines, `history` and `diff`, with long names, long paths and wide (CJK) characters."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.cells import cell_len
from rich.console import Console

from auditor.commands.diff import diff
from auditor.commands.history import history
from auditor.model import AuditRun, SourceKind, SourceResult
from auditor.report.terminal import render_terminal_summary
from auditor.store import open_store, record_run
from auditor.terminal import TerminalUI
from tests.unit.test_report import sample_run
from tests.unit.test_report_fleet import fleet, fleet_with_changes

WIDTH = 80
LONG = "very-long-hostname-without-any-break-" * 4 + ".example.com"
WIDE = "数据库服务器" * 8  # two cells per character


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=WIDTH, color_system=None, highlight=False), out


def _too_wide(text: str) -> list[str]:
    """Lines past 80 cells, and lines rich had to cut short (a header squeezed to "hos…")."""
    return [line for line in text.splitlines() if cell_len(line) > WIDTH or "…" in line]


def _long_names(run: AuditRun) -> AuditRun:
    hosts = tuple(
        replace(h, hostnames=((LONG if i % 2 else WIDE) + str(i), *h.hostnames))
        for i, h in enumerate(run.hosts)
    )
    failed = SourceResult(SourceKind.ANSIBLE, WIDE, ok=False, error="cannot read " + "/x" * 80)
    return replace(run, hosts=hosts, sources=(*run.sources, failed))


@pytest.mark.parametrize(
    "run", [fleet_with_changes(), sample_run(), _long_names(fleet_with_changes())],
    ids=["fleet", "sample", "long-names"],
)  # fmt: skip
def test_the_run_summary_fits(run: AuditRun) -> None:
    console, out = _console()
    render_terminal_summary(run, console)
    assert out.getvalue().strip()
    assert _too_wide(out.getvalue()) == []


def test_source_lines_and_report_paths_fit() -> None:
    console, out = _console()
    ui = TerminalUI(console=console)
    result = SourceResult(
        SourceKind.NETWORK, LONG, ok=False, error="nmap failed: " + "x" * 200,
        errors=("nmap failed: " + "x" * 200, WIDE),
    )  # fmt: skip

    class Source:
        kind, name = SourceKind.NETWORK, LONG

    ui.on_source(Source(), None)  # type: ignore[arg-type]
    ui.on_source(Source(), result)  # type: ignore[arg-type]
    ui.summary(sample_run(), {"json": Path("/srv/" + "reports/" * 20 + "report.json")})
    assert _too_wide(out.getvalue()) == []


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "history.sqlite"
    with open_store(path) as store:
        record_run(store, _long_names(fleet(previous=True)), grace=timedelta(days=3))
        record_run(store, _long_names(fleet()), grace=timedelta(days=3))
        # An interrupted run's id carries "(interrupted)": the longest first column.
        later = fleet()
        cut = replace(
            later, id="20261205T093000Z-cccccc", started_at=later.started_at + timedelta(days=7),
            finished_at=later.finished_at + timedelta(days=7), extra={"interrupted": True},
        )  # fmt: skip
        record_run(store, cut, grace=timedelta(days=3))
    return path


@pytest.mark.parametrize(
    ("command", "args"),
    [(history, ()), (history, ("--host", "ip:10.250.77.13")), (diff, ())],
    ids=["history", "host-history", "diff"],
)
def test_history_and_diff_fit(store_path: Path, command: object, args: tuple[str, ...]) -> None:
    result = CliRunner(env={"COLUMNS": str(WIDTH)}).invoke(
        command,  # type: ignore[arg-type]
        ["--store", str(store_path), *args],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip()
    assert _too_wide(result.stdout) == []
    if command is history and not args:
        assert "(interrupted)" in result.stdout
