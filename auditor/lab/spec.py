"""What a lab is made of: the fleet as frozen dataclasses, and the demo scenario.

A `LabSpec` is pure data: which hosts, on which subnet, where the runtime state lives. Every
name the lab creates on the machine (bridge, network namespaces, veth links) is derived here
from one prefix, so `down` and the leftover sweep can recognise them.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from ipaddress import IPv4Address, IPv4Network
from itertools import islice
from pathlib import Path

from auditor.errors import LabError

PREFIX = "audlab"
BRIDGE = f"{PREFIX}0"
VETH_PREFIX = "audv-"
CONTROLLER_NETNS = f"{PREFIX}-ctl"
DEFAULT_SUBNET = IPv4Network("10.250.77.0/24")
# Fillers beyond what the /24 holds live here, on the same bridge (its second address is
# this subnet's first): many tests and inventories hard-code the demo hosts' /24 addresses.
DEFAULT_FLEET_SUBNET = IPv4Network("10.250.80.0/20")
DEFAULT_STATE_DIR = Path("/run/auditor-lab")
DEFAULT_MOTO_PORT = 45077
AUDITOR_USER = "auditor"
AUDITOR_UID = 1777

# Offsets inside the subnet: .1 is the bridge (the auditor's side), the demo hosts sit at
# .10-.15, .50 is the stale inventory entry and .200 the hand-made cloud instance: fillers
# avoid all of them.
GATEWAY_OFFSET = 1
STALE_OFFSET = 50
HANDMADE_OFFSET = 200
FILLER_OFFSETS = (*range(100, 200), *range(201, 255))
# The lab's MAC addresses: locally administered (02:), then "a1", then the IPv4 address, so
# each is unique, stable and derived from the address it answers for. The lab pins its
# neighbour entries with them (see `LabSpec.neighbours`).
MAC_PREFIX = "02:a1"

# "hostile": the host's own name, a cron entry and a log file name carry markup, so the
# reports must show them as text (issue: a hostile hostname or log line must stay inert).
SERVICES = frozenset({"nginx", "hostile"})
HOSTILE_HOSTNAME = "<img src=x onerror=alert(1)>\"'&intranet"
_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


class Profile(enum.StrEnum):
    """How a host's private view of the filesystem is dressed up."""

    CENTOS5 = "centos5"  # the forgotten box: CentOS 5.11, Apache 1.3, 2000 days up
    DEBIAN12 = "debian12"  # the machine's own Debian 12, as is
    UBUNTU2204 = "ubuntu2204"  # Debian underneath, Ubuntu 22.04 os-release/lsb-release
    ALPINE = "alpine"  # Alpine 3.18 os-release, BusyBox applets over the usual tools
    FILLER = "filler"  # a plain Debian host for benchmarks: nothing but sshd


@dataclass(frozen=True)
class HostSpec:
    """One lab host: its hostname, address, profile and sshd port."""

    name: str
    address: IPv4Address
    profile: Profile
    port: int = 22
    services: tuple[str, ...] = ()  # extra daemons: "nginx" (the centos5 profile has httpd)

    def __post_init__(self) -> None:
        unknown = set(self.services) - SERVICES
        if unknown:
            raise LabError(f"lab host {self.name}: unknown services {sorted(unknown)}")
        if not _NAME_RE.match(self.name):
            raise LabError(f"lab host name {self.name!r} must be lowercase letters, digits, '-'")
        if not 0 < self.port < 65536:
            raise LabError(f"lab host {self.name}: port {self.port} out of range")


_SEGMENT_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,5}$")
# In a segment: .1 is its bridge (the machine's side, for bring-up and `status` only), .2
# the vantage namespace's address (where the segment's workers run).
VANTAGE_OFFSET = 2


