"""The lab at 1,000 hosts, pure parts: where fillers go beyond the /24, the pinned neighbour
entries that keep the machine's gc_thresh limits out of it, and the state file."""

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
from auditor.lab.net import conflicts_in, host_link_commands, in_subnet
from auditor.lab.spec import (
    DEFAULT_FLEET_SUBNET,
    DEFAULT_SUBNET,
    DEMO_HOSTS,
    FILLER_OFFSETS,
    LabSpec,
    demo_spec,
    mac_for,
)
from auditor.lab.state import LabState

FLEET = 1000
IN_SUBNET = len(DEMO_HOSTS) + len(FILLER_OFFSETS)


def test_a_lab_that_fits_the_subnet_has_no_fleet_subnet() -> None:
    spec = demo_spec(hosts=IN_SUBNET)
    assert spec.fleet_subnet is None
    assert spec.subnets == (DEFAULT_SUBNET,)
    assert spec.bridge_cidrs == ("10.250.77.1/24",)


def test_fillers_beyond_the_subnet_go_to_the_fleet_subnet_and_demo_hosts_stay_put() -> None:
    spec = demo_spec(hosts=FLEET)
    assert len(spec.hosts) == FLEET
    assert spec.fleet_subnet == DEFAULT_FLEET_SUBNET
    assert spec.bridge_cidrs == ("10.250.77.1/24", "10.250.80.1/20")
    small = demo_spec()
    assert spec.hosts[: len(DEMO_HOSTS)] == small.hosts  # tests hard-code these addresses
    inside = [h for h in spec.hosts if h.address in DEFAULT_SUBNET]
    beyond = [h for h in spec.hosts if h.address in DEFAULT_FLEET_SUBNET]
    assert len(inside) == IN_SUBNET and len(beyond) == FLEET - IN_SUBNET
    assert beyond[0].address == IPv4Address("10.250.80.2")  # .1 is the bridge
    assert all(h.address.packed[3] not in (0, 255) for h in beyond)
    assert len({h.name for h in spec.hosts}) == FLEET
    assert spec.gateway_for(beyond[-1]) == IPv4Address("10.250.80.1")
    assert spec.gateway_for(spec.hosts[0]) == IPv4Address("10.250.77.1")
    assert spec.veth(spec.hosts[-1]) == f"audv-{FLEET - 1}"


def test_a_fleet_too_big_for_both_subnets_is_refused_with_the_capacity() -> None:
    small = IPv4Network("10.250.96.0/24")
    with pytest.raises(LabError, match=rf"at most {IN_SUBNET + 253} fit"):
        demo_spec(hosts=IN_SUBNET + 254, fleet_subnet=small)
    assert len(demo_spec(hosts=IN_SUBNET + 253, fleet_subnet=small).hosts) == IN_SUBNET + 253


def test_the_fleet_subnet_may_not_overlap_the_lab_subnet_nor_be_public() -> None:
    with pytest.raises(LabError, match="overlaps"):
        demo_spec(hosts=FLEET, fleet_subnet=IPv4Network("10.250.64.0/19"))
    with pytest.raises(LabError, match="private"):
        demo_spec(hosts=FLEET, fleet_subnet=IPv4Network("8.8.0.0/20"))


def test_a_host_outside_both_subnets_or_on_a_gateway_is_refused() -> None:
    spec = demo_spec(hosts=FLEET)
    stray = replace(spec.hosts[-1], address=IPv4Address("10.250.99.9"))
    with pytest.raises(LabError, match="not a host address"):
        replace(spec, hosts=(*spec.hosts[:-1], stray))
    on_gateway = replace(spec.hosts[-1], address=IPv4Address("10.250.80.1"))
    with pytest.raises(LabError, match="not a host address"):
        replace(spec, hosts=(*spec.hosts[:-1], on_gateway))


