"""The Celery engine for real: Redis on 127.0.0.1:6379 (and RabbitMQ on 127.0.0.1:5672 for the
tests parametrized by `broker`), `auditor worker` processes, an sshd on loopback. Each test
takes a Redis database nobody uses (empty) or a RabbitMQ vhost of its own, its own queue
prefix, and empties or deletes them after; workers are stopped by their process ids. Only 127.0.0.1 is
contacted (127.0.0.2 and 127.0.0.3 never: no worker serves them)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditor.config import Config, load_config
from auditor.engine.controller import NO_WORKER, engine_sources, probe_via_engine
from auditor.model import Host, HostStatus, Observation, SourceKind
from auditor.pipeline import Discovery, ProbeResults, build_run
from auditor.probing import probe_hosts
from auditor.spool import FactsSpool
from tests.integration.test_remote_loopback import (  # noqa: F401 - fixtures
    Sshd,
    known_hosts,
    make_sshd,
    server,
    user_key,
)

redis = pytest.importorskip("redis")
pytest.importorskip("celery")

REDIS = ("127.0.0.1", 6379)
pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="a real sshd needs root (privilege separation)"),
    pytest.mark.timeout(300),
]


@pytest.fixture
def redis_broker() -> Iterator[str]:
    """An empty Redis database of this machine's server, flushed after the test."""
    for db in range(15, 0, -1):
        try:
            client = redis.Redis(*REDIS, db=db, socket_timeout=3)
            if client.dbsize() == 0 and client.set(f"auditor-test-claim-{db}", "1", nx=True):
                break
        except redis.exceptions.ConnectionError:
            pytest.skip("no Redis server on 127.0.0.1:6379")
    else:
        pytest.skip("no empty Redis database to use")
    yield f"redis://127.0.0.1:6379/{db}"
    client.flushdb()


