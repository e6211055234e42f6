"""Two audits of the lab with a change between them: the right `changes` come out.

Between the runs a host is stopped (its link to the lab bridge goes down), a managed host
stops answering, and a new machine appears on the lab network (a namespace of this test's
own, on the lab bridge). Everything is put back afterwards.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from auditor.config import Config, load_config
from auditor.lab import LabState
from auditor.pipeline import execute

pytestmark = pytest.mark.lab
CONFIG = Path(__file__).parents[2] / "inventories" / "lab" / "audit.toml"
EXTRA_NS, EXTRA_VETH, EXTRA_PEER = "audlab-newcomer", "audv-new", "audv-newp"
EXTRA_ADDRESS = "10.250.77.61"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def changed_lab(lab: LabState) -> Iterator[LabState]:
    legacy, web02 = lab.host("legacy-billing01"), lab.host("web02")
    yield lab
    for veth in (legacy.veth, web02.veth):
        subprocess.run(["ip", "link", "set", veth, "up"], check=False)
    subprocess.run(["ip", "link", "del", EXTRA_VETH], check=False, capture_output=True)
    subprocess.run(["ip", "netns", "del", EXTRA_NS], check=False, capture_output=True)


def change(lab: LabState) -> None:
    ip("link", "set", lab.host("legacy-billing01").veth, "down")
    ip("link", "set", lab.host("web02").veth, "down")
    ip("netns", "add", EXTRA_NS)
    ip("link", "add", EXTRA_VETH, "type", "veth", "peer", "name", EXTRA_PEER)
    ip("link", "set", EXTRA_PEER, "netns", EXTRA_NS)
    ip("link", "set", EXTRA_VETH, "master", lab.bridge)
    ip("link", "set", EXTRA_VETH, "up")
    ip("-n", EXTRA_NS, "addr", "add", f"{EXTRA_ADDRESS}/24", "dev", EXTRA_PEER)
    ip("-n", EXTRA_NS, "link", "set", EXTRA_PEER, "up")


def audit(config: Config, out: Path) -> dict[str, Any]:
    outcome = execute(config, out_dir=out)  # no probe: history is about discovery here
    return json.loads(outcome.written["json"].read_text())  # type: ignore[no-any-return]


def test_two_audits_show_what_changed(
    changed_lab: LabState, aws_env: None, tmp_path: Path
) -> None:
    config = load_config(CONFIG)
    config = replace(config, audit=replace(config.audit, store=tmp_path / "history.sqlite",
                                           gone_after_days=0))
    first = audit(config, tmp_path / "one")
    assert first["changes"]["previous_run"] is None  # the baseline

    change(changed_lab)
    second = audit(config, tmp_path / "two")
    changes = second["changes"]
    assert changes["previous_run"] == first["run"]["id"]
    assert [h["host"] for h in changes["new_hosts"]] == [f"ip:{EXTRA_ADDRESS}"]
    legacy = next(h["id"] for h in first["hosts"] if h["addresses"] == ["10.250.77.10"])
    web02 = next(h["id"] for h in first["hosts"] if "web02" in h["hostnames"])
    # gone = no longer seen alive: the orphan vanished from the run, web02 is listed but silent
    assert sorted(h["host"] for h in changes["gone_hosts"]) == sorted([legacy, web02])
    assert legacy not in {h["id"] for h in second["hosts"]}
    assert {"host": web02, "from": "managed", "to": "stale"} in [
        {k: c[k] for k in ("host", "from", "to")} for c in changes["status_changed"]
    ]
    listing = subprocess.run(
        [".venv/bin/auditor", "history", "--store", str(tmp_path / "history.sqlite")],
        capture_output=True, text=True, cwd=Path(__file__).parents[2], check=False,
    )
    assert listing.returncode == 0 and second["run"]["id"] in listing.stdout
