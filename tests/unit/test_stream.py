"""The streaming pipeline (issue 14): hosts are probed as discovery finds them.

`collect` takes a HostFeed (hosts offered while discovery runs, then the final list), and
`pipeline.discover_probing` runs discovery on a thread that feeds it. A scripted sweep
reports hosts over time; the scripted connector answers the probes (no network).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from auditor.collect import (
    CollectInterrupted,
    HostFeed,
    ProbeScope,
    collect,
)
from auditor.config import AnsibleConfig, Config, IgnoreRule, NetworkConfig
from auditor.errors import SourceError
from auditor.model import (
    Facts,
    Host,
    HostStatus,
    Observation,
    ProbeResults,
    SourceKind,
    SourceResult,
)
from auditor.pipeline import discover, discover_probing
from auditor.remote import RemoteSession, Reply, ScriptedConnector
from auditor.sources.network import NmapSource, nmap_command, plan_scan, sweep_streaming
from auditor.spool import FactsSpool
from tests.builders import SSH_SETTINGS as SETTINGS
from tests.builders import ctrl_c, hostname_probe, wait_for

NOW = datetime(2026, 12, 7, tzinfo=UTC)
NET = "10.9.0.0/24"


def host(
    name: str, address: str, *, status: HostStatus = HostStatus.MANAGED, port: int | None = None
) -> Host:
    seen = Observation(SourceKind.NETWORK, "sweep", (f"ip:{address}",), NOW, True)
    return Host(
        id=f"ip:{address}", addresses=(address,), hostnames=(name,),
        identifiers=seen.identifiers, sources=(SourceKind.NETWORK,), status=status,
        status_reason="test", observations=(seen,), ssh_port=port,
    )  # fmt: skip


class Later:
    """Runs `collect` on a thread, for tests that feed it from this one."""

    def __init__(self, feed: HostFeed, connector: ScriptedConnector, **kwargs: Any) -> None:
        self.result: Any = None
        self.thread = threading.Thread(target=self._run, args=(feed, connector, kwargs))
        self.thread.start()

    def _run(self, feed: HostFeed, connector: ScriptedConnector, kwargs: dict[str, Any]) -> None:
        try:
            self.result = collect(feed, SETTINGS, hostname_probe, connector=connector, **kwargs)
        except BaseException as exc:
            self.result = exc

    def join(self) -> Any:
        self.thread.join(20)
        assert not self.thread.is_alive()
        return self.result


@dataclass(frozen=True)
class Streaming:
    """`collect` running on a thread over a feed this test offers hosts to, as discovery
    would (see the `streaming` fixture)."""

    connector: ScriptedConnector
    feed: HostFeed
    spool: FactsSpool
    running: Later

    def probed_early(self, *hosts: Host) -> None:
        """Offer `hosts`, and wait until each is probed (its facts in the spool)."""
        self.feed.offer(hosts)
        assert wait_for(lambda: all(h.id in self.spool for h in hosts))

    def close(self, final: Sequence[Host]) -> Any:
        """The final list: what `collect` returned (or raised)."""
        self.feed.close(final)
        return self.running.join()


@pytest.fixture
def streaming() -> Iterator[Callable[..., Streaming]]:
    """`streaming(connector, **collect_kwargs)`: a `Streaming` whose facts go to a spool. A
    test that fails half-way leaves no `collect` behind (its feed fails at the end)."""
    started: list[Streaming] = []

    def start(connector: ScriptedConnector, **kwargs: Any) -> Streaming:
        feed, spool = HostFeed(), FactsSpool()
        running = Later(feed, connector, facts_store=spool, **kwargs)
        started.append(Streaming(connector, feed, spool, running))
        return started[-1]

    yield start
    for stream in started:
        if stream.running.thread.is_alive():
            stream.feed.fail(SourceError("the test ended"))
            stream.running.thread.join(20)


# --------------------------------------------------------------------------- collect + feed


def test_an_offered_host_is_probed_before_the_list_is_final_and_kept(
    streaming: Callable[..., Streaming],
) -> None:
    early, late = host("early", "10.9.0.5"), host("late", "10.9.0.6")
    connector = ScriptedConnector(
        {"10.9.0.5": Reply(stdout="early"), "10.9.0.6": Reply(stdout="late")}
    )
    stream = streaming(connector)
    stream.probed_early(early)
    assert connector.connects == [("10.9.0.5", 22)]  # before the final list exists
    results = stream.close([late, early])
    spool = stream.spool
    assert list(results) == ["ip:10.9.0.6", "ip:10.9.0.5"]  # the final list's order
    assert [o.state for o, _ in results.values()] == ["ok", "ok"]
    assert sorted(connector.connects) == [("10.9.0.5", 22), ("10.9.0.6", 22)]  # once each
    assert spool["ip:10.9.0.5"].hostname == "early" and spool["ip:10.9.0.6"].hostname == "late"


def test_the_feed_gives_the_same_results_as_the_list() -> None:
    hosts = [host(f"h{i}", f"10.9.0.{i}") for i in range(1, 9)]
    hosts.append(host("gone", "10.9.0.99", status=HostStatus.STALE))
    answers = {f"10.9.0.{i}": Reply(stdout=f"h{i}") for i in range(1, 8)}  # h8 refuses

    def run(feeding: bool) -> dict[str, Any]:
        connector = ScriptedConnector(answers)
        if not feeding:
            results = collect(hosts, SETTINGS, hostname_probe, connector=connector)
        else:
            feed = HostFeed()
            running = Later(feed, connector)
            for h in hosts[:5]:
                feed.offer([h])
                time.sleep(0.01)
            feed.close(hosts)
            results = running.join()
        return {k: (replace(o, duration_s=None), f) for k, (o, f) in results.items()}

    assert run(True) == run(False)


def test_a_host_that_changed_by_the_end_is_probed_again_as_the_list_says(
    streaming: Callable[..., Streaming],
) -> None:
    # Offered with port 22 (the sweep); the inventory read later says 2222: the final host
    # differs, so its probe is done again with it, and the early facts are dropped.
    early = host("db", "10.9.0.7")
    final = replace(early, ssh_port=2222)
    connector = ScriptedConnector(
        {"10.9.0.7:22": Reply(stdout="via22"), "10.9.0.7:2222": Reply(stdout="via2222")}
    )
    stream = streaming(connector)
    stream.probed_early(early)
    results = stream.close([final])
    spool = stream.spool
    assert results["ip:10.9.0.7"][0].port == 2222
    assert spool["ip:10.9.0.7"].hostname == "via2222" and list(spool) == ["ip:10.9.0.7"]


def test_an_offered_host_not_in_the_final_list_leaves_nothing(
    streaming: Callable[..., Streaming],
) -> None:
    stream = streaming(ScriptedConnector({}, default=Reply(stdout="x")))
    stream.probed_early(host("merged-away", "10.9.0.8"))
    results = stream.close([host("other", "10.9.0.9")])
    assert list(results) == ["ip:10.9.0.9"] and list(stream.spool) == ["ip:10.9.0.9"]


def test_hosts_out_of_scope_are_never_contacted_even_when_offered(
    streaming: Callable[..., Streaming],
) -> None:
    ignored = host("printer", "10.9.0.20", status=HostStatus.IGNORED)
    outside = replace(host("cloud", "172.31.0.5"), observations=(
        Observation(SourceKind.AWS, "aws", ("ip:172.31.0.5",), NOW, True),))  # fmt: skip
    silent = replace(host("listed", "10.9.0.21"), observations=(
        Observation(SourceKind.ANSIBLE, "inv", ("ip:10.9.0.21",), NOW, None),))  # fmt: skip
    connector = ScriptedConnector({}, default=Reply(stdout="x"))
    stream = streaming(connector, scope=ProbeScope(targets=(NET,)))
    stream.feed.offer([ignored, outside, silent])
    time.sleep(0.2)
    results = stream.close([ignored, outside, silent])
    assert connector.connects == []
    assert [o.state for o, _ in results.values()] == ["not-attempted"] * 3


def test_a_failed_discovery_stops_the_probes_and_is_raised(
    streaming: Callable[..., Streaming],
) -> None:
    connector = ScriptedConnector({}, default=Reply(stdout="x", delay=30))
    stream = streaming(connector)
    stream.feed.offer([host("slow", "10.9.0.30")])
    assert wait_for(lambda: bool(connector.connects))
    started = time.monotonic()
    stream.feed.fail(SourceError("the inventory cannot be read"))
    error = stream.running.join()
    assert isinstance(error, SourceError) and "inventory" in str(error)
    assert time.monotonic() - started < 10


def test_ctrl_c_after_the_final_list_keeps_every_early_result() -> None:
    quick = host("quick", "10.9.0.40")
    slow = [host(f"slow{i}", f"10.9.0.{50 + i}") for i in range(3)]
    connector = ScriptedConnector({"10.9.0.40": Reply(stdout="quick")}, default=Reply(delay=30))
    feed = HostFeed()
    feed.offer([quick])

    def close_then_interrupt() -> None:
        wait_for(lambda: len(connector.calls) >= 1)
        feed.close([*slow, quick])
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGINT)

    helper = threading.Thread(target=close_then_interrupt)
    helper.start()
    try:
        with pytest.raises(CollectInterrupted) as caught:
            collect(feed, replace(SETTINGS, deadline=60), hostname_probe, connector=connector)
    finally:
        helper.join()
    results = caught.value.results
    assert list(results) == [h.id for h in [*slow, quick]]
    assert results[quick.id][0].state == "ok"
    assert {results[h.id][0].reason for h in slow} == {"interrupted"}


def test_ctrl_c_before_the_final_list_is_a_plain_interrupt() -> None:
    connector = ScriptedConnector({}, default=Reply(delay=30))
    feed = HostFeed()
    feed.offer([host("slow", "10.9.0.60")])
    presser = ctrl_c(0.4)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt) as caught:
        collect(feed, replace(SETTINGS, deadline=60), hostname_probe, connector=connector)
    presser.join()
    assert not isinstance(caught.value, CollectInterrupted)  # no host can be judged yet
    assert feed.cancelled and time.monotonic() - started < 8


# --------------------------------------------------------------------------- the pipeline


class ScriptedSweep:
    """A [[network]] sweep that reports hosts over time: `first` at once, then waits until
    `go_on` is set (or 5 s), then `rest`. Records whether a probe had started by then."""

    kind = SourceKind.NETWORK
    name = "sweep"
    streams = True

    def __init__(
        self, first: Sequence[Observation], rest: Sequence[Observation], go_on: threading.Event
    ) -> None:
        self.first, self.rest, self.go_on = first, rest, go_on
        self.probe_started_before_the_end: bool | None = None

    def collect(
        self, now: datetime, sightings: Callable[[Observation], None] | None = None
    ) -> SourceResult:
        for observation in self.first:
            if sightings is not None:
                sightings(observation)
        self.probe_started_before_the_end = self.go_on.wait(5)
        for observation in self.rest:
            if sightings is not None:
                sightings(observation)
        everything = tuple(sorted([*self.first, *self.rest], key=lambda o: o.identifiers))
        details = {"targets": [NET], "exclude": []}
        return SourceResult(self.kind, self.name, True, everything, details=details)


class Inventory:
    kind = SourceKind.ANSIBLE
    name = "inv"

    def __init__(self, observations: Sequence[Observation]) -> None:
        self.observations = tuple(observations)

    def collect(self, now: datetime) -> SourceResult:
        return SourceResult(self.kind, self.name, True, self.observations)


def seen(address: str, port: int = 22) -> Observation:
    attributes = {
        "open_ports": [{"port": port, "proto": "tcp"}],
        "reason": "syn-ack",
        "scan_type": "syn",
        "vendor": None,
    }
    return Observation(SourceKind.NETWORK, "sweep", (f"ip:{address}",), NOW, True, attributes)


def listed(name: str, address: str, **attributes: Any) -> Observation:
    return Observation(SourceKind.ANSIBLE, "inv", (f"name:{name}", f"ip:{address}"), NOW, None,
                       {"inventory_hostname": name, "groups": [], **attributes})  # fmt: skip


CONFIG = Config(
    path=None,
    network=(NetworkConfig(name="sweep", targets=(NET,), ports=(22,)),),
    ansible=(AnsibleConfig(name="inv", inventory=()),),
    ssh=SETTINGS,
)


class Prober:
    """A prober over `collect` (as probe_hosts is), recording when each probe started."""

    takes_feed = True

    def __init__(self, connector: ScriptedConnector, go_on: threading.Event | None = None) -> None:
        self.connector, self.go_on = connector, go_on
        self.probed: list[str] = []

    def __call__(self, config: Config, hosts: Sequence[Host] | HostFeed) -> ProbeResults:
        def probe(session: RemoteSession, target: Host) -> Facts:
            self.probed.append(target.label)
            if self.go_on is not None:
                self.go_on.set()
            return hostname_probe(session, target)

        scope = ProbeScope(targets=tuple(t for n in config.network for t in n.targets))
        results = collect(hosts, config.ssh, probe, connector=self.connector, scope=scope)
        return ProbeResults(
            ssh={k: o for k, (o, _) in results.items()},
            facts={k: f for k, (_, f) in results.items() if f is not None},
        )


def fleet() -> tuple[list[Observation], list[Observation], list[Observation]]:
    first = [seen("10.9.0.1"), seen("10.9.0.2", 2222)]
    rest = [seen("10.9.0.3"), seen("10.9.0.4")]
    inventory = [
        listed("db", "10.9.0.2", ansible_port=2222),  # its port: only the inventory says
        listed("web", "10.9.0.3"),
        listed("far", "192.168.50.5"),  # outside the sweep: probed once reconcile says so
        listed("gone", "10.9.0.77"),  # inside, silent: stale, never probed
    ]
    return first, rest, inventory


def answers() -> dict[str, Any]:
    return {
        "10.9.0.1": Reply(stdout="one"), "10.9.0.2:2222": Reply(stdout="db"),
        "10.9.0.3": Reply(stdout="web"), "10.9.0.4": Reply(stdout="four"),
        "192.168.50.5": Reply(stdout="far"),
    }  # fmt: skip


def no_recheck(plan: Any, now: datetime) -> Any:
    from auditor.recheck import Recheck

    return Recheck(plan)


def test_the_probe_starts_while_the_sweep_goes_on_with_the_batch_verdicts() -> None:
    first, rest, inventory = fleet()
    go_on = threading.Event()
    sweep = ScriptedSweep(first, rest, go_on)
    connector = ScriptedConnector(answers())
    prober = Prober(connector, go_on)
    discovery, probe = discover_probing(
        CONFIG, prober, sources=[sweep, Inventory(inventory)], rechecker=no_recheck
    )
    assert sweep.probe_started_before_the_end is True
    assert set(prober.probed[:1]) <= {"10.9.0.1", "db"}  # a host of the first sightings

    # The batch path: the same sources read first, then the list probed.
    batch_sweep = ScriptedSweep(first, rest, threading.Event())
    batch_sweep.go_on.set()
    batch = discover(
        CONFIG,
        sources=[batch_sweep, Inventory(inventory)],
        rechecker=no_recheck,
        now=discovery.started_at,
    )
    assert batch.hosts == discovery.hosts
    batch_connector = ScriptedConnector(answers())
    batch_probe = Prober(batch_connector)(CONFIG, batch.hosts)

    def plain(results: ProbeResults) -> dict[str, Any]:
        return {k: replace(o, duration_s=None) for k, o in results.ssh.items()}

    assert plain(probe) == plain(batch_probe)
    assert dict(probe.facts) == dict(batch_probe.facts)
    assert sorted(connector.connects) == sorted(batch_connector.connects)  # nothing twice
    states = {h.label: probe.ssh[h.id].state for h in discovery.hosts}
    assert states == {"10.9.0.1": "ok", "db": "ok", "web": "ok", "10.9.0.4": "ok", "far": "ok",
                      "gone": "not-attempted"}  # fmt: skip
    assert ("10.9.0.77", 22) not in connector.connects


def test_with_an_ignore_rule_in_force_nothing_is_probed_before_the_sources_are_read() -> None:
    first, rest, inventory = fleet()
    go_on = threading.Event()
    sweep = ScriptedSweep(first, rest, go_on)
    connector = ScriptedConnector(answers())
    config = replace(CONFIG, ignore=(IgnoreRule("10.9.0.4", "fragile", date(2099, 1, 1)),))
    prober = Prober(connector, go_on)
    started = time.monotonic()
    discovery, probe = discover_probing(
        config, prober, sources=[sweep, Inventory(inventory)], rechecker=no_recheck
    )
    assert sweep.probe_started_before_the_end is False  # it waited the whole 5 s
    assert time.monotonic() - started >= 5
    ignored = next(h for h in discovery.hosts if h.status is HostStatus.IGNORED)
    assert probe.ssh[ignored.id].state == "not-attempted"
    assert ("10.9.0.4", 22) not in connector.connects


def test_a_sweep_that_fails_is_raised_by_the_probing_run() -> None:
    class Broken:
        kind, name = SourceKind.NETWORK, "sweep"

        def collect(self, now: datetime) -> SourceResult:
            raise KeyboardInterrupt  # not an Exception: collect_sources does not catch it

    connector = ScriptedConnector(answers())
    with pytest.raises(KeyboardInterrupt):
        discover_probing(CONFIG, Prober(connector), sources=[Broken()], rechecker=no_recheck)
    assert connector.connects == []


# --------------------------------------------------------------------------- nmap as it writes

HOST_XML = (
    '<host><status state="up" reason="syn-ack"/><address addr="{0}" addrtype="ipv4"/>'
    '<ports><port protocol="tcp" portid="22"><state state="open"/></port></ports></host>'
)


def fake_nmap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> Path:
    """An nmap first on PATH that records its argv, then runs `body` (sh)."""
    fake = tmp_path / "bin" / "nmap"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/argv\ncd {tmp_path}\n{body}\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    return tmp_path / "argv"


def test_hosts_are_heard_of_as_nmap_writes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fake writes one host, then waits (up to 5 s) for the mark our callback leaves
    # when it hears of that host, and says whether it came before it writes the rest.
    body = f"""echo '<?xml version="1.0"?><nmaprun args="nmap" startstr="now">'
