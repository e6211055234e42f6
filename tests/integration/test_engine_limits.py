"""Session limits across workers, for real, counted in each store: Redis on 127.0.0.1:6379
(the broker: a database of its own, flushed after), and PostgreSQL on 127.0.0.1:5432 with
RabbitMQ as the broker (no Redis at all: a database and a virtual host of their own, dropped
after); `auditor worker` processes, sshd on loopback behind a counting TCP relay, so the
sessions open at once are measured where they arrive, not where they are counted. Only
127.0.0.1 is contacted."""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from auditor.config import EngineSettings, SshSettings, load_config
from auditor.engine.controller import probe_via_engine
from auditor.engine.limits import LEASES, LeasedSlots, PostgresSlots, RedisSlots, limit_key
from auditor.model import ProbeResults
from auditor.remote.paramiko_connector import ParamikoConnector
from tests.integration.test_engine_workers import (  # noqa: F401 - fixtures
    Workers,
    amqp_broker,
    hosts,
    redis,
    redis_broker,
    wait_for,
    workers,
    write_config,
)
from tests.integration.test_remote_loopback import (  # noqa: F401 - fixtures
    Sshd,
    connector,
    known_hosts,
    make_sshd,
    server,
    settings,
    user_key,
)
from tests.postgres import database_url, fresh_database

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="a real sshd needs root (privilege separation)"),
    pytest.mark.timeout(300),
]


class CountingRelay:
    """127.0.0.1:port -> an sshd; counts the connections open at once.

    One thread, one select loop, and in each round the closed connections are counted
    before the new ones: a session closed before the next one connects is never seen
    overlapping it (with a thread per connection, a late thread would make it look so)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self.listener.getsockname()[1]
        self.active = self.peak = 0
        self.opened: list[float] = []  # time.time() of each connection
        self.peers: dict[socket.socket, socket.socket] = {}
        self.clients: set[socket.socket] = set()  # the accepted side of each connection
        self.lock = threading.Lock()  # held while a round changes the connections
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop.is_set():
            ready, _, _ = select.select([self.listener, *self.peers], [], [], 0.2)
            with self.lock:
                self._round(ready)

    def _round(self, ready: list[socket.socket]) -> None:
        for sock in [r for r in ready if r is not self.listener and r in self.peers]:
            try:
                data = sock.recv(65536)
                if data:
                    self.peers[sock].sendall(data)
                    continue
            except OSError:
                pass
            self._drop(sock)
        if self.listener in ready:
            client, _ = self.listener.accept()
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.peers[client], self.peers[upstream] = upstream, client
            self.clients.add(client)
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.opened.append(time.time())

    def _drop(self, sock: socket.socket) -> None:
        peer = self.peers.pop(sock, None)
        if peer is None:
            return
        self.peers.pop(peer, None)
        self.clients.difference_update((sock, peer))
        sock.close()
        peer.close()
        self.active -= 1

    def still_open(self) -> int:
        """Connections whose client has not hung up, as this machine's kernel knows it now
        (its FIN arrived, even if the loop has not read it yet): what the target would
        count at this instant, without racing the loop's thread."""
        with self.lock:
            poll = select.poll()
            for client in self.clients:
                poll.register(client, select.POLLRDHUP)
            hung_up = {fd for fd, events in poll.poll(0) if events & select.POLLRDHUP}
            return sum(1 for client in self.clients if client.fileno() not in hung_up)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.listener.close()


@pytest.fixture
def relay(server: Sshd, known_hosts: Path) -> Iterator[CountingRelay]:  # noqa: F811
    relayed = CountingRelay(server.port)
    # The sshd's key, known under the relay's port too (strict checking stays on).
    line = server.known_hosts_line().replace(f":{server.port} ", f":{relayed.port} ")
    with known_hosts.open("a") as known:
        known.write(line)
    yield relayed
    relayed.close()


@dataclass
class Limiter:
    """Where a test's session limits are counted, and the broker that goes with it."""

    kind: str  # "redis" (the broker) | "postgresql" (with RabbitMQ as the broker)
    broker: str
    url: str  # the leases' store
    engine: dict[str, Any] = field(default_factory=dict)  # [engine] keys to add

    def slots(self, engine: EngineSettings) -> LeasedSlots:
        if self.kind == "redis":
            return RedisSlots.connect(self.url, engine)
        return PostgresSlots(self.url, engine)

    def leases(self, key: str) -> list[tuple[str, float]]:
        """The leases of limit `key` (its stored name): member, end (seconds since 1970)."""
        if self.kind == "redis":
            held = redis.Redis.from_url(self.url).zrange(key, 0, -1, withscores=True)
            return [(m.decode(), score / 1000) for m, score in held]
        import psycopg

        with psycopg.connect(self.url) as conn:
            try:
                rows = conn.execute(f"SELECT member, extract(epoch FROM ends)::float8 FROM "
                                    f"{LEASES} WHERE limit_key = %s", (key,)).fetchall()  # fmt: skip
            except psycopg.errors.UndefinedTable:
                return []  # no worker has taken a slot yet
        return [(m, float(ends)) for m, ends in rows]