@dataclass(frozen=True)
class SegmentSpec:
    """A walled-off network of the lab, named after the vantage that reaches it: a bridge of
    its own (`audlab-NAME`) and a vantage namespace (`audlab-vp-NAME`) whose only links are
    one into that bridge and an uplink to the machine (for the broker and the database)."""

    name: str
    subnet: IPv4Network

    def __post_init__(self) -> None:
        if not _SEGMENT_NAME_RE.match(self.name):
            raise LabError(
                f"lab segment name {self.name!r}: 1-6 lowercase letters or digits, "
                "starting with a letter (it goes into link names of 15 characters at most)"
            )
        validate_subnet(self.subnet)

    @property
    def bridge(self) -> str:
        return f"{PREFIX}-{self.name}"

    @property
    def gateway(self) -> IPv4Address:
        return self.subnet.network_address + GATEWAY_OFFSET

    @property
    def netns(self) -> str:
        return f"{PREFIX}-vp-{self.name}"

    @property
    def vantage_address(self) -> IPv4Address:
        return self.subnet.network_address + VANTAGE_OFFSET


@dataclass(frozen=True)
class Uplink:
    """A veth pair from a namespace the lab made to the machine, on a /30 of its own: the
    namespace reaches the machine's `local` address (where a test binds its broker) and
    nothing else; `remote` is the namespace's own end."""

    netns: str
    veth: str  # the machine's end; the namespace's end is `up0`
    local: IPv4Address
    remote: IPv4Address
    prefixlen: int = 30


