"""The engine on the lab: the controller in a network namespace that reaches only the broker
(a veth on 10.250.96.0/30, lab-only), workers at two vantages that reach the lab's hosts
(dc1: 10.250.77.0/24 but for dc2: 10.250.77.16/28). The controller alone cannot reach any lab host,
yet its audit probes them all through the workers, with the same verdicts as a
single-machine audit of the same hosts; a dc1 worker SIGKILLed mid-audit loses nothing; with
dc2's only worker stopped its host is not-attempted with the reason and the run completes.

The broker is a redis-server of the test's own, bound to the veth's root side. Run under the
lab lock (`flock /tmp/auditor-lab.lock`). Only lab addresses and 10.250.96.0/30 are used.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import pytest

from auditor.lab import LabState
from auditor.lab.net import check_subnet_free, run
from tests.integration.test_engine_workers import Workers, wait_for, workers  # noqa: F401

pytest.importorskip("celery")
pytestmark = [pytest.mark.lab, pytest.mark.timeout(600)]

LINK = IPv4Network("10.250.96.0/30")
BROKER_ADDRESS, CONTROLLER_ADDRESS = "10.250.96.1", "10.250.96.2"
BROKER_PORT = 6391
NETNS = "auditor-engine-ctl"
VETH_ROOT, VETH_CTL = "aeng0", "aeng1"
INVENTORIES = Path(__file__).parents[2] / "inventories" / "lab"


@pytest.fixture(scope="module")
def controller_netns() -> Iterator[str]:
    """A namespace whose only link is a veth to the root namespace on LINK: no route to the
    lab bridge, nor anywhere else."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    check_subnet_free(LINK)
    run(["ip", "netns", "add", NETNS])
    try:
        run(["ip", "link", "add", VETH_ROOT, "type", "veth", "peer", "name", VETH_CTL])
        run(["ip", "link", "set", VETH_CTL, "netns", NETNS])
        run(["ip", "addr", "add", f"{BROKER_ADDRESS}/30", "dev", VETH_ROOT])
        run(["ip", "link", "set", VETH_ROOT, "up"])
        for cmd in (["ip", "addr", "add", f"{CONTROLLER_ADDRESS}/30", "dev", VETH_CTL],
                    ["ip", "link", "set", VETH_CTL, "up"], ["ip", "link", "set", "lo", "up"]):
            run(["ip", "netns", "exec", NETNS, *cmd])  # fmt: skip
        yield NETNS
    finally:
        run(["ip", "link", "del", VETH_ROOT], check=False)
        run(["ip", "netns", "del", NETNS], check=False)


