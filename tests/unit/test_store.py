"""The history store on both backends: SQLite files in tmp, and databases on a real
PostgreSQL (tests/postgres.py: one fresh database per test, dropped after). `store_at` runs
a test once per backend."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from auditor.errors import StoreError
from auditor.model import AuditRun, Finding, Host, HostStatus, Severity
from auditor.report import render_all, run_to_dict
from auditor.report.json_report import finding_brief as brief
from auditor.report.run_view import read_report
from auditor.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    RunDigest,
    UnknownRunError,
    migrate,
    open_store,
    record_run,
    schema_version,
)
from auditor.storedb import Database, PostgresUrl, StoreLocation, connect
from tests import builders

T0 = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
DAY = timedelta(days=1)
GRACE = 2 * DAY


def mkhost(n: int, status: HostStatus = HostStatus.UNMANAGED, alive: bool = True) -> Host:
    return builders.mkhost(n, status, alive=alive, reason="seen by nmap")


def mkrun(at: datetime, hosts: list[Host], tag: str = "x") -> AuditRun:
    findings = tuple(Finding("unmanaged-host", Severity.HIGH, h.id, f"Unmanaged host {h.label}")
                     for h in hosts if h.status is HostStatus.UNMANAGED)
    return builders.mkrun(at, hosts, findings=findings, seconds=3, config_path="/etc/audit.toml",
                          run_id=at.strftime("%Y%m%dT%H%M%SZ") + f"-{tag}")


def test_save_two_runs_first_and_last_seen_and_changes(store_at: StoreLocation) -> None:
    path = store_at
    with open_store(path) as store:
        first = record_run(store, mkrun(T0, [mkhost(1), mkhost(2)], "a"), grace=GRACE)
        assert first.previous is None and first.run.changes is not None
        assert first.run.changes.previous_run is None
        second = record_run(store, mkrun(T0 + DAY, [mkhost(1), mkhost(3)], "b"), grace=GRACE)
    assert second.previous is not None and second.previous.id == first.run.id
    changes = second.run.changes
    assert changes is not None
    assert [h.host for h in changes.new_hosts] == ["ip:10.0.0.3"]
    assert changes.gone_hosts == ()  # within the grace period
    assert [f.host for f in changes.new_findings] == ["ip:10.0.0.3"]
    assert [f.host for f in changes.resolved_findings] == ["ip:10.0.0.2"]

    with open_store(path, readonly=True) as store:
        seen = store.sightings()
        assert seen["ip:10.0.0.1"].first_seen == T0 and seen["ip:10.0.0.1"].last_seen == T0 + DAY
        assert seen["ip:10.0.0.2"].last_seen == T0
        assert seen["ip:10.0.0.3"].first_seen == T0 + DAY
        assert [r.id for r in store.runs()] == [second.run.id, first.run.id]
        assert store.host_history("ip:10.0.0.1") == [(first.run.id, "unmanaged", True),
                                                     (second.run.id, "unmanaged", True)]
        latest = store.latest_run()
        assert latest is not None and latest.report["changes"]["new_hosts"][0]["host"] == "ip:10.0.0.3"
        assert store.facts_of(first.run.id, "ip:10.0.0.1") is None  # not probed

    # a third run past the grace period: host2 is gone, reported once
    with open_store(path) as store:
        third = record_run(store, mkrun(T0 + 3 * DAY, [mkhost(1), mkhost(3)], "c"), grace=GRACE)
        assert third.run.changes is not None
        assert [g.host for g in third.run.changes.gone_hosts] == ["ip:10.0.0.2"]
        assert store.sightings()["ip:10.0.0.2"].gone_at == T0 + 3 * DAY
        fourth = record_run(store, mkrun(T0 + 4 * DAY, [mkhost(1), mkhost(3)], "d"), grace=GRACE)
        assert fourth.run.changes is not None and fourth.run.changes.gone_hosts == ()
        back = record_run(store, mkrun(T0 + 5 * DAY, [mkhost(1), mkhost(2)], "e"), grace=GRACE)
        assert back.run.changes is not None
        assert [h.host for h in back.run.changes.returned_hosts] == ["ip:10.0.0.2"]
        assert store.sightings()["ip:10.0.0.2"].gone_at is None


def test_stored_run_renders_again_identically(store_at: StoreLocation) -> None:
    path = store_at
    with open_store(path) as store:
        recorded = record_run(store, mkrun(T0, [mkhost(1)]), grace=GRACE)
    with open_store(path, readonly=True) as store:
        stored = store.get_run(recorded.run.id)
    assert stored.report == json.loads(json.dumps(run_to_dict(recorded.run)))
    assert render_all(stored.report) == render_all(run_to_dict(recorded.run))


def test_odd_strings_are_stored_and_read_back(store_at: StoreLocation) -> None:
    """A NUL (PostgreSQL text cannot hold one), quotes, `?` and `%` (placeholders in one
    dialect or the other), a LIKE wildcard: the report data comes back exactly, and the
    host's rows are found by its id."""
    odd = "we?ird %s %(x)s 'q' \"d\" _%\x00end\\"
    host = replace(mkhost(1), id=f"name:{odd}", hostnames=(odd,))
    with open_store(store_at) as store:
        recorded = record_run(store, mkrun(T0, [host], "odd"), grace=GRACE)
    with open_store(store_at, readonly=True) as store:
        stored = store.get_run("latest")
        assert stored.report == json.loads(json.dumps(run_to_dict(recorded.run)))
        assert stored.report["hosts"][0]["label"] == odd
        assert store.host_history(f"name:{odd}") == [(recorded.run.id, "unmanaged", True)]
        assert f"name:{odd}" in store.sightings()


