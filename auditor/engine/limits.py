"""Session limits shared by every worker: lease-based counting semaphores in Redis or
PostgreSQL.

`[[vantage]] concurrency` and `[ssh] jump_host_concurrency` must hold however many worker
processes serve a vantage, and whatever the controller does (a batch redelivered while its
first run still goes on, a second controller's run). So each worker takes a slot per SSH
session before the session starts (auditor.remote.limits.SessionGate), as a lease in the
limiter (`[engine] limiter`; by default the broker when it is Redis, else the history store
when it is PostgreSQL):

- taking is atomic over every limit of the host: the expired leases are dropped, and a
  slot of each limit is taken or none is, so a worker never holds one limit while waiting
  for another. RedisSlots: one Lua script over a sorted set per limit
  `{<queue_prefix>.limits}:<vantage:NAME | bastion:HOST:PORT>`, members scored by when
  their lease ends. PostgresSlots: one transaction over a row per lease, the limits
  locked in one order;
- lease ends are the limiter's own clock: the workers' clocks never matter;
- a thread of each worker process renews its leases every third of `[engine] lease`
  (LeasedSlots); a worker that dies (SIGKILL, power loss) stops renewing, and its slots
  come back when their leases end. A lease found expired at renewal is not revived (its
  slot may be someone else's by then): it is logged.

With a RabbitMQ broker, no `limiter` and no PostgreSQL store, each worker process keeps its
own counts (LocalSlots): the controller still dispatches at most `concurrency` hosts of a
vantage per run, but a jump host's limit then holds per worker process only (the worker
says so).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import uuid
from typing import TYPE_CHECKING, Any

from auditor.config import Config, EngineSettings
from auditor.engine.routing import vantage_named
from auditor.remote.limits import Claim, LocalSlots, SessionGate, Slots
from auditor.storedb import PASSWORD_ENV, PostgresUrl, StoreLocation, is_postgres_url
from auditor.urls import shown

if TYPE_CHECKING:
    import redis

log = logging.getLogger(__name__)

_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if not redis.call('ZSCORE', key, ARGV[1])
     and redis.call('ZCARD', key) >= tonumber(ARGV[2 + i]) then
    return 0
  end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + lease, ARGV[1])
  redis.call('PEXPIRE', key, lease * 2)
end
return 1
"""

_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
local lost = {}
for i, key in ipairs(KEYS) do
  local member = ARGV[1 + i]
  local ends = redis.call('ZSCORE', key, member)
  if not ends or tonumber(ends) <= now then
    redis.call('ZREM', key, member)
    table.insert(lost, i)
  else
    redis.call('ZADD', key, now + lease, member)
    redis.call('PEXPIRE', key, lease * 2)
  end
