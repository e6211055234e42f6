"""The history store's two databases behind one small interface: SQLite (a file, the default)
and PostgreSQL (`[audit] store = "postgresql://..."`, psycopg 3).

auditor.store writes its SQL once, with `?` placeholders and two type words (`{blob}`,
`{serial}`); a `Database` translates them for its dialect and keeps the rest of the
differences here: where the schema version lives, transactions, read-only sessions, the
one-writer lock and how errors read.

Credentials: a PostgreSQL URL may carry a user, a password and TLS options (`sslmode`,
`sslrootcert`, ...). The password may also come from the environment: $AUDITOR_STORE_PASSWORD
(read by auditor), or libpq's own $PGPASSWORD and ~/.pgpass. A `PostgresUrl` never shows
its password, user or options: `str()` and `repr()` give `postgresql://host:port/db`, and
error texts from the server are scrubbed of the password before they reach a message.

A writer's session stays open for the whole audit (hours): TCP keepalives (unless the URL
sets its own) keep a firewall from dropping it unnoticed, and a session that the server or the
network ended is opened again before the store is next used, taking the lock again; if
another audit took the store meanwhile, this run is refused, naming it.

One writer at a time on PostgreSQL: a session-level advisory lock keyed on the store's
identity (its database and schema: advisory locks live per database), taken with
`pg_try_advisory_lock` so a second audit fails at once, naming the session that holds it
(its application name says which auditor: pid, machine, subcommand). The server drops the
lock when that session ends, so a killed audit never leaves it held.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from auditor.errors import StoreError
from auditor.locking import holder_name
from auditor.urls import shown

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
PASSWORD_ENV = "AUDITOR_STORE_PASSWORD"
INSTALL_HINT = "install it with: pip install 'auditor[postgres]'"


@dataclass(frozen=True, repr=False)
class PostgresUrl:
    """A PostgreSQL store's URL. Printing it (str, repr, f-strings, logs) never shows the
    credentials or the options: only `postgresql://host:port/database`."""

    url: str

    def __str__(self) -> str:
        return shown(self.url)

    def __repr__(self) -> str:
        return f"PostgresUrl({shown(self.url)!r})"


StoreLocation = Path | PostgresUrl


def is_postgres_url(text: str) -> bool:
    return text.startswith(POSTGRES_SCHEMES)


def store_location(text: str, base: Path | None = None) -> StoreLocation:
    """`[audit] store` or `--store` as given: a postgresql:// URL, else a SQLite file (a
    relative one against `base`, the config file's folder, or the current folder)."""
    if is_postgres_url(text):
        return PostgresUrl(text)
    path = Path(text).expanduser()
    return path if base is None or path.is_absolute() else base / path


def check_postgres_url(text: str) -> str | None:
    """Why this store URL is refused, or None (pure; config load calls it)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "not a valid postgresql:// URL"
    if not parts.path.strip("/"):
        return "no database name (postgresql://host/DATABASE)"
    return None


class Rows(Protocol):
    """What a query gives back (an sqlite3 or a psycopg cursor)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Database(Protocol):
    """One connection to a history store, SQL written once (see the module docstring)."""

    location: StoreLocation
    dialect: str  # "sqlite" | "postgresql"
    error: type[Exception]  # any database error
    integrity_error: type[Exception]  # a duplicate key

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """`sql` once per row; `rows` is read as it goes (a run's hosts with their facts are
        never one list in memory)."""
        ...

    def script(self, sql: str) -> None:
        """Several statements, no parameters (schema changes)."""
        ...

    def transaction(self) -> contextlib.AbstractContextManager[Any]: ...

    def schema_version(self) -> int: ...

    def set_schema_version(self, version: int) -> None:
        """Inside a transaction: the migration and its version commit together."""
        ...

    def read_only(self) -> None:
        """From now on refuse every write (history, diff, report)."""
        ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------- SQLite


