"""Facts and report rows on disk (auditor.spool): a spooled run renders exactly as the same
run held in memory, in every format, and report.json is written in pieces."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from auditor.report import render_all, run_to_dict, write_reports
from auditor.report.json_report import validate_report
from auditor.spool import FactsSpool, SpooledRows, json_chunks
from auditor.store import open_store
from tests.unit.big_fleet import generated_run


def _spooled(count: int):  # type: ignore[no-untyped-def]
    run = generated_run(count)
    spool = FactsSpool()
    for host_id, facts in run.facts.items():
        spool[host_id] = facts
    return run, replace(run, facts=spool)


def test_facts_come_back_equal_and_only_the_index_stays() -> None:
    run, spooled = _spooled(30)
    assert isinstance(spooled.facts, FactsSpool)
    assert len(spooled.facts) == 30 and set(spooled.facts) == set(run.facts)
    for host_id, facts in run.facts.items():
        assert spooled.facts[host_id] == facts
    assert spooled.facts.get("ip:10.99.99.99") is None


def test_staged_facts_are_a_hosts_only_once_committed() -> None:
    run = generated_run(3)
    (first, one), (second, two), (third, three) = run.facts.items()
    spool = FactsSpool()
    staged = [spool.stage(facts) for facts in (one, two, three)]
    assert len(spool) == 0 and first not in spool  # written, nobody's yet
    spool.commit(third, staged[2])
    spool.commit(first, staged[0])  # the second is dropped (collect discarded its probe)
    assert list(spool) == [third, first]
    assert spool[first] == one and spool[third] == three and second not in spool


def test_a_spooled_run_renders_as_the_same_run_in_memory() -> None:
    run, spooled = _spooled(60)
    data = run_to_dict(spooled)
    assert isinstance(data["hosts"], SpooledRows)
    assert render_all(data) == render_all(run_to_dict(run))
    assert json.loads("".join(json_chunks(data))) == json.loads(json.dumps(run_to_dict(run)))
    validate_report(data)


def test_report_rows_are_made_once_per_run() -> None:
    _, spooled = _spooled(5)
    assert run_to_dict(spooled)["hosts"] is run_to_dict(spooled)["hosts"]


def test_spooled_rows_index_like_a_list() -> None:
    rows = SpooledRows({"n": n, "s": "é" * n} for n in range(50))
    assert len(rows) == 50 and rows[0] == {"n": 0, "s": ""} and rows[-1]["n"] == 49
    assert [r["n"] for r in rows[10:13]] == [10, 11, 12]
    assert [r["n"] for r in rows] == list(range(50))
    assert dict(rows.row(7)) == rows[7]


def test_reports_and_store_of_a_spooled_run(tmp_path: Path) -> None:
    run, spooled = _spooled(40)
    written = write_reports(spooled, tmp_path / "reports")
    on_disk = json.loads(written["json"].read_text())
    assert on_disk == json.loads(json.dumps(run_to_dict(run)))
    with open_store(tmp_path / "history.sqlite") as store:
        store.save_run(spooled)
        stored = store.latest_run()
        assert stored is not None
        assert stored.report == json.loads(json.dumps(run_to_dict(run)))
        host = run.hosts[3]
        assert store.facts_of(run.id, host.id) == on_disk["hosts"][3]["facts"]


def test_the_store_writes_a_runs_rows_as_it_makes_them(tmp_path: Path) -> None:
    """Hosts (each with its facts' JSON), findings and sightings go to the database one by
    one, never as one list: memory flat in fleet size."""
    _, spooled = _spooled(20)
    seen: list[tuple[str, bool, int]] = []
    with open_store(tmp_path / "history.sqlite") as store:
        write = store.db.executemany

        def executemany(sql: str, rows: Any) -> None:
            items = list(rows)
            seen.append((sql.split()[2], isinstance(rows, list | tuple), len(items)))
            write(sql, items)

        store.db.executemany = executemany  # type: ignore[method-assign]
        store.save_run(spooled)
        assert store.facts_of(spooled.id, spooled.hosts[3].id) is not None
    assert ("host_runs", False, 20) in seen and ("sightings", False, 20) in seen
    assert ("findings", False, len(spooled.findings)) in seen


def test_history_snapshot_of_a_spooled_run_reads_facts_through() -> None:
    from auditor.history import RunSnapshot

    run, spooled = _spooled(20)
    plain, lazy = RunSnapshot.from_run(run), RunSnapshot.from_run(spooled)
    assert lazy.hosts.keys() == plain.hosts.keys()
    for host_id, snap in plain.hosts.items():
        assert json.loads(json.dumps(dict(lazy.hosts[host_id].facts or {}))) == snap.facts


def test_a_spooled_run_shows_control_characters_in_hosts_csv_as_text() -> None:
    """hosts.csv makes host strings visible; a spooled run's rows too (they were written
    raw: a terminal escape in a host name reached the spreadsheet)."""
    run, _ = _spooled(5)
    evil = replace(run.hosts[1], hostnames=("evil\x1b[31mred",), status_reason="why\u202eevil")
    run = replace(run, hosts=(run.hosts[0], evil, *run.hosts[2:]))
    spool = FactsSpool()
    for host_id, facts in run.facts.items():
        spool[host_id] = facts
    in_memory, spooled = render_all(run_to_dict(run)), render_all(
        run_to_dict(replace(run, facts=spool))
    )
    assert spooled == in_memory
    assert "\x1b" not in spooled["csv"] and "\u202e" not in spooled["csv"]
    assert "evil\\x1b[31mred" in spooled["csv"] and "why\\u202eevil" in spooled["csv"]


def test_a_spooled_run_on_the_terminal_shows_control_characters_as_text() -> None:
    """The terminal summary names hosts by label; a spooled run's labels were printed raw."""
    import io

    from rich.console import Console

    from auditor.report.terminal import render_terminal_summary

    run, _ = _spooled(5)
    evil = replace(run.hosts[3], hostnames=("evil\x1b]52;c;aGk=\x07",))
    run = replace(run, hosts=(*run.hosts[:3], evil, *run.hosts[4:]))
    spool = FactsSpool()
    for host_id, facts in run.facts.items():
        spool[host_id] = facts

    def shown(the_run):  # type: ignore[no-untyped-def]
        out = io.StringIO()
        render_terminal_summary(the_run, Console(file=out, width=200, color_system=None))
        return out.getvalue()

    text = shown(replace(run, facts=spool))
    assert text == shown(run) and "evil\\x1b]52;c;aGk=\\x07" in text and "\x1b" not in text