@pytest.fixture(params=["redis", "postgresql"])
def limiter(request: pytest.FixtureRequest) -> Iterator[Limiter]:
    if request.param == "redis":
        broker: str = request.getfixturevalue("redis_broker")
        yield Limiter("redis", broker, broker)
        return
    broker = request.getfixturevalue("amqp_broker")
    with fresh_database() as name:
        url = database_url(name)
        yield Limiter("postgresql", broker, url, {"limiter": f'"{url}"'})


def _not_ok(probe: ProbeResults) -> dict[str, str | None]:
    return {h: o.reason for h, o in probe.ssh.items() if o.state != "ok"}


def configs(
    tmp_path: Path, broker: str, server: Sshd, relay: CountingRelay, key: Path, trusted: Path,  # noqa: F811
    *, worker_limit: int, controller_limit: int, ssh: str = "", **engine: object,
) -> tuple[Path, Path]:  # fmt: skip
    """The workers' config and the controller's: the same but for the vantage's limit."""
    base = write_config(tmp_path, broker, server, key, trusted, **engine)
    text = base.read_text().replace(f"port = {server.port}", f"port = {relay.port}\n{ssh}")
    worker, controller = tmp_path / "worker.toml", tmp_path / "controller.toml"
    worker.write_text(text.replace("concurrency = 4", f"concurrency = {worker_limit}"))
    controller.write_text(text.replace("concurrency = 4", f"concurrency = {controller_limit}"))
    return worker, controller


def test_a_vantage_limit_holds_across_workers_whatever_the_controller_sends(
    tmp_path: Path, limiter: Limiter, server: Sshd, relay: CountingRelay,  # noqa: F811
    user_key: Path, known_hosts: Path, workers: Workers,  # noqa: F811
) -> None:  # fmt: skip
    """The controller would allow 8 at once (its config), two workers could run 8 (2 tasks
    of 2 hosts each): the workers' own limit, 2, holds across both."""
    worker, controller = configs(tmp_path, limiter.broker, server, relay, user_key, known_hosts,
                                 worker_limit=2, controller_limit=8, batch_size=2,
                                 redelivery_after=120, **limiter.engine)  # fmt: skip
    workers.start(worker, "lo", "w1", concurrency=2)
    workers.start(worker, "lo", "w2", concurrency=2)
    probe = probe_via_engine(load_config(controller), hosts(8))
    assert {o.state for o in probe.ssh.values()} == {"ok"}, _not_ok(probe)
    assert len(relay.opened) == 8
    assert relay.peak == 2  # reached, never exceeded
    said = f"session limits: vantage lo 2, shared by all workers in {limiter.kind}://"
    assert said in workers.log(0)
    done = {n: workers.log(n).count("succeeded in") for n in (0, 1)}
    assert all(done.values()), done  # both workers probed


def test_a_jump_host_limit_holds_across_workers(
    tmp_path: Path, limiter: Limiter, server: Sshd, relay: CountingRelay,  # noqa: F811
    user_key: Path, known_hosts: Path, workers: Workers, make_sshd: object,  # noqa: F811
) -> None:  # fmt: skip
    bastion = make_sshd("bastion", trusted=True)  # type: ignore[operator]
    via = f'jump_host = "root@127.0.0.1:{bastion.port}"\njump_host_concurrency = 2'
    worker, controller = configs(tmp_path, limiter.broker, server, relay, user_key, known_hosts,
                                 worker_limit=16, controller_limit=16, batch_size=2,
                                 redelivery_after=120, ssh=via, **limiter.engine)  # fmt: skip
    workers.start(worker, "lo", "w1", concurrency=2)
    workers.start(worker, "lo", "w2", concurrency=2)
    probe = probe_via_engine(load_config(controller), hosts(8))
    assert {o.state for o in probe.ssh.values()} == {"ok"}, _not_ok(probe)
    assert len(relay.opened) == 8  # every session came through the bastion to the relay
    assert relay.peak == 2
    assert "each jump host 2" in workers.log(1)


def assert_each_session_ended_at_the_target(
    connector: ParamikoConnector, relay: CountingRelay, via: SshSettings  # noqa: F811
) -> None:
    """10 sessions one after the other: none still open at the target after its close()."""
    for n in range(1, 11):
        session = connector.open_session("127.0.0.1", relay.port, via, "target")
        assert session.run("true", timeout=10, max_output=64).exit_status == 0
        session.close()
        assert relay.still_open() == 0, f"session {n}"
    assert len(relay.opened) == 10