def test_run_references(store_at: StoreLocation) -> None:
    path = store_at
    with open_store(path) as store:
        for i, tag in enumerate(("aaa", "bbb", "ccc")):
            record_run(store, mkrun(T0 + i * DAY, [mkhost(1)], tag), grace=GRACE)
        assert store.resolve("latest").endswith("-ccc")
        assert store.resolve("latest~2").endswith("-aaa")
        assert store.resolve("20261102").endswith("-bbb")  # a unique prefix
        with pytest.raises(UnknownRunError, match="ambiguous"):
            store.resolve("2026110")
        with pytest.raises(UnknownRunError, match="no run"):
            store.resolve("nope")
        with pytest.raises(UnknownRunError, match="has 3 runs"):
            store.resolve("latest~5")
        with pytest.raises(UnknownRunError):
            store.resolve("2026%")  # LIKE wildcards are literal
        with pytest.raises(StoreError, match="already in"):
            store.save_run(mkrun(T0, [mkhost(1)], "aaa"))


def test_readonly_never_creates_and_cannot_write(store_at: StoreLocation) -> None:
    with pytest.raises(StoreError, match="no history store"):
        open_store(store_at, readonly=True)
    if isinstance(store_at, Path):
        assert not store_at.exists()
    else:
        assert tables(store_at) == set()
    open_store(store_at).close()
    with open_store(store_at, readonly=True) as store, \
            pytest.raises(StoreError, match="read-only"):
        store.save_run(mkrun(T0, [mkhost(1)]))


def tables(location: StoreLocation) -> set[str]:
    db = connect(location)
    try:
        if db.dialect == "sqlite":
            sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
        else:
            sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        return {r[0] for r in db.execute(sql)} - {"sqlite_sequence"}
    finally:
        db.close()


# --------------------------------------------------------------------------- lock


def test_second_open_in_the_same_process_is_refused_naming_the_holder(
    store_at: StoreLocation,
) -> None:
    path = store_at
    with open_store(path):
        with pytest.raises(StoreError) as exc:
            open_store(path)
        message = str(exc.value)
        assert "in use by another audit" in message and "pid" in message
        with open_store(path, readonly=True) as reader:  # readers are never blocked
            assert reader.runs() == []
    open_store(path).close()  # released on close


def where(location: StoreLocation) -> str:
    """Python source making `location` in a child process."""
    if isinstance(location, PostgresUrl):
        return f"__import__('auditor.storedb').storedb.PostgresUrl({location.url!r})"
    return f"__import__('pathlib').Path({str(location)!r})"


