"""`[audit] metrics = PATH`: the run as a Prometheus textfile, for node_exporter's textfile
collector (`--collector.textfile.directory`), so a nightly audit can be alerted on like any
other job: it stopped succeeding, it found something critical, a source went dark.

The file is replaced atomically (a temp file in the same folder, then a rename: the collector
never reads half a file). A failed run writes the file too, with `auditor_run_success 0` and
the last success time carried over from the previous file: "no success for 2 days" is then
one alert rule, `time() - auditor_last_success_timestamp_seconds > 2 * 86400`.

Findings count only unaccepted ones (what --fail-on counts). Every host status and severity
is written, 0 included, so a series never vanishes when its count drops to zero.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from auditor.fileio import write_atomic
from auditor.model import AuditRun, HostStatus, Severity

PREFIX = "auditor"
_LAST_SUCCESS = f"{PREFIX}_last_success_timestamp_seconds"
_LAST_SUCCESS_LINE = re.compile(rf"^{_LAST_SUCCESS}(?:{{[^}}]*}})? (\S+)", re.MULTILINE)


@dataclass(frozen=True)
class RunMetrics:
    """What one invocation of audit/discover ended with."""

    finished_at: datetime
    duration_s: float
    success: bool
    run: AuditRun | None = None  # None: the run failed before it had a result


def _label(value: str) -> str:
    """A label value as the exposition format quotes it."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in pairs.items()) + "}"


def _number(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Text:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def metric(
        self, name: str, help_text: str, samples: list[tuple[dict[str, str], float]]
    ) -> None:
        full = f"{PREFIX}_{name}"
        self.lines += [f"# HELP {full} {help_text}", f"# TYPE {full} gauge"]
        for labels, value in samples:
            self.lines.append(f"{full}{_labels(labels) if labels else ''} {_number(value)}")


def render_metrics(result: RunMetrics, previous_success: float | None) -> str:
    """Pure: the textfile for this result. `previous_success`: the last success time read
    from the previous file (kept when this run failed)."""
    out = _Text()
    finished = result.finished_at.timestamp()
    last_success = finished if result.success else previous_success
    out.metric("run_success", "1 when the last audit run completed, else 0.",
               [({}, 1 if result.success else 0)])  # fmt: skip
    out.metric("last_run_timestamp_seconds", "When the last run ended (Unix time).",
               [({}, finished)])  # fmt: skip
    if last_success is not None:
        out.metric("last_success_timestamp_seconds", "When the last successful run ended.",
                   [({}, last_success)])  # fmt: skip
    out.metric("run_duration_seconds", "How long the last run took.",
               [({}, round(result.duration_s, 3))])  # fmt: skip
    run = result.run
    if run is not None:
        failed = [s for s in run.sources if not s.ok]
        out.metric("sources_failed", "Sources of the last run that failed or read in part.",
                   [({}, len(failed))])  # fmt: skip
        out.metric(
            "source_ok", "1 when a source read completely in the last run, else 0.",
            [({"kind": s.kind.value, "name": s.name}, 1 if s.ok else 0) for s in run.sources],
        )  # fmt: skip
        statuses = Counter(h.status.value for h in run.hosts)
        out.metric("hosts", "Hosts of the last run by status.",
                   [({"status": s.value}, statuses[s.value]) for s in HostStatus])  # fmt: skip
        counting = [f for f in run.findings if f.counts]
        severities = Counter(f.severity.value for f in counting)
        out.metric(
            "findings_by_severity", "Unaccepted findings of the last run by severity.",
            [({"severity": s.value}, severities[s.value]) for s in Severity],
        )  # fmt: skip
        by_rule = Counter((f.rule, f.severity.value) for f in counting)
        out.metric(
            "findings", "Unaccepted findings of the last run by rule and severity.",
            [({"rule": rule, "severity": sev}, n) for (rule, sev), n in sorted(by_rule.items())],
        )  # fmt: skip
    return "\n".join(out.lines) + "\n"


def previous_last_success(path: Path) -> float | None:
    """The last success time in the file a previous run wrote (None: no file, or none in it)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    match = _LAST_SUCCESS_LINE.search(text)
    if match is None:
        return None
    try:
        return float(match.group(1))
    except ValueError:
        return None


def write_metrics(path: Path, result: RunMetrics) -> None:
    """Replace the textfile at `path` atomically (mode 0644: node_exporter reads it)."""
    write_atomic(path, render_metrics(result, previous_last_success(path)))
