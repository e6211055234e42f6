"""The segmented lab, pure parts: one bridge per segment, each host on its segment's bridge
and pinning that bridge as its gateway, vantage namespaces and the controller's with
uplinks of their own and no default route, and the state file that `down` works from."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from auditor.errors import LabError
from auditor.lab.core import _initial_state
from auditor.lab.hostfs import boot_script
from auditor.lab.net import host_link_commands, in_subnet, vantage_link_commands
from auditor.lab.spec import (
    CONTROLLER_NETNS,
    DEFAULT_SEGMENTS,
    DEFAULT_UPLINK_SUBNET,
    SegmentSpec,
    mac_for,
    segments_spec,
)
from auditor.lab.state import LabState

DC1, DC2 = IPv4Network("10.250.98.0/24"), IPv4Network("10.250.99.0/24")


def test_each_segment_has_its_own_bridge_and_its_hosts_sit_on_it() -> None:
    spec = segments_spec()
    assert spec.subnets == (DC1, DC2) and spec.claimed_subnets == (DC1, DC2, DEFAULT_UPLINK_SUBNET)
    assert spec.bridges == (
        ("audlab-dc1", mac_for(IPv4Address("10.250.98.1")), ("10.250.98.1/24",)),
        ("audlab-dc2", mac_for(IPv4Address("10.250.99.1")), ("10.250.99.1/24",)),
    )
    lines = host_link_commands(spec)
    for host in spec.hosts:
        bridge = "audlab-dc1" if host.address in DC1 else "audlab-dc2"
        assert spec.bridge_of(host) == bridge
        assert f"link set {spec.veth(host)} master {bridge} up" in lines
        assert (f"neigh replace {host.address} lladdr {mac_for(host.address)} dev {bridge} "
                "nud permanent") in lines  # fmt: skip
    assert {h.address in DC1 for h in spec.hosts} == {True, False}


def test_a_host_pins_its_own_segments_gateway(tmp_path: Path) -> None:
    spec = segments_spec()
    dc2_host = next(h for h in spec.hosts if h.address in DC2)
    script = boot_script(spec, dc2_host, dc2_host.profile, tmp_path)
    assert f"'addr add {dc2_host.address}/24 dev eth0'" in script
    assert "'neigh replace 10.250.99.1 lladdr 02:a1:0a:fa:63:01 dev eth0 nud permanent'" in script


def test_vantage_and_controller_namespaces_reach_only_their_segment_and_uplink() -> None:
    spec = segments_spec()
    uplinks = {u.netns: u for u in spec.uplinks}
    assert list(uplinks) == ["audlab-vp-dc1", "audlab-vp-dc2", CONTROLLER_NETNS]
    assert [(str(u.local), str(u.remote)) for u in uplinks.values()] == [
        ("10.250.97.1", "10.250.97.2"), ("10.250.97.5", "10.250.97.6"),
        ("10.250.97.9", "10.250.97.10"),
    ]  # fmt: skip
    cmds = [" ".join(c) for c in vantage_link_commands(spec)]
    assert not any("route" in c for c in cmds)  # connected routes only: no default, no other
    assert "ip -n audlab-vp-dc1 addr add 10.250.98.2/24 dev eth0" in cmds
    assert "ip link set audv-s0 master audlab-dc1 up" in cmds
    assert "ip link set audv-s1 master audlab-dc2 up" in cmds
    controller = [c for c in cmds if CONTROLLER_NETNS in c]
    assert not any("master" in c or "eth0" in c for c in controller)  # on no segment at all
    assert f"ip -n {CONTROLLER_NETNS} addr add 10.250.97.10/30 dev up0" in controller
    assert all(len(c.split()[3]) <= 15 for c in cmds if c.startswith("ip link add"))


def test_segments_are_checked_names_subnets_and_the_vantage_address() -> None:
    spec = segments_spec()
    with pytest.raises(LabError, match="overlap"):
        segments_spec(
            segments=(DEFAULT_SEGMENTS[0], SegmentSpec("dc3", IPv4Network("10.250.96.0/22")))
        )
    with pytest.raises(LabError, match="overlap"):
        segments_spec(uplink_subnet=DC2)
    with pytest.raises(LabError, match="1-6 lowercase"):
        SegmentSpec("datacentre1", DC1)
    with pytest.raises(LabError, match="private"):
        SegmentSpec("pub", IPv4Network("8.8.8.0/24"))
    with pytest.raises(LabError, match="vantage address"):
        replace(spec, hosts=(replace(spec.hosts[0], address=IPv4Address("10.250.98.2")),))
    with pytest.raises(LabError, match="uplink subnet"):
        replace(spec, uplink_subnet=None)
    with pytest.raises(LabError, match=r"^lab segment names must be unique$"):
        replace(spec, segments=(spec.segments[0], replace(spec.segments[1], name="dc1")))
    first, second = spec.hosts[:2]
    with pytest.raises(LabError, match=r"^lab host names must be unique$"):
        replace(spec, hosts=(first, replace(second, name=first.name)))
    with pytest.raises(LabError, match=r"^lab host addresses must be unique$"):
        replace(spec, hosts=(first, replace(second, address=first.address)))


def test_the_state_records_segments_and_uplinks_and_only_hosts_count_as_lab_hosts() -> None:
    spec = segments_spec()
    state = _initial_state(spec, datetime(2026, 12, 7, tzinfo=UTC))
    again = LabState.from_json(state.to_json())
    assert again == state and again.subnets == (DC1, DC2)
    assert again.segment("dc2").netns == "audlab-vp-dc2"
    assert again.segment("dc2").address == "10.250.99.2"
    assert again.uplink(CONTROLLER_NETNS).local == "10.250.97.9"
    assert not in_subnet("10.250.97.9", again.subnets)  # an uplink is never probed
    older = json.loads(state.to_json())
    del older["segments"], older["uplinks"]
    assert LabState.from_json(json.dumps(older)).segments == ()
