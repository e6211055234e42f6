"""History: runs, host sightings (first seen, last seen), facts, findings; in a SQLite file
(the default) or a PostgreSQL database (`[audit] store = "postgresql://..."`): one schema,
one set of migrations and queries for both (auditor.storedb isolates the dialects).

    with open_store(location) as store:        # takes the lock; migrates an older store
        recorded = record_run(store, run, grace=timedelta(days=7))
    recorded.run.changes                       # what changed since the previous run
    recorded.previous                          # the previous StoredRun, or None

Each run's full report.json data is kept (zlib-compressed), so any run can be rendered again
in every format (`auditor report --run ID`) and compared with any other (`auditor diff`).
Facts are kept per host and run as JSON text (SQLite's json_extract, PostgreSQL's `::jsonb`).

A run interrupted by Ctrl-C during the probe is stored as such (`runs.complete = 0`, the
report's `interrupted: true`): listed by `auditor history`, but never the baseline of the next
run's changes (`latest_run()` is the newest complete run, and it does not touch the
sightings), so hosts it did not get to probe never show as changes, and the webhook's "new
findings" are always against a complete run.

One writer at a time: `open_store` takes an exclusive lock (SQLite: a flock on
`<store>.lock`, with who holds it written there; PostgreSQL: an advisory lock on the store,
held by the store's session), so a crashed audit never leaves it held, and a second audit
gets a StoreError naming the holder. `readonly=True` (history, diff, report) takes no lock.

The schema version is SQLite's `PRAGMA user_version` (PostgreSQL: table `auditor_schema`);
`MIGRATIONS[i]` brings a store from version i to i + 1. A store whose version is newer than
this auditor knows is refused.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from auditor.bounds import STORED_LIMIT, bounded_fields
from auditor.errors import StoreError
from auditor.history import (
    HostSnapshot,
    RunSnapshot,
    Sighting,
    compute_changes,
    gone_host_ids,
)
from auditor.locking import ExclusiveLock
from auditor.model import AuditRun, Changes, FindingLike, Severity
from auditor.notify import PendingAlert
from auditor.report.run_view import HostView, read_changes, read_report
from auditor.storedb import (
    Database,
    PostgresDatabase,
    PostgresLock,
    PostgresUrl,
    StoreLocation,
    connect,
)


class UnknownRunError(StoreError):
    """A run reference that names no stored run (or several): a usage error."""


def _auditor_version() -> str:
    try:
        from importlib.metadata import version

        return version("auditor")
    except Exception:  # not installed (a source checkout): still usable
        return "unknown"


# --------------------------------------------------------------------------- schema
# Written once for both databases: `?` placeholders, `{blob}` and `{serial}` for the two
# column types whose names differ (auditor.storedb translates).


def _v1(db: Database) -> None:
    db.script(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            config TEXT,
            hosts INTEGER NOT NULL,
            findings INTEGER NOT NULL,
            report {blob} NOT NULL
        );
        CREATE TABLE sightings (
            host_id TEXT PRIMARY KEY,
            label TEXT NOT NULL,
            first_seen TEXT NOT NULL,
            first_run TEXT NOT NULL,
            last_present TEXT NOT NULL,
            last_run TEXT NOT NULL,
            last_seen TEXT
        );
        CREATE TABLE findings (
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            rule TEXT NOT NULL,
            severity TEXT NOT NULL,
            host TEXT,
            title TEXT NOT NULL,
            evidence TEXT NOT NULL
        );
        CREATE INDEX findings_run ON findings(run_id);
        """
    )


def _v2(db: Database) -> None:
    """Per-host rows (status, alive, facts) and the gone marker; back-filled from reports."""
    db.script(
        """
        ALTER TABLE sightings ADD COLUMN gone_at TEXT;
        CREATE TABLE host_runs (
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            host_id TEXT NOT NULL,
            label TEXT NOT NULL,
            status TEXT NOT NULL,
            alive INTEGER NOT NULL,
            facts TEXT,
            PRIMARY KEY (run_id, host_id)
        );
        CREATE INDEX host_runs_host ON host_runs(host_id);
        CREATE INDEX runs_started ON runs(started_at);
        """
    )
    for run_id, blob in db.execute("SELECT id, report FROM runs").fetchall():
        _insert_host_rows(db, run_id, read_report(_decode(blob)).hosts)


