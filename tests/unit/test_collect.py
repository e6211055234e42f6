"""collect: the fan-out, driven by the ScriptedConnector (no network)."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditor.collect import CollectInterrupted, collect, not_attempted_reason
from auditor.errors import ProbeError
from auditor.model import (
    Facts,
    Host,
    HostStatus,
    Observation,
    SourceKind,
    SourceResult,
    SshOutcome,
)
from auditor.remote import (
    AuthError,
    ChangedHostKeyError,
    CommandResult,
    ConnectError,
    Fail,
    FailureKind,
    RemoteSession,
    Reply,
    ScriptedConnector,
    SessionError,
    UnknownHostKeyError,
)
from auditor.remote.scripted import Behaviour
from auditor.spool import FactsSpool, Staged
from tests.builders import SSH_SETTINGS as SETTINGS
from tests.builders import ctrl_c, hostname_probe

NOW = datetime(2026, 11, 28, tzinfo=UTC)


def make_host(
    name: str,
    address: str | None = "10.0.0.1",
    *,
    alive: bool | None = True,
    ssh_port: int | None = None,
    status: HostStatus = HostStatus.MANAGED,
) -> Host:
    observation = Observation(
        source=SourceKind.NETWORK,
        source_name="scan",
        identifiers=(f"ip:{address}",) if address else (f"name:{name}",),
        observed_at=NOW,
        alive=alive,
    )
    return Host(
        id=name,
        addresses=(address,) if address else (),
        hostnames=(name,),
        identifiers=observation.identifiers,
        sources=(SourceKind.NETWORK,),
        status=status,
        status_reason="test",
        observations=(observation,),
        ssh_port=ssh_port,
    )


def raising(error: Exception) -> Callable[[str], Reply]:
    """A scripted remote whose run fails with `error` (the probe sees it raised)."""

    def respond(script: str) -> Reply:
        raise error

    return respond


class Recorder:
    def __init__(self) -> None:
        self.started: list[str] = []
        self.done: list[tuple[str, str]] = []

    def on_start(self, host: Host) -> None:
        self.started.append(host.id)

    def on_done(self, host: Host, outcome: SshOutcome) -> None:
        self.done.append((host.id, outcome.state))


def test_every_host_gets_a_result_in_input_order() -> None:
    hosts = [make_host(f"h{i}", f"10.0.0.{i}") for i in range(1, 8)]
    connector = ScriptedConnector({h.addresses[0]: Reply(stdout=f"{h.id}\n") for h in hosts})
    results = collect(hosts, SETTINGS, hostname_probe, connector=connector)
    assert list(results) == [h.id for h in hosts]
    for host in hosts:
        outcome, facts = results[host.id]
        assert outcome.state == "ok" and outcome.port == 22
        assert outcome.address == host.addresses[0]
        assert outcome.duration_s is not None and outcome.duration_s >= 0
        assert facts is not None and facts.hostname == host.id
    assert [c.script for c in connector.calls] == ["uname -n"] * len(hosts)


def test_facts_go_to_the_store_as_hosts_finish_not_into_the_results() -> None:
    hosts = [make_host(f"h{i}", f"10.0.0.{i}") for i in range(1, 6)]
    connector = ScriptedConnector({h.addresses[0]: Reply(stdout=f"{h.id}\n") for h in hosts[1:]})
    spool = FactsSpool()
    results = collect(hosts, SETTINGS, hostname_probe, connector=connector, facts_store=spool)
    assert list(results) == [h.id for h in hosts]
    assert all(facts is None for _, facts in results.values())
    assert results[hosts[0].id][0].state == "skipped" and hosts[0].id not in spool
    assert {host_id: f.hostname for host_id, f in spool.items()} == {h.id: h.id for h in hosts[1:]}


class _Watched(FactsSpool):
    """A spool that counts, as each host's facts arrive, the earlier hosts' parsed Facts
    still alive: once spooled, collect must hold none (issue 14: memory flat in fleet size)."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[weakref.ref[Facts]] = []
        self.alive_before: list[int] = []
        self.stored = threading.Semaphore(1)  # the next probe waits for the last store

    def stage(self, facts: Facts) -> Staged:
        gc.collect()
        self.alive_before.append(sum(1 for ref in self.refs if ref() is not None))
        self.refs.append(weakref.ref(facts))
        return super().stage(facts)

    def commit(self, host_id: str, staged: Staged) -> None:
        super().commit(host_id, staged)
        self.stored.release()


