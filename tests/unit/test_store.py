"""The SQLite history store, on real files in tmp."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from auditor.errors import StoreError
from auditor.model import AuditRun, Finding, Host, HostStatus, Severity
from auditor.report import render_all, run_to_dict
from auditor.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    UnknownRunError,
    migrate,
    open_store,
    record_run,
    schema_version,
)
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


def test_save_two_runs_first_and_last_seen_and_changes(tmp_path: Path) -> None:
    path = tmp_path / "state" / "history.sqlite"
    with open_store(path) as store:
        first = record_run(store, mkrun(T0, [mkhost(1), mkhost(2)], "a"), grace=GRACE)
        assert first.previous is None and first.run.changes is not None
        assert first.run.changes["previous_run"] is None
        second = record_run(store, mkrun(T0 + DAY, [mkhost(1), mkhost(3)], "b"), grace=GRACE)
    assert second.previous is not None and second.previous.id == first.run.id
    changes = second.run.changes
    assert changes is not None
    assert [h["host"] for h in changes["new_hosts"]] == ["ip:10.0.0.3"]
    assert changes["gone_hosts"] == []  # within the grace period
    assert [f["host"] for f in changes["new_findings"]] == ["ip:10.0.0.3"]
    assert [f["host"] for f in changes["resolved_findings"]] == ["ip:10.0.0.2"]

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
        assert [g["host"] for g in third.run.changes["gone_hosts"]] == ["ip:10.0.0.2"]
        assert store.sightings()["ip:10.0.0.2"].gone_at == T0 + 3 * DAY
        fourth = record_run(store, mkrun(T0 + 4 * DAY, [mkhost(1), mkhost(3)], "d"), grace=GRACE)
        assert fourth.run.changes is not None and fourth.run.changes["gone_hosts"] == []
        back = record_run(store, mkrun(T0 + 5 * DAY, [mkhost(1), mkhost(2)], "e"), grace=GRACE)
        assert back.run.changes is not None
        assert [h["host"] for h in back.run.changes["returned_hosts"]] == ["ip:10.0.0.2"]
        assert store.sightings()["ip:10.0.0.2"].gone_at is None


def test_stored_run_renders_again_identically(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    with open_store(path) as store:
        recorded = record_run(store, mkrun(T0, [mkhost(1)]), grace=GRACE)
    with open_store(path, readonly=True) as store:
        stored = store.get_run(recorded.run.id)
    assert stored.report == json.loads(json.dumps(run_to_dict(recorded.run)))
    assert render_all(stored.report) == render_all(run_to_dict(recorded.run))


def test_run_references(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
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


def test_readonly_never_creates_and_cannot_write(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no history store"):
        open_store(tmp_path / "none.sqlite", readonly=True)
    assert not (tmp_path / "none.sqlite").exists()
    open_store(tmp_path / "h.sqlite").close()
    with open_store(tmp_path / "h.sqlite", readonly=True) as store, \
            pytest.raises(StoreError, match="read-only"):
        store.save_run(mkrun(T0, [mkhost(1)]))


# --------------------------------------------------------------------------- lock


def test_second_open_in_the_same_process_is_refused_naming_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    with open_store(path):
        with pytest.raises(StoreError) as exc:
            open_store(path)
        message = str(exc.value)
        assert "in use by another audit" in message and "pid" in message
        with open_store(path, readonly=True) as reader:  # readers are never blocked
            assert reader.runs() == []
    open_store(path).close()  # released on close


def test_lock_contention_with_another_process(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from auditor.store import open_store
            with open_store(Path({str(path)!r})):
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


def test_a_killed_holder_does_not_leave_the_lock_held(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    holder = subprocess.Popen(
        [sys.executable, "-c", "from pathlib import Path; from auditor.store import open_store; "
         f"s = open_store(Path({str(path)!r})); print('locked', flush=True); "
         "import time; time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    holder.kill()
    holder.wait(timeout=30)
    open_store(path).close()


# --------------------------------------------------------------------------- schema


def test_new_store_has_the_current_schema(tmp_path: Path) -> None:
    open_store(tmp_path / "h.sqlite").close()
    conn = sqlite3.connect(tmp_path / "h.sqlite")
    assert schema_version(conn) == SCHEMA_VERSION == len(MIGRATIONS) == 4
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "sightings", "findings", "host_runs", "meta"} <= tables
    conn.close()


def test_migration_from_version_1_backfills_host_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    # A store as the first release wrote it: schema 1, with one run in it.
    conn = sqlite3.connect(path)
    migrate(conn, path, MIGRATIONS[:1])
    assert schema_version(conn) == 1
    import zlib

    report = run_to_dict(mkrun(T0, [mkhost(1), mkhost(2, alive=False)]))
    conn.execute("INSERT INTO runs VALUES (?, ?, ?, NULL, 2, 1, ?)",
                 (report["run"]["id"], report["run"]["started_at"], report["run"]["finished_at"],
                  zlib.compress(json.dumps(report).encode())))
    conn.execute("INSERT INTO sightings VALUES ('ip:10.0.0.1', 'host1', ?, 'r', ?, 'r', ?)",
                 (T0.isoformat(), T0.isoformat(), T0.isoformat()))
    conn.commit()
    conn.close()

    with open_store(path) as store:
        assert schema_version(store.conn) == SCHEMA_VERSION
        assert store.host_history("ip:10.0.0.2") == [(report["run"]["id"], "unmanaged", False)]
        assert store.sightings()["ip:10.0.0.1"].gone_at is None
        record_run(store, mkrun(T0 + DAY, [mkhost(1)]), grace=GRACE)
        assert len(store.runs()) == 2


def test_readonly_open_migrates_an_older_store_under_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    migrate(conn, path, MIGRATIONS[:1])
    conn.close()
    with open_store(path, readonly=True) as store:
        assert schema_version(store.conn) == SCHEMA_VERSION


def test_a_store_from_a_newer_auditor_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite"
    open_store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '9.0.0' WHERE key = 'written_by'")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 3}")
    conn.commit()
    conn.close()
    for readonly in (False, True):
        with pytest.raises(StoreError) as exc:
            open_store(path, readonly=readonly)
        message = str(exc.value)
        assert "newer auditor (auditor 9.0.0)" in message
        assert f"schema version {SCHEMA_VERSION + 3}" in message and "Upgrade auditor" in message
    conn = sqlite3.connect(path)
    assert schema_version(conn) == SCHEMA_VERSION + 3  # untouched
    conn.close()
    open_store(tmp_path / "other.sqlite").close()  # and the lock was released


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not SQLite at all" * 100)
    with pytest.raises(StoreError, match="not a usable SQLite history store"):
        open_store(path)
    open_store(tmp_path / "junk2.sqlite").close()


def test_migration_marks_a_stored_interrupted_run_as_no_baseline(tmp_path: Path) -> None:
    import zlib

    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    migrate(conn, path, MIGRATIONS[:2])  # before runs knew whether they were complete
    complete = run_to_dict(mkrun(T0, [mkhost(1)]))
    cut = {**run_to_dict(mkrun(T0 + DAY, [mkhost(1), mkhost(2)])), "interrupted": True}
    for report in (complete, cut):
        conn.execute("INSERT INTO runs VALUES (?, ?, ?, NULL, 1, 1, ?)",
                     (report["run"]["id"], report["run"]["started_at"],
                      report["run"]["finished_at"], zlib.compress(json.dumps(report).encode())))
    conn.commit()
    conn.close()
    with open_store(path) as store:
        assert [r.complete for r in store.runs()] == [False, True]
        latest = store.latest_run()
        assert latest is not None and latest.id == complete["run"]["id"]
