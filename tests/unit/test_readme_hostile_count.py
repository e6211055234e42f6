"""README's "N hostile cases, all handled" is the hostile suite's own count: the number of
tests `make hostile` collects (marker `hostile` under tests/unit). Add a hostile case, and
this fails until README says the new number."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_states_the_hostile_suites_count() -> None:
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-m", "hostile", "tests/unit"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    counts = re.findall(r"^(\d+)(?:/\d+)? tests? (?:collected|selected)", collected.stdout, re.M)
    assert counts, collected.stdout[-2000:]
    stated = re.findall(r"\*\*(\d+) hostile cases, all handled\*\*", (ROOT / "README.md").read_text())
    assert stated == [counts[-1]], "README's hostile count is not the suite's: run make hostile"
