"""[audit] metrics: the Prometheus textfile, parsed by prometheus_client's own parser and
checked against the run's report.json; a failed run keeps the last success time."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from auditor.metrics import RunMetrics, previous_last_success, render_metrics
from auditor.model import AuditRun, SourceKind, SourceResult

INVENTORY = """\
[web]
web1 ansible_host=10.250.77.11
web2 ansible_host=10.250.77.12
[db]
db1 ansible_host=10.250.77.13
"""


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample by (name, sorted labels); the parser raises on a malformed file."""
    out = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge", family.name
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _config(tmp_path: Path, inventory: str = "hosts.ini") -> Path:
    (tmp_path / "hosts.ini").write_text(INVENTORY)
    config = tmp_path / "audit.toml"
    config.write_text(
        f'[audit]\nreports = "reports"\nmetrics = "textfile/auditor.prom"\n'
        f'[[ansible]]\nname = "inv"\ninventory = ["{inventory}"]\n'
    )
    return config


def _discover(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auditor", "discover", "-q", "-c", str(config)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_run_writes_what_the_report_says(tmp_path: Path) -> None:
    before = time.time()
    done = _discover(_config(tmp_path))
    assert done.returncode in (0, 1), done.stderr
    text = (tmp_path / "textfile" / "auditor.prom").read_text()
    samples = _samples(text)
    report = json.loads((tmp_path / "reports" / "report.json").read_text())

    assert samples[("auditor_run_success", ())] == 1
    finished = samples[("auditor_last_run_timestamp_seconds", ())]
    assert before <= finished <= time.time()
    assert samples[("auditor_last_success_timestamp_seconds", ())] == finished
    assert 0 < samples[("auditor_run_duration_seconds", ())] < 120
    assert samples[("auditor_sources_failed", ())] == 0
    assert samples[("auditor_source_ok", (("kind", "ansible"), ("name", "inv")))] == 1

    statuses: dict[str, int] = {}
    for host in report["hosts"]:
        statuses[host["status"]] = statuses.get(host["status"], 0) + 1
    hosts = {dict(k[1])["status"]: v for k, v in samples.items() if k[0] == "auditor_hosts"}
    assert sum(hosts.values()) == len(report["hosts"]) == 3
    assert {s: n for s, n in hosts.items() if n} == statuses
    assert "managed" in hosts and "unmanaged" in hosts  # every status, 0 included

    counting = [f for f in report["findings"] if not f.get("accepted")]
    by_rule: dict[tuple[str, str], int] = {}
    for finding in counting:
        key = (finding["rule"], finding["severity"])
        by_rule[key] = by_rule.get(key, 0) + 1
    written = {
        (dict(k[1])["rule"], dict(k[1])["severity"]): v
        for k, v in samples.items()
        if k[0] == "auditor_findings"
    }
    assert written == by_rule
    severities = {dict(k[1])["severity"]: v for k, v in samples.items()
                  if k[0] == "auditor_findings_by_severity"}  # fmt: skip
    assert set(severities) == {"info", "low", "medium", "high", "critical"}
    assert sum(severities.values()) == len(counting)
    # Written atomically: no temp file left beside it.
    assert [p.name for p in (tmp_path / "textfile").iterdir()] == ["auditor.prom"]


def test_a_failed_run_keeps_the_last_success_time(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert _discover(config).returncode in (0, 1)
    path = tmp_path / "textfile" / "auditor.prom"
    succeeded = _samples(path.read_text())[("auditor_last_success_timestamp_seconds", ())]

    # Every source fails and nothing is found: the run failed (exit 3).
    failing = _config(tmp_path, inventory="missing.ini")
    done = _discover(failing)
    assert done.returncode == 3, done.stderr
    samples = _samples(path.read_text())
    assert samples[("auditor_run_success", ())] == 0
    assert samples[("auditor_last_success_timestamp_seconds", ())] == succeeded
    assert samples[("auditor_last_run_timestamp_seconds", ())] > succeeded
    assert samples[("auditor_sources_failed", ())] == 1


def test_a_run_that_breaks_still_writes_the_file(tmp_path: Path) -> None:
    config = _config(tmp_path)
    (tmp_path / "reports").write_text("a file where the report folder should be")
    done = _discover(config)
    assert done.returncode == 3
    samples = _samples((tmp_path / "textfile" / "auditor.prom").read_text())
    assert samples[("auditor_run_success", ())] == 0
    assert ("auditor_last_success_timestamp_seconds", ()) not in samples  # never succeeded
    assert not any(name == "auditor_hosts" for name, _ in samples)  # no result to count


def test_label_values_are_escaped() -> None:
    hostile = 'a"b\\c\nd'
    run = AuditRun(
        id="r",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        finished_at=datetime(2026, 1, 1, tzinfo=UTC),
        config_path=None,
        sources=(SourceResult(SourceKind.NETWORK, hostile, ok=False, error="x"),),
        hosts=(),
    )
    text = render_metrics(RunMetrics(datetime(2026, 1, 1, tzinfo=UTC), 1.5, True, run), None)
    samples = _samples(text)
    assert samples[("auditor_source_ok", (("kind", "network"), ("name", hostile)))] == 0
    assert samples[("auditor_run_duration_seconds", ())] == 1.5
    # A raw newline in a label would start a line of its own.
    assert all(line.startswith(("# ", "auditor_")) for line in text.splitlines())


def test_previous_last_success(tmp_path: Path) -> None:
    path = tmp_path / "auditor.prom"
    assert previous_last_success(path) is None
    path.write_text("# HELP x\nauditor_last_success_timestamp_seconds 1765000000.5\n")
    assert previous_last_success(path) == 1765000000.5
    path.write_text("auditor_last_success_timestamp_seconds garbage\n")
    assert previous_last_success(path) is None
