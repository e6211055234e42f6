"""Every test in this folder is a hostile case: discovered strings, files and values made by
someone we do not trust. They carry the `hostile` marker, and the run ends with their count
("N hostile cases, all handled"): the figure README states comes from the suite itself
(`make hostile`)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.hostile)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    outcomes: dict[str, int] = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if report.when in ("call", "setup") and "hostile" in report.keywords:
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
    cases = sum(outcomes.values())
    if not cases:
        return
    handled = outcomes.get("passed", 0)
    verdict = "all handled" if handled == cases else f"{cases - handled} not handled"
    terminalreporter.write_line(f"{cases} hostile cases, {verdict}")