def test_lock_contention_with_another_process(store_at: StoreLocation) -> None:
    path = store_at
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from auditor.store import open_store
            with open_store({where(path)}):
                print("locked", flush=True)
                sys.stdin.readline()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(StoreError) as exc:
            open_store(path)
        assert f"pid {holder.pid}" in str(exc.value)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    open_store(path).close()  # the holder is gone: free again


def test_a_killed_holder_does_not_leave_the_lock_held(store_at: StoreLocation) -> None:
    path = store_at
    holder = subprocess.Popen(
        [sys.executable, "-c", "from auditor.store import open_store; "
         f"s = open_store({where(path)}); print('locked', flush=True); "
         "import time; time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    with pytest.raises(StoreError, match="in use by another audit"):
        open_store(path)
    holder.kill()
    holder.wait(timeout=30)
    deadline = time.monotonic() + 10  # the server notices the dead session's socket
    while True:
        try:
            open_store(path).close()
            break
        except StoreError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


# --------------------------------------------------------------------------- schema


def test_new_store_has_the_current_schema(store_at: StoreLocation) -> None:
    open_store(store_at).close()
    db = connect(store_at)
    assert schema_version(db) == SCHEMA_VERSION == len(MIGRATIONS) == 6
    db.close()
    assert {"runs", "sightings", "findings", "host_runs", "meta", "pending_alerts"} <= tables(
        store_at
    )


def insert_report(db: Database, report: dict[str, object], hosts: int = 1) -> None:
    """A run row as the first schema had it (seven columns)."""
    import zlib

    run = report["run"]
    assert isinstance(run, dict)
    with db.transaction():
        db.execute("INSERT INTO runs VALUES (?, ?, ?, NULL, ?, 1, ?)",
                   (run["id"], run["started_at"], run["finished_at"], hosts,
                    zlib.compress(json.dumps(report).encode())))


def older_store(location: StoreLocation, version: int) -> Database:
    """A store at `location` as an older auditor left it: schema `version`, open."""
    if isinstance(location, Path):
        location.parent.mkdir(parents=True, exist_ok=True)
    db = connect(location)
    migrate(db, MIGRATIONS[:version])
    assert schema_version(db) == version
    return db


def test_migration_from_version_1_backfills_host_rows(store_at: StoreLocation) -> None:
    path = store_at
    # A store as the first release wrote it: schema 1, with one run in it.
    db = older_store(path, 1)
    report = run_to_dict(mkrun(T0, [mkhost(1), mkhost(2, alive=False)]))
    insert_report(db, report, hosts=2)
    with db.transaction():
        db.execute("INSERT INTO sightings VALUES ('ip:10.0.0.1', 'host1', ?, 'r', ?, 'r', ?)",
                   (T0.isoformat(), T0.isoformat(), T0.isoformat()))
    db.close()

    with open_store(path) as store:
        assert schema_version(store.db) == SCHEMA_VERSION
        assert store.host_history("ip:10.0.0.2") == [(report["run"]["id"], "unmanaged", False)]
        assert store.sightings()["ip:10.0.0.1"].gone_at is None
        record_run(store, mkrun(T0 + DAY, [mkhost(1)]), grace=GRACE)
        newer, older = store.runs()
        # Digests (v6) are written as runs are saved; an older run's is read from its report.
        assert older.digest is None and newer.digest is not None
        assert store.digest(older) == RunDigest.of_report(report)
        assert store.digest(newer) == RunDigest.of_report(store.get_run(newer.id).report)


def test_readonly_open_migrates_an_older_store_under_the_lock(store_at: StoreLocation) -> None:
    path = store_at
    older_store(path, 1).close()
    with open_store(path, readonly=True) as store:
        assert schema_version(store.db) == SCHEMA_VERSION


def test_a_store_from_a_newer_auditor_is_refused(store_at: StoreLocation) -> None:
    path = store_at
    open_store(path).close()
    db = connect(path)
    with db.transaction():
        db.execute("UPDATE meta SET value = '9.0.0' WHERE key = 'written_by'")
        db.set_schema_version(SCHEMA_VERSION + 3)
    db.close()
    for readonly in (False, True, False):  # the third: the first let go of its lock
        with pytest.raises(StoreError) as exc:
            open_store(path, readonly=readonly)
        message = str(exc.value)
        assert "newer auditor (auditor 9.0.0)" in message
        assert f"schema version {SCHEMA_VERSION + 3}" in message and "Upgrade auditor" in message
    db = connect(path)
    assert schema_version(db) == SCHEMA_VERSION + 3  # untouched
    db.close()


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not SQLite at all" * 100)
    with pytest.raises(StoreError, match="not a usable SQLite history store"):
        open_store(path)
    open_store(tmp_path / "junk2.sqlite").close()


def test_migration_marks_a_stored_interrupted_run_as_no_baseline(store_at: StoreLocation) -> None:
    path = store_at
    db = older_store(path, 2)  # before runs knew whether they were complete
    complete = run_to_dict(mkrun(T0, [mkhost(1)]))
    cut = {**run_to_dict(mkrun(T0 + DAY, [mkhost(1), mkhost(2)])), "interrupted": True}
    for report in (complete, cut):
        insert_report(db, report)
    db.close()
    with open_store(path) as store:
        assert [r.complete for r in store.runs()] == [False, True]
        latest = store.latest_run()
        assert latest is not None and latest.id == complete["run"]["id"]


# --------------------------------------------------------------------------- the previous run, read host by host


def test_the_previous_run_is_read_host_by_host_with_the_same_changes(
    store_at: StoreLocation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A nightly run compares with the last one from the tables (hosts a page at a time,
    facts a batch at a time), never decoding its whole report: the changes, the findings the
    webhook compares with and the stored copy are what the whole report gives."""
    from auditor.history import RunSnapshot, compute_changes
    from auditor.notify import new_findings
    from auditor.store import RunRows
    from tests.unit.test_report_fleet import fleet

    monkeypatch.setattr(RunRows, "PAGE", 3)  # several pages and batches in a small fleet
    monkeypatch.setattr(RunRows, "FACTS_BATCH", 2)
    previous, current = fleet(previous=True), fleet()
    twice = previous.findings[0]  # a finding listed twice, worse the second time
    previous = replace(
        previous, findings=(*previous.findings, replace(twice, severity=Severity.CRITICAL))
    )
    with open_store(store_at) as store:
        record_run(store, previous, grace=3 * DAY)
        stored = store.latest_run()
        assert stored is not None and stored.rows is not None
        sightings = store.sightings()
        by_rows = compute_changes(
            stored.snapshot(), RunSnapshot.from_run(current), grace=3 * DAY, sightings=sightings
        )
        news = new_findings(current, stored.findings)
        assert stored.report._data is None  # type: ignore[attr-defined]  # never decoded
        whole = RunSnapshot.from_report(stored.report)
        assert stored.snapshot().hosts.keys() == whole.hosts.keys()
        assert by_rows == compute_changes(
            whole, RunSnapshot.from_run(current), grace=3 * DAY, sightings=sightings
        )
        assert by_rows.fact_changes and by_rows.status_changed and by_rows.new_findings
        from_report = read_report(stored.report).findings
        assert news == new_findings(current, from_report)
        assert [brief(f) for f in stored.findings] == [brief(f) for f in from_report]
        recorded = record_run(store, current, grace=3 * DAY)
        assert recorded.run.changes == by_rows
        assert store.get_run(recorded.run.id).report == json.loads(
            json.dumps(run_to_dict(recorded.run))
        )


def test_a_run_stored_before_findings_had_their_place_is_read_from_its_report(
    store_at: StoreLocation,
) -> None:
    from tests.unit.test_report_fleet import fleet

    with open_store(store_at) as store:
        record_run(store, fleet(previous=True), grace=3 * DAY)
        with store.db.transaction():
            store.db.execute("UPDATE findings SET seq = NULL")  # as schema 4 stored it
        stored = store.latest_run()
        assert stored is not None and stored.rows is None
        assert [brief(f) for f in stored.findings] == [
            {k: f[k] for k in ("rule", "severity", "host", "title")}
            for f in stored.report["findings"]
        ]
        second = record_run(store, fleet(), grace=3 * DAY)
    assert second.run.changes is not None and second.run.changes.fact_changes