def test_a_spooled_run_makes_its_findings_when_read() -> None:
    from auditor.spool import MadeRows

    run, spooled = _spooled(10)
    data = run_to_dict(spooled)
    assert isinstance(data["findings"], MadeRows) and len(data["findings"]) == len(run.findings)
    assert list(data["findings"]) == run_to_dict(run)["findings"]
    assert data["finding_groups"] == run_to_dict(run)["finding_groups"]


class _Tracked(dict):  # type: ignore[type-arg]  # a dict that a weakref can follow
    pass


def test_severity_counts_read_made_findings_one_at_a_time() -> None:
    """A large run's findings are made as read (MadeRows): counting them must not hold them
    all (60,000 dicts, ~20 MB at 10,000 hosts)."""
    import gc
    import weakref

    from auditor.report.view import severity_counts
    from auditor.spool import MadeRows

    made: list[weakref.ref[_Tracked]] = []
    alive: list[int] = []

    def make(n: int) -> _Tracked:
        gc.collect()
        alive.append(sum(1 for ref in made if ref() is not None))
        finding = _Tracked(severity=("high", "low")[n % 2], accepted=None)
        made.append(weakref.ref(finding))
        return finding

    counts = dict(severity_counts({"findings": MadeRows(range(40), make)}))
    assert counts["high"] == 20 and counts["low"] == 20
    assert max(alive) <= 1
