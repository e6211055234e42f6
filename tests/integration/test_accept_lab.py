"""Accepting a finding on the real lab (issue 12 part 6): `auditor accept` writes a baseline,
the lab audit reads it, the orphan's end-of-life OS is shown as accepted with its reason and
does not count for --fail-on, and an acceptance that has expired comes back, saying so."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from auditor.config import load_baseline, load_config
from auditor.exitcodes import fails
from auditor.lab import LabState
from auditor.model import Severity
from auditor.pipeline import execute
from auditor.probing import probe_hosts

pytestmark = pytest.mark.lab
CONFIG = Path(__file__).parents[2] / "inventories" / "lab" / "audit.toml"


def accept(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auditor", "accept", *args, "-c", str(config)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_accepted_and_expired_findings_on_the_lab(
    lab: LabState, aws_env: None, tmp_path: Path
) -> None:
    baseline = tmp_path / "accepted.toml"
    small = tmp_path / "audit.toml"  # names the baseline `auditor accept` appends to
    small.write_text(f'[audit]\nbaseline = "{baseline}"\n')
    until = (date.today() + timedelta(days=30)).isoformat()
    written = accept(small, "eol-os", "legacy-billing01", "--reason",
                     "replaced by the Q1 migration (OPS-42)", "--expires", until)  # fmt: skip
    assert written.returncode == 0, written.stderr
    refused = accept(small, "eol-os", "web01", "--reason", "x", "--expires", "2020-01-01")
    assert refused.returncode == 2  # a date already past: nothing written
    assert len(load_baseline(baseline)) == 1

    config = load_config(CONFIG)
    accepted = load_baseline(baseline)
    expired = replace(accepted[0], rule="eol-software", expires=date.today() - timedelta(days=1),
                      reason="old exception")  # fmt: skip
    config = replace(config, accept=(*config.accept, *accepted, expired))
    outcome = execute(config, out_dir=tmp_path / "out", prober=probe_hosts)
    report: dict[str, Any] = json.loads(outcome.written["json"].read_text())

    orphan = next(h["id"] for h in report["hosts"] if "legacy-billing01" in h["hostnames"])
    mine = [f for f in report["findings"] if f["host"] == orphan]
    [eol_os] = [f for f in mine if f["rule"] == "eol-os"]
    assert eol_os["accepted"]["reason"] == "replaced by the Q1 migration (OPS-42)"
    assert eol_os["accepted"]["expired"] is False
    # The expired acceptance does not hide the old software: it counts and says why.
    software = [f for f in mine if f["rule"] == "eol-software"]
    assert software and all(f["accepted"]["expired"] for f in software)
    assert any("accept" in f["evidence"][0].lower() for f in software)
    assert report["summary"]["accepted"] >= 1
    # --fail-on: the accepted critical finding does not count, the expired ones do.
    live = [f for f in outcome.run.findings if f.host == orphan and f.rule == "eol-os"]
    assert live and not fails(live, Severity.CRITICAL)
    again = [f for f in outcome.run.findings if f.host == orphan and f.rule == "eol-software"]
    assert fails(again, Severity.CRITICAL)
    html = (tmp_path / "out" / "index.html").read_text()
    assert "replaced by the Q1 migration" in html