@dataclass(frozen=True)
class LabSpec:
    """The whole lab: hosts on one bridge, plus an optional moto (AWS) endpoint.

    Hosts live in `subnet` (the demo /24) or, for large fleets, in `fleet_subnet`, a second
    subnet on the same bridge; the bridge holds the first address of each.

    With `segments`, hosts live instead on walled-off segments, one bridge each (`subnet`
    is then the first segment's); the bridges are not routed to each other (the hosts have
    no route beyond their own subnet, the machine does not forward), each segment has a
    vantage namespace, and a controller namespace (`audlab-ctl`) reaches no segment at all:
    uplinks from `uplink_subnet` connect those namespaces to the machine alone.
    """

    hosts: tuple[HostSpec, ...]
    subnet: IPv4Network = DEFAULT_SUBNET
    state_dir: Path = DEFAULT_STATE_DIR
    moto_port: int | None = DEFAULT_MOTO_PORT
    ready_timeout: float = 30.0
    fleet_subnet: IPv4Network | None = None
    segments: tuple[SegmentSpec, ...] = ()
    uplink_subnet: IPv4Network | None = None

    def __post_init__(self) -> None:
        validate_subnet(self.subnet)
        if self.segments:
            self._validate_segments()
        if self.fleet_subnet is not None:
            validate_subnet(self.fleet_subnet)
            if self.fleet_subnet.overlaps(self.subnet):
                raise LabError(
                    f"lab fleet subnet {self.fleet_subnet} overlaps the lab subnet {self.subnet}"
                )
        validate_state_dir(self.state_dir)
        _require_unique("host names", [h.name for h in self.hosts])
        _require_unique("host addresses", [h.address for h in self.hosts])
        gateways = {self.gateway_of(net) for net in self.subnets}
        for h in self.hosts:
            if not any(h.address in net for net in self.subnets) or h.address in gateways:
                where = " or ".join(str(net) for net in self.subnets)
                raise LabError(
                    f"lab host {h.name}: {h.address} is not a host address in {where} "
                    "(the first address of each is the bridge)"
                )
            if h.address in (
                *(s.vantage_address for s in self.segments),
                self.subnet_of(h).network_address,
                self.subnet_of(h).broadcast_address,
            ):
                raise LabError(
                    f"lab host {h.name}: {h.address} is a network, broadcast or vantage address"
                )

    def _validate_segments(self) -> None:
        _require_unique("segment names", [s.name for s in self.segments])
        if self.fleet_subnet is not None or self.subnet != self.segments[0].subnet:
            raise LabError("a segmented lab's subnet is its first segment's, with no fleet subnet")
        if self.uplink_subnet is None:
            raise LabError("a segmented lab needs an uplink subnet for its namespaces' uplinks")
        validate_subnet(self.uplink_subnet)
        if len(self.segments) + 1 > self.uplink_subnet.num_addresses // 4:
            raise LabError(f"uplink subnet {self.uplink_subnet} has too few /30s")
        nets = [*(s.subnet for s in self.segments), self.uplink_subnet]
        for i, a in enumerate(nets):
            for b in nets[i + 1 :]:
                if a.overlaps(b):
                    raise LabError(f"lab subnets {a} and {b} overlap")

    @property
    def bridge(self) -> str:
        return self.segments[0].bridge if self.segments else BRIDGE

    @property
    def subnets(self) -> tuple[IPv4Network, ...]:
        """Every subnet the lab puts on a bridge: the only lab hosts' addresses."""
        if self.segments:
            return tuple(s.subnet for s in self.segments)
        return (self.subnet,) if self.fleet_subnet is None else (self.subnet, self.fleet_subnet)

    @property
    def claimed_subnets(self) -> tuple[IPv4Network, ...]:
        """Every subnet the lab puts an address in: no route or address may use them."""
        uplinks = () if self.uplink_subnet is None else (self.uplink_subnet,)
        return (*self.subnets, *uplinks)

    def segment_of(self, host: HostSpec) -> SegmentSpec | None:
        return next((s for s in self.segments if host.address in s.subnet), None)

    def bridge_of(self, host: HostSpec) -> str:
        segment = self.segment_of(host)
        return BRIDGE if segment is None else segment.bridge

    @property
    def bridges(self) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
        """(name, MAC, addresses) of each bridge: the MAC is its (first) gateway's."""
        if not self.segments:
            return ((BRIDGE, self.bridge_mac, self.bridge_cidrs),)
        return tuple(
            (s.bridge, mac_for(s.gateway), (f"{s.gateway}/{s.subnet.prefixlen}",))
            for s in self.segments
        )

    @property
    def uplinks(self) -> tuple[Uplink, ...]:
        """One per segment's vantage namespace, then the controller namespace's."""
        if self.uplink_subnet is None:
            return ()
        links = self.uplink_subnet.subnets(new_prefix=30)
        owners = [*(s.netns for s in self.segments), CONTROLLER_NETNS]
        return tuple(
            Uplink(ns, f"{VETH_PREFIX}u{i}", link.network_address + 1, link.network_address + 2)
            for i, (ns, link) in enumerate(zip(owners, links, strict=False))
        )

    @staticmethod
    def gateway_of(subnet: IPv4Network) -> IPv4Address:
        return subnet.network_address + GATEWAY_OFFSET

    @property
    def gateway(self) -> IPv4Address:
        return self.gateway_of(self.subnet)

    @property
    def bridge_cidr(self) -> str:
        return f"{self.gateway}/{self.subnet.prefixlen}"

    @property
    def bridge_cidrs(self) -> tuple[str, ...]:
        return tuple(f"{self.gateway_of(net)}/{net.prefixlen}" for net in self.subnets)

    @property
    def bridge_mac(self) -> str:
        return mac_for(self.gateway)

    def subnet_of(self, host: HostSpec) -> IPv4Network:
        if (segment := self.segment_of(host)) is not None:
            return segment.subnet
        if self.fleet_subnet is not None and host.address in self.fleet_subnet:
            return self.fleet_subnet
        return self.subnet

    def gateway_for(self, host: HostSpec) -> IPv4Address:
        """The bridge's address on the host's own subnet: all the host ever talks to."""
        return self.gateway_of(self.subnet_of(host))

    def gateway_mac_for(self, host: HostSpec) -> str:
        """The MAC of the host's bridge, which the host pins for its gateway."""
        segment = self.segment_of(host)
        return self.bridge_mac if segment is None else mac_for(segment.gateway)

    def netns(self, host: HostSpec) -> str:
        return f"{PREFIX}-{host.name}"

    @cached_property
    def _index(self) -> dict[str, int]:
        return {h.name: i for i, h in enumerate(self.hosts)}

    def veth(self, host: HostSpec) -> str:
        """Root-side veth name: short (Linux allows 15 characters) and prefixed."""
        return f"{VETH_PREFIX}{self._index[host.name]}"

    def neighbours(self) -> tuple[tuple[IPv4Address, str], ...]:
        """(address, MAC) of every lab host, as the bridge side pins them.

        Linux keeps one neighbour (ARP) table for all network namespaces, and its gc_thresh
        limits exist only in the machine's own namespace (default gc_thresh3 = 1024), so a
        lab of 1,000 hosts (an entry on each side of every veth) would overflow them. Entries
        marked permanent are exempt from those limits (kernel 4.20 and later): the lab pins
        its own, both ways, and no sysctl of the machine changes. They go with the bridge and
        the namespaces at `down`.
        """
        return tuple((h.address, mac_for(h.address)) for h in self.hosts)

    def http_port(self, host: HostSpec) -> int | None:
        """Port 80 if the host runs a web server (httpd on centos5, or nginx)."""
        return 80 if host.profile is Profile.CENTOS5 or "nginx" in host.services else None

    def host(self, name: str) -> HostSpec:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)


