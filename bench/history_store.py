"""A history store of 3 runs of ~10,000 hosts, for timing `auditor history`, `diff` and
`report --run` on it (issue 14: reading stored runs at fleet size).

    python bench/memory.py --hosts 1000 --previous --keep DIR      # a real 1,000-host run
    python bench/history_store.py DIR/1000/reports/report.json STORE
    /usr/bin/time -f '%e s %M KB' auditor history --store STORE

Each host of the kept 1,000-host report.json is copied 10 times (its addresses, id and label
changed: 10.200-210.x.x, `simK-`), its findings and finding groups with it. Run 1: 10,000
hosts; run 2: 300 of them gone; run 3: those back and 1,000 new (11,000). Each run's
changes are computed against the previous one as `record_run` does (grace 12 h, runs a day
apart), and it is saved with `save_report`.
"""

from __future__ import annotations

import copy
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from auditor.history import RunSnapshot, compute_changes
from auditor.report.json_report import changes_to_dict
from auditor.store import open_store

PLANS = ((range(10), 0), (range(10), 300), (range(11), 0))  # (copies, hosts dropped)


def build(chunks: list[dict[str, Any]], copies: range, drop_last: int) -> dict[str, Any]:
    report = copy.deepcopy(chunks[0])
    hosts: list[Any] = []
    findings: list[Any] = []
    groups: dict[str, dict[str, Any]] = {}
    for k in copies:
        chunk = chunks[k]
        kept = chunk["hosts"][: len(chunk["hosts"]) - drop_last if k == copies[-1] else None]
        ids = {h["id"] for h in kept}
        hosts += kept
        findings += [f for f in chunk["findings"] if f.get("host") is None or f["host"] in ids]
        for g in chunk["finding_groups"]:
            group = groups.setdefault(g["key"], {**g, "hosts": [], "count": 0})
            members = [h for h in g["hosts"] if h in ids]
            group["hosts"] += members
            group["count"] += len(members)
    report.update(hosts=hosts, findings=findings, finding_groups=list(groups.values()))
    summary = report["summary"]
    summary["hosts"] = summary["probed"] = summary["by_status"]["unmanaged"] = len(hosts)
    summary["findings"] = len(findings)
    by_sev = dict.fromkeys(summary["findings_by_severity"], 0)
    for f in findings:
        by_sev[f["severity"]] += 1
    summary["findings_by_severity"] = by_sev
    return report


def main() -> None:
    source, store_path = sys.argv[1], sys.argv[2]
    text = Path(source).read_text()
    chunks = [json.loads(text.replace("10.250.", f"10.{200 + k}.").replace('"sim-', f'"sim{k}-'))
              for k in range(11)]  # fmt: skip
    with open_store(store_path) as store:
        for i, (copies, drop) in enumerate(PLANS):
            report = build(chunks, copies, drop)
            start = datetime(2026, 12, 1 + i, 2, 0, tzinfo=UTC)
            report["run"].update(
                id=start.strftime("%Y%m%dT%H%M%SZ") + f"-bench{i}",
                started_at=start.isoformat(),
                finished_at=(start + timedelta(minutes=3)).isoformat(),
            )
            previous = store.latest_run()
            changes = compute_changes(
                previous.snapshot() if previous else None,
                RunSnapshot.from_report(report),
                now=start,
                grace=timedelta(hours=12),
                sightings=store.sightings(),
            )
            report["changes"] = changes_to_dict(changes)
            store.save_report(report)
            print(report["run"]["id"], len(report["hosts"]), len(report["findings"]),
                  changes.counts(), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