def test_spooled_facts_are_not_held_while_the_rest_are_probed() -> None:
    hosts = [make_host(f"h{i}", f"10.0.0.{i}") for i in range(1, 13)]
    connector = ScriptedConnector({h.addresses[0]: Reply(stdout=f"{h.id}\n") for h in hosts})
    spool = _Watched()

    def one_at_a_time(session: RemoteSession, host: Host) -> Facts:
        assert spool.stored.acquire(timeout=5)  # the previous host's facts are spooled
        return hostname_probe(session, host)

    settings = replace(SETTINGS, concurrency=1)
    collect(hosts, settings, one_at_a_time, connector=connector, facts_store=spool)
    assert len(spool) == len(hosts)
    # A finished future kept in collect's table would keep its host's Facts: 0, 1, 2 ...
    assert spool.alive_before == [0] * len(hosts)
    assert {host_id: f.hostname for host_id, f in spool.items()} == {h.id: h.id for h in hosts}


def test_concurrency_bound_is_respected() -> None:
    hosts = [make_host(f"h{i}", f"10.0.1.{i}") for i in range(20)]
    lock = threading.Lock()
    running = 0
    most = 0

    def slow(script: str) -> Reply:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return Reply(stdout="x")

    connector = ScriptedConnector({}, default=slow)
    results = collect(hosts, replace(SETTINGS, concurrency=3), hostname_probe, connector=connector)
    assert len(results) == 20
    assert most == 3  # reached, never exceeded
    assert connector.max_active == 3