class SqliteDatabase:
    dialect = "sqlite"
    error: type[Exception] = sqlite3.Error
    integrity_error: type[Exception] = sqlite3.IntegrityError

    def __init__(self, path: Path) -> None:
        self.location: StoreLocation = path
        try:
            self.conn = sqlite3.connect(path, timeout=10.0, isolation_level="DEFERRED")
            self.conn.execute("PRAGMA foreign_keys = ON")
            self.conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path} is not a usable SQLite history store: {exc}") from exc

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("{blob}", "BLOB").replace(
            "{serial}", "INTEGER PRIMARY KEY AUTOINCREMENT"
        )

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        return self.conn.execute(self._sql(sql), params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.conn.executemany(self._sql(sql), rows)

    def script(self, sql: str) -> None:
        self.conn.executescript(self._sql(sql))

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        return self.conn  # commits on success, rolls back on an exception

    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def set_schema_version(self, version: int) -> None:
        self.conn.execute(f"PRAGMA user_version = {int(version)}")

    def read_only(self) -> None:
        self.conn.execute("PRAGMA query_only = ON")

    def close(self) -> None:
        self.conn.close()


# --------------------------------------------------------------------------- PostgreSQL


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise StoreError(f"a postgresql:// history store needs psycopg 3: {INSTALL_HINT}") from exc
    return psycopg


# PostgreSQL text holds no NUL character (SQLite's does), and a hostile name may carry one:
# text goes in escaped and comes out unescaped, so it round-trips exactly, and equal names
# stay equal in the database (a host id with a NUL is the same host in every run).
_ESCAPE = "\ufffe"  # a Unicode noncharacter: itself escaped too, so any text round-trips


def _no_nul(value: Any) -> Any:
    if isinstance(value, str) and ("\x00" in value or _ESCAPE in value):
        return value.replace(_ESCAPE, _ESCAPE + "e").replace("\x00", _ESCAPE + "0")
    return value


def _with_nul(value: Any) -> Any:
    if isinstance(value, str) and _ESCAPE in value:
        parts = value.split(_ESCAPE)
        return parts[0] + "".join(("\x00" if p[:1] == "0" else _ESCAPE) + p[1:] for p in parts[1:])
    return value


def _rows_with_nul(cursor: Any) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """psycopg row factory: tuples, their text unescaped (see `_no_nul`)."""

    def make(values: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(_with_nul(v) for v in values)

    return make


# libpq's defaults unless the URL says otherwise: a dead peer is noticed within minutes.
_CONNECT_DEFAULTS = {
    "connect_timeout": "10",
    "keepalives": "1",
    "keepalives_idle": "60",
    "keepalives_interval": "10",
    "keepalives_count": "6",
}


class PostgresDatabase:
    dialect = "postgresql"

    def __init__(self, url: PostgresUrl) -> None:
        self._pg = _psycopg()
        self.url = url
        self.location: StoreLocation = url
        self.error: type[Exception] = self._pg.Error
        self.integrity_error: type[Exception] = self._pg.IntegrityError
        self._password = os.environ.get(PASSWORD_ENV) or None
        self._key: int | None = None
        self._holds_lock = False
        self._read_only = False
        self._in_transaction = False
        self.conn: psycopg.Connection[Any] = self._connect()

    def _connect(self) -> psycopg.Connection[Any]:
        pg = self._pg
        try:
            given = pg.conninfo.conninfo_to_dict(self.url.url)
            options: dict[str, Any] = {k: v for k, v in _CONNECT_DEFAULTS.items() if k not in given}
            options["application_name"] = f"auditor: {holder_name()}"[:63]
            if self._password:
                options["password"] = self._password
            conn: psycopg.Connection[Any] = pg.connect(
                self.url.url, autocommit=True, row_factory=_rows_with_nul, **options
            )
            if self._read_only:
                conn.execute("SET default_transaction_read_only = on")
        except (pg.Error, ValueError) as exc:
            raise StoreError(f"cannot open history store {self.url}: {self.scrub(exc)}") from None
        return conn

    def _lost(self) -> bool:
        """The session is gone (the server or the network ended it), outside a transaction:
        the statement can run again on a new one."""
        return (self.conn.broken or self.conn.closed) and not self._in_transaction

    def _reopen(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()
        self.conn = self._connect()
        log.warning("history store %s: the database session was lost; opened again", self.url)
        if self._holds_lock and not self.try_lock():
            self._holds_lock = False
            raise StoreError(
                f"lost the session to history store {self.url}, and another audit took the "
                f"store meanwhile ({self.lock_holder()}); this run is not stored there"
            )

    def _alive(self) -> None:
        """Before a write: one round trip, and a new session if the old one is gone."""
        try:
            self.conn.execute("SELECT 1")
        except self._pg.OperationalError:
            if not self._lost():
                raise
            self._reopen()

    def _url_password(self) -> str | None:
        from urllib.parse import parse_qs, unquote, urlsplit

        with contextlib.suppress(ValueError):
            parts = urlsplit(self.location.url if isinstance(self.location, PostgresUrl) else "")
            if parts.password:
                return unquote(parts.password)
            given = parse_qs(parts.query).get("password")
            return given[0] if given else None
        return None

    def scrub(self, exc: BaseException) -> str:
        """An error's text without any password we know of, on one line."""
        text = " ".join(str(exc).split()) or type(exc).__name__
        for secret in (self._password, self._url_password(), os.environ.get("PGPASSWORD")):
            if secret:
                text = text.replace(secret, "***")
        return text

    @staticmethod
    def _types(sql: str) -> str:
        sql = sql.replace("{blob}", "BYTEA")
        return sql.replace("{serial}", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")

    @classmethod
    def _sql(cls, sql: str) -> str:
        return cls._types(sql).replace("%", "%%").replace("?", "%s")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        query, args = self._sql(sql), [_no_nul(p) for p in params]
        try:
            return self.conn.execute(query, args)
        except self._pg.OperationalError:
            if not self._lost():
                raise
        self._reopen()
        return self.conn.execute(query, args)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.conn.cursor() as cursor:
            cursor.executemany(self._sql(sql), ([_no_nul(v) for v in row] for row in rows))

    def script(self, sql: str) -> None:
        self.conn.execute(self._types(sql))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self._alive()
        self._in_transaction = True
        try:
            with self.conn.transaction():
                yield
        finally:
            self._in_transaction = False

    def schema_version(self) -> int:
        row = self.conn.execute("SELECT to_regclass('auditor_schema') IS NOT NULL").fetchone()
        if not row or not row[0]:
            return 0
        row = self.conn.execute("SELECT max(version) FROM auditor_schema").fetchone()
        return int(row[0] or 0) if row else 0

    def set_schema_version(self, version: int) -> None:
        self.conn.execute("CREATE TABLE IF NOT EXISTS auditor_schema (version INTEGER NOT NULL)")
        self.conn.execute("DELETE FROM auditor_schema")
        self.conn.execute("INSERT INTO auditor_schema (version) VALUES (%s)", [int(version)])

    def read_only(self) -> None:
        self._read_only = True
        self.conn.execute("SET default_transaction_read_only = on")

    # ------------------------------------------------------------------ the lock

    def lock_key(self) -> int:
        """The advisory lock's key: this store's identity (its schema; advisory locks are
        per database already), the same for every auditor on any machine."""
        if self._key is None:
            row = self.conn.execute(
                "SELECT hashtextextended('auditor history store ' || current_schema(), 0)"
            ).fetchone()
            assert row is not None  # a SELECT of one value gives one row
            self._key = int(row[0])
        return self._key

    def try_lock(self) -> bool:
        row = self.conn.execute("SELECT pg_try_advisory_lock(%s)", [self.lock_key()]).fetchone()
        self._holds_lock = bool(row and row[0])
        return self._holds_lock

    def unlock(self) -> None:
        self._holds_lock = False
        if not self.conn.closed:
            with contextlib.suppress(Exception):
                self.conn.execute("SELECT pg_advisory_unlock(%s)", [self.lock_key()])

    def lock_holder(self) -> str:
        """Who holds this store's advisory lock: the session's application name (auditor sets
        it to pid, machine and subcommand), its server pid, client address and start."""
        key = self.lock_key() & 0xFFFFFFFFFFFFFFFF
        row = self.conn.execute(
            "SELECT a.application_name, l.pid, a.client_addr, "
            "to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') "
            "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.classid = %s AND l.objid = %s "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            [key >> 32, key & 0xFFFFFFFF],
        ).fetchone()
        if row is None:
            return "another session, which has just let go: try again"
        name, pid, address, since = row
        who = name if name and name != "<insufficient privilege>" else "a session"
        where = f"from {address}" if address else "over a local socket"
        started = f", connected since {since} UTC" if since else ""
        return f"{who}; PostgreSQL backend pid {pid} {where}{started}"

    def close(self) -> None:
        self.conn.close()


class PostgresLock:
    """The store's advisory lock, held by the store's own connection."""

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db

    def acquire(self) -> PostgresLock:
        if not self.db.try_lock():
            raise StoreError(
                f"history store {self.db.location} is in use by another audit "
                f"({self.db.lock_holder()}); wait for it to finish, or use another [audit] store"
            )
        return self

    def release(self) -> None:
        self.db.unlock()  # closing the connection lets go too


def connect(location: StoreLocation) -> SqliteDatabase | PostgresDatabase:
    if isinstance(location, PostgresUrl):
        return PostgresDatabase(location)
    return SqliteDatabase(location)