def _v3(db: Database) -> None:
    """`runs.complete`: 0 for a run interrupted before it finished (Ctrl-C during the
    probe). Such a run is kept and listed, but is never the baseline of the next run's
    changes or its webhook's new findings. Back-filled from the stored reports."""
    db.execute("ALTER TABLE runs ADD COLUMN complete INTEGER NOT NULL DEFAULT 1")
    for run_id, blob in db.execute("SELECT id, report FROM runs").fetchall():
        if _decode(blob).get("interrupted"):
            db.execute("UPDATE runs SET complete = 0 WHERE id = ?", (run_id,))


def _v4(db: Database) -> None:
    """Webhook alerts that could not be delivered, for the next run to send (never the
    URL: the next run sends them to the URL configured then)."""
    db.execute(
        """
        CREATE TABLE pending_alerts (
            id {serial},
            run_id TEXT NOT NULL,
            created_at TEXT NOT NULL,
            payload TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            last_error TEXT
        )
        """
    )


def _v5(db: Database) -> None:
    """`findings.seq`: a finding's place in its run's report, so the next run reads the
    previous run's findings back in report order from this table instead of decoding the
    whole stored report (issue 14: memory flat in fleet size). Runs stored before have none
    and are read from their report, as before."""
    db.script(
        """
        ALTER TABLE findings ADD COLUMN seq INTEGER;
        CREATE INDEX findings_run_seq ON findings(run_id, seq);
        """
    )


def _v6(db: Database) -> None:
    """`runs.digest`: what `auditor history` lists of a run beyond its host and finding
    counts (findings by severity, how many of each kind of change), written as the run is
    saved, so listing runs decodes no report (issue 14: at 10,000 hosts each report is ~90
    MB of JSON). Runs stored before have none (NULL): their report's summary and changes are
    read (`_decode_parts`), the rest of it skipped; no back-fill, which would read every
    stored report once here."""
    db.execute("ALTER TABLE runs ADD COLUMN digest TEXT")


Migration = Callable[[Database], None]
MIGRATIONS: tuple[Migration, ...] = (_v1, _v2, _v3, _v4, _v5, _v6)
SCHEMA_VERSION = len(MIGRATIONS)


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class RunDigest:
    """What `auditor history` lists of a run beside its counts: report.json's
    `summary.findings_by_severity` and how many of each change (`Changes.counts`)."""

    findings_by_severity: Mapping[str, int]
    changes: Mapping[str, int]

    @classmethod
    def of_report(cls, report: Mapping[str, Any]) -> RunDigest:
        by_sev = (report.get("summary") or {}).get("findings_by_severity") or {}
        return cls.of(by_sev, read_changes(report.get("changes")))

    @classmethod
    def of(cls, findings_by_severity: Mapping[str, int], changes: Changes | None) -> RunDigest:
        return cls(dict(findings_by_severity), (changes or Changes(None, None)).counts())

    def to_json(self) -> str:
        return json.dumps(
            {"findings_by_severity": self.findings_by_severity, "changes": self.changes}
        )

    @classmethod
    def from_json(cls, text: str) -> RunDigest:
        data = json.loads(text)
        return cls(data["findings_by_severity"], data["changes"])


@dataclass(frozen=True)
class RunSummary:
    id: str
    started_at: datetime
    finished_at: datetime
    config: str | None
    hosts: int
    findings: int
    complete: bool = True  # False: interrupted (never a baseline)
    # Stored as the run was saved; None: a run stored before (Store.digest reads its report).
    digest: RunDigest | None = field(default=None, compare=False)


@dataclass(frozen=True)
class StoredRun:
    id: str
    started_at: datetime
    finished_at: datetime
    report: Mapping[str, Any]  # the run's report.json data, as written
    # Its hosts and findings read from the store's tables, host by host, when the run was
    # stored with what that needs (`findings.seq`); None: everything from `report`.
    rows: RunRows | None = field(default=None, compare=False, repr=False)

    @property
    def findings(self) -> Sequence[FindingLike]:
        """Its findings as history and the webhook compare them (rule, severity, host,
        title), in report order."""
        if self.rows is not None:
            return self.rows.findings()
        return read_report(self.report).findings

    def snapshot(self) -> RunSnapshot:
        if self.rows is not None:
            return self.rows.snapshot(self.started_at)
        return RunSnapshot.from_report(self.report)