@pytest.mark.parametrize("hops", [1, 2])
def test_a_session_through_a_jump_host_has_ended_at_the_target_when_close_returns(
    relay: CountingRelay, make_sshd: Any, settings: SshSettings,  # noqa: F811
    connector: ParamikoConnector, hops: int,  # noqa: F811
) -> None:  # fmt: skip
    """The slot a session holds is given back when its close() returns: by then the
    bastion must have hung up on the target, or the next session through another bastion
    connection could arrive while it still counts this one (issue #15). Through a chain,
    the session's only own part is the last hop's tunnel to the target (the hops'
    connections are shared by all sessions): its CLOSE comes back through the outer hop."""
    bastions = [make_sshd(f"bastion{n}", trusted=True) for n in range(hops)]
    chain = ",".join(f"root@127.0.0.1:{b.port}" for b in bastions)
    via = replace(settings, jump_host=chain)
    assert_each_session_ended_at_the_target(connector, relay, via)


def test_a_session_through_a_proxy_command_has_ended_at_the_target_when_close_returns(
    relay: CountingRelay, make_sshd: Any, settings: SshSettings,  # noqa: F811
    connector: ParamikoConnector, user_key: Path, known_hosts: Path,  # noqa: F811
) -> None:  # fmt: skip
    """`ssh -W` through a bastion as the ProxyCommand: when close() returns, the target
    has seen the connection end (the proxy is reaped by then; issue #15)."""
    bastion = make_sshd("bastion", trusted=True)
    proxy = (
        f"ssh -F none -i {user_key} -o BatchMode=yes -o StrictHostKeyChecking=yes "
        f"-o UserKnownHostsFile={known_hosts} -p {bastion.port} -W %h:%p root@127.0.0.1"
    )
    via = replace(settings, proxy_command=proxy)
    assert_each_session_ended_at_the_target(connector, relay, via)


def test_a_killed_workers_slot_comes_back_when_its_lease_ends(
    tmp_path: Path, limiter: Limiter, server: Sshd, relay: CountingRelay,  # noqa: F811
    user_key: Path, known_hosts: Path, workers: Workers,  # noqa: F811
) -> None:  # fmt: skip
    """The victim holds the vantage's only slot when it is SIGKILLed; the survivor, started
    after, gets it only when the victim's lease ends, and probes every host."""
    worker, controller = configs(tmp_path, limiter.broker, server, relay, user_key, known_hosts,
                                 worker_limit=1, controller_limit=4, lease=8,
                                 **limiter.engine)  # fmt: skip
    victim = workers.start(worker, "lo", "victim")
    victim_pid = workers.started[victim][0].pid
    key = limit_key(load_config(worker).engine, "vantage:lo")  # type: ignore[arg-type]
    result: list[ProbeResults] = []
    run = threading.Thread(target=lambda: result.append(
        probe_via_engine(load_config(controller), hosts(4))))  # fmt: skip
    run.start()

    def victims_slot() -> tuple[str, float] | None:
        mine = [(m, ends) for m, ends in limiter.leases(key) if f":{victim_pid}:" in m]
        return mine[0] if mine else None

    wait_for(lambda: victims_slot() is not None, 60, "the victim to take the slot")
    workers.kill(victim)
    killed = time.time()
    slot = victims_slot()
    assert slot is not None  # still taken: nobody gave it back
    lease_ends = slot[1]
    workers.start(worker, "lo", "survivor")
    run.join(timeout=180)
    assert not run.is_alive() and result
    assert {o.state for o in result[0].ssh.values()} == {"ok"}, _not_ok(result[0])
    assert victims_slot() is None  # the survivor's first take dropped the expired lease
    after = [t for t in relay.opened if t > killed]
    assert after and min(after) >= lease_ends - 0.1  # not one session before the lease ended
    assert relay.peak == 1


def test_slots_all_or_none_given_back_and_expired(limiter: Limiter) -> None:
    engine = EngineSettings(broker=limiter.broker, queue_prefix="tslots", lease=3.0)
    one, two = (limiter.slots(engine) for _ in range(2))
    try:
        vantage, bastion = ("vantage:dc1", 2), ("bastion:b:22", 1)
        assert one.try_take((vantage, bastion), "a")
        assert not two.try_take((vantage, bastion), "b")  # bastion full: no vantage slot
        assert two.try_take((vantage,), "c")
        assert not two.try_take((vantage,), "d")  # 2 of 2, across both "workers"
        one.give_back(("vantage:dc1", "bastion:b:22"), "a")
        assert two.try_take((vantage, bastion), "b")
        time.sleep(4)  # past the lease: renewed in the meantime, still held
        assert not one.try_take((vantage,), "e")
        two._stop.set()  # as if two's process died: no renewal any more
        time.sleep(3.5)
        assert one.try_take((vantage, bastion), "e")  # two's slots came back
        assert two.renew() == 3  # expired (some taken by now): dropped, not revived
        assert [m for m, _ in limiter.leases(limit_key(engine, "bastion:b:22"))] == [
            one.member("e")]  # fmt: skip
    finally:
        one.close()
        two.close()