end
return lost
"""


def limit_key(engine: EngineSettings, key: str) -> str:
    # The hash tag keeps every limit in one Redis Cluster slot (a script touches several).
    return f"{{{engine.queue_prefix}.limits}}:{key}"


class LeasedSlots:
    """Slots with leases, shared by all workers (see the module docstring): this process's
    part. One per worker process; `close()` stops its renewal thread and gives back what it
    still holds. A subclass keeps the leases (Redis, PostgreSQL) with four operations."""

    def __init__(self, engine: EngineSettings) -> None:
        self.engine = engine
        # Members name the process that holds them: whoever reads the leases sees whose.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._held: dict[str, tuple[str, ...]] = {}  # member -> its limits' stored keys
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._renewer = threading.Thread(
            target=self._renew_every, name="auditor-lease-renewal", daemon=True
        )
        self._renewer.start()

    # What a store does, atomically each: ------------------------------------------------
    def _take(self, keys: list[str], member: str, limits: list[int]) -> bool:
        """Drop the expired leases of `keys`; take one of each for `member`, or none."""
        raise NotImplementedError

    def _give(self, keys: tuple[str, ...], member: str) -> None:
        raise NotImplementedError

    def _renew_leases(self, pairs: list[tuple[str, str]]) -> list[int]:
        """Extend these (key, member) leases; the indexes of those already expired (each
        dropped, never revived)."""
        raise NotImplementedError

    def _close_store(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------------------------
    def member(self, holder: str) -> str:
        return f"{self.owner}/{holder}"

    def try_take(self, claims: tuple[Claim, ...], holder: str) -> bool:
        keys = [limit_key(self.engine, key) for key, _ in claims]
        member = self.member(holder)
        taken = self._take(keys, member, [limit for _, limit in claims])
        if taken:
            with self._lock:
                self._held[member] = tuple(keys)
        return taken

    def give_back(self, keys: tuple[str, ...], holder: str) -> None:
        member = self.member(holder)
        with self._lock:
            self._held.pop(member, None)
        self._give(tuple(limit_key(self.engine, key) for key in keys), member)

    def renew(self) -> int:
        """Extend every lease held; returns how many had already expired (now dropped)."""
        with self._lock:
            held = list(self._held.items())
        pairs = [(key, member) for member, keys in held for key in keys]
        if not pairs:
            return 0
        lost = self._renew_leases(pairs)
        for index in lost:
            key, member = pairs[index]
            log.warning("session slot %s of %s expired before its renewal", key, member)
        return len(lost)

    def _renew_every(self) -> None:
        while not self._stop.wait(self.engine.lease / 3):
            try:
                self.renew()
            except Exception as exc:  # the store away for a moment: the next round retries
                log.warning("could not renew session slot leases: %s", exc)

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            held, self._held = list(self._held.items()), {}
        try:
            for member, keys in held:
                self._give(keys, member)
        finally:
            self._close_store()


class RedisSlots(LeasedSlots):
    """Leases in Redis: a sorted set per limit, one Lua script to take, one to renew."""

    def __init__(self, client: redis.Redis, engine: EngineSettings) -> None:
        self.client = client
        self.lease_ms = int(engine.lease * 1000)
        self._take_script = client.register_script(_TAKE)
        self._renew_script = client.register_script(_RENEW)
        super().__init__(engine)

    @classmethod
    def connect(cls, url: str, engine: EngineSettings) -> RedisSlots:
        import redis as redis_module

        client = redis_module.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=10)
        return cls(client, engine)

    def _take(self, keys: list[str], member: str, limits: list[int]) -> bool:
        return bool(self._take_script(keys=keys, args=[member, self.lease_ms, *limits]))

    def _give(self, keys: tuple[str, ...], member: str) -> None:
        with self.client.pipeline() as pipe:
            for key in keys:
                pipe.zrem(key, member)
            pipe.execute()

    def _renew_leases(self, pairs: list[tuple[str, str]]) -> list[int]:
        args: list[Any] = [self.lease_ms, *(member for _, member in pairs)]
        lost = self._renew_script(keys=[key for key, _ in pairs], args=args)
        return [int(index) - 1 for index in lost]  # Lua counts from 1

    def _close_store(self) -> None:
        self.client.close()


# PostgreSQL: one row per slot taken. The table is the limiter's own (made when missing, so
# `limiter` may name the history store's database or any other), not the store's schema.
LEASES = "auditor_session_leases"
_LOCK_CLASS = 1635083380  # pg_advisory_xact_lock(class, hashtext(limit)): the limits' space

_SETUP = f"""
CREATE TABLE IF NOT EXISTS {LEASES} (
    limit_key text NOT NULL,
    member text NOT NULL,
    ends timestamptz NOT NULL,
    PRIMARY KEY (limit_key, member)
)
"""

# Every limit of the host locked in one order (no two takers wait on each other), for this
# transaction only: a taker that dies releases them with its session.
_PG_LOCK = f"""
SELECT pg_advisory_xact_lock({_LOCK_CLASS}, h)
FROM (SELECT DISTINCT hashtext(k) AS h FROM unnest(%(keys)s::text[]) AS k ORDER BY 1) AS s
"""

# After the locks, one statement: drop the limits' expired leases, and take a lease in each
# limit or in none (statement_timestamp(): one instant per statement, the server's clock,
# never the workers'). Taken when it returns a row per limit.
_PG_TAKE = f"""
WITH gone AS (
    DELETE FROM {LEASES} WHERE limit_key = ANY(%(keys)s) AND ends <= statement_timestamp()
), claims AS (
    SELECT * FROM unnest(%(keys)s::text[], %(limits)s::int[]) AS c(limit_key, most)
), full_limits AS (
    SELECT 1 FROM claims AS c
    WHERE NOT EXISTS (SELECT 1 FROM {LEASES} AS l WHERE l.limit_key = c.limit_key
                      AND l.member = %(member)s AND l.ends > statement_timestamp())
    AND (SELECT count(*) FROM {LEASES} AS l
         WHERE l.limit_key = c.limit_key AND l.ends > statement_timestamp()) >= c.most
)
INSERT INTO {LEASES} (limit_key, member, ends)
SELECT c.limit_key, %(member)s, statement_timestamp() + %(lease)s * interval '1 second'
FROM claims AS c WHERE NOT EXISTS (SELECT 1 FROM full_limits)
ON CONFLICT (limit_key, member) DO UPDATE SET ends = excluded.ends
RETURNING limit_key
"""

_PG_GIVE = f"DELETE FROM {LEASES} WHERE limit_key = ANY(%(keys)s) AND member = %(member)s"

# Live leases get a new end; expired ones are dropped, not revived (the same instant
# decides both, so no row is both).
_PG_RENEW = f"""
WITH held AS (
    SELECT * FROM unnest(%(keys)s::text[], %(members)s::text[]) AS h(limit_key, member)
), renewed AS (
    UPDATE {LEASES} AS l SET ends = statement_timestamp() + %(lease)s * interval '1 second'
    FROM held WHERE l.limit_key = held.limit_key AND l.member = held.member
    AND l.ends > statement_timestamp()
    RETURNING l.limit_key, l.member
), dropped AS (
    DELETE FROM {LEASES} AS l USING held
    WHERE l.limit_key = held.limit_key AND l.member = held.member
    AND l.ends <= statement_timestamp()
)
SELECT limit_key, member FROM renewed
"""


class PostgresSlots(LeasedSlots):
    """Leases in PostgreSQL (`[engine] limiter = "postgresql://..."`, or the history store):
    a row per slot taken, in table `auditor_session_leases`. Taking is one transaction that
    locks the host's limits (transaction-scoped advisory locks, in one order), drops their
    expired leases, counts, and inserts a lease in each or in none; ends are the server's
    clock. The same semantics as RedisSlots: a dead worker's leases end unrenewed.

    Commits are not waited on (`synchronous_commit = off`): a lease lives seconds, and a
    server crash that loses the last few only frees slots whose holders then find, at their
    next renewal, that they lost them (logged) — as a Redis restart does."""

    def __init__(self, url: str, engine: EngineSettings, password: str | None = None) -> None:
        self.url, self.password = url, password
        self._db_lock = threading.Lock()  # one connection, one transaction at a time
        self.conn: Any = None  # opened at the first use: a failure then skips that host
        super().__init__(engine)

    def _connect(self) -> Any:
        from urllib.parse import unquote, urlsplit

        import psycopg

        from auditor.locking import holder_name

        options: dict[str, Any] = {
            "connect_timeout": 10, "keepalives": 1, "keepalives_idle": 60,
            "keepalives_interval": 10, "keepalives_count": 6,
            "application_name": f"auditor limits: {holder_name()}"[:63],
        }  # fmt: skip
        if self.password:
            options["password"] = self.password
        try:
            conn = psycopg.connect(self.url, autocommit=True, **options)
        except psycopg.Error as exc:
            why = " ".join(str(exc).split()) or type(exc).__name__
            for secret in (self.password, urlsplit(self.url).password):
                if secret:  # libpq may quote what it was given
                    why = why.replace(secret, "***").replace(unquote(secret), "***")
            where = f"the session limits' database {shown(self.url)}"
            raise ConnectionError(f"cannot open {where}: {why}") from None
        conn.execute("SET synchronous_commit = off")
        with conn.transaction():  # two workers starting at once must not both create it
            conn.execute(f"SELECT pg_advisory_xact_lock({_LOCK_CLASS}, 0)")
            conn.execute(_SETUP)
        return conn

    def _db(self) -> Any:
        """The connection, opened at first use and again if the server or the network
        ended it (under `_db_lock`)."""
        if self.conn is None:
            self.conn = self._connect()
        elif self.conn.closed or self.conn.broken:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None
            self.conn = self._connect()
            log.warning("session limits: the database session was lost; opened again")
        return self.conn

    def _take(self, keys: list[str], member: str, limits: list[int]) -> bool:
        args = {"keys": keys, "limits": limits, "member": member, "lease": self.engine.lease}
        with self._db_lock:
            conn = self._db()
            # BEGIN, the locks, the take and COMMIT sent at once (one round trip): the
            # limits stay locked for the server's work only, not for the network's.
            with conn.pipeline(), conn.transaction():
                conn.execute(_PG_LOCK, args)
                taken = conn.execute(_PG_TAKE, args)
            return len(taken.fetchall()) == len(keys)

    def _give(self, keys: tuple[str, ...], member: str) -> None:
        with self._db_lock:
            self._db().execute(_PG_GIVE, {"keys": list(keys), "member": member})

    def _renew_leases(self, pairs: list[tuple[str, str]]) -> list[int]:
        args = {
            "keys": [key for key, _ in pairs],
            "members": [member for _, member in pairs],
            "lease": self.engine.lease,
        }
        with self._db_lock:
            renewed = set(map(tuple, self._db().execute(_PG_RENEW, args)))
        return [i for i, pair in enumerate(pairs) if pair not in renewed]

    def _close_store(self) -> None:
        with self._db_lock:
            if self.conn is not None:
                self.conn.close()


def limiter_url(engine: EngineSettings, store: StoreLocation | None = None) -> str | None:
    """Where the leases live: `[engine] limiter`, else the broker when it is Redis, else
    `store` (the config's history store) when it is PostgreSQL; None: nowhere shared."""
    given = engine.limiter_url()
    if given is not None:
        return given
    broker = engine.broker_url()
    if broker.startswith(("redis://", "rediss://")):
        return broker
    return store.url if isinstance(store, PostgresUrl) else None


def make_slots(config: Config) -> Slots:
    engine = config.engine
    assert engine is not None
    url = limiter_url(engine, config.audit.store)
    if url is None:
        return LocalSlots()
    if is_postgres_url(url):
        # The history store's own password ($AUDITOR_STORE_PASSWORD) when it is the store.
        store = config.audit.store
        is_store = isinstance(store, PostgresUrl) and store.url == url
        password = os.environ.get(PASSWORD_ENV) if is_store else None
        return PostgresSlots(url, engine, password=password or None)
    return RedisSlots.connect(url, engine)


def worker_gate(config: Config, vantage: str, slots: Slots) -> SessionGate:
    """The gate of a worker of `vantage`: its own config's vantage limit and jump host
    limit, counted in `slots`. A host waits for its slots at most as long as a controller
    waits for a started batch (twice the deadline, plus the redelivery and the worker
    timeouts): after that nobody would read its result."""
    engine = config.engine
    assert engine is not None
    spec = vantage_named(config, vantage)
    limit = spec.concurrency if spec is not None else config.ssh.concurrency
    longest = config.ssh.deadline * 2 + engine.redelivery_after + engine.worker_timeout
    return SessionGate(slots, config.ssh, vantage=(vantage, limit), longest_wait=longest)


def describe_limits(config: Config, vantage: str) -> str:
    """What a worker logs at start: which limits it holds, and where they are counted."""
    assert config.engine is not None
    spec = vantage_named(config, vantage)
    limit = spec.concurrency if spec is not None else config.ssh.concurrency
    said = f"session limits: vantage {vantage} {limit}"
    if config.ssh.jump_host_concurrency is not None:
        said += f", each jump host {config.ssh.jump_host_concurrency}"
    url = limiter_url(config.engine, config.audit.store)
    if url is None:
        return (
            said + ", counted in this worker process only (a RabbitMQ broker, no "
            "[engine] limiter and no PostgreSQL [audit] store: set a limiter to hold them "
            "across workers)"
        )
    return said + f", shared by all workers in {shown(url)} (lease {config.engine.lease:g} s)"