@dataclass(frozen=True, slots=True)
class _StoredFinding:
    """A stored finding as history compares it (a `FindingLike`): a compact record, as a
    previous run's 60,000 findings are all held while they are compared."""

    rule: str
    severity: Severity
    host: str | None
    title: str


class RunRows:
    """One stored run's hosts and findings, read from the `host_runs` and `findings` tables
    a page at a time, its hosts' facts a batch at a time when compared, instead of decoding
    the run's whole report (issue 14: a nightly run compares with the last one; at 10,000
    hosts that report is ~90 MB of JSON). Reads the store while it is open."""

    PAGE = 5000  # rows per query
    FACTS_BATCH = 200  # hosts whose facts one query reads

    def __init__(self, db: Database, run_id: str) -> None:
        self._db, self._run_id = db, run_id
        self._with_facts: list[str] = []  # host ids with facts, sorted: the batches' order
        self._position: dict[str, int] = {}
        self._batch: dict[str, dict[str, Any]] = {}

    @staticmethod
    def readable(db: Database, run_id: str) -> bool:
        """Stored with every finding's place (`seq`): its rows give what its report gives."""
        row = db.execute(
            "SELECT COUNT(*) FROM findings WHERE run_id = ? AND seq IS NULL", (run_id,)
        ).fetchone()
        return not row[0]

    def _paged(self, sql: str, start: Any) -> Iterator[tuple[Any, ...]]:
        """The rows of `sql` (one run's, after a key, ordered by it, the key first in each
        row) a page at a time: a client-side cursor (psycopg's) holds only one page."""
        after = start
        while True:
            rows = self._db.execute(sql, (self._run_id, after, self.PAGE)).fetchall()
            yield from rows
            if len(rows) < self.PAGE:
                return
            after = rows[-1][0]

    def findings(self) -> list[_StoredFinding]:
        """{rule, severity, host, title} of each finding, in report order."""
        shared: dict[str, str] = {}  # rules, titles and host ids repeat: each kept once
        out: list[_StoredFinding] = []
        for _, rule, severity, host, title in self._paged(
            "SELECT seq, rule, severity, host, title FROM findings "
            "WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            -1,
        ):
            # Runs stored before strings were bounded read as their report does.
            rule, severity, title = (shared.setdefault(v, v) for v in bounded_fields(
                (rule, severity, title), limit=STORED_LIMIT))  # fmt: skip
            if host is not None:
                host = shared.setdefault(host, bounded_fields(host, limit=STORED_LIMIT))
            out.append(_StoredFinding(rule, Severity(severity), host, title))
        return out

    def snapshot(self, started_at: datetime) -> RunSnapshot:
        """The run as history compares it; each host's facts read when compared."""
        hosts: dict[str, HostSnapshot] = {}
        for stored_id, label, status, alive, has_facts in self._paged(
            "SELECT host_id, label, status, alive, facts IS NOT NULL FROM host_runs "
            "WHERE run_id = ? AND host_id > ? ORDER BY host_id LIMIT ?",
            "",
        ):
            host_id, label, status = bounded_fields((stored_id, label, status),
                                                    limit=STORED_LIMIT)  # fmt: skip
            facts = None
            if has_facts:
                facts = _StoredFacts(self, stored_id)
                self._with_facts.append(stored_id)
            hosts[host_id] = HostSnapshot(host_id, label, status, bool(alive), facts)
        self._with_facts.sort()
        self._position = {h: n for n, h in enumerate(self._with_facts)}
        return RunSnapshot(self._run_id, started_at, hosts, tuple(self.findings()))

    def facts(self, stored_id: str) -> dict[str, Any]:
        """One host's facts (by its id as stored); read with the next FACTS_BATCH hosts'
        (history compares hosts in id order)."""
        if stored_id not in self._batch:
            start = self._position.get(stored_id, 0)
            ids = [stored_id, *self._with_facts[start + 1 : start + self.FACTS_BATCH]]
            marks = ", ".join("?" * len(ids))
            rows = self._db.execute(
                f"SELECT host_id, facts FROM host_runs WHERE run_id = ? AND host_id IN ({marks})",
                (self._run_id, *ids),
            ).fetchall()
            self._batch = {h: bounded_fields(json.loads(text), limit=STORED_LIMIT)
                           for h, text in rows}  # fmt: skip
        return self._batch.get(stored_id, {})


