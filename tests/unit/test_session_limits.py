"""Session limits (auditor.remote.limits) through collect's gate: at most N sessions at once
through one jump host, each hop of a chain counted, the wait for a slot outside a host's
deadline, and a host that never gets a slot skipped with the reason (errors as data)."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest

from auditor.collect import collect
from auditor.config import SshSettings
from auditor.remote import Reply, ScriptedConnector
from auditor.remote.endpoint import EndpointResolver
from auditor.remote.limits import LocalSlots, SessionGate, SlotError
from tests.unit.test_collect import hostname_probe, make_host

VIA = SshSettings(ports=(22,), concurrency=8, timeout=2.0, deadline=5.0,
                  jump_host="auditor@bastion.example:2222", jump_host_concurrency=2,
                  use_ssh_config=False)  # fmt: skip


def test_at_most_the_limit_of_sessions_through_a_jump_host() -> None:
    hosts = [make_host(f"h{i}", f"10.0.1.{i}") for i in range(8)]
    connector = ScriptedConnector({}, default=Reply(stdout="x\n", delay=0.2))
    gate = SessionGate(LocalSlots(), VIA)
    results = collect(hosts, VIA, hostname_probe, connector=connector, gate=gate)
    assert {o.state for o, _ in results.values()} == {"ok"}
    assert connector.max_active == 2  # reached, never exceeded (8 threads without it)
    assert gate.claims(hosts[0], "10.0.1.0") == (("bastion:bastion.example:2222", 2),)


def test_without_a_jump_host_the_limit_does_not_apply() -> None:
    hosts = [make_host(f"h{i}", f"10.0.1.{i}") for i in range(8)]
    direct = replace(VIA, jump_host=None)
    connector = ScriptedConnector({}, default=Reply(stdout="x\n", delay=0.2))
    collect(hosts, direct, hostname_probe, connector=connector,
            gate=SessionGate(LocalSlots(), direct))  # fmt: skip
    assert connector.max_active > 2


def test_the_wait_for_a_slot_is_not_part_of_the_deadline() -> None:
    # One slot, four hosts of 0.3 s each and a deadline of 1 s: the last one starts
    # 0.9 s after the first, and still has its whole deadline.
    settings = replace(VIA, jump_host_concurrency=1, deadline=1.0)
    hosts = [make_host(f"h{i}", f"10.0.1.{i}") for i in range(4)]
    connector = ScriptedConnector({}, default=Reply(stdout="x\n", delay=0.3))
    results = collect(hosts, settings, hostname_probe, connector=connector,
                      gate=SessionGate(LocalSlots(), settings))  # fmt: skip
    assert {o.state for o, _ in results.values()} == {"ok"}
    assert connector.max_active == 1
    assert max(o.duration_s or 0 for o, _ in results.values()) < 1.0


def test_a_host_that_gets_no_slot_is_skipped_with_the_reason() -> None:
    slots = LocalSlots()
    assert slots.try_take((("bastion:bastion.example:2222", 2),), "someone")
    assert slots.try_take((("bastion:bastion.example:2222", 2),), "someone else")
    connector = ScriptedConnector({}, default=Reply(stdout="x\n"))
    gate = SessionGate(slots, VIA, longest_wait=0.3)
    results = collect([make_host("h1", "10.0.1.1")], VIA, hostname_probe,
                      connector=connector, gate=gate)  # fmt: skip
    [(outcome, facts)] = results.values()
    assert (outcome.state, outcome.kind, facts) == ("skipped", "concurrency-limit", None)
    assert outcome.reason == (
        "no free session slot within 0.3 s: bastion:bastion.example:2222 (limit 2)"
    )
    assert connector.connects == []  # never connected


def test_all_or_none_and_given_back() -> None:
    slots = LocalSlots()
    vantage, bastion = ("vantage:dc1", 2), ("bastion:b:22", 1)
    assert slots.try_take((vantage, bastion), "1")
    assert not slots.try_take((vantage, bastion), "2")  # the bastion is full...
    assert slots.in_use("vantage:dc1") == 1  # ...so no vantage slot was taken either
    assert slots.try_take((vantage,), "3")
    slots.give_back(("vantage:dc1", "bastion:b:22"), "1")
    assert (slots.in_use("vantage:dc1"), slots.in_use("bastion:b:22")) == (1, 0)


def test_every_hop_of_a_chain_and_ssh_config_proxyjump_count(tmp_path: Path) -> None:
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(
        "Host web*\n  ProxyJump jump1.example\nHost jump1.example\n  HostName 10.9.0.1\n"
        "  Port 2200\n"
    )
    settings = replace(VIA, jump_host=None, use_ssh_config=True)
    gate = SessionGate(LocalSlots(), settings, vantage=("dc1", 16),
                       resolver=EndpointResolver(ssh_config))  # fmt: skip
    web, db = make_host("web1", "10.0.1.1"), make_host("db1", "10.0.1.2")
    assert gate.claims(web, "10.0.1.1") == (("vantage:dc1", 16), ("bastion:10.9.0.1:2200", 2))
    assert gate.claims(db, "10.0.1.2") == (("vantage:dc1", 16),)
    chain = replace(VIA, jump_host="a.example,u@b.example:2022")
    assert SessionGate(LocalSlots(), chain).claims(db, "10.0.1.2") == (
        ("bastion:a.example:22", 2), ("bastion:b.example:2022", 2),
    )  # fmt: skip


def test_an_interrupted_wait_ends() -> None:
    slots = LocalSlots()
    slots.try_take((("bastion:bastion.example:2222", 2),), "a")
    slots.try_take((("bastion:bastion.example:2222", 2),), "b")
    stop = threading.Event()
    stop.set()
    gate = SessionGate(slots, VIA)
    host = make_host("h1", "10.0.1.1")
    with (
        pytest.raises(SlotError, match="interrupted while waiting"),
        gate(host, "10.0.1.1", stop.is_set),
    ):
        pass


def test_a_single_machine_run_holds_the_jump_host_limit() -> None:
    from auditor.config import Config
    from auditor.probing import probe_hosts

    config = Config(path=None, ssh=replace(VIA, software_cache=False))
    hosts = [make_host(f"h{i}", f"10.0.1.{i}") for i in range(6)]
    connector = ScriptedConnector({}, default=Reply(stdout="x\n", delay=0.2))
    probe = probe_hosts(config, hosts, connector=connector)
    assert len(probe.ssh) == 6 and len(connector.connects) == 6
    assert connector.max_active == 2