echo '{HOST_XML.format("10.9.0.1")}'
i=0; while [ ! -e heard ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
[ -e heard ] && echo yes > in-time
echo '{HOST_XML.format("10.9.0.2")}'
echo '<runstats><finished/><hosts up="2" down="3" total="5"/></runstats></nmaprun>'"""
    argv = fake_nmap(tmp_path, monkeypatch, body)
    heard: list[str] = []

    def on_host(found: dict[str, Any]) -> None:
        heard.extend(found["addresses"])
        (tmp_path / "heard").touch()

    plan = plan_scan(NetworkConfig(name="n", targets=(NET,), ports=(22,)), privileged=False)
    scan = sweep_streaming(plan, on_host)
    assert (tmp_path / "in-time").exists()  # the first host was heard of mid-scan
    assert heard == ["10.9.0.1", "10.9.0.2"] and scan.complete and scan.silent == 3
    assert [h["addresses"] for h in scan.hosts] == [["10.9.0.1"], ["10.9.0.2"]]
    assert argv.read_text().splitlines() == list(nmap_command(plan))[1:]  # what --dry-run shows


def test_nmap_failing_mid_scan_is_a_source_error_with_its_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = """echo '<?xml version="1.0"?><nmaprun args="nmap">'
echo 'Failed to open device veth0' >&2
exit 1"""
    fake_nmap(tmp_path, monkeypatch, body)
    plan = plan_scan(NetworkConfig(name="n", targets=(NET,), ports=(22,)), privileged=False)
    with pytest.raises(SourceError, match="nmap failed: Failed to open device veth0"):
        sweep_streaming(plan, lambda found: None)


def test_the_sweep_source_streams_both_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # First pass: one host up and silent addresses; the second look (its own nmap run,
    # --excludefile) finds another: both are handed over, and both are in the result.
    body = f"""echo '<?xml version="1.0"?><nmaprun args="nmap">'
if grep -q excludefile {tmp_path}/argv; then echo '{HOST_XML.format("10.9.0.9")}'
else echo '{HOST_XML.format("10.9.0.1")}'; fi
echo '<runstats><finished/><hosts up="1" down="5" total="6"/></runstats></nmaprun>'"""
    fake_nmap(tmp_path, monkeypatch, body)
    source = NmapSource(NetworkConfig(name="n", targets=(NET,), ports=(22,)), privileged=False)
    handed: list[Observation] = []
    result = source.collect(NOW, sightings=handed.append)
    assert result.ok, result.error
    assert [o.identifiers for o in handed] == [("ip:10.9.0.1",), ("ip:10.9.0.9",)]
    assert sorted(result.observations, key=lambda o: o.identifiers) == sorted(
        handed, key=lambda o: o.identifiers
    )
    assert result.details["second_look_found"] == 1


# --------------------------------------------------------------------------- the early direct check


class TwoPassSweep(ScriptedSweep):
    """A sweep whose `first` is its first pass (told as over) and `rest` its second look."""

    tells_first_pass = True

    def collect(  # type: ignore[override]
        self,
        now: datetime,
        sightings: Callable[[Observation], None] | None = None,
        first_pass: Callable[[SourceResult], None] | None = None,
    ) -> SourceResult:
        details = {"targets": [NET], "exclude": []}
        if first_pass is not None:
            first_pass(SourceResult(self.kind, self.name, True, tuple(self.first), details=details))
        return super().collect(now, sightings)


class Rechecker:
    """Answers for the addresses in `alive` (a closed port: a reset); records each plan and
    sets `checked` when called."""

    def __init__(self, alive: set[str]) -> None:
        self.alive, self.plans = alive, []  # type: list[Any]
        self.checked = threading.Event()

    def __call__(self, plan: Any, now: datetime) -> Any:
        from auditor.recheck import Recheck, answered

        self.plans.append(plan)
        self.checked.set()
        scanned = [{"addresses": [a], "state": "up", "reason": "user-set", "ports": [],
                    "closed_ports": [22]} for a in plan.addresses if a in self.alive]  # fmt: skip
        return Recheck(plan, tuple(answered(scanned, plan, now)), None, ("-Pn",))


def test_the_direct_check_runs_during_the_second_look_with_the_batch_result() -> None:
    first, rest, inventory = fleet()
    inventory.append(listed("sleepy", "10.9.0.78"))  # answers the direct check only
    rechecker = Rechecker({"10.9.0.78", "10.9.0.4"})
    sweep = TwoPassSweep(first, rest, rechecker.checked)  # the second look waits for it
    prober = Prober(ScriptedConnector(answers()))
    discovery, _ = discover_probing(
        CONFIG, prober, sources=[sweep, Inventory(inventory)], rechecker=rechecker
    )
    assert sweep.probe_started_before_the_end is True  # the check ran before the look ended
    (early,) = rechecker.plans  # once: its answers for the final plan are taken
    # Planned from the first pass: 10.9.0.3 (web) was still unseen then.
    assert set(early.addresses) == {"10.9.0.3", "10.9.0.77", "10.9.0.78"}

    batch_rechecker = Rechecker(rechecker.alive)
    batch_sweep = TwoPassSweep(first, rest, threading.Event())
    batch_sweep.go_on.set()
    batch = discover(CONFIG, sources=[batch_sweep, Inventory(inventory)],
                     rechecker=batch_rechecker, now=discovery.started_at)  # fmt: skip
    (final,) = batch_rechecker.plans
    assert set(final.addresses) == {"10.9.0.77", "10.9.0.78"}
    assert discovery.recheck == batch.recheck and discovery.recheck is not None
    assert [o.identifiers for o in discovery.recheck.observations] == [("ip:10.9.0.78",)]
    assert discovery.hosts == batch.hosts
    statuses = {h.label: h.status for h in discovery.hosts}
    assert statuses["gone"] is HostStatus.STALE and statuses["sleepy"] is not HostStatus.STALE


def test_an_early_check_that_does_not_cover_the_final_plan_is_not_used() -> None:
    from auditor.recheck import Recheck, RecheckPlan, answered, narrow_recheck

    plan = RecheckPlan({"10.9.0.77": "sweep", "10.9.0.78": "sweep"}, (22,), targets=(NET,))
    scanned = [{"addresses": [a], "state": "up", "reason": "user-set", "ports": [],
                "closed_ports": [22]} for a in ("10.9.0.77", "10.9.0.78")]  # fmt: skip
    wider = Recheck(plan, tuple(answered(scanned, plan, NOW)))
    final = RecheckPlan({"10.9.0.78": "sweep"}, (22,), targets=(NET,))
    assert narrow_recheck(wider, final) == Recheck(final, tuple(answered(scanned, final, NOW)))
    assert narrow_recheck(wider, replace(final, ports=(22, 2222))) is None  # another scan
    assert narrow_recheck(wider, replace(final, retries=5)) is None
    assert narrow_recheck(wider, RecheckPlan({"10.9.0.79": "sweep"}, (22,), targets=(NET,))) is None
    assert narrow_recheck(wider, RecheckPlan({"10.9.0.78": "other"}, (22,), targets=(NET,))) is None