class _StoredFacts(Mapping[str, Any]):
    """A stored host's facts, read from the store when first looked at (RunRows.facts)."""

    __slots__ = ("_host_id", "_rows")

    def __init__(self, rows: RunRows, stored_id: str) -> None:
        self._rows, self._host_id = rows, stored_id

    def __getitem__(self, key: str) -> Any:
        return self._rows.facts(self._host_id)[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows.facts(self._host_id))

    def __len__(self) -> int:
        return len(self._rows.facts(self._host_id))


class _StoredReport(Mapping[str, Any]):
    """A stored run's report.json data, decoded when first read (a baseline whose rows are
    read from the tables never decodes it)."""

    def __init__(self, db: Database, run_id: str) -> None:
        self._db, self._run_id = db, run_id
        self._data: dict[str, Any] | None = None

    def _decoded(self) -> dict[str, Any]:
        if self._data is None:
            row = self._db.execute("SELECT report FROM runs WHERE id = ?", (self._run_id,))
            self._data = _decode(row.fetchone()[0])
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._decoded()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._decoded())

    def __len__(self) -> int:
        return len(self._decoded())

    def __eq__(self, other: object) -> bool:
        return self._decoded() == other


@dataclass(frozen=True)
class RecordedRun:
    run: AuditRun  # with `changes` filled in
    previous: StoredRun | None


def _encode(data: Mapping[str, Any]) -> bytes:
    """The report compressed as it is encoded, piece by piece (auditor.spool.json_chunks):
    a large run is never one JSON string in memory."""
    from auditor.spool import json_chunks

    packer = zlib.compressobj(6)
    packed = [packer.compress(chunk.encode("utf-8")) for chunk in json_chunks(data)]
    packed.append(packer.flush())
    return b"".join(packed)


def _decode(blob: bytes | memoryview) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(zlib.decompress(bytes(blob)).decode("utf-8"))
    except (zlib.error, ValueError) as exc:
        raise StoreError(f"a stored report is damaged: {exc}") from exc
    return bounded_fields(data, limit=STORED_LIMIT)  # runs stored before strings were bounded


def _decode_spooled(blob: bytes | memoryview) -> dict[str, Any]:
    """`_decode`, but its hosts read one at a time into a `SpooledRows` (compact JSON lines
    in a temp file) as the blob is decompressed, so a stored run is rendered again without
    holding its every host decoded (issue 14). Reads the layout `_encode` writes
    (`json_chunks`: the top level's keys one a line, a list's items one a line); a blob of
    another layout (stored before) is decoded whole."""
    return _read_blob(blob, spool="hosts")


def _decode_parts(blob: bytes | memoryview, keys: Sequence[str]) -> dict[str, Any]:
    """Only the top-level `keys` of a stored report (those it has), the lines of the others
    skipped undecoded (`auditor history` of a run stored before digests: its summary and
    changes, not its hosts and findings)."""
    return _read_blob(blob, keys=keys)


def _read_blob(
    blob: bytes | memoryview, *, spool: str | None = None, keys: Sequence[str] | None = None
) -> dict[str, Any]:
    from auditor.spool import SpooledRows

    def whole() -> dict[str, Any]:
        data = _decode(blob)
        return data if keys is None else {k: data[k] for k in keys if k in data}

    lines = _blob_lines(blob)
    try:
        if next(lines, None) != "{":
            return whole()
        data: dict[str, Any] = {}
        for line in lines:
            if line == "}":
                return data
            key, end = _KEY.raw_decode(line)
            rest = _unlisted(line[end + 2 :])
            if not isinstance(key, str) or line[end : end + 2] != ": ":
                return whole()
            wanted = keys is None or key in keys
            if rest != "[":
                if wanted:
                    data[key] = bounded_fields(json.loads(rest), limit=STORED_LIMIT)
                continue
            items = _list_items(lines, decoded=wanted)
            if not wanted:
                for _ in items:  # skipped: its lines read, not decoded
                    pass
            else:
                data[key] = SpooledRows(items) if key == spool else list(items)
        return whole()  # no closing brace: damaged
    except (zlib.error, ValueError):  # another layout, or damaged: `_decode` tells which
        return whole()


_KEY = json.JSONDecoder()


def _unlisted(text: str) -> str:
    """A line's JSON without the comma that ends it."""
    return text[:-1] if text.endswith(",") else text


