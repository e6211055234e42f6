"""Which [[vantage]] sweeps or probes what. Pure: config and hosts in, routes out.

A host goes to the vantage whose networks cover it, the most specific match winning: a VPC
id the host is in beats any CIDR (private ranges are reused across VPCs, so an address alone
cannot say which VPC's 10.0.1.5 it is), then the longest CIDR prefix, counting the targets of
a [[network]] section that names its vantage as that vantage's networks. A host no vantage
covers is never guessed onto one: it gets a reason instead.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from auditor.config import Config, NetworkConfig, VantageConfig
from auditor.model import Host, SourceKind

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
VPC_RANK = 1000  # above every prefix length: a VPC match is the most specific there is


@dataclass(frozen=True)
class Route:
    """Where one host or target goes: `vantage`, or None with `reason` saying why none."""

    vantage: str | None
    reason: str


def _networks(config: Config) -> list[tuple[str, str]]:
    """(vantage, CIDR or VPC id) pairs: [[vantage]] networks, then the targets of every
    [[network]] section that names its vantage."""
    pairs = [(v.name, net) for v in config.vantage for net in v.networks]
    pairs += [(n.vantage, t) for n in config.network if n.vantage for t in n.targets]
    return pairs


def _as_network(text: str) -> IpNetwork | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _host_vpcs(host: Host) -> set[str]:
    vpcs = {str(host.cloud["vpc_id"])} if host.cloud and host.cloud.get("vpc_id") else set()
    for o in host.observations:
        if o.source is SourceKind.AWS and o.attributes.get("vpc_id"):
            vpcs.add(str(o.attributes["vpc_id"]))
    return vpcs


def route_address(config: Config, address: str | None, vpcs: Iterable[str] = ()) -> Route:
    """The vantage for an address (and the VPCs it is in): most specific wins."""
    vpcs = set(vpcs)
    ip = None
    if address is not None:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            ip = None
    best: tuple[int, str, str] | None = None
    for vantage, net in _networks(config):
        rank = -1
        if net in vpcs:
            rank = VPC_RANK
        elif ip is not None and (network := _as_network(net)) is not None:
            if network.version == ip.version and ip in network:
                rank = network.prefixlen
        elif address is not None and net.lower() == address.lower():
            rank = VPC_RANK - 1  # a [[network]] target naming this very host
        if rank >= 0 and (best is None or rank > best[0]):
            best = (rank, vantage, net)
    if best is not None:
        return Route(best[1], f"{address or 'host'} is in vantage {best[1]}'s {best[2]}")
    where = address or "no address"
    if vpcs:
        where += " in " + ", ".join(sorted(vpcs))
    return Route(None, f"no [[vantage]] reaches {where}: not probed (add its network to one)")


def route_host(config: Config, host: Host) -> Route:
    return route_address(config, host.primary_address, _host_vpcs(host))


def route_hosts(config: Config, hosts: Sequence[Host]) -> dict[str, Route]:
    """Host id -> route, for every host."""
    return {h.id: route_host(config, h) for h in hosts}


@dataclass(frozen=True)
class SweepPlan:
    """The sweeps each vantage runs (a [[network]] section, its targets cut to those the
    vantage reaches) and the targets no vantage reaches, each with its reason."""

    sweeps: dict[str, tuple[NetworkConfig, ...]]
    unrouted: tuple[tuple[str, str, str], ...]  # (network name, target, reason)


def route_target(config: Config, target: str) -> Route:
    """A sweep target goes where a vantage network contains all of it (a CIDR inside a
    vantage's CIDR, or an address); an octet range or a name only by a [[network]]
    `vantage`."""
    network = _as_network(target)
    if network is None:
        return Route(None, f"target {target}: no [[vantage]] is named for it ([[network]] vantage)")
    best: tuple[int, str] | None = None
    for vantage, net in _networks(config):
        covering = _as_network(net)
        if (
            covering is not None
            and covering.version == network.version
            and network.subnet_of(covering)  # type: ignore[arg-type]
            and (best is None or covering.prefixlen > best[0])
        ):
            best = (covering.prefixlen, vantage)
    if best is None:
        return Route(None, f"target {target}: no [[vantage]] reaches it: not swept")
    return Route(best[1], f"target {target} is in vantage {best[1]}'s networks")


def plan_sweeps(config: Config) -> SweepPlan:
    """Every [[network]] section's live sweep, per vantage (imports stay local: the files
    are the controller's)."""
    sweeps: dict[str, list[NetworkConfig]] = {}
    unrouted: list[tuple[str, str, str]] = []
    for net in config.network:
        if not net.targets:
            continue
        if net.vantage is not None:
            sweeps.setdefault(net.vantage, []).append(replace(net, nmap_xml=()))
            continue
        by_vantage: dict[str, list[str]] = {}
        for target in net.targets:
            route = route_target(config, target)
            if route.vantage is None:
                unrouted.append((net.name, target, route.reason))
            else:
                by_vantage.setdefault(route.vantage, []).append(target)
        for vantage, targets in by_vantage.items():
            sweeps.setdefault(vantage, []).append(
                replace(net, targets=tuple(targets), nmap_xml=(), vantage=vantage)
            )
    return SweepPlan({v: tuple(n) for v, n in sweeps.items()}, tuple(unrouted))


def vantage_named(config: Config, name: str) -> VantageConfig | None:
    return next((v for v in config.vantage if v.name == name), None)