def mac_for(address: IPv4Address) -> str:
    """The lab's MAC address for one of its IPv4 addresses (see MAC_PREFIX)."""
    return ":".join((MAC_PREFIX, *(f"{b:02x}" for b in address.packed)))


def _require_unique(what: str, values: Sequence[object]) -> None:
    if len(set(values)) != len(values):
        raise LabError(f"lab {what} must be unique")


def validate_subnet(subnet: IPv4Network) -> None:
    if not subnet.is_private or subnet.is_loopback or subnet.is_link_local:
        raise LabError(f"lab subnet {subnet} must be a private (RFC 1918) range")
    if not 16 <= subnet.prefixlen <= 24:
        raise LabError(f"lab subnet {subnet} must be between a /16 and a /24")


def validate_state_dir(path: Path) -> None:
    if not path.is_absolute():
        raise LabError(f"lab state dir {path} must be an absolute path")
    if any(c in str(path) for c in ",:\\ '\"\n"):
        raise LabError(
            f"lab state dir {path}: no commas, colons, quotes, backslashes or "
            "spaces (it goes into overlay mount options)"
        )
    # The hosts overlay /etc, /usr, /var and /root; an overlay's upper dir may not sit
    # inside its own lower dir, and the state would vanish from the hosts' view.
    for top in ("/etc", "/usr", "/var", "/root", "/proc", "/sys", "/dev"):
        if path == Path(top) or Path(top) in path.parents:
            raise LabError(
                f"lab state dir {path} may not be under {top} "
                "(the lab hosts mount their own view over it)"
            )
    if path == Path("/") or path in (Path("/run"), Path("/tmp")):
        raise LabError(f"lab state dir {path} must be a dedicated directory")


# The demo scenario: (name, offset in subnet, profile, sshd port, extra services).
DEMO_HOSTS: tuple[tuple[str, int, Profile, int, tuple[str, ...]], ...] = (
    ("legacy-billing01", 10, Profile.CENTOS5, 22, ()),  # in no inventory: the orphan
    ("web01", 11, Profile.DEBIAN12, 22, ("nginx",)),  # Ansible (INI range) + a cloud instance
    ("web02", 12, Profile.UBUNTU2204, 22, ("nginx",)),  # Ansible (INI range)
    ("db01", 13, Profile.DEBIAN12, 2222, ()),  # Ansible, ansible_port=2222
    ("cache01", 14, Profile.ALPINE, 22, ()),  # Ansible (YAML inventory)
    ("app01", 15, Profile.DEBIAN12, 22, ()),  # Terraform state + cloud, not in Ansible
    ("intranet01", 16, Profile.DEBIAN12, 22, ("hostile",)),  # Ansible; its own name is markup
)


def fleet_addresses(fleet: IPv4Network) -> Iterator[IPv4Address]:
    """Filler addresses in the fleet subnet: after its gateway, skipping every .0 and .255
    (valid inside a /20, but some tools still take them for network or broadcast)."""
    gateway = LabSpec.gateway_of(fleet)
    for address in fleet.hosts():
        if address != gateway and address.packed[3] not in (0, 255):
            yield address