def _list_items(lines: Iterator[str], *, decoded: bool = True) -> Iterator[Any]:
    for line in lines:
        if line in ("]", "],"):
            return
        yield bounded_fields(json.loads(_unlisted(line)), limit=STORED_LIMIT) if decoded else None
    raise ValueError("a list is not closed")


def _blob_lines(blob: bytes | memoryview, chunk: int = 1 << 16) -> Iterator[str]:
    """A compressed report's lines, decompressed a piece at a time."""
    unpack = zlib.decompressobj()
    view = memoryview(blob)
    pending = b""
    for start in range(0, len(view), chunk):
        pending += unpack.decompress(view[start : start + chunk])
        *done, pending = pending.split(b"\n")
        yield from (line.decode("utf-8") for line in done)
    pending += unpack.flush()
    if not unpack.eof:
        raise zlib.error("the compressed report ends early")
    yield from (line.decode("utf-8") for line in pending.split(b"\n") if line)


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _insert_host_rows(db: Database, run_id: str, hosts: Iterable[HostView]) -> None:
    db.executemany(
        "INSERT INTO host_runs (run_id, host_id, label, status, alive, facts) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, host_id) DO UPDATE SET "
        "label = excluded.label, status = excluded.status, alive = excluded.alive, "
        "facts = excluded.facts",
        # A generator, not a list: each host's facts are encoded as its row is written
        # (a list held every host's facts JSON at once, ~8 KB a host).
        (
            (
                run_id,
                h.id,
                h.label,
                h.status.value,
                int(h.alive),
                json.dumps(dict(h.facts)) if h.facts is not None else None,
            )
            for h in hosts
        ),
    )


# --------------------------------------------------------------------------- lock


def _file_lock(path: Path) -> ExclusiveLock:
    """The exclusive lock on `<store>.lock` (see auditor.locking)."""
    lock_path = path.with_name(path.name + ".lock")

    def busy(holder: str) -> StoreError:
        return StoreError(
            f"history store {path} is in use by another audit ({holder}); wait for it to "
            "finish, or use another [audit] store"
        )

    return ExclusiveLock(lock_path, busy=busy, unavailable=StoreError)


# --------------------------------------------------------------------------- store


