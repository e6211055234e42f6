"""Session limits shared by every worker: lease-based counting semaphores in Redis.

`[[vantage]] concurrency` and `[ssh] jump_host_concurrency` must hold however many worker
processes serve a vantage, and whatever the controller does (a batch redelivered while its
first run still goes on, a second controller's run). So each worker takes a slot per SSH
session from Redis (`[engine] limiter`, by default the broker when it is Redis) before the
session starts (auditor.remote.limits.SessionGate):

- a limit is a sorted set `{<queue_prefix>.limits}:<vantage:NAME | bastion:HOST:PORT>`
  whose members are the slots taken, scored by when their lease ends (Redis's own clock:
  the workers' clocks never matter);
- taking is one Lua script over every limit of the host: it drops expired leases, and
  takes a slot of each or of none, so a worker never holds one limit while waiting for
  another;
- a thread of each worker process renews its leases every third of `[engine] lease`; a
  worker that dies (SIGKILL, power loss) stops renewing, and its slots come back when
  their leases end. A lease found expired at renewal is not revived (its slot may be
  someone else's by then): it is logged.

With a RabbitMQ broker and no `limiter`, each worker process keeps its own counts
(LocalSlots): the controller still dispatches at most `concurrency` hosts of a vantage per
run, but a jump host's limit then holds per worker process only (the worker says so).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from typing import TYPE_CHECKING, Any

from auditor.config import Config, EngineSettings
from auditor.engine.routing import vantage_named
from auditor.remote.limits import Claim, LocalSlots, SessionGate, Slots
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


class RedisSlots:
    """Slots with leases in Redis (see the module docstring). One per worker process;
    `close()` stops its renewal thread and gives back what it still holds."""

    def __init__(self, client: redis.Redis, engine: EngineSettings) -> None:
        self.client, self.engine = client, engine
        self.lease_ms = int(engine.lease * 1000)
        # Members name the process that holds them: whoever reads the sets sees whose.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._take = client.register_script(_TAKE)
        self._renew = client.register_script(_RENEW)
        self._held: dict[str, tuple[str, ...]] = {}  # member -> its Redis keys
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._renewer = threading.Thread(
            target=self._renew_every, name="auditor-lease-renewal", daemon=True
        )
        self._renewer.start()

    @classmethod
    def connect(cls, url: str, engine: EngineSettings) -> RedisSlots:
        import redis as redis_module

        client = redis_module.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=10)
        return cls(client, engine)

    def member(self, holder: str) -> str:
        return f"{self.owner}/{holder}"

    def try_take(self, claims: tuple[Claim, ...], holder: str) -> bool:
        keys = [limit_key(self.engine, key) for key, _ in claims]
        member = self.member(holder)
        args: list[Any] = [member, self.lease_ms, *(limit for _, limit in claims)]
        taken = bool(self._take(keys=keys, args=args))
        if taken:
            with self._lock:
                self._held[member] = tuple(keys)
        return taken

    def give_back(self, keys: tuple[str, ...], holder: str) -> None:
        member = self.member(holder)
        with self._lock:
            self._held.pop(member, None)
        with self.client.pipeline() as pipe:
            for key in keys:
                pipe.zrem(limit_key(self.engine, key), member)
            pipe.execute()

    def renew(self) -> int:
        """Extend every lease held; returns how many had already expired (now dropped)."""
        with self._lock:
            held = list(self._held.items())
        pairs = [(key, member) for member, keys in held for key in keys]
        if not pairs:
            return 0
        lost = self._renew(
            keys=[key for key, _ in pairs], args=[self.lease_ms, *(m for _, m in pairs)]
        )
        for index in lost:
            key, member = pairs[int(index) - 1]
            log.warning("session slot %s of %s expired before its renewal", key, member)
        return len(lost)

    def _renew_every(self) -> None:
        while not self._stop.wait(self.engine.lease / 3):
            try:
                self.renew()
            except Exception as exc:  # Redis away for a moment: the next round retries
                log.warning("could not renew session slot leases: %s", exc)

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            held, self._held = list(self._held.items()), {}
        try:
            with self.client.pipeline() as pipe:
                for member, keys in held:
                    for key in keys:
                        pipe.zrem(key, member)
                pipe.execute()
        finally:
            self.client.close()


def limiter_url(engine: EngineSettings) -> str | None:
    """Where the leases live: `[engine] limiter`, else the broker when it is Redis."""
    given = engine.limiter_url()
    if given is not None:
        return given
    broker = engine.broker_url()
    return broker if broker.startswith(("redis://", "rediss://")) else None


def make_slots(engine: EngineSettings) -> Slots:
    url = limiter_url(engine)
    return RedisSlots.connect(url, engine) if url is not None else LocalSlots()


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
    url = limiter_url(config.engine)
    if url is None:
        return (
            said + ", counted in this worker process only (a RabbitMQ broker and no "
            "[engine] limiter: set one to hold them across workers)"
        )
    return said + f", shared by all workers in {shown(url)} (lease {config.engine.lease:g} s)"
