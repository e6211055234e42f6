"""The sweep's second look (`[[network]] second_look`, on by default): a live host whose
every discovery probe is lost in the first pass is found by the second, over the addresses
that stayed silent. The loss is real: nftables in the host's own namespace drops the ARP
requests and TCP SYNs that reach it, until the first nmap pass has ended (nmap itself runs
unchanged). Only the lab's /24 is swept.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from auditor.config import NetworkConfig
from auditor.lab import LabState
from auditor.model import ID_IP, ident
from auditor.sources import network
from auditor.sources.network import NmapSource

pytestmark = pytest.mark.lab
LAB_SUBNET = "10.250.77.0/24"
VICTIM = "intranet01"  # any lab host; this one answers only on 22


def nft(netns: str, *args: str) -> None:
    subprocess.run(["ip", "netns", "exec", netns, "nft", *args], check=True)


@pytest.fixture
def lossy(lab: LabState) -> Iterator[str]:
    """The victim's namespace, dropping every ARP request and TCP SYN it is sent."""
    if shutil.which("nft") is None:
        pytest.fail("nft (Debian's nftables) is needed: make install adds it")
    netns = lab.host(VICTIM).netns
    nft(netns, "add", "table", "arp", "auditor_loss")
    nft(netns, "add", "chain", "arp", "auditor_loss", "in",
        "{ type filter hook input priority 0; policy drop; }")  # fmt: skip
    nft(netns, "add", "table", "inet", "auditor_loss")
    nft(netns, "add", "chain", "inet", "auditor_loss", "in",
        "{ type filter hook input priority 0; }")  # fmt: skip
    nft(netns, "add", "rule", "inet", "auditor_loss", "in", "tcp", "flags", "syn", "drop")
    try:
        yield netns
    finally:
        heal(netns)


def heal(netns: str) -> None:
    for family in ("arp", "inet"):
        subprocess.run(["ip", "netns", "exec", netns, "nft", "delete", "table", family,
                        "auditor_loss"], capture_output=True)  # fmt: skip


def sweep(second_look: bool, netns: str, monkeypatch: pytest.MonkeyPatch) -> tuple[set[str], list[str]]:
    """Sweep the lab's /24; the loss ends when the first nmap pass does."""
    passes: list[str] = []
    real_run_nmap = network.run_nmap

    def run_nmap(plan: network.ScanPlan) -> bytes:
        try:
            return real_run_nmap(plan)
        finally:
            passes.append(plan.arguments)
            heal(netns)

    monkeypatch.setattr(network, "run_nmap", run_nmap)
    config = NetworkConfig(name="lab", targets=(LAB_SUBNET,), exclude=("10.250.77.1",),
                           ports=(22,), second_look=second_look)  # fmt: skip
    result = NmapSource(config, privileged=True).collect(datetime.now(UTC))
    assert result.ok, result.error
    found = {i for o in result.observations for i in o.identifiers}
    return found, passes


def test_a_host_lost_in_the_first_pass_is_found_by_the_second(
    lab: LabState, lossy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    found, passes = sweep(True, lossy, monkeypatch)
    assert len(passes) == 2 and "--excludefile" in passes[1]
    assert ident(ID_IP, lab.host(VICTIM).address) in found
    others = {ident(ID_IP, h.address) for h in lab.hosts if h.name != VICTIM}
    assert others <= found  # and the first pass's hosts are all still there


def test_without_the_second_look_the_host_is_missed(
    lab: LabState, lossy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The control: the loss is real, a single pass does not see the host.
    found, passes = sweep(False, lossy, monkeypatch)
    assert len(passes) == 1
    assert ident(ID_IP, lab.host(VICTIM).address) not in found
