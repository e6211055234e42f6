"""The controller's side of an engine run: sweep and probe tasks per vantage, results as
they arrive, and what happens when a vantage does not answer.

- every host to probe goes to its vantage (auditor.engine.routing); one no vantage reaches
  is `not-attempted` with the reason (kind `no-vantage`);
- at most `[[vantage]] concurrency` hosts of a vantage are in flight at once, whatever the
  number of its workers: the controller is the only one that dispatches, and it holds back
  batches beyond that window;
- a vantage none of whose tasks started within `[engine] worker_timeout` seconds has no
  live worker: its hosts are `not-attempted` ("vantage dc2: no worker answered within
  60 s", kind `no-worker`), its queued tasks are revoked, and the rest of the run goes on;
- a result that arrives twice (a batch redelivered after its worker died) counts once:
  results are kept per host, first one wins;
- results are read as the result backend delivers them (Redis pub/sub, RabbitMQ's reply
  queue: `Inbox`), each batch's JSON decoded once, its facts put in the run's disk spool
  at once and the result deleted from the broker: the controller holds what a
  single-machine run holds, and the broker only what is in flight.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from auditor.collect import ProbeScope, not_attempted_reason
from auditor.config import Config, EngineSettings, NetworkConfig
from auditor.engine.app import (
    NOT_ATTEMPTED,
    PROBE_TASK,
    RECHECK_TASK,
    SWEEP_TASK,
    make_app,
    queue_name,
)
from auditor.engine.codec import decode, encode
from auditor.engine.routing import plan_sweeps, route_address, route_host, vantage_named
from auditor.model import (
    Facts,
    Host,
    Observation,
    ProbeResults,
    SourceKind,
    SourceResult,
    SshOutcome,
    SshState,
)
from auditor.recheck import Recheck, Rechecker, RecheckPlan
from auditor.rules.vantage import NO_VANTAGE, NO_WORKER
from auditor.spool import FactsSpool

if TYPE_CHECKING:
    from celery import Celery
    from celery.result import AsyncResult
    from rich.console import Console

    from auditor.sources import Source

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2  # the longest wait for a result message before timeouts are looked at
CHECK_SECONDS = 5.0  # in-flight tasks are also asked for directly this often (see Inbox)
TASK_HORIZON = 3600.0  # a task nobody took within this long after it was due is dropped


def no_worker_reason(vantage: str, engine: EngineSettings) -> str:
    return f"vantage {vantage}: no worker answered within {engine.worker_timeout:g} s"


@dataclass
class Engine:
    """One controller's connection to the broker for one run; remembers the vantages that
    did not answer, so the probe does not wait for them again after the sweep did."""

    config: Config
    app: Celery
    engine: EngineSettings
    dispatch_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    silent: set[str] = field(default_factory=set)
    duplicates: int = 0  # results that arrived for hosts already counted
    sent: int = 0
    inbox: Inbox = field(init=False)

    def __post_init__(self) -> None:
        self.inbox = Inbox(self.app)

    @classmethod
    def of(cls, config: Config) -> Engine:
        if config.engine is None:
            raise ValueError("no [engine] in the config")
        return cls(config, make_app(config.engine), config.engine)

    def send(self, task: str, vantage: str, payload: Any) -> AsyncResult:
        self.sent += 1
        result = self.app.send_task(
            task,
            args=(self.dispatch_id, vantage, payload),
            task_id=f"{self.dispatch_id}.{vantage}.{self.sent}",
            queue=queue_name(self.engine, vantage),
            expires=self.engine.worker_timeout + self.engine.redelivery_after + TASK_HORIZON,
        )
        self.inbox.watch(result)
        return result

    def give_up(self, vantage: str, pending: Sequence[AsyncResult]) -> None:
        self.silent.add(vantage)
        log.warning("%s", no_worker_reason(vantage, self.engine))
        if pending:
            self.app.control.revoke([r.id for r in pending])
            for result in pending:
                self.inbox.forget(result)

    def call(
        self, task: str, vantage: str, payload: Any, work: float, what: str
    ) -> tuple[Any, str | None]:
        """Send one task and wait for its `result` (a sweep, a re-check): (result, None), or
        (None, why not). `work` is the seconds the task itself may take."""
        if vantage in self.silent:
            return None, no_worker_reason(vantage, self.engine)
        result = self.send(task, vantage, payload)
        sent = checked = time.monotonic()
        started: float | None = None
        while not self.inbox.arrived(result):
            now = time.monotonic()
            if now - checked > CHECK_SECONDS:
                self.inbox.check([result])
                checked = now
            if started is None and self.inbox.started(result):
                started = now
            if started is None and now - sent > self.engine.worker_timeout:
                self.give_up(vantage, [result])
                return None, f"{no_worker_reason(vantage, self.engine)}: no {what}"
            wait = _result_wait(self.engine, work)
            if started is not None and now - started > wait:
                self.inbox.forget(result)
                return None, f"vantage {vantage}: no {what} result within {wait:g} s"
            self.inbox.wait(POLL_SECONDS)
        ok, answer = result.successful(), result.result
        self.inbox.forget(result)
        if not ok:
            return None, f"vantage {vantage}: the {what} failed: {str(answer)[:300]}"
        return answer["result"], None

    def close(self) -> None:
        self.app.close()


class Inbox:
    """Task states as the result backend delivers them: Redis publishes every state change
    of a task on its own channel (Celery subscribes when the task is sent), RabbitMQ (rpc://)
    sends it to the controller's reply queue. Reading those messages, rather than asking
    for every task in flight, costs one decode per result and no round trip per task; a
    ready result is `arrived` until `forget` deletes it from the broker (left there it would
    grow by the result's size, per host, for a day).

    A message can be missed where Redis drops a subscriber that fell behind: `check` asks
    the backend directly, and callers do so every CHECK_SECONDS for what is in flight.
    Thread-safe: the sweeps of several [[network]] sections wait at once, one reads."""

    def __init__(self, app: Celery) -> None:
        self._consumer = app.backend.result_consumer
        # Celery keeps a ready message of a task nobody waits on (yet) for whoever asks
        # later: up to 8,192 of them, each a whole batch's facts. Ours only get there when
        # the result was read first (`check`, a redelivered batch's second result): `wait`
        # drops them.
        self._buffered = getattr(app.backend, "_pending_messages", None)
        self._consumer.on_message = self._on_message  # every state change (STARTED too)
        self._reading = threading.Lock()
        self._watched: set[str] = set()
        self._started: set[str] = set()
        self._arrived: set[str] = set()

    def watch(self, result: AsyncResult) -> None:
        self._watched.add(result.id)
        # the backend keeps the result (not the message, in a buffer) once it is ready
        result.then(self._on_ready)

    def _on_message(self, meta: dict[str, Any]) -> None:
        task_id = meta.get("task_id")
        if task_id in self._watched and meta.get("status") != "PENDING":
            self._started.add(task_id)

    def _on_ready(self, result: AsyncResult) -> None:
        if result.id in self._watched:
            self._arrived.add(result.id)

    def started(self, result: AsyncResult) -> bool:
        return result.id in self._started or result.id in self._arrived

    def arrived(self, result: AsyncResult) -> bool:
        return result.id in self._arrived

    def wait(self, seconds: float) -> None:
        """Read result messages until one result arrives, or `seconds` pass."""
        if not self._reading.acquire(timeout=seconds):
            return  # another thread reads, for everyone
        try:
            before = len(self._arrived)
            end = time.monotonic() + seconds
            while len(self._arrived) == before and (left := end - time.monotonic()) > 0:
                try:
                    self._consumer.drain_events(timeout=left)
                except TimeoutError:  # nothing within `left` (RabbitMQ says so this way)
                    break
            self._drop_buffered()
        finally:
            self._reading.release()

    def check(self, results: Sequence[AsyncResult]) -> None:
        """Ask the backend for each of `results` not arrived yet (one round trip each)."""
        for result in results:
            if result.id in self._watched and result.id not in self._arrived:
                state = result.state  # a ready state arrives through _on_ready
                if state != "PENDING":
                    self._started.add(result.id)

    def forget(self, result: AsyncResult) -> None:
        """Done with `result`: not watched any more, and deleted from the broker."""
        self._watched.discard(result.id)
        self._started.discard(result.id)
        self._arrived.discard(result.id)
        result.forget()

    def _drop_buffered(self) -> None:
        """Drop Celery's buffered ready messages of tasks this inbox no longer watches
        (by the reading thread: reading puts them there). Every task is watched from the
        moment it is sent, before any message is read, so nobody will ask for these: left
        there, each would hold a batch's decoded result until 8,192 of them push the oldest
        out — memory growing with the fleet."""
        buffered = self._buffered
        if not buffered:
            return
        for task_id in [t for t in buffered if t not in self._watched]:
            while buffered.take(task_id, None) is not None:
                pass
            buffered.pop(task_id, None)


def _result_wait(engine: EngineSettings, deadline: float) -> float:
    """How long a started task may take before its hosts are given up: its own work, plus
    the redelivery of a batch whose worker died, plus the wait for another to take it."""
    return deadline * 2 + engine.redelivery_after + engine.worker_timeout


# --------------------------------------------------------------------------- sweeps


class VantageSweep:
    """A [[network]] sweep run by a worker of `vantage` (a Source, like NmapSource)."""

    kind = SourceKind.NETWORK

    def __init__(self, engine: Engine, vantage: str, network: NetworkConfig) -> None:
        self.engine, self.vantage, self.network = engine, vantage, network
        self.name = network.name

    def collect(self, now: datetime) -> SourceResult:
        payload = encode(replace(self.network, nmap_xml=()))
        work = self.network.host_timeout * 4 + 600
        answer, error = self.engine.call(SWEEP_TASK, self.vantage, payload, work, "sweep")
        if error is not None:
            return self._failed(error)
        return decode(SourceResult, answer)

    def _failed(self, error: str) -> SourceResult:
        details = {"targets": list(self.network.targets), "vantage": self.vantage}
        return SourceResult(self.kind, self.name, ok=False, error=error, details=details)


class UnroutedTargets:
    """The sweep targets no vantage reaches, as a failed source naming each (never swept
    from the controller: it is not inside those networks)."""

    kind = SourceKind.NETWORK

    def __init__(self, name: str, reasons: tuple[str, ...]) -> None:
        self.name, self.reasons = name, reasons

    def collect(self, now: datetime) -> SourceResult:
        return SourceResult(
            self.kind, self.name, ok=False, error=self.reasons[0], errors=self.reasons
        )


def engine_rechecker(config: Config) -> Rechecker:
    """The direct check of listed hosts the sweeps missed (auditor.recheck), each address at
    its own vantage. An address no vantage reaches is not re-checked (its verdict stays
    the sweep's, and its reason does not claim a check); a vantage that fails says so."""

    def recheck(plan: RecheckPlan, now: datetime) -> Recheck:
        engine = engine_for(config)
        by_vantage: dict[str, list[str]] = {}
        for address in plan.addresses:
            vantage = route_address(config, address).vantage
            if vantage is not None:
                by_vantage.setdefault(vantage, []).append(address)
        checked: dict[str, str] = {}
        observations: list[Observation] = []
        errors: list[str] = []
        for vantage, addresses in by_vantage.items():
            part = replace(plan, missed_by={a: plan.missed_by[a] for a in addresses})
            work = part.host_timeout * (part.retries + 1) + 60
            answer, error = engine.call(RECHECK_TASK, vantage, encode(part), work, "re-check")
            done = decode(Recheck, answer) if error is None else Recheck(part, error=error)
            checked.update(part.missed_by)
            observations += done.observations
            errors += [done.error] if done.error else []
        return Recheck(
            replace(plan, missed_by=checked),
            tuple(observations),
            "; ".join(errors) or None,
        )

    return recheck


def engine_sources(config: Config, central: list[Source]) -> list[Source]:
    """The sources of an engine run: each [[network]] sweep on its vantage, imported nmap
    XML read here, targets no vantage reaches reported, then the `central` ones (AWS,
    Ansible, Terraform: read by the controller as usual)."""
    from auditor.sources.network import NmapSource

    engine = engine_for(config)
    plan = plan_sweeps(config)
    sources: list[Source] = [
        VantageSweep(engine, vantage, network)
        for vantage, networks in plan.sweeps.items()
        for network in networks
    ]
    for network in config.network:
        reasons = tuple(reason for name, _, reason in plan.unrouted if name == network.name)
        if reasons:
            sources.append(UnroutedTargets(network.name, reasons))
        if network.nmap_xml:
            sources.append(NmapSource(replace(network, targets=())))
    return sources + central


# --------------------------------------------------------------------------- probes


@dataclass
class _Batch:
    vantage: str
    hosts: tuple[Host, ...]
    result: AsyncResult
    sent: float
    started: float | None = None


@dataclass
class _Vantage:
    name: str
    limit: int
    queued: deque[Host]
    batches: list[_Batch] = field(default_factory=list)
    first_sent: float | None = None
    answered: bool = False

    @property
    def in_flight(self) -> int:
        return sum(len(b.hosts) for b in self.batches)


def probe_via_engine(
    config: Config, hosts: tuple[Host, ...], *, console: Console | None = None
) -> ProbeResults:
    """The engine's prober (pipeline.Prober): every host gets an SshOutcome, probed by a
    worker of its vantage, or not-attempted with the reason. The run's engine (the one
    its sweeps used) is closed after."""
    engine = engine_for(config)
    try:
        return _probe(config, hosts, engine)
    finally:
        _engines.pop(id(config), None)
        engine.close()


_engines: dict[int, Engine] = {}


def engine_for(config: Config) -> Engine:
    """The Engine of the run `config` belongs to: the sweeps (sources) and the probe of one
    run share it, so a vantage that did not answer the sweep is not waited for again."""
    engine = _engines.get(id(config))
    if engine is None:
        engine = _engines[id(config)] = Engine.of(config)
        weakref.finalize(config, _engines.pop, id(config), None)
    return engine


def _probe(config: Config, hosts: tuple[Host, ...], engine: Engine) -> ProbeResults:
    settings = engine.engine
    # A silent vantage swept nothing: its targets are no proof that a host "did not answer
    # the sweep", so they leave the scope and its listed hosts get the vantage's reason.
    sweeps = plan_sweeps(config).sweeps
    unswept = {t for v in engine.silent for n in sweeps.get(v, ()) for t in n.targets}
    scope = ProbeScope(
        targets=tuple(t for n in config.network for t in n.targets if t not in unswept),
        exclude=tuple(t for n in config.network for t in n.exclude),
    )
    ssh: dict[str, SshOutcome] = {}
    facts = FactsSpool()  # each host's facts on disk as its batch arrives, as probe_hosts
    vantages: dict[str, _Vantage] = {}
    for host in hosts:
        reason = not_attempted_reason(host, config.ssh, scope)
        if reason is not None:
            ssh[host.id] = SshOutcome(NOT_ATTEMPTED, reason, host.primary_address)
            continue
        route = route_host(config, host)
        if route.vantage is None:
            ssh[host.id] = SshOutcome(
                NOT_ATTEMPTED, route.reason, host.primary_address, kind=NO_VANTAGE
            )
            continue
        if route.vantage not in vantages:
            spec = vantage_named(config, route.vantage)
            limit = spec.concurrency if spec is not None else config.ssh.concurrency
            vantages[route.vantage] = _Vantage(route.vantage, limit, deque())
        vantages[route.vantage].queued.append(host)
    log.info(
        "engine: probing %d hosts through %d vantages (%s)",
        sum(len(v.queued) for v in vantages.values()), len(vantages),
        ", ".join(f"{v.name}: {len(v.queued)}" for v in vantages.values()) or "none",
    )  # fmt: skip

    def settle(batch: _Batch, outcome: SshOutcome) -> None:
        for host in batch.hosts:
            if host.id not in ssh:
                ssh[host.id] = replace(outcome, address=host.primary_address)

    def give_up(v: _Vantage) -> None:
        reason = no_worker_reason(v.name, settings)
        engine.give_up(v.name, [b.result for b in v.batches])
        for host in [h for b in v.batches for h in b.hosts] + list(v.queued):
            ssh[host.id] = SshOutcome(
                NOT_ATTEMPTED, reason, host.primary_address, kind=NO_WORKER, vantage=v.name
            )
        v.batches, v.queued = [], deque()

    for v in vantages.values():
        if v.name in engine.silent:
            give_up(v)
    inbox = engine.inbox
    checked = time.monotonic()
    while any(v.queued or v.batches for v in vantages.values()):
        now = time.monotonic()
        if now - checked > CHECK_SECONDS:
            inbox.check([b.result for v in vantages.values() for b in v.batches])
            checked = now
        for v in vantages.values():
            for batch in list(v.batches):
                if batch.started is None and inbox.started(batch.result):
                    batch.started, v.answered = now, True
                if inbox.arrived(batch.result):
                    v.batches.remove(batch)
                    v.answered = True
                    _take(engine, batch, ssh, facts, settle)
                elif batch.started is not None and now - batch.started > _result_wait(
                    settings, config.ssh.deadline
                ):
                    v.batches.remove(batch)
                    inbox.forget(batch.result)
                    settle(batch, _lost(batch, now - batch.started))
            waited = now - v.first_sent if v.first_sent is not None else 0.0
            if not v.answered and waited > settings.worker_timeout:
                give_up(v)
            _dispatch(engine, v, now)
        if any(v.batches for v in vantages.values()):
            inbox.wait(POLL_SECONDS)
    ordered = {h.id: ssh[h.id] for h in hosts if h.id in ssh}
    if engine.duplicates:
        log.info("engine: %d results arrived twice (redelivered batches), counted once",
                 engine.duplicates)  # fmt: skip
    return ProbeResults(ssh=ordered, facts=facts)


def _dispatch(engine: Engine, v: _Vantage, now: float) -> None:
    """Send batches while the vantage's window has room (at least one batch in flight)."""
    size = min(engine.engine.batch_size, v.limit)
    while v.queued and v.in_flight + min(size, len(v.queued)) <= v.limit:
        batch = tuple(v.queued.popleft() for _ in range(min(size, len(v.queued))))
        result = engine.send(PROBE_TASK, v.name, [encode(h) for h in batch])
        v.batches.append(_Batch(v.name, batch, result, now))
        if v.first_sent is None:
            v.first_sent = now


def _take(
    engine: Engine,
    batch: _Batch,
    ssh: dict[str, SshOutcome],
    facts: FactsSpool,
    settle: Any,
) -> None:
    """A batch's result into the run: each outcome kept, each host's facts into the spool,
    the result deleted from the broker."""
    ok, answer = batch.result.successful(), batch.result.result
    engine.inbox.forget(batch.result)
    if not ok:
        settle(batch, _engine_skip(batch, f"the probe task failed: {str(answer)[:300]}"))
        return
    wanted = {h.id: h for h in batch.hosts}
    for item in answer["results"]:
        host_id = item["host"]
        if host_id not in wanted:
            continue  # a worker answering for a host it was not sent: ignored
        if host_id in ssh:
            engine.duplicates += 1
            continue
        ssh[host_id] = _sharing(decode(SshOutcome, item["ssh"]), wanted[host_id], batch.vantage)
        if item["facts"] is not None:
            facts.put(host_id, decode(Facts, item["facts"]))
    settle(batch, _engine_skip(batch, "the worker sent no result for this host"))


def _sharing(outcome: SshOutcome, host: Host, vantage: str) -> SshOutcome:
    """`outcome` holding the strings the run already holds (its host's address, the
    vantage's name, the few failure kinds) instead of the copies decoded from its batch's
    JSON: kept for every host until the run ends, that is 110 of its ~300 bytes."""
    address = host.primary_address if outcome.address == host.primary_address else None
    return replace(
        outcome,
        address=address or outcome.address,
        vantage=vantage if outcome.vantage == vantage else outcome.vantage,
        kind=sys.intern(outcome.kind) if outcome.kind is not None else None,
    )


def _lost(batch: _Batch, waited: float) -> SshOutcome:
    return _engine_skip(batch, f"no result {waited:.0f} s after a worker took the batch")


def _engine_skip(batch: _Batch, why: str) -> SshOutcome:
    """A host of `batch` the engine could not get a probe result for (kind `engine`)."""
    return SshOutcome(
        SshState.SKIPPED, f"vantage {batch.vantage}: {why}", kind="engine", vantage=batch.vantage
    )
