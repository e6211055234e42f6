"""Verdicts confirmed before they are given (issue #12 part 7), on the real lab.

web02 is alive and listed, but its link is down while the sweep runs (so the sweep's ARP,
ping and SYN probes all go unanswered, as when a busy segment drops them) and back up
right after. The direct re-check (real nmap, -Pn, more retries) must find it alive; the
truly dead listed host (old-report01, .50) must stay stale, its reason saying what was tried.

Network safety: every address scanned is inside the lab's 10.250.77.0/24.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest

from auditor.config import load_config
from auditor.lab import LabState
from auditor.model import SourceKind, SourceResult
from auditor.pipeline import build_sources, discover
from auditor.recheck import Recheck, RecheckPlan, run_recheck
from auditor.sources import Source

pytestmark = pytest.mark.lab
CONFIG = Path(__file__).parents[2] / "inventories" / "lab" / "audit.toml"


@contextmanager
def link_down(veth: str, address: str) -> Iterator[None]:
    subprocess.run(["ip", "link", "set", "dev", veth, "down"], check=True)
    try:
        yield
    finally:
        subprocess.run(["ip", "link", "set", "dev", veth, "up"], check=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # the bridge port forwards again
            try:
                socket.create_connection((address, 22), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)


class SweepWithoutHost:
    """The lab's own [[network]] source, run while one host's link is down."""

    def __init__(self, inner: Source, veth: str, address: str) -> None:
        self.inner, self.veth, self.address = inner, veth, address
        self.kind, self.name = inner.kind, inner.name

    def collect(self, now: datetime) -> SourceResult:
        with link_down(self.veth, self.address):
            return self.inner.collect(now)


def test_a_host_the_sweep_missed_is_found_by_the_direct_check(
    lab: LabState, aws_env: None
) -> None:
    config = load_config(CONFIG)
    web02 = lab.host("web02")
    sources = [
        SweepWithoutHost(s, web02.veth, web02.address) if s.kind is SourceKind.NETWORK else s
        for s in build_sources(config)
    ]
    timings: list[float] = []
    plans: list[RecheckPlan] = []

    def timed(plan: RecheckPlan, now: datetime) -> Recheck:
        plans.append(plan)
        started = time.monotonic()
        try:
            return run_recheck(plan, now)
        finally:
            timings.append(time.monotonic() - started)

    found = discover(config, sources=sources, rechecker=timed)
    sweep = next(r for r in found.sources if r.kind is SourceKind.NETWORK)
    assert not any(f"ip:{web02.address}" in o.identifiers for o in sweep.observations)
    (plan,) = plans
    print(f"\ndirect check of {len(plan.addresses)} addresses ({', '.join(plan.addresses)}) "
          f"on {plan.ports}: {timings[0]:.2f} s")  # fmt: skip
    assert all(a.startswith("10.250.77.") for a in plan.addresses)  # network safety
    assert {web02.address, "10.250.77.50"} <= set(plan.addresses)
    assert found.recheck is not None and found.recheck.error is None

    hosts = {h.label: h for h in found.hosts}
    assert hosts["web02"].status.value == "managed", hosts["web02"].status_reason
    assert "the sweep 'network-1' missed it, but a direct check of 22, 80, 443, 2222/tcp " \
           "(no ping, 3 retries) answered: 22/tcp open" in hosts["web02"].status_reason
    stale = hosts["old-report01"]
    assert stale.status.value == "stale"
    assert stale.status_reason.endswith(
        "did not answer the sweep 'network-1' nor a direct check of 22, 80, 443, 2222/tcp "
        "(no ping, 3 retries)"
    )