@pytest.fixture
def amqp_broker() -> Iterator[str]:
    """A RabbitMQ virtual host of this machine's server for this test, deleted after."""
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed")
    vhost = f"auditor-test-{uuid.uuid4().hex[:10]}"
    added = subprocess.run(["rabbitmqctl", "add_vhost", vhost], capture_output=True, check=False)
    if added.returncode != 0:
        pytest.skip(f"no RabbitMQ server to use: {added.stderr.decode()[-200:]}")
    try:
        subprocess.run(["rabbitmqctl", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
                       capture_output=True, check=True)  # fmt: skip
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        subprocess.run(["rabbitmqctl", "delete_vhost", vhost], capture_output=True, check=False)


@pytest.fixture(params=["redis", "amqp"])
def broker(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_broker")
    return url


@dataclass
class Workers:
    root: Path
    started: list[tuple[subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def start(
        self, config: Path, vantage: str, name: str, concurrency: int = 1,
        netns: str | None = None, env: dict[str, str] | None = None,
    ) -> int:  # fmt: skip
        """A worker (in network namespace `netns` if given, with `env` added), once ready."""
        log = self.root / f"worker-{name}.log"
        inside = ["ip", "netns", "exec", netns] if netns is not None else []
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*inside, sys.executable, "-m", "auditor", "worker", "--vantage", vantage, "-c",
                 str(config), "--name", f"{name}@test", "--concurrency", str(concurrency)],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "XDG_CACHE_HOME": str(self.root / "cache"), **(env or {})},
            )  # fmt: skip
        self.started.append((process, log))
        wait_for(lambda: "ready." in log.read_text(errors="replace"), 60, f"worker {name} ready")
        return len(self.started) - 1

    def log(self, index: int) -> str:
        return self.started[index][1].read_text(errors="replace")

    def kill(self, index: int) -> None:
        os.kill(self.started[index][0].pid, signal.SIGKILL)
        self.started[index][0].wait()

    def stop(self) -> None:
        for process, _ in self.started:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait()


def wait_for(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    running = Workers(tmp_path)
    yield running
    running.stop()


def write_config(
    tmp_path: Path, broker: str, sshd: Sshd, key: Path, trusted: Path, **engine: object
) -> Path:
    settings = {"worker_timeout": 20, "batch_size": 1, "redelivery_after": 4, **engine}
    lines = "\n".join(f"{k} = {v}" for k, v in settings.items())
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "audit.toml"
    path.write_text(f"""
[engine]
broker = "{broker}"
queue_prefix = "t{uuid.uuid4().hex[:10]}"
{lines}
[[vantage]]
name = "lo"
networks = ["127.0.0.1/32"]
concurrency = 4
[[vantage]]
name = "dc2"
networks = ["127.0.0.2/32"]
[ssh]
user = "root"
key_file = "{key}"
known_hosts = "{trusted}"
port = {sshd.port}
timeout = 5
deadline = 30
use_ssh_config = false
software_cache = false
""")
    return path


def hosts(count: int, address: str = "127.0.0.1", first: int = 1) -> tuple[Host, ...]:
    """Hosts an inventory lists at `address` (each a separate SSH session to the sshd)."""
    now = datetime.now(UTC)
    return tuple(
        Host(f"name:h{n}", (address,), (f"h{n}",), (f"name:h{n}",), (SourceKind.ANSIBLE,),
             HostStatus.MANAGED, "listed",
             (Observation(SourceKind.ANSIBLE, "inv", (f"name:h{n}",), now, None),))
        for n in range(first, first + count)
    )  # fmt: skip


def verdicts(config: Config, hs: tuple[Host, ...], probe: ProbeResults) -> dict[str, object]:
    """What both runs must agree on. This machine's own listeners come and go (other tests'
    servers), so they and the findings about them are left to the lab test's fixed hosts."""
    run = build_run(config, Discovery(datetime.now(UTC), (), hs), probe)
    return {
        "ssh": {h: o.state for h, o in run.ssh.items()},
        "os": {h: (f.os.id if f.os else None, f.hostname, f.kernel) for h, f in run.facts.items()},
        "findings": sorted((f.rule, f.host or "", f.title) for f in run.findings
                           if f.rule != "unexpected-listener"),
    }  # fmt: skip


def test_same_verdicts_as_a_single_machine_audit(
    tmp_path: Path, broker: str, server: Sshd, user_key: Path, known_hosts: Path,  # noqa: F811
    workers: Workers,
) -> None:  # fmt: skip
    # No redelivery of a slow batch here: a batch run twice would leave its second result.
    path = write_config(
        tmp_path, broker, server, user_key, known_hosts, batch_size=2, redelivery_after=120
    )
    config = load_config(path)
    fleet = hosts(5)
    workers.start(path, "lo", "w1")
    workers.start(path, "lo", "w2")
    local = probe_hosts(config, fleet)
    remote = probe_via_engine(config, fleet)
    assert {o.state for o in remote.ssh.values()} == {"ok"}
    assert {o.vantage for o in remote.ssh.values()} == {"lo"}
    assert verdicts(config, fleet, remote) == verdicts(config, fleet, local)
    # The controller holds what a single-machine run holds (facts in the disk spool), and
    # the broker keeps no result it has read.
    assert isinstance(remote.facts, FactsSpool) and len(remote.facts) == len(fleet)
    # Each host's outcome holds the strings the run has already (not copies from the JSON).
    assert all(remote.ssh[h.id].address is h.primary_address for h in fleet)
    assert len({id(o.vantage) for o in remote.ssh.values()}) == 1
    if broker.startswith("redis://"):
        assert redis.Redis.from_url(broker).keys("celery-task-meta-*") == []


def test_a_vantage_without_a_worker_is_not_attempted_and_the_run_completes(
    tmp_path: Path, redis_broker: str, server: Sshd, user_key: Path, known_hosts: Path,  # noqa: F811
    workers: Workers,
) -> None:  # fmt: skip
    path = write_config(tmp_path, redis_broker, server, user_key, known_hosts, worker_timeout=3)
    path.write_text(path.read_text() + '[[network]]\nname = "dc2"\ntargets = ["127.0.0.2/32"]\n')
    config = load_config(path)
    fleet = hosts(2) + hosts(2, "127.0.0.2", first=3) + hosts(1, "127.0.0.3", first=5)
    workers.start(path, "lo", "w1")
    started = time.monotonic()
    (sweep,) = [s.collect(datetime.now(UTC)) for s in engine_sources(config, [])]
    assert sweep.error == "vantage dc2: no worker answered within 3 s: no sweep"
    probe = probe_via_engine(config, fleet)  # dc2 is not waited for a second time
    took = time.monotonic() - started
    states = {h: (o.state, o.vantage, o.kind) for h, o in probe.ssh.items()}
    assert states == {
        "name:h1": ("ok", "lo", None),
        "name:h2": ("ok", "lo", None),
        "name:h3": ("not-attempted", "dc2", NO_WORKER),
        "name:h4": ("not-attempted", "dc2", NO_WORKER),
        "name:h5": ("not-attempted", None, "no-vantage"),
    }
    assert probe.ssh["name:h3"].reason == "vantage dc2: no worker answered within 3 s"
    assert "no [[vantage]] reaches 127.0.0.3" in (probe.ssh["name:h5"].reason or "")
    assert 3 <= took < 6 + 10  # one wait of 3 s, plus the probes of h1 and h2
    run = build_run(config, Discovery(datetime.now(UTC), (), fleet), probe)
    named = [f for f in run.findings if f.rule == "vantage-no-worker"]
    assert [f.title for f in named] == ["Vantage dc2: no worker answered; its hosts were not probed"]
    assert [f.rule for f in run.findings if f.rule == "vantage-none"] == ["vantage-none"]
    assert not [f for f in run.findings if f.rule.startswith("ssh-")]


def test_a_worker_killed_mid_task_loses_nothing_and_counts_nothing_twice(
    tmp_path: Path, broker: str, server: Sshd, user_key: Path, known_hosts: Path,  # noqa: F811
    workers: Workers,
) -> None:  # fmt: skip
    path = write_config(tmp_path, broker, server, user_key, known_hosts)
    config = load_config(path)
    fleet = hosts(8)
    victim = workers.start(path, "lo", "victim")
    survivor = workers.start(path, "lo", "survivor")
    result: list[ProbeResults] = []
    controller = threading.Thread(target=lambda: result.append(probe_via_engine(config, fleet)))
    controller.start()
    wait_for(lambda: "probing 1 hosts" in workers.log(victim), 60, "the victim's first task")
    workers.kill(victim)  # a probe takes seconds: this lands mid-task
    killed = workers.log(victim).count("probing 1 hosts")
    controller.join(timeout=120)
    assert not controller.is_alive() and result
    probe = result[0]
    assert sorted(probe.ssh) == sorted(h.id for h in fleet)
    assert {o.state for o in probe.ssh.values()} == {"ok"}, probe.ssh
    assert sorted(probe.facts) == sorted(h.id for h in fleet)
    # Every batch the victim never started ran on the survivor; the one it was killed in
    # ran again there (every host is ok above, and none twice). Celery stores a task's result
    # before it logs "succeeded in", so a kill between the two can leave a finished batch
    # unlogged: the victim's log bounds what it did from above only.
    finished = workers.log(victim).count("succeeded in")
    done_by_survivor = workers.log(survivor).count("succeeded in")
    assert done_by_survivor >= len(fleet) - killed
    assert killed - finished >= 1  # the kill did land mid-task


def test_the_direct_check_of_a_missed_host_runs_at_its_vantage(
    tmp_path: Path, redis_broker: str, server: Sshd, user_key: Path, known_hosts: Path,  # noqa: F811
    workers: Workers,
) -> None:  # fmt: skip
    from auditor.engine.controller import engine_for, engine_rechecker
    from auditor.recheck import RecheckPlan

    path = write_config(tmp_path, redis_broker, server, user_key, known_hosts)
    config = load_config(path)
    workers.start(path, "lo", "w1")
    plan = RecheckPlan(
        missed_by={"127.0.0.1": "lo", "127.0.0.3": "lo"},  # .3: no vantage, never touched
        ports=(server.port,), retries=1, host_timeout=30, targets=("127.0.0.1", "127.0.0.3"),
    )  # fmt: skip
    try:
        recheck = engine_rechecker(config)(plan, datetime.now(UTC))
    finally:
        engine_for(config).close()
    assert recheck.error is None
    assert recheck.plan.addresses == ("127.0.0.1",)  # the reason claims no check of .3
    assert [o.identifiers for o in recheck.observations] == [("ip:127.0.0.1",)]
    assert "re-checking 1 addresses for vantage lo" in workers.log(0)


def _task_spans(log: str) -> list[tuple[datetime, int]]:
    """(time, +1) when a probe task started, (time, -1) when it ended, from a worker log."""
    import re

    events = []
    for line in log.splitlines():
        stamp = re.match(r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)[.,](\d{3})", line)
        if stamp is None:
            continue
        at = datetime.fromisoformat(f"{stamp[1]}T{stamp[2]}.{stamp[3]}")
        if "auditor.engine.app: run" in line and "probing" in line:
            events.append((at, 1))
        elif "Task auditor.probe[" in line and ("succeeded" in line or "raised" in line):
            events.append((at, -1))
    return events


def test_a_vantage_limit_holds_across_all_its_workers(
    tmp_path: Path, redis_broker: str, server: Sshd, user_key: Path, known_hosts: Path,  # noqa: F811
    workers: Workers,
) -> None:  # fmt: skip
    # No redelivery here (a slow probe on a busy machine would run twice, and count twice
    # in the logs): this test is about the window, test_engine_limits.py about the rest.
    path = write_config(tmp_path, redis_broker, server, user_key, known_hosts, redelivery_after=120)
    text = path.read_text().replace("concurrency = 4", "concurrency = 2")
    path.write_text(text)
    config = load_config(path)
    for name in ("w1", "w2", "w3"):
        workers.start(path, "lo", name, concurrency=2)  # 6 slots for a vantage limit of 2
    probe = probe_via_engine(config, hosts(8))
    assert {o.state for o in probe.ssh.values()} == {"ok"}
    events = sorted(e for i in range(3) for e in _task_spans(workers.log(i)))
    assert sum(1 for _, step in events if step == 1) == 8
    in_flight = peak = 0
    for _, step in events:
        in_flight += step
        peak = max(peak, in_flight)
    assert peak == 2


def test_a_worker_refuses_hosts_outside_its_own_vantage_networks(
    tmp_path: Path, redis_broker: str, server: Sshd, user_key: Path, known_hosts: Path,  # noqa: F811
    workers: Workers,
) -> None:  # fmt: skip
    """Whoever writes to the broker cannot point a worker elsewhere: its own config says
    which networks its vantage reaches (127.0.0.1/32 here), whatever the controller's says."""
    worker_config = write_config(tmp_path / "worker", redis_broker, server, user_key, known_hosts)
    controller_config = tmp_path / "controller.toml"
    controller_config.write_text(
        worker_config.read_text().replace('networks = ["127.0.0.1/32"]', 'networks = ["127.0.0.0/29"]')
    )
    workers.start(worker_config, "lo", "w1")
    probe = probe_via_engine(load_config(controller_config), hosts(1) + hosts(1, "127.0.0.5", 2))
    assert probe.ssh["name:h1"].state == "ok"
    refused = probe.ssh["name:h2"]
    assert (refused.state, refused.vantage) == ("not-attempted", "lo")
    assert refused.reason == "outside vantage lo's networks in this worker's config: refused"
    assert "127.0.0.5" not in server.log()  # (sshd listens on 127.0.0.1 only anyway)


def test_auditor_audit_with_an_engine_sweeps_and_probes_at_the_vantage(
    tmp_path: Path, redis_broker: str, server: Sshd, user_key: Path, known_hosts: Path,  # noqa: F811
    workers: Workers,
) -> None:  # fmt: skip
    """The whole command: the sweep and the probe run on the worker, the report says so."""
    import json

    path = write_config(tmp_path, redis_broker, server, user_key, known_hosts)
    path.write_text(
        path.read_text()
        + f'[[network]]\nname = "lo"\ntargets = ["127.0.0.1"]\nports = [{server.port}]\n'
    )
    workers.start(path, "lo", "w1")
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "auditor", "audit", "-c", str(path), "--out", str(out), "--quiet",
         "--fail-on", "critical"],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    (sweep,) = report["run"]["sources"]
    assert (sweep["name"], sweep["ok"], sweep["details"]["vantage"]) == ("lo", True, "lo")
    (host,) = report["hosts"]
    assert (host["ssh"]["state"], host["ssh"]["vantage"], host["facts"]["vantage"]) == (
        "ok", "lo", "lo"
    )
    assert report["run"]["vantages"] == {"lo": {"hosts": 1, "ok": 1}}
    assert "sweeping lo for vantage lo" in workers.log(0)


def test_ready_messages_nobody_waits_for_are_not_kept(redis_broker: str) -> None:
    """Celery buffers a ready message of a task nobody waits on (8,192 of them, each a
    batch's result): the controller's inbox drops those of tasks it no longer watches, so
    its memory does not grow with the fleet."""
    from celery.result import AsyncResult

    from auditor.config import EngineSettings
    from auditor.engine.app import make_app
    from auditor.engine.controller import Inbox

    app = make_app(EngineSettings(broker=redis_broker, queue_prefix="tinbox"))
    try:
        inbox = Inbox(app)
        inbox.watch(AsyncResult("still-running", app=app))
        consumer, buffered = app.backend.result_consumer, app.backend._pending_messages
        for task_id in ("read-before-its-message", "still-running"):
            # as Celery takes a message off the wire (a redelivered batch's second result)
            consumer.on_state_change({"task_id": task_id, "status": "STARTED"}, None)
            consumer.on_state_change({"task_id": task_id, "status": "SUCCESS",
                                      "result": {"results": ["facts"] * 8}}, None)  # fmt: skip
        assert "read-before-its-message" in buffered
        assert inbox.arrived(AsyncResult("still-running", app=app))  # delivered, not kept
        inbox.wait(0.2)
        assert "read-before-its-message" not in buffered and buffered.total == 0
    finally:
        app.close()
