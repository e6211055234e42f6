"""The Celery app and the two tasks an `auditor worker` runs: sweep and probe.

Settings that make failure data and nothing lost:
- JSON only, in and out (`accept_content`, `task_serializer`, `result_serializer`): a message
  can never be a pickle that runs code on a worker or on the controller;
- acknowledged late, rejected (requeued) when the worker process is lost, one message
  prefetched at a time: a worker killed mid-task leaves its batch to another worker of the
  same vantage (Redis: after `[engine] redelivery_after` seconds; RabbitMQ: at once);
- tasks are idempotent: the task id is run id + vantage + batch, probing only reads, and the
  controller keeps one result per (run id, host), so a redelivered batch counts once.

A worker uses its own config: its [ssh] user, keys and known_hosts never travel through the
broker, and it refuses any host or sweep target outside its own [[vantage]]'s networks (a
broker message cannot point it at addresses it was not set up to audit).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from auditor.config import Config, EngineSettings
from auditor.engine.codec import decode, encode
from auditor.engine.routing import route_address, route_host, route_target
from auditor.errors import ConfigError
from auditor.model import Host, ProbeResults, SourceKind, SourceResult, SshOutcome, SshState

if TYPE_CHECKING:
    from celery import Celery

    from auditor.remote.limits import SessionGate


log = logging.getLogger(__name__)

PROBE_TASK = "auditor.probe"
SWEEP_TASK = "auditor.sweep"
RECHECK_TASK = "auditor.recheck"
NOT_ATTEMPTED = SshState.NOT_ATTEMPTED


def queue_name(engine: EngineSettings, vantage: str) -> str:
    return f"{engine.queue_prefix}.{vantage}"


def result_backend(broker: str) -> str:
    """Redis keeps results where the tasks are; with RabbitMQ they come back as messages
    to the controller (rpc://), so no second server is needed either way."""
    return broker if broker.startswith(("redis://", "rediss://")) else "rpc://"


def make_app(engine: EngineSettings) -> Celery:
    try:
        from celery import Celery
    except ImportError:  # an optional extra: say how to get it
        raise ConfigError(
            "[engine] needs Celery, which is not installed: pip install 'auditor[engine]'"
        ) from None

    broker = engine.broker_url()
    app = Celery("auditor", set_as_current=False)
    restore_every = max(1, min(10, int(engine.redelivery_after // 2)))
    app.conf.update(
        broker_url=broker,
        result_backend=result_backend(broker),
        accept_content=["json"],
        result_accept_content=["json"],
        task_serializer="json",
        result_serializer="json",
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_track_started=True,  # STARTED tells the controller a worker answered
        broker_transport_options={
            "visibility_timeout": engine.redelivery_after,
            "unacked_restore_interval": restore_every,
            "unacked_restore_throttle": 1,
        },
        result_expires=86400,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_default_queue=f"{engine.queue_prefix}.default",
        task_create_missing_queues=True,
    )
    app.task(name=PROBE_TASK, bind=True)(_probe_task)
    app.task(name=SWEEP_TASK, bind=True)(_sweep_task)
    app.task(name=RECHECK_TASK, bind=True)(_recheck_task)
    return app


# --------------------------------------------------------------------------- worker side


Prober = Callable[[Config, tuple[Host, ...]], "ProbeResults"]


@dataclass(frozen=True)
class WorkerContext:
    """What a worker process brings itself: its config (SSH credentials, known_hosts) and
    the vantage it serves; `prober` is probe_hosts unless a test gives another."""

    config: Config
    vantage: str
    prober: Prober | None = None

    @property
    def name(self) -> str:
        return f"{self.vantage}@{socket.gethostname()}"


_context: WorkerContext | None = None


def serve(context: WorkerContext) -> None:
    """Set what this process's tasks use (called by `auditor worker` before it starts)."""
    global _context
    _context = context


def _current(vantage: str) -> WorkerContext:
    if _context is None:
        raise RuntimeError("not an auditor worker: no worker context")
    if vantage != _context.vantage:  # a message on the wrong queue: refuse, never guess
        raise RuntimeError(f"this worker serves vantage {_context.vantage}, not {vantage}")
    return _context


def _probe_task(task: Any, run_id: str, vantage: str, hosts: list[Any]) -> dict[str, Any]:
    context = _current(vantage)
    batch = [decode(Host, h) for h in hosts]
    outside = {
        h.id: f"outside vantage {vantage}'s networks in this worker's config: refused"
        for h in batch
        if route_host(context.config, h).vantage != vantage
    }
    inside = tuple(h for h in batch if h.id not in outside)
    log.info("run %s: probing %d hosts for vantage %s", run_id, len(inside), vantage)
    results = probe_locally(context, inside)
    ssh = dict(results.ssh)
    for host in batch:
        if host.id in outside:
            ssh[host.id] = SshOutcome(NOT_ATTEMPTED, outside[host.id], host.primary_address)
    return {
        "run": run_id,
        "vantage": vantage,
        "worker": task.request.hostname or context.name,
        "results": [
            {
                "host": host.id,
                "ssh": encode(replace(ssh[host.id], vantage=vantage)),
                "facts": encode(results.facts[host.id]) if host.id in results.facts else None,
            }
            for host in batch
            if host.id in ssh
        ],
    }


def probe_locally(context: WorkerContext, hosts: Sequence[Host]) -> ProbeResults:
    if context.prober is not None:
        return context.prober(context.config, tuple(hosts))
    from auditor.probing import probe_hosts

    return probe_hosts(context.config, tuple(hosts), gate=_gate(context))


_gates: dict[tuple[int, int], SessionGate] = {}
_gates_lock = threading.Lock()


def _gate(context: WorkerContext) -> SessionGate:
    """This process's session gate (auditor.engine.limits), made at its first probe: one
    lease renewal thread and Redis connection pool for all the tasks of the process."""
    from auditor.engine.limits import make_slots, worker_gate

    assert context.config.engine is not None
    key = (os.getpid(), id(context))
    with _gates_lock:
        if key not in _gates:
            slots = make_slots(context.config)
            _gates[key] = worker_gate(context.config, context.vantage, slots)
        return _gates[key]


def _sweep_task(task: Any, run_id: str, vantage: str, network: dict[str, Any]) -> dict[str, Any]:
    from auditor.config import NetworkConfig
    from auditor.sources.network import NmapSource

    context = _current(vantage)
    section = decode(NetworkConfig, network)
    refused = [t for t in section.targets if route_target(context.config, t).vantage != vantage]
    if refused:
        result = SourceResult(
            SourceKind.NETWORK,
            section.name,
            ok=False,
            error=f"vantage {vantage}: targets outside this worker's networks refused: "
            + ", ".join(refused),
        )
    else:
        log.info("run %s: sweeping %s for vantage %s", run_id, section.name, vantage)
        result = NmapSource(replace(section, nmap_xml=())).collect(datetime.now(UTC))
        result = replace(result, details={**result.details, "vantage": vantage})
    worker = task.request.hostname or context.name
    return {"run": run_id, "vantage": vantage, "worker": worker, "result": encode(result)}


def _recheck_task(task: Any, run_id: str, vantage: str, plan: dict[str, Any]) -> dict[str, Any]:
    """The direct check (auditor.recheck) of listed hosts a sweep of this vantage missed."""
    from auditor.recheck import Recheck, RecheckPlan, run_recheck

    context = _current(vantage)
    wanted = decode(RecheckPlan, plan)
    refused = [a for a in wanted.addresses if route_address(context.config, a).vantage != vantage]
    if refused:
        error = f"vantage {vantage}: addresses outside this worker's networks refused: "
        result = Recheck(wanted, error=error + ", ".join(refused))
    else:
        log.info(
            "run %s: re-checking %d addresses for vantage %s",
            run_id,
            len(wanted.addresses),
            vantage,
        )
        result = run_recheck(wanted, datetime.now(UTC))
    worker = task.request.hostname or context.name
    return {"run": run_id, "vantage": vantage, "worker": worker, "result": encode(result)}