def demo_spec(
    *,
    hosts: int | None = None,
    subnet: IPv4Network = DEFAULT_SUBNET,
    state_dir: Path = DEFAULT_STATE_DIR,
    moto_port: int | None = DEFAULT_MOTO_PORT,
    fleet_subnet: IPv4Network = DEFAULT_FLEET_SUBNET,
) -> LabSpec:
    """The demo fleet; `hosts` is the total host count: beyond the demo hosts, fillers
    (`fill-001`, ...) are added, first in the lab subnet, then in `fleet_subnet` (which the
    lab uses only when the subnet is full); below that, the first `hosts` demo hosts."""
    validate_subnet(subnet)
    validate_subnet(fleet_subnet)
    base = subnet.network_address
    demo = [HostSpec(n, base + off, p, port, svc) for n, off, p, port, svc in DEMO_HOSTS]
    total = len(demo) if hosts is None else hosts
    if total < 1:
        raise LabError("--hosts must be at least 1")
    in_subnet = [base + off for off in FILLER_OFFSETS]
    fillers = total - len(demo)
    beyond = max(0, fillers - len(in_subnet))
    addresses = in_subnet[: max(0, fillers)] + list(islice(fleet_addresses(fleet_subnet), beyond))
    if len(addresses) < fillers:
        room = len(demo) + len(in_subnet) + sum(1 for _ in fleet_addresses(fleet_subnet))
        raise LabError(f"--hosts {total}: at most {room} fit in {subnet} and {fleet_subnet}")
    chosen = demo[:total]
    width = max(3, len(str(fillers)))
    for i, address in enumerate(addresses):
        chosen.append(HostSpec(f"fill-{i + 1:0{width}d}", address, Profile.FILLER))
    return LabSpec(
        hosts=tuple(chosen),
        subnet=subnet,
        state_dir=state_dir,
        moto_port=moto_port,
        ready_timeout=max(30.0, 0.5 * total),
        fleet_subnet=fleet_subnet if beyond else None,
    )


# The segmented lab (issue 15): two walled-off segments and the uplinks of the namespaces
# that run the engine's workers and controller; new lab subnets, from 10.250.96.0/20.
DEFAULT_UPLINK_SUBNET = IPv4Network("10.250.97.0/24")
DEFAULT_SEGMENTS = (
    SegmentSpec("dc1", IPv4Network("10.250.98.0/24")),
    SegmentSpec("dc2", IPv4Network("10.250.99.0/24")),
)
# (segment, name, offset in its subnet, profile, sshd port, extra services)
SEGMENT_HOSTS: tuple[tuple[str, str, int, Profile, int, tuple[str, ...]], ...] = (
    ("dc1", "dc1-billing", 10, Profile.CENTOS5, 22, ()),
    ("dc1", "dc1-web", 11, Profile.DEBIAN12, 22, ("nginx",)),
    ("dc1", "dc1-db", 12, Profile.DEBIAN12, 2222, ()),
    ("dc1", "dc1-app", 13, Profile.UBUNTU2204, 22, ()),
    ("dc2", "dc2-cache", 10, Profile.ALPINE, 22, ()),
    ("dc2", "dc2-web", 11, Profile.UBUNTU2204, 22, ("nginx",)),
)


def segments_spec(
    *,
    segments: tuple[SegmentSpec, ...] = DEFAULT_SEGMENTS,
    uplink_subnet: IPv4Network = DEFAULT_UPLINK_SUBNET,
    state_dir: Path = DEFAULT_STATE_DIR,
) -> LabSpec:
    """The segmented lab: SEGMENT_HOSTS on `segments` (matched by name), no AWS."""
    by_name = {s.name: s for s in segments}
    hosts = tuple(
        HostSpec(name, by_name[seg].subnet.network_address + off, profile, port, services)
        for seg, name, off, profile, port, services in SEGMENT_HOSTS
        if seg in by_name
    )
    return LabSpec(
        hosts=hosts,
        subnet=segments[0].subnet,
        state_dir=state_dir,
        moto_port=None,
        segments=segments,
        uplink_subnet=uplink_subnet,
    )