def test_the_pool_is_handed_a_bounded_window_of_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hosts go to the pool a window at a time (twice the concurrency), not all at once: a
    queued future per host, and the loop's wait over all of them, grew with the fleet
    (issue 14). Every host is still probed, in order."""
    from concurrent.futures import Future, ThreadPoolExecutor

    lock = threading.Lock()
    outstanding = most = 0

    def done(_: Future[object]) -> None:
        nonlocal outstanding
        with lock:
            outstanding -= 1

    class Counting(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
            nonlocal outstanding, most
            with lock:
                outstanding += 1
                most = max(most, outstanding)
            future = super().submit(fn, *args, **kwargs)
            future.add_done_callback(done)
            return future

    monkeypatch.setattr("auditor.collect.ThreadPoolExecutor", Counting)
    hosts = [make_host(f"h{i}", f"10.0.2.{i}") for i in range(1, 61)]
    connector = ScriptedConnector({h.addresses[0]: Reply(stdout=f"{h.id}\n") for h in hosts})
    settings = replace(SETTINGS, concurrency=3)
    results = collect(hosts, settings, hostname_probe, connector=connector)
    assert list(results) == [h.id for h in hosts]
    assert all(outcome.state == "ok" for outcome, _ in results.values())
    assert 3 <= most <= 6


def test_a_slow_host_is_skipped_at_its_deadline_and_the_rest_go_on() -> None:
    hosts = [make_host("slow", "10.0.0.1"), make_host("fast", "10.0.0.2")]
    connector = ScriptedConnector(
        {"10.0.0.1": Reply(stdout="late", delay=30), "10.0.0.2": Reply(stdout="fast")}
    )
    started = time.monotonic()
    results = collect(hosts, replace(SETTINGS, deadline=0.3), hostname_probe, connector=connector)
    assert time.monotonic() - started < 3
    slow, _ = results["slow"]
    assert slow.state == "skipped" and slow.reason == "deadline exceeded after 0.3s"
    assert results["fast"][0].state == "ok"


def test_a_connect_stuck_past_the_deadline_does_not_hold_the_run() -> None:
    stuck = Fail(ConnectError("late", kind=FailureKind.CONNECT_TIMEOUT), after=1.5)
    connector = ScriptedConnector({"10.0.0.1": stuck})
    started = time.monotonic()
    results = collect(
        [make_host("stuck")], replace(SETTINGS, deadline=0.2), hostname_probe, connector=connector
    )
    assert time.monotonic() - started < 1.0
    assert results["stuck"][0].reason == "deadline exceeded after 0.2s"


def test_the_probe_cannot_ask_for_more_time_than_the_deadline_leaves() -> None:
    seen: list[CommandResult] = []

    def patient_probe(session: RemoteSession, host: Host) -> Facts:
        seen.append(session.run("x", timeout=600, max_output=10))
        return Facts(collected_at=NOW)

    connector = ScriptedConnector({"10.0.0.1": Reply(delay=2)})
    results = collect(
        [make_host("h")], replace(SETTINGS, deadline=0.3), patient_probe, connector=connector
    )
    outcome = results["h"][0]
    assert outcome.state == "partial" and outcome.kind == "deadline"
    assert outcome.reason is not None and outcome.reason.startswith("deadline exceeded after 0.3s")
    assert seen[0].timed_out and seen[0].duration_s < 1.5


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        (
            ConnectError("connection refused on 10.0.0.1:22 (no SSH server listening)"),
            "connection refused on 10.0.0.1:22",
        ),
        (
            ConnectError(
                "connection to 10.0.0.1:22 timed out after 2s", kind=FailureKind.CONNECT_TIMEOUT
            ),
            "timed out after 2s",
        ),
        (
            ConnectError(
                "cannot resolve nowhere.invalid: Name or service not known", kind=FailureKind.DNS
            ),
            "cannot resolve nowhere.invalid",
        ),
        (
            AuthError("authentication failed for root@10.0.0.1:22: server refused every key"),
            "authentication failed",
        ),
        (
            UnknownHostKeyError(
                "unknown host key for 10.0.0.1: ssh-ed25519 SHA256:abc is not in known_hosts",
                host="10.0.0.1",
                key_type="ssh-ed25519",
                fingerprint="SHA256:abc",
            ),
            "unknown host key",
        ),
        (
            ChangedHostKeyError(
                "host key CHANGED for 10.0.0.1: known SHA256:old, offered SHA256:new",
                host="10.0.0.1",
                key_type="ssh-ed25519",
                known_fingerprint="SHA256:old",
                offered_fingerprint="SHA256:new",
                known_at="known_hosts:1",
            ),
            "host key CHANGED",
        ),
        (raising(SessionError("channel closed")), "channel closed"),
        (Reply(stdout="", delay=5), "probe timed out"),
        (raising(ValueError("parser bug")), "internal error"),
    ],
)
def test_each_failure_is_a_skipped_host_with_its_reason(
    behaviour: Behaviour, expected: str
) -> None:
    connector = ScriptedConnector({"10.0.0.1": behaviour, "10.0.0.2": Reply(stdout="ok")})
    hosts = [make_host("bad", "10.0.0.1"), make_host("good", "10.0.0.2")]
    settings = replace(SETTINGS, timeout=0.2) if isinstance(behaviour, Reply) else SETTINGS

    def probe(session: RemoteSession, host: Host) -> Facts:
        result = session.run("x", timeout=settings.timeout, max_output=100)
        if result.timed_out:
            raise ProbeError("probe timed out")
        return Facts(collected_at=NOW)

    results = collect(hosts, settings, probe, connector=connector)
    outcome, facts = results["bad"]
    assert outcome.state == "skipped" and facts is None
    assert outcome.reason is not None and expected in outcome.reason
    assert results["good"][0].state == "ok"


def test_ports_are_tried_in_order_host_port_first() -> None:
    connector = ScriptedConnector(
        {
            "10.0.0.1:2200": ConnectError("connection refused on 10.0.0.1:2200"),
            "10.0.0.1:22": ConnectError("connection refused on 10.0.0.1:22"),
            "10.0.0.1:2222": Reply(stdout="h"),
        }
    )
    host = make_host("h", ssh_port=2200)
    results = collect(
        [host], replace(SETTINGS, ports=(22, 2222)), hostname_probe, connector=connector
    )
    assert connector.connects == [("10.0.0.1", 2200), ("10.0.0.1", 22), ("10.0.0.1", 2222)]
    assert results["h"][0].state == "ok" and results["h"][0].port == 2222


def test_all_ports_failing_lists_each_port() -> None:
    connector = ScriptedConnector({})  # nothing listens anywhere
    results = collect(
        [make_host("h")], replace(SETTINGS, ports=(22, 2222)), hostname_probe, connector=connector
    )
    reason = results["h"][0].reason
    assert reason is not None
    assert "10.0.0.1:22 " in reason and "10.0.0.1:2222 " in reason


def test_auth_failure_does_not_try_other_ports() -> None:
    connector = ScriptedConnector({"10.0.0.1": AuthError("authentication failed")})
    results = collect(
        [make_host("h")], replace(SETTINGS, ports=(22, 2222)), hostname_probe, connector=connector
    )
    assert connector.connects == [("10.0.0.1", 22)]
    (outcome, _), = results.values()
    assert outcome.kind == "auth"  # rules classify by kind, not by wording


def test_hosts_that_cannot_be_tried_are_not_attempted() -> None:
    hosts = [
        make_host("no-address", None),
        make_host("down", "10.0.0.2", alive=False),
        make_host("stale", "10.0.0.3", alive=None, status=HostStatus.STALE),
        make_host("unknown-liveness", "10.0.0.4", alive=None),
    ]
    connector = ScriptedConnector({}, default=Reply(stdout="x"))
    recorder = Recorder()
    results = collect(hosts, SETTINGS, hostname_probe, connector=connector, observer=recorder)
    assert results["no-address"][0] == SshOutcome(
        state="not-attempted", reason="no address known for this host"
    )
    assert results["down"][0].state == "not-attempted"
    assert results["down"][0].reason == "not seen alive by any source"
    assert results["stale"][0].state == "not-attempted"
    # An inventory-only host: no source can tell, so the SSH connect is the liveness test.
    assert results["unknown-liveness"][0].state == "ok"
    assert connector.connects == [("10.0.0.4", 22)]
    assert recorder.started == ["unknown-liveness"]
    assert sorted(recorder.done) == sorted(
        [
            ("no-address", "not-attempted"),
            ("down", "not-attempted"),
            ("stale", "not-attempted"),
            ("unknown-liveness", "ok"),
        ]
    )


def test_ssh_disabled_attempts_nothing() -> None:
    host = make_host("h")
    assert not_attempted_reason(host, replace(SETTINGS, enabled=False)) is not None
    connector = ScriptedConnector({}, default=Reply())
    results = collect([host], replace(SETTINGS, enabled=False), hostname_probe, connector=connector)
    assert results["h"][0].state == "not-attempted" and connector.connects == []


def test_observer_sees_each_host_start_and_finish_once() -> None:
    hosts = [make_host(f"h{i}", f"10.0.2.{i}") for i in range(10)]
    connector = ScriptedConnector({"10.0.2.3": AuthError("no")}, default=Reply(stdout="x"))
    recorder = Recorder()
    collect(hosts, SETTINGS, hostname_probe, connector=connector, observer=recorder)
    assert sorted(recorder.started) == sorted(h.id for h in hosts)
    assert sorted(recorder.done) == sorted(
        (h.id, "skipped" if h.id == "h3" else "ok") for h in hosts
    )


def test_a_broken_observer_does_not_stop_the_run() -> None:
    class Broken:
        def on_start(self, host: Host) -> None:
            raise RuntimeError("progress bar bug")

        def on_done(self, host: Host, outcome: SshOutcome) -> None:
            raise RuntimeError("progress bar bug")

    connector = ScriptedConnector({}, default=Reply(stdout="x"))
    results = collect(
        [make_host("h")], SETTINGS, hostname_probe, connector=connector, observer=Broken()
    )
    assert results["h"][0].state == "ok"


def test_ctrl_c_returns_what_finished() -> None:
    hosts = [make_host("quick", "10.0.0.1")] + [
        make_host(f"slow{i}", f"10.0.3.{i}") for i in range(6)
    ]
    connector = ScriptedConnector({"10.0.0.1": Reply(stdout="q")}, default=Reply(delay=30))
    presser = ctrl_c(0.4)
    started = time.monotonic()
    with pytest.raises(CollectInterrupted) as caught:
        collect(
            hosts,
            replace(SETTINGS, concurrency=2, deadline=60),
            hostname_probe,
            connector=connector,
        )
    presser.join()
    assert time.monotonic() - started < 5
    results = caught.value.results
    assert list(results) == [h.id for h in hosts]
    assert results["quick"][0].state == "ok"
    states = [results[h.id][0] for h in hosts[1:]]
    assert all(o.reason == "interrupted" and o.interrupted for o in states)
    assert {o.state for o in states} == {"skipped", "not-attempted"}  # running vs queued
    assert isinstance(caught.value, KeyboardInterrupt)


def test_ctrl_c_waits_for_the_probes_to_be_stopped_on_their_hosts_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Stopping takes 1.5 s a host (a loaded host's stop channel): longer than nothing, well
    # within the stated wait, so every running probe is stopped before collect returns.
    hosts = [make_host("quick", "10.0.0.1")] + [
        make_host(f"slow{i}", f"10.0.3.{i}") for i in range(3)
    ]
    connector = ScriptedConnector(
        {"10.0.0.1": Reply(stdout="q")}, default=Reply(delay=60, stop_delay=1.5)
    )
    sender = ctrl_c(0.5)
    started = time.monotonic()
    with pytest.raises(CollectInterrupted) as caught:
        collect(hosts, replace(SETTINGS, deadline=60), hostname_probe, connector=connector)
    sender.join()
    assert 1.5 <= time.monotonic() - started < 10
    assert sorted(connector.stopped) == [f"10.0.3.{i}" for i in range(3)]
    results = caught.value.results
    assert results["quick"][0].state == "ok"
    assert all(results[f"slow{i}"][0].reason == "interrupted" for i in range(3))
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    # SETTINGS: timeout 2 s, so 2 + 5 (stop_wait) + 1 + 3 x 0.02 s
    assert said == ["Ctrl-C: stopping 3 probes on their hosts (waiting up to 8s); "
                    "Ctrl-C again to leave them"]  # fmt: skip


def test_a_second_ctrl_c_leaves_the_probes_and_names_their_hosts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hosts = [make_host("quick", "10.0.0.1"), make_host("stuck", "10.0.3.1")]
    connector = ScriptedConnector(
        {"10.0.0.1": Reply(stdout="q")}, default=Reply(delay=60, stop_delay=30)
    )
    sender = ctrl_c(0.5, 1.5)
    started = time.monotonic()
    with pytest.raises(CollectInterrupted) as caught:
        collect(hosts, replace(SETTINGS, deadline=60), hostname_probe, connector=connector)
    took = time.monotonic() - started
    sender.join()
    assert took < 4.5  # at once, not after the 8 s wait
    assert connector.stopped == []  # the stop never got through
    results = caught.value.results
    assert results["quick"][0].state == "ok"  # what finished is kept
    stuck = results["stuck"][0]
    assert stuck.state == "skipped" and stuck.interrupted and stuck.kind == "interrupted"
    assert "left running: something may still run on the host" in (stuck.reason or "")
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert said[-1] == "probes left unstopped; these hosts may still run something: stuck"


def test_no_hosts_no_work() -> None:
    assert collect([], SETTINGS, hostname_probe, connector=ScriptedConnector({})) == {}


def test_the_auditors_own_requests_are_not_clients() -> None:
    from datetime import UTC, datetime

    from auditor.model import ClientUse, Facts, PathCount, WebLog
    from auditor.probing import without_client

    now = datetime(2026, 11, 28, tzinfo=UTC)
    us, them = ClientUse("10.250.77.1", 3, now), ClientUse("10.20.1.5", 40, now, "team-payments")
    log = WebLog("/var/log/httpd/access_log", 43, 2, (PathCount("/", 43),), (), (them, us))
    facts = without_client(Facts(now, web_logs=(log,), clients=(them, us)), "10.250.77.1")
    assert facts.clients == (them,)
    assert facts.web_logs is not None
    (cleaned,) = facts.web_logs
    assert (cleaned.requests, cleaned.clients, cleaned.top_clients) == (40, 1, (them,))


def test_probe_scope_never_reaches_outside_the_swept_networks() -> None:
    from datetime import UTC, datetime

    from auditor.collect import ProbeScope
    from auditor.model import Host, HostStatus, Observation, SourceKind

    now = datetime(2026, 11, 28, tzinfo=UTC)

    def host(address: str, *sightings: tuple[SourceKind, bool | None]) -> Host:
        observations = tuple(
            Observation(kind, kind.value, (f"ip:{address}",), now, alive)
            for kind, alive in sightings
        )
        return Host(f"ip:{address}", (address,), (), (f"ip:{address}",),
                    tuple(k for k, _ in sightings), HostStatus.MANAGED, "x", observations)

    scope = ProbeScope(targets=("10.250.77.0/24",), exclude=("10.250.77.1",))
    swept_alive = host("10.250.77.10", (SourceKind.NETWORK, True))
    cloud_in_scope = host("10.250.77.200", (SourceKind.AWS, True))
    cloud_elsewhere = host("10.251.1.10", (SourceKind.AWS, True))
    listed_elsewhere = host("192.0.2.77", (SourceKind.ANSIBLE, None))
    assert not_attempted_reason(swept_alive, SETTINGS, scope) is None
    assert "did not answer the network sweep" in (
        not_attempted_reason(cloud_in_scope, SETTINGS, scope) or "")
    assert "outside every [[network]] target" in (
        not_attempted_reason(cloud_elsewhere, SETTINGS, scope) or "")
    assert not_attempted_reason(listed_elsewhere, SETTINGS, scope) is None  # the user's inventory
    # without [[network]] targets the cloud's word is all we have
    assert not_attempted_reason(cloud_elsewhere, SETTINGS, ProbeScope()) is None
    # and collect never connects to what it would not attempt
    connector = ScriptedConnector({}, default=Reply(stdout="x"))
    results = collect([cloud_elsewhere, swept_alive], SETTINGS, hostname_probe,
                      connector=connector, scope=scope)
    assert [address for address, _ in connector.connects] == ["10.250.77.10"]
    assert results["ip:10.251.1.10"][0].state == "not-attempted"


def test_an_ignored_host_is_never_connected_to() -> None:
    # Alive in the sweep, an SSH server scripted to answer: only the [[ignore]] rule stands
    # between it and a connection, and the rule must hold (hands off, not even a connect).
    from auditor.config import Config, IgnoreRule
    from auditor.reconcile import reconcile

    sweep = SourceResult(
        SourceKind.NETWORK, "scan", ok=True,
        observations=(Observation(SourceKind.NETWORK, "scan", ("ip:10.0.0.9",), NOW, True,
                                  {"open_ports": [{"port": 22, "proto": "tcp"}]}),
                      Observation(SourceKind.NETWORK, "scan", ("ip:10.0.0.8",), NOW, True,
                                  {"open_ports": [{"port": 22, "proto": "tcp"}]})),
        details={"targets": ["10.0.0.0/24"]},
    )
    config = Config(path=None, ignore=(IgnoreRule("10.0.0.9", "the lab's fragile PDU"),))
    hosts = reconcile([sweep], config, NOW.date())
    connector = ScriptedConnector({}, default=Reply(stdout="answered\n"))
    results = collect(hosts, SETTINGS, hostname_probe, connector=connector)
    assert connector.connects == [("10.0.0.8", 22)]  # the other host, not the ignored one
    outcome, facts = results["ip:10.0.0.9"]
    assert outcome.state == "not-attempted" and facts is None
    assert "never connected to" in (outcome.reason or "")
    assert "the lab's fragile PDU" in (outcome.reason or "")


def test_an_ignored_host_gets_no_process_from_the_local_connector(tmp_path: Path) -> None:
    # The shipped local connector runs the probe as a real shell: a connect would leave a
    # trace file. The ignored host must leave none; the judged one proves the path works.
    from auditor.remote.local import LocalShellConnector

    def touching_probe(session: RemoteSession, host: Host) -> Facts:
        session.run(f"touch {tmp_path}/{host.id}", timeout=10, max_output=1024)
        return Facts(collected_at=NOW, hostname=host.id)

    judged = make_host("judged", "10.0.0.8")
    ignored = make_host("ignored", "10.0.0.9", status=HostStatus.IGNORED)
    ignored = replace(ignored, status_reason="ignored: printer (rule '10.0.0.9')")
    connector = LocalShellConnector()
    results = collect([judged, ignored], SETTINGS, touching_probe, connector=connector)
    assert results["judged"][0].state == "ok" and (tmp_path / "judged").exists()
    assert results["ignored"][0].state == "not-attempted"
    assert not (tmp_path / "ignored").exists()
