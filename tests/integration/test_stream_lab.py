"""The streaming pipeline on the real lab (issue 14): the probe of the hosts the sweep
reports starts while nmap still runs, and the run's verdicts and probe outcomes are those
of the batch path (sources first, then the probe), host for host.

Only the lab's own subnet (10.250.77.0/24) is swept and probed, and moto on 127.0.0.1.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from auditor.config import Config, load_config
from auditor.lab import LabState
from auditor.model import AuditRun, Host, SourceResult
from auditor.pipeline import audit
from auditor.probing import connector_from_environment, probe_hosts
from auditor.sources import Source

pytestmark = pytest.mark.lab
CONFIG = Path(__file__).parents[2] / "inventories" / "lab" / "audit.toml"


@pytest.fixture
def config(lab: LabState, aws_env: None, tmp_path: Path) -> Iterator[Config]:
    loaded = load_config(CONFIG)
    yield replace(loaded, audit=replace(loaded.audit, store=None, reports=tmp_path))


class Timeline:
    """When the sweep ended and when each SSH connect began (monotonic seconds)."""

    def __init__(self) -> None:
        self.sweep_done: float | None = None
        self.discovery_done: float | None = None
        self.connects: list[float] = []
        self.lock = threading.Lock()

    def on_source(self, source: Source, result: SourceResult | None) -> None:
        if result is not None and source.kind.value == "network" and self.sweep_done is None:
            self.sweep_done = time.monotonic()
        if result is not None and source.name == "direct check":  # the last of discovery
            self.discovery_done = time.monotonic()

    def prober(self, streaming: bool) -> Any:
        connector = connector_from_environment()
        real_connect = connector.connect

        def connect(*args: Any, **kwargs: Any) -> Any:
            with self.lock:
                self.connects.append(time.monotonic())
            return real_connect(*args, **kwargs)

        connector.connect = connect  # type: ignore[method-assign]

        def run(config: Config, hosts: Any) -> Any:
            return probe_hosts(config, hosts, connector=connector)

        run.takes_feed = streaming  # type: ignore[attr-defined]
        return run


def verdicts(run: AuditRun) -> dict[str, tuple[Any, ...]]:
    def one(host: Host) -> tuple[Any, ...]:
        ssh = run.ssh.get(host.id)
        facts = run.facts.get(host.id)
        return (host.status.value, host.status_reason, host.hostnames,
                ssh.state if ssh else None, ssh.port if ssh else None, ssh.address if ssh else None,
                facts.hostname if facts else None)  # fmt: skip

    return {host.id: one(host) for host in run.hosts}


def compare(config: Config) -> tuple[Timeline, Timeline]:
    """The same audit streamed and in batch; their verdicts and probes, host for host."""
    streamed = Timeline()
    run = audit(config, prober=streamed.prober(True), observer=streamed.on_source)
    batch = Timeline()
    before = audit(config, prober=batch.prober(False), observer=batch.on_source)
    assert verdicts(run) == verdicts(before)
    assert sorted(f.rule for f in run.findings) == sorted(f.rule for f in before.findings)
    # Each host probed once: a host offered early is not probed again at the end.
    assert len(streamed.connects) == len(batch.connects)
    probed = [h for h in run.hosts if run.ssh[h.id].state == "ok"]
    assert len(probed) >= 7 and all(run.ssh[h.id].address.startswith("10.250.77.") for h in probed)
    assert batch.sweep_done is not None and min(batch.connects) > batch.sweep_done  # control
    return streamed, batch


def test_the_probe_overlaps_the_sweep(config: Config) -> None:
    # Hosts are handed over once every source that does not stream is read, and on this
    # shared machine ansible-inventory and boto3 can take longer than the sweep: with the
    # sweep alone, its first pass's hosts are probed while its second look runs.
    streamed, _ = compare(replace(config, ansible=(), aws=(), terraform=()))
    assert streamed.sweep_done is not None
    assert min(streamed.connects) < streamed.sweep_done


def test_the_whole_lab_audit_streamed_gives_the_batch_verdicts(config: Config) -> None:
    # Every source, db01's port 2222 known only from the inventory among them; the probe
    # starts before discovery ends (the direct check of the stale host goes on meanwhile).
    streamed, _ = compare(config)
    assert streamed.discovery_done is not None
    assert min(streamed.connects) < streamed.discovery_done
