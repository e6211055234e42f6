"""The engine on the segmented lab (auditor/lab `segments_spec`, issue 15): hosts on two
walled-off segments, dc1 (10.250.98.0/24) and dc2 (10.250.99.0/24), each on its own bridge;
the segments are not routed to each other, nor to the controller's namespace, whose only
link is an uplink to this machine (10.250.97.8/30). Each segment's workers run in its vantage
namespace, which reaches its segment and, through its own uplink, the broker: a
redis-server of the test's own, bound to the uplinks' machine ends. The controller reaches
the database (PostgreSQL 127.0.0.1:5432) through a forwarder on its uplink's machine end.

Tests: the controller alone cannot reach any lab host, yet its audit probes them all through
the workers, with the same report.json verdicts as a single-machine audit of the same hosts
(from this machine, which reaches both bridges); a dc1 worker SIGKILLed mid-audit loses
nothing and counts nothing twice; with dc2's only worker stopped its hosts are not-attempted
with the reason, and the run completes; the audit's history in PostgreSQL, with `history` and
`diff` on it. This module builds its own lab first (marker `lab_first`) and takes it down
after, under the lab lock. Only the lab's subnets (10.250.97.0/24 uplinks, 10.250.98.0/24,
10.250.99.0/24) and loopback are contacted.

AUDITOR_LAB_ENGINE_ROUNDS=N repeats the engine and single-machine audits N times, alternating,
and prints the medians and their ratio (bench/README.md: "Engine overhead on the segmented lab").
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from auditor.lab import LabState, lab_down, lab_up
from auditor.lab.spec import CONTROLLER_NETNS, segments_spec
from tests.integration.conftest import lab_skip_reason
from tests.integration.test_engine_workers import Workers, wait_for, workers  # noqa: F401
from tests.integration.test_report_lab_scale import hold_lab_lock

pytest.importorskip("celery")
pytestmark = [pytest.mark.lab, pytest.mark.lab_first, pytest.mark.timeout(900)]

BROKER_PORT = 6391
DATABASE_PORT = 5432
ROUNDS = int(os.environ.get("AUDITOR_LAB_ENGINE_ROUNDS", "1"))


@pytest.fixture(scope="module")
def seglab() -> Iterator[LabState]:
    reason = lab_skip_reason()
    if reason:
        pytest.skip(reason)
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    lock = hold_lab_lock()
    spec = segments_spec()
    try:
        yield lab_up(spec)
    finally:
        try:
            lab_down(spec.state_dir)
        finally:
            if lock is not None:
                lock.close()


@pytest.fixture(scope="module")
def broker(seglab: LabState, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A password-protected redis-server on the uplinks' machine ends (the password)."""
    folder = tmp_path_factory.mktemp("redis")
    password = secrets.token_hex(16)
    binds = [u.local for u in seglab.uplinks]
    process = subprocess.Popen(
        ["redis-server", "--bind", *binds, "--port", str(BROKER_PORT), "--save", "",
         "--appendonly", "no", "--dir", str(folder), "--requirepass", password],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: all(_connects(a, BROKER_PORT) for a in binds), 20, "redis-server")
        yield password
    finally:
        process.terminate()
        process.wait(timeout=10)


def broker_env(lab: LabState, password: str, netns: str) -> dict[str, str]:
    """$AUDITOR_BROKER_URL for a process in `netns`: the broker at its uplink's other end."""
    address = lab.uplink(netns).local
    return {"AUDITOR_BROKER_URL": f"redis://:{password}@{address}:{BROKER_PORT}/0"}


