"""Every report format of two fixed runs, byte for byte (issue 17): a change to how reports
are made that means to leave them as they are (the typed report view, the memory work of
issue 14) must leave these files equal. The runs: the lab-like fleet with changes since a
week earlier (test_report_fleet), and 20 generated hosts (a name that is markup among them).

A change that means to alter a report rewrites them, and its diff is reviewed:

    AUDITOR_REGENERATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_report_golden.py
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from auditor.model import AuditRun
from auditor.report import render_all, run_to_dict
from tests.unit.big_fleet import generated_run
from tests.unit.test_report_fleet import fleet_with_changes

GOLDEN = Path(__file__).parent.parent / "fixtures" / "reports"
FILES = {"json": "report.json", "html": "index.html", "csv": "hosts.csv", "md": "summary.md"}
RUNS: dict[str, Callable[[], AuditRun]] = {
    "fleet": fleet_with_changes,
    "generated": lambda: generated_run(20),
}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_every_format_is_byte_for_byte_the_golden_one(name: str) -> None:
    texts = render_all(run_to_dict(RUNS[name]()))
    assert set(texts) == set(FILES)
    folder = GOLDEN / name
    if os.environ.get("AUDITOR_REGENERATE_GOLDEN") == "1":
        folder.mkdir(parents=True, exist_ok=True)
        for kind, filename in FILES.items():
            (folder / filename).write_bytes(texts[kind].encode("utf-8"))
    for kind, filename in FILES.items():
        expected = (folder / filename).read_bytes().decode("utf-8")
        assert texts[kind] == expected, f"{name}/{filename} differs from the golden file"