def test_macs_are_locally_administered_unique_and_derived_from_the_address() -> None:
    spec = demo_spec(hosts=FLEET)
    macs = [mac for _, mac in spec.neighbours()]
    assert len(set(macs)) == FLEET and spec.bridge_mac not in macs
    assert mac_for(IPv4Address("10.250.80.2")) == "02:a1:0a:fa:50:02"
    assert all(int(mac[:2], 16) & 0b10 and not int(mac[:2], 16) & 0b1 for mac in macs)


def test_the_bridge_side_pins_every_host_and_each_eth0_gets_its_mac() -> None:
    spec = demo_spec(hosts=FLEET)
    lines = host_link_commands(spec)
    pinned = [ln for ln in lines if ln.startswith("neigh ")]
    assert len(pinned) == FLEET
    last = spec.hosts[-1]
    assert (
        f"neigh replace {last.address} lladdr {mac_for(last.address)} dev audlab0 nud permanent"
        in pinned
    )
    assert (
        f"link add audv-{FLEET - 1} type veth peer name eth0 address "
        f"{mac_for(last.address)} netns audlab-{last.name}" in lines
    )


def test_a_fleet_host_boots_on_its_subnet_and_pins_its_gateway(tmp_path: Path) -> None:
    spec = demo_spec(hosts=FLEET)
    fleet_host, demo_host = spec.hosts[-1], spec.hosts[0]
    script = boot_script(spec, fleet_host, fleet_host.profile, tmp_path)
    assert f"'addr add {fleet_host.address}/20 dev eth0'" in script
    assert f"'neigh replace 10.250.80.1 lladdr {spec.bridge_mac} dev eth0 nud permanent'" in script
    assert "| ip -batch -" in script
    script = boot_script(spec, demo_host, demo_host.profile, tmp_path)
    assert f"'addr add {demo_host.address}/24 dev eth0'" in script
    assert "'neigh replace 10.250.77.1 lladdr 02:a1:0a:fa:4d:01 dev eth0 nud permanent'" in script


def test_a_route_into_the_fleet_subnet_is_a_conflict() -> None:
    routes = [{"dst": "10.250.82.0/24", "dev": "wg0"}, {"dst": "default", "dev": "eth0"}]
    addrs = [{"ifname": "eth0", "addr_info": [{"family": "inet", "local": "192.0.2.2",
                                              "prefixlen": 24}]}]  # fmt: skip
    found = conflicts_in(DEFAULT_FLEET_SUBNET, routes, addrs)
    assert [c.what for c in found] == ["route"] and "wg0" in found[0].detail
    assert conflicts_in(DEFAULT_SUBNET, routes, addrs) == ()


def test_the_state_records_the_fleet_subnet_and_an_older_state_still_loads() -> None:
    spec = demo_spec(hosts=FLEET)
    state = _initial_state(spec, datetime(2026, 12, 7, tzinfo=UTC))
    again = LabState.from_json(state.to_json())
    assert again == state and again.fleet_subnet == "10.250.80.0/20"
    assert again.subnets == (DEFAULT_SUBNET, DEFAULT_FLEET_SUBNET)
    older = json.loads(state.to_json())
    del older["fleet_subnet"]
    assert LabState.from_json(json.dumps(older)).subnets == (DEFAULT_SUBNET,)


def test_only_lab_addresses_count_as_lab_addresses() -> None:
    nets = demo_spec(hosts=FLEET).subnets
    assert in_subnet("10.250.83.78", nets) and in_subnet("10.250.77.10", nets)
    assert not in_subnet("10.250.96.1", nets) and not in_subnet("192.0.2.2", nets)
    assert not in_subnet("not an address", nets)


def test_a_plain_spec_keeps_working_without_a_fleet_subnet() -> None:
    spec = LabSpec(hosts=demo_spec().hosts)
    assert spec.subnets == (DEFAULT_SUBNET,) and spec.bridge_cidr == "10.250.77.1/24"