class Forwarder:
    """TCP from (address, port) to `target`, one thread pair per connection: how the
    controller's namespace reaches the PostgreSQL server on this machine's loopback."""

    def __init__(self, address: str, port: int, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server((address, port), reuse_port=False)
        self.server.settimeout(0.5)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(self.target, timeout=10)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            source.settimeout(None)
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.stopped.set()
        self.server.close()
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def database_link(seglab: LabState) -> Iterator[str]:
    """The address the controller's namespace reaches PostgreSQL at."""
    from tests.postgres import ADMIN_URL

    admin = urlsplit(ADMIN_URL)
    address = seglab.uplink(CONTROLLER_NETNS).local
    forwarder = Forwarder(
        address, DATABASE_PORT, (admin.hostname or "127.0.0.1", admin.port or 5432)
    )
    try:
        yield address
    finally:
        forwarder.close()


def _connects(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


REACH = """
import socket, sys
for target in sys.argv[1:]:
    address, port = target.rsplit(":", 1)
    try:
        socket.create_connection((address, int(port)), timeout=2).close()
        print(target, "connected")
    except OSError as exc:
        print(target, "failed:", exc)
"""


def reach(netns: str, targets: list[str]) -> dict[str, str]:
    """What a connect to each `address:port` gives from inside `netns`."""
    done = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", REACH, *targets],
                          capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    return dict(line.split(" ", 1) for line in done.stdout.splitlines())


def write_configs(
    folder: Path, lab: LabState, store: str | None = None, **engine: Any
) -> dict[str, Path]:
    """The controller's config (sources, engine; no SSH key: it probes nothing itself), each
    vantage's worker config (its own [[vantage]] and SSH credentials), and the
    single-machine config (the controller's sources with the SSH settings)."""
    dc1, dc2 = lab.segment("dc1"), lab.segment("dc2")
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
    folder.mkdir(parents=True, exist_ok=True)
    inventory = folder / "hosts.ini"
    inventory.write_text(
        "[web]\ndc1-web ansible_host=10.250.98.11\ndc2-web ansible_host=10.250.99.11\n"
        "[db]\ndc1-db ansible_host=10.250.98.12 ansible_port=2222\n"
        "[app]\ndc1-app ansible_host=10.250.98.13\n"
        "dc1-old ansible_host=10.250.98.50\n"  # listed, not up: stale
        "[cache]\ndc2-cache ansible_host=10.250.99.10\n"
    )  # dc1-billing (10.250.98.10) is in no inventory: the orphan
    sources = f"""
[audit]
reports = "{folder / "reports"}"
expected_ports = [22]
{f'store = "{store}"' if store else ""}
[[network]]
name = "dc1"
targets = ["10.250.98.0/28"]
exclude = ["{dc1.gateway}", "{dc1.address}"]
ports = [22, 80, 443, 2222]
[[network]]
name = "dc2"
targets = ["10.250.99.0/28"]
exclude = ["{dc2.gateway}", "{dc2.address}"]
ports = [22, 80, 443, 2222]
[[ansible]]
inventory = ["{inventory}"]
"""
    settings = {"worker_timeout": 20, "batch_size": 2, "redelivery_after": 6, **engine}
    engine_section = "[engine]\n" + "\n".join(f"{k} = {v}" for k, v in settings.items())
    vantage = {
        s.name: f'[[vantage]]\nname = "{s.name}"\nnetworks = ["{s.subnet}"]\nconcurrency = 4\n'
        for s in lab.segments
    }
    paths = {"controller": folder / "controller.toml", "single": folder / "single.toml"}
    paths["controller"].write_text(sources + engine_section + "\n" + "".join(vantage.values()))
    paths["single"].write_text(sources + ssh)
    for name, section in vantage.items():
        paths[name] = folder / f"worker-{name}.toml"
        paths[name].write_text(engine_section + "\n" + section + ssh)
    return paths


def audit_argv(config: Path, out: Path, netns: str | None = None) -> list[str]:
    argv = [sys.executable, "-m", "auditor", "audit", "-c", str(config), "--out", str(out),
            "--quiet", "--fail-on", "critical"]  # fmt: skip
    return argv if netns is None else ["ip", "netns", "exec", netns, *argv]


def audit(
    config: Path, out: Path, netns: str | None = None, env: dict[str, str] | None = None
) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    done = subprocess.run(audit_argv(config, out, netns), capture_output=True, text=True,
                          timeout=400, check=False, env={**os.environ, **(env or {})})  # fmt: skip
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


@dataclass(frozen=True)
class Engine:
    """One test's engine on the segmented lab: its configs, its workers, the controller's
    broker URL (see the `setup_engine` fixture)."""

    lab: LabState
    password: str  # the broker's
    workers: Workers
    configs: dict[str, Path]
    env: dict[str, str]  # the controller's $AUDITOR_BROKER_URL

    def start(self, names: list[tuple[str, str]], concurrency: int = 1) -> list[int]:
        """(vantage, worker name) each in its segment's vantage namespace; their indexes."""
        started = []
        for vantage, name in names:
            netns = self.lab.segment(vantage).netns
            started.append(self.workers.start(
                self.configs[vantage], vantage, name, concurrency, netns=netns,
                env=broker_env(self.lab, self.password, netns),
            ))  # fmt: skip
        return started

    def audit(self, out: Path) -> tuple[dict[str, Any], float]:
        """An audit by the controller, from its namespace."""
        return audit(self.configs["controller"], out, CONTROLLER_NETNS, self.env)


@pytest.fixture
def setup_engine(
    seglab: LabState, broker: str, tmp_path: Path, workers: Workers  # noqa: F811
) -> Callable[..., Engine]:
    """`setup_engine(store=None, **engine_settings)`: this test's configs (`write_configs`), no
    worker started yet."""

    def configure(store: str | None = None, **settings: Any) -> Engine:
        configs = write_configs(tmp_path / "cfg", seglab, store, **settings)
        env = broker_env(seglab, broker, CONTROLLER_NETNS)
        return Engine(seglab, broker, workers, configs, env)

    return configure


def test_the_controller_reaches_no_lab_host_yet_audits_them_all_with_the_same_verdicts(
    setup_engine: Callable[..., Engine], broker: str, tmp_path: Path, workers: Workers  # noqa: F811
) -> None:
    run = setup_engine()
    lab = run.lab
    targets = {h.name: f"{h.address}:{h.port}" for h in lab.hosts}
    dc1 = [t for n, t in targets.items() if n.startswith("dc1-")]
    dc2 = [t for n, t in targets.items() if n.startswith("dc2-")]
    from_controller = reach(CONTROLLER_NETNS, list(targets.values()))
    assert all("unreachable" in r for r in from_controller.values()), from_controller
    from_dc1 = reach(lab.segment("dc1").netns, dc1 + dc2)
    assert all(from_dc1[t] == "connected" for t in dc1), from_dc1
    assert all("unreachable" in from_dc1[t] for t in dc2), from_dc1
    from_dc2_host = reach("audlab-dc2-web", dc1)  # a host of one segment: not the other's
    assert all("unreachable" in r for r in from_dc2_host.values()), from_dc2_host

    run.start([("dc1", "dc1-a"), ("dc1", "dc1-b"), ("dc2", "dc2-a")], concurrency=2)
    engine_s, alone_s = [], []
    for n in range(ROUNDS):
        engine, took = run.audit(tmp_path / f"engine{n}")
        engine_s.append(took)
        alone, took = audit(run.configs["single"], tmp_path / f"single{n}")
        alone_s.append(took)
        assert verdicts(engine) == verdicts(alone)
    e, a = statistics.median(engine_s), statistics.median(alone_s)
    print(f"segmented lab, {ROUNDS} rounds: engine {[f'{s:.1f}' for s in engine_s]} s, "
          f"single machine {[f'{s:.1f}' for s in alone_s]} s; medians {e:.1f} / {a:.1f} s, "
          f"ratio {e / a:.2f}")  # fmt: skip

    probed = {h["label"]: h for h in engine["hosts"] if h["ssh"]["state"] == "ok"}
    assert len(probed) == len(lab.hosts)  # every lab host, each from its own segment
    for label, h in probed.items():
        want = "dc1" if any(a.startswith("10.250.98.") for a in h["addresses"]) else "dc2"
        assert h["ssh"]["vantage"] == h["facts"]["vantage"] == want, label
    assert {v: c["hosts"] for v, c in engine["run"]["vantages"].items()} == {"dc1": 5, "dc2": 2}
    stale = next(h for h in engine["hosts"] if "10.250.98.50" in h["addresses"])
    assert stale["ssh"]["state"] != "ok"
    shown = (tmp_path / "engine0" / "report.json").read_text()
    shown += "".join(workers.log(i) for i in range(len(workers.started)))
    assert broker not in shown  # the broker's password: never in a report or a log


def test_a_killed_worker_loses_nothing_and_a_stopped_vantage_is_not_attempted(
    setup_engine: Callable[..., Engine], tmp_path: Path, workers: Workers  # noqa: F811
) -> None:
    run = setup_engine(worker_timeout=5, batch_size=1)
    victim, _, dc2_only = run.start(
        [("dc1", "dc1-victim"), ("dc1", "dc1-survivor"), ("dc2", "dc2-only")]
    )
    workers.started[dc2_only][0].terminate()  # dc2's only worker stops (warm shutdown)
    workers.started[dc2_only][0].wait(timeout=30)
    out = tmp_path / "engine"
    env = {**os.environ, **run.env}
    argv = audit_argv(run.configs["controller"], out, CONTROLLER_NETNS)
    started = time.monotonic()
    audit_run = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        wait_for(lambda: "probing 1 hosts" in workers.log(victim), 120, "the victim's task")
        os.killpg(workers.started[victim][0].pid, signal.SIGKILL)  # the worker and its pool
        _, stderr = audit_run.communicate(timeout=300)
    finally:
        if audit_run.poll() is None:
            audit_run.kill()
            audit_run.wait()
    assert audit_run.returncode in (0, 1), stderr[-3000:]  # completes, exits as usual
    print(f"engine run with a kill and a stopped vantage: {time.monotonic() - started:.1f}s")
    report = json.loads((out / "report.json").read_text())
    labels = [h["label"] for h in report["hosts"]]
    assert len(labels) == len(set(labels))  # each host once
    dc1 = [h for h in report["hosts"] if h["ssh"].get("vantage") == "dc1"]
    assert len(dc1) == 5 and {h["label"] for h in dc1 if h["ssh"]["state"] != "ok"} == {"dc1-old"}
    assert report["run"]["vantages"]["dc1"]["hosts"] == 5
    survivor = workers.log(victim + 1)
    assert survivor.count("probing 1 hosts") >= 1
    dc2 = [h for h in report["hosts"] if any(a.startswith("10.250.99.") for a in h["addresses"])]
    assert len(dc2) == 2
    for h in dc2:
        assert h["ssh"]["state"] == "not-attempted"
        assert h["ssh"]["reason"] == "vantage dc2: no worker answered within 5 s"
    silent = [f for f in report["findings"] if f["rule"] == "vantage-no-worker"]
    assert len(silent) == 1 and "dc2" in silent[0]["title"]


def test_the_audit_history_in_postgresql_through_the_controllers_uplink(
    setup_engine: Callable[..., Engine], database_link: str, tmp_path: Path
) -> None:
    from tests.postgres import fresh_database

    with fresh_database() as name:
        run = setup_engine(store=f"postgresql://postgres@{database_link}:{DATABASE_PORT}/{name}")
        run.start([("dc1", "dc1-a"), ("dc2", "dc2-a")], concurrency=2)
        first, _ = run.audit(tmp_path / "run1")
        second, _ = run.audit(tmp_path / "run2")

        def cli(*args: str) -> Any:
            argv = ["ip", "netns", "exec", CONTROLLER_NETNS, sys.executable, "-m", "auditor",
                    *args, "-c", str(run.configs["controller"]), "--format", "json"]  # fmt: skip
            done = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                                  check=False, env={**os.environ, **run.env})  # fmt: skip
            assert done.returncode == 0, done.stderr[-3000:]
            return json.loads(done.stdout)

        history = cli("history")
        diff = cli("diff")
    ids = [second["run"]["id"], first["run"]["id"]]
    assert [r["id"] for r in history] == ids  # newest first, both in PostgreSQL
    assert [r["hosts"] for r in history] == [len(second["hosts"]), len(first["hosts"])]
    assert not any(r["interrupted"] for r in history)
    assert history[0]["new_hosts"] == history[0]["gone_hosts"] == 0
    assert (diff["from"], diff["to"]) == (ids[1], ids[0])
    assert not diff.get("new_hosts") and not diff.get("gone_hosts")