@pytest.fixture(scope="module")
def broker(controller_netns: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A password-protected redis-server on the veth; its URL (with the password) reaches
    workers and controller only as $AUDITOR_BROKER_URL."""
    folder = tmp_path_factory.mktemp("redis")
    password = secrets.token_hex(16)
    process = subprocess.Popen(
        ["redis-server", "--bind", BROKER_ADDRESS, "--port", str(BROKER_PORT), "--save", "",
         "--appendonly", "no", "--dir", str(folder), "--requirepass", password],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    mp = pytest.MonkeyPatch()
    try:
        wait_for(lambda: _connects(BROKER_ADDRESS, BROKER_PORT), 20, "redis-server")
        mp.setenv("AUDITOR_BROKER_URL", f"redis://:{password}@{BROKER_ADDRESS}:{BROKER_PORT}/0")
        yield password
    finally:
        mp.undo()
        process.terminate()
        process.wait(timeout=10)


def _connects(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


def write_configs(folder: Path, lab: LabState, **engine: Any) -> tuple[Path, Path]:
    """(controller config, single-machine config): the same sources and SSH settings."""
    ssh = f"""
[ssh]
user = "auditor"
key_file = "{lab.key_file}"
known_hosts = "{lab.known_hosts}"
sudo = true
ports = [22, 2222]
timeout = 5
software_cache = false
"""
    sources = f"""
[audit]
reports = "{folder / 'reports'}"
expected_ports = [22]
[[network]]
name = "dc1"
targets = ["10.250.77.0/28"]
exclude = ["{lab.gateway}"]
ports = [22, 80, 443, 2222]
[[network]]
name = "dc2"
targets = ["10.250.77.16/28"]
ports = [22, 80, 443, 2222]
[[ansible]]
inventory = ["{INVENTORIES / 'hosts.ini'}", "{INVENTORIES / 'hosts.yml'}"]
"""
    settings = {"worker_timeout": 20, "batch_size": 2, "redelivery_after": 6, **engine}
    vantages = f"""
[engine]
{chr(10).join(f"{k} = {v}" for k, v in settings.items())}
[[vantage]]
name = "dc1"
networks = ["10.250.77.0/24"]  # all the lab but dc2's more specific /28
concurrency = 4
[[vantage]]
name = "dc2"
networks = ["10.250.77.16/28"]
"""
    folder.mkdir(parents=True, exist_ok=True)
    controller, single = folder / "controller.toml", folder / "single.toml"
    controller.write_text(sources + ssh + vantages)
    single.write_text(sources + ssh)
    return controller, single


def audit(config: Path, out: Path, netns: str | None = None) -> tuple[dict[str, Any], float]:
    argv = [sys.executable, "-m", "auditor", "audit", "-c", str(config), "--out", str(out),
            "--quiet", "--fail-on", "critical"]  # fmt: skip
    if netns is not None:
        argv = ["ip", "netns", "exec", netns, *argv]
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=400, check=False)
    took = time.monotonic() - started
    assert done.returncode in (0, 1), done.stderr[-3000:]
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    return report, took


def verdicts(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "hosts": {h["label"]: (h["status"], h["ssh"]["state"]) for h in report["hosts"]},
        "os": {h["label"]: (h["facts"] or {}).get("os", {}) for h in report["hosts"]},
        "findings": sorted((f["rule"], f.get("host") or "", f["title"])
                           for f in report["findings"]),
    }  # fmt: skip


def test_the_controller_reaches_no_lab_host_yet_audits_them_all_with_the_same_verdicts(
    lab: LabState, controller_netns: str, broker: str, tmp_path: Path, workers: Workers,  # noqa: F811
) -> None:
    reach = subprocess.run(
        ["ip", "netns", "exec", controller_netns, sys.executable, "-c",
         "import socket; socket.create_connection(('10.250.77.11', 22), timeout=2)"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert reach.returncode != 0 and "unreachable" in reach.stderr.lower()
    controller, single = write_configs(tmp_path / "cfg", lab)
    workers.start(controller, "dc1", "dc1-a", concurrency=2)
    workers.start(controller, "dc1", "dc1-b", concurrency=2)
    workers.start(controller, "dc2", "dc2-a")
    engine, engine_s = audit(controller, tmp_path / "engine", controller_netns)
    alone, alone_s = audit(single, tmp_path / "single")
    print(f"engine run {engine_s:.1f}s, single machine {alone_s:.1f}s: "
          f"ratio {engine_s / alone_s:.2f}")  # fmt: skip
    assert verdicts(engine) == verdicts(alone)
    probed = [h for h in engine["hosts"] if h["ssh"]["state"] == "ok"]
    assert len(probed) >= 6
    assert {h["ssh"]["vantage"] for h in probed} == {"dc1", "dc2"}
    assert all(h["facts"]["vantage"] == h["ssh"]["vantage"] for h in probed)
    assert set(engine["run"]["vantages"]) == {"dc1", "dc2"}
    shown = (tmp_path / "engine" / "report.json").read_text()
    shown += "".join(workers.log(i) for i in range(len(workers.started)))
    assert broker not in shown  # the broker's password: never in a report or a log


def test_a_killed_worker_and_a_silent_vantage(
    lab: LabState, controller_netns: str, broker: str, tmp_path: Path, workers: Workers,  # noqa: F811
) -> None:
    controller, _ = write_configs(tmp_path / "cfg", lab, worker_timeout=5, batch_size=1)
    victim = workers.start(controller, "dc1", "dc1-victim")
    workers.start(controller, "dc1", "dc1-survivor")  # dc2: no worker at all
    out = tmp_path / "engine"
    argv = ["ip", "netns", "exec", controller_netns, sys.executable, "-m", "auditor", "audit",
            "-c", str(controller), "--out", str(out), "--quiet", "--fail-on", "critical"]  # fmt: skip
    started = time.monotonic()
    audit_run = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: "probing 1 hosts" in workers.log(victim), 120, "the victim's task")
        os.kill(workers.started[victim][0].pid, signal.SIGKILL)
        _, stderr = audit_run.communicate(timeout=300)
    finally:
        if audit_run.poll() is None:
            audit_run.kill()
            audit_run.wait()
    assert audit_run.returncode in (0, 1), stderr[-3000:]
    print(f"engine run with a kill and a silent vantage: {time.monotonic() - started:.1f}s")
    report = json.loads((out / "report.json").read_text())
    hosts = {h["label"]: h for h in report["hosts"]}
    dc1 = [h for h in report["hosts"] if h["ssh"].get("vantage") == "dc1"]
    # old-report01 is listed but not up: "No route to host", as on a single machine
    assert dc1 and {h["label"] for h in dc1 if h["ssh"]["state"] != "ok"} == {"old-report01"}
    intranet = next(h for h in report["hosts"] if "10.250.77.16" in h["addresses"])
    assert intranet["ssh"]["state"] == "not-attempted"
    assert intranet["ssh"]["reason"] == "vantage dc2: no worker answered within 5 s"
    silent = [f for f in report["findings"] if f["rule"] == "vantage-no-worker"]
    assert len(silent) == 1 and "dc2" in silent[0]["title"]
    assert report["run"]["vantages"]["dc1"]["hosts"] == len(dc1)
    assert len(hosts) == len(report["hosts"])  # each host once