class Store:
    """An open history store. Make one with `open_store`."""

    def __init__(self, db: Database, lock: ExclusiveLock | PostgresLock | None) -> None:
        self.db = db
        self.location: StoreLocation = db.location  # str() of it never shows a password
        self._lock = lock

    # ------------------------------------------------------------------ reading

    def runs(self, limit: int | None = None) -> list[RunSummary]:
        """Runs, newest first."""
        sql = (
            "SELECT id, started_at, finished_at, config, hosts, findings, complete, digest "
            "FROM runs ORDER BY started_at DESC, id DESC"
        )
        rows = self.db.execute(sql + (" LIMIT ?" if limit else ""), (limit,) if limit else ())
        return [
            RunSummary(
                r[0], datetime.fromisoformat(r[1]), datetime.fromisoformat(r[2]), r[3], r[4],
                r[5], complete=bool(r[6]), digest=RunDigest.from_json(r[7]) if r[7] else None,
            )
            for r in rows
        ]  # fmt: skip

    def digest(self, summary: RunSummary) -> RunDigest:
        """The run's digest: as stored, or (a run stored before digests) from its report."""
        if summary.digest is not None:
            return summary.digest
        row = self.db.execute("SELECT report FROM runs WHERE id = ?", (summary.id,)).fetchone()
        return RunDigest.of_report(_decode_parts(row[0], ("summary", "changes")))

    def latest_run(self, *, complete: bool = True) -> StoredRun | None:
        """The newest run; by default the newest complete one (an interrupted run is never a
        baseline: what it did not probe would show as changes).

        Read while the store is open: its report is decoded only when read, and its
        findings and snapshot come from the tables host by host (`RunRows`), so comparing
        a run with it never holds the previous run's whole report."""
        where = "WHERE complete = 1 " if complete else ""
        row = self.db.execute(
            f"SELECT id, started_at, finished_at FROM runs {where}"
            "ORDER BY started_at DESC, id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return self._read_through(row[0], row[1], row[2])

    def open_run(self, ref: str) -> StoredRun:
        """`get_run`, read while the store is open: its report decoded only when read, its
        findings and snapshot from the tables (`RunRows`), as `latest_run`'s (`diff`
        compares two runs without decoding either report)."""
        run_id = self.resolve(ref)
        row = self.db.execute(
            "SELECT started_at, finished_at FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
        return self._read_through(run_id, row[0], row[1])

    def _read_through(self, run_id: str, started_at: str, finished_at: str) -> StoredRun:
        return StoredRun(
            run_id,
            datetime.fromisoformat(started_at),
            datetime.fromisoformat(finished_at),
            _StoredReport(self.db, run_id),
            RunRows(self.db, run_id) if RunRows.readable(self.db, run_id) else None,
        )

    def get_run(self, ref: str, *, spooled: bool = False) -> StoredRun:
        """A run by id, unique id prefix, `latest`, or `latest~N` (N runs before latest).
        `spooled`: its report's hosts a `SpooledRows`, read host by host (`_decode_spooled`:
        for rendering the run again)."""
        run_id = self.resolve(ref)
        row = self.db.execute(
            "SELECT id, started_at, finished_at, report FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
        decode = _decode_spooled if spooled else _decode
        return StoredRun(
            row[0], datetime.fromisoformat(row[1]), datetime.fromisoformat(row[2]), decode(row[3])
        )

    def resolve(self, ref: str) -> str:
        if ref == "latest" or ref.startswith("latest~"):
            back = ref.partition("~")[2]
            if back and not back.isdigit():
                raise UnknownRunError(f"bad run reference {ref!r} (use latest, latest~1, ...)")
            offset = int(back or 0)
            row = self.db.execute(
                "SELECT id FROM runs ORDER BY started_at DESC, id DESC LIMIT 1 OFFSET ?",
                (offset,),
            ).fetchone()
            if row is None:
                count = self.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
                raise UnknownRunError(
                    f"no run {ref!r}: the store at {self.location} has {count} runs"
                )
            return str(row[0])
        escaped = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self.db.execute(
            "SELECT id FROM runs WHERE id = ? OR id LIKE ? ESCAPE '\\' ORDER BY id LIMIT 3",
            (ref, escaped + "%"),
        ).fetchall()
        ids = [r[0] for r in rows]
        if ref in ids:
            return ref
        if len(ids) == 1:
            return str(ids[0])
        if not ids:
            raise UnknownRunError(f"no run {ref!r} in {self.location} (see `auditor history`)")
        raise UnknownRunError(f"run id prefix {ref!r} is ambiguous: {', '.join(ids)} ...")

    def sightings(self) -> dict[str, Sighting]:
        rows = self.db.execute(
            "SELECT host_id, label, first_seen, last_present, last_seen, gone_at FROM sightings"
        )
        out = {}
        for host_id, label, first, present, seen, gone in rows:
            out[host_id] = Sighting(
                host_id,
                label,
                datetime.fromisoformat(first),
                datetime.fromisoformat(present),
                _time(seen),
                _time(gone),
            )
        return out

    def host_history(self, host_id: str) -> list[tuple[str, str, bool]]:
        """(run id, status, alive) for one host, oldest first."""
        rows = self.db.execute(
            "SELECT h.run_id, h.status, h.alive FROM host_runs h JOIN runs r ON r.id = h.run_id "
            "WHERE h.host_id = ? ORDER BY r.started_at, r.id",
            (host_id,),
        )
        return [(r[0], r[1], bool(r[2])) for r in rows]

    def facts_of(self, run_id: str, host_id: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT facts FROM host_runs WHERE run_id = ? AND host_id = ?", (run_id, host_id)
        ).fetchone()
        if row is None or row[0] is None:
            return None
        facts: dict[str, Any] = bounded_fields(json.loads(row[0]), limit=STORED_LIMIT)
        return facts

    # ------------------------------------------------------------------ pending alerts

    def pending_alerts(self) -> list[PendingAlert]:
        """Webhook alerts not delivered yet, oldest first (see auditor.notify)."""
        rows = self.db.execute(
            "SELECT id, run_id, created_at, payload, attempts FROM pending_alerts ORDER BY id"
        )
        return [PendingAlert(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in rows]

    def keep_alert(self, run_id: str, payload: Mapping[str, Any], error: str) -> int:
        from auditor.notify import MAX_PENDING

        with self.db.transaction():
            self.db.execute(
                "INSERT INTO pending_alerts (run_id, created_at, payload, attempts, last_error) "
                "VALUES (?, ?, ?, 1, ?)",
                (run_id, datetime.now(UTC).isoformat(), json.dumps(payload), error),
            )
            dropped = self.db.execute(
                "DELETE FROM pending_alerts WHERE id NOT IN "
                "(SELECT id FROM pending_alerts ORDER BY id DESC LIMIT ?)",
                (MAX_PENDING,),
            ).rowcount
        return int(dropped)

    def alert_delivered(self, alert_id: int) -> None:
        with self.db.transaction():
            self.db.execute("DELETE FROM pending_alerts WHERE id = ?", (alert_id,))

    def alert_failed(self, alert_id: int, error: str) -> None:
        with self.db.transaction():
            self.db.execute(
                "UPDATE pending_alerts SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                (error, alert_id),
            )

    # ------------------------------------------------------------------ writing

    def save_run(self, run: AuditRun) -> None:
        """Store `run` (with its changes) and update sightings, in one transaction."""
        from auditor.report.json_report import run_to_dict

        self.save_report(run_to_dict(run))

    def save_report(self, report: Mapping[str, Any]) -> None:
        """Store one run given as report.json data (what `save_run` does after converting):
        the data as written, and its hosts, findings and sightings read through its typed
        view (`read_report`: a spooled host is read when its row is written)."""
        if self._lock is None:
            raise StoreError(f"the store at {self.location} was opened read-only")
        view = read_report(report)
        info, started = view.run, view.run.started_at
        try:
            with self.db.transaction():
                by_sev = (report.get("summary") or {}).get("findings_by_severity") or {}
                self.db.execute(
                    "INSERT INTO runs (id, started_at, finished_at, config, hosts, findings, "
                    "report, complete, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        info.id,
                        started,
                        info.finished_at,
                        info.config,
                        len(view.hosts),
                        len(view.findings),
                        _encode(report),
                        0 if view.interrupted else 1,
                        RunDigest.of(by_sev, view.changes).to_json(),
                    ),
                )
                _insert_host_rows(self.db, info.id, view.hosts)
                self.db.executemany(
                    "INSERT INTO findings (run_id, rule, severity, host, title, evidence, seq) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (  # made as written, like the host rows
                        (info.id, f.rule, f.severity.value, f.host, f.title,
                         json.dumps(list(f.evidence)), seq)
                        for seq, f in enumerate(view.findings)
                    ),
                )  # fmt: skip
                # An interrupted run is no baseline: first/last seen and gone markers are
                # the complete runs' (its hosts count as new until a complete run sees them).
                hosts = () if view.interrupted else view.hosts
                self.db.executemany(
                    "INSERT INTO sightings (host_id, label, first_seen, first_run, "
                    "last_present, last_run, last_seen, gone_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, NULL) "
                    "ON CONFLICT (host_id) DO UPDATE SET label = excluded.label, "
                    "last_present = excluded.last_present, last_run = excluded.last_run, "
                    "last_seen = COALESCE(excluded.last_seen, sightings.last_seen), "
                    "gone_at = CASE WHEN excluded.last_seen IS NULL "
                    "THEN sightings.gone_at ELSE NULL END",
                    ((h.id, h.label, started, info.id, started, info.id,
                      started if h.alive else None) for h in hosts),
                )  # fmt: skip
                gone = () if view.interrupted else gone_host_ids(view.changes)
                self.db.executemany(
                    "UPDATE sightings SET gone_at = ? WHERE host_id = ?",
                    [(started, host_id) for host_id in gone],
                )
        except self.db.integrity_error as exc:
            raise StoreError(
                f"run {info.id} is already in {self.location}: {self._why(exc)}"
            ) from None
        except self.db.error as exc:
            raise StoreError(
                f"cannot write to history store {self.location}: {self._why(exc)}"
            ) from None

    def _why(self, exc: Exception) -> str:
        if isinstance(self.db, PostgresDatabase):
            return self.db.scrub(exc)
        return str(exc)

    def close(self) -> None:
        try:
            self.db.close()  # a PostgreSQL session's end lets go of its advisory lock
        finally:
            if self._lock is not None:
                self._lock.release()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def schema_version(db: Database) -> int:
    return db.schema_version()


def migrate(db: Database, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the store to the newest schema; return the version it had. Refuses a store
    written by a newer auditor (its data would be misread or damaged)."""
    where = db.location
    version = db.schema_version()
    target = len(migrations)
    if version > target:
        written_by = ""
        with contextlib.suppress(db.error):
            row = db.execute("SELECT value FROM meta WHERE key = 'written_by'").fetchone()
            written_by = f" (auditor {row[0]})" if row else ""
        raise StoreError(
            f"history store {where} has schema version {version}, written by a newer "
            f"auditor{written_by}; this auditor ({_auditor_version()}) knows versions up to "
            f"{target}. Upgrade auditor, or point [audit] store at another store."
        )
    for index in range(version, target):
        try:
            with db.transaction():
                migrations[index](db)
                db.set_schema_version(index + 1)
        except db.error as exc:
            why = db.scrub(exc) if isinstance(db, PostgresDatabase) else str(exc)
            raise StoreError(
                f"cannot migrate history store {where} from version {index} to {index + 1}: {why}"
            ) from None
    if version < target:
        with db.transaction():
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('written_by', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (_auditor_version(),),
            )
    return version


def open_store(location: StoreLocation, *, readonly: bool = False) -> Store:
    """Open (creating and migrating as needed) the history store at `location`: a SQLite
    file's path, or a `PostgresUrl` (its database must exist; the tables are made here).

    Writable (the default) takes the lock for as long as the store is open: open it before
    the audit starts so a second audit on the same store fails fast. `readonly` takes no
    lock and never creates the store (it migrates an older store under the lock first)."""
    if isinstance(location, PostgresUrl):
        return _open_postgres(location, readonly=readonly)
    return _open_sqlite(Path(location), readonly=readonly)


def _open_sqlite(path: Path, *, readonly: bool) -> Store:
    if readonly and not path.exists():
        raise StoreError(f"no history store at {path} (a run with [audit] store set makes one)")
    lock = _file_lock(path)
    if not readonly:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create folder for history store {path}: {exc}") from exc
        lock.acquire()
    try:
        db = connect(path)
        try:
            if readonly:
                if db.schema_version() < SCHEMA_VERSION:
                    db.close()
                    _open_sqlite(path, readonly=False).close()  # migrate under the lock
                    db = connect(path)
                migrate(db)  # refuses a newer store
                db.read_only()
            else:
                migrate(db)
        except BaseException:
            db.close()
            raise
    except sqlite3.DatabaseError as exc:
        lock.release()
        raise StoreError(f"{path} is not a usable SQLite history store: {exc}") from exc
    except BaseException:
        lock.release()
        raise
    return Store(db, None if readonly else lock)


def _open_postgres(url: PostgresUrl, *, readonly: bool) -> Store:
    db = PostgresDatabase(url)
    lock = None if readonly else PostgresLock(db)
    try:
        if lock is not None:
            lock.acquire()
        version = db.schema_version()
        if readonly and version == 0:
            raise StoreError(
                f"no history store in {url} yet (a run with [audit] store set makes one)"
            )
        if readonly and version < SCHEMA_VERSION:
            _open_postgres(url, readonly=False).close()  # migrate under the lock
        migrate(db)  # refuses a newer store
        if readonly:
            db.read_only()
    except db.error as exc:
        db.close()
        raise StoreError(f"cannot use history store {url}: {db.scrub(exc)}") from None
    except BaseException:
        db.close()  # and with it the advisory lock
        raise
    return Store(db, lock)


# --------------------------------------------------------------------------- the pipeline's call


def record_run(store: Store, run: AuditRun, *, grace: timedelta) -> RecordedRun:
    """Compare `run` with the latest complete stored run, fill in its `changes`, save it
    (an interrupted run too, marked so: it is never the next run's baseline)."""
    from auditor.report.json_report import changes_to_dict, run_to_dict

    previous = store.latest_run()
    report = run_to_dict(run)  # once: the snapshot compared and the copy stored
    changes = compute_changes(
        previous.snapshot() if previous else None,
        RunSnapshot.from_report(report),
        now=run.started_at,
        grace=grace,
        sightings=store.sightings(),
    )
    run = replace(run, changes=changes)
    report["changes"] = changes_to_dict(changes)  # = run_to_dict(run): only changes differ
    store.save_report(report)
    return RecordedRun(run, previous)


@contextlib.contextmanager
def maybe_store(location: StoreLocation | None) -> Iterator[Store | None]:
    """`open_store(location)` when a store is configured, else None: for `with` in the
    pipeline."""
    if location is None:
        yield None
        return
    with open_store(location) as store:
        yield store
