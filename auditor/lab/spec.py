"""What a lab is made of: the fleet as frozen dataclasses, and the demo scenario.

A `LabSpec` is pure data: which hosts, on which subnet, where the runtime state lives. Every
name the lab creates on the machine (bridge, network namespaces, veth links) is derived here
from one prefix, so `down` and the leftover sweep can recognise them.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from ipaddress import IPv4Address, IPv4Network
from itertools import islice
from pathlib import Path

from auditor.errors import LabError

PREFIX = "audlab"
BRIDGE = f"{PREFIX}0"
VETH_PREFIX = "audv-"
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


@dataclass(frozen=True)
class LabSpec:
    """The whole lab: hosts on one bridge, plus an optional moto (AWS) endpoint.

    Hosts live in `subnet` (the demo /24) or, for large fleets, in `fleet_subnet`, a second
    subnet on the same bridge; the bridge holds the first address of each.
    """

    hosts: tuple[HostSpec, ...]
    subnet: IPv4Network = DEFAULT_SUBNET
    state_dir: Path = DEFAULT_STATE_DIR
    moto_port: int | None = DEFAULT_MOTO_PORT
    ready_timeout: float = 30.0
    fleet_subnet: IPv4Network | None = None

    def __post_init__(self) -> None:
        validate_subnet(self.subnet)
        if self.fleet_subnet is not None:
            validate_subnet(self.fleet_subnet)
            if self.fleet_subnet.overlaps(self.subnet):
                raise LabError(
                    f"lab fleet subnet {self.fleet_subnet} overlaps the lab subnet {self.subnet}"
                )
        validate_state_dir(self.state_dir)
        names = [h.name for h in self.hosts]
        if len(set(names)) != len(names):
            raise LabError("lab host names must be unique")
        addrs = [h.address for h in self.hosts]
        if len(set(addrs)) != len(addrs):
            raise LabError("lab host addresses must be unique")
        gateways = {self.gateway_of(net) for net in self.subnets}
        for h in self.hosts:
            if not any(h.address in net for net in self.subnets) or h.address in gateways:
                where = " or ".join(str(net) for net in self.subnets)
                raise LabError(
                    f"lab host {h.name}: {h.address} is not a host address in {where} "
                    "(the first address of each is the bridge)"
                )
            if h.address in (
                self.subnet_of(h).network_address,
                self.subnet_of(h).broadcast_address,
            ):
                raise LabError(f"lab host {h.name}: {h.address} is a network or broadcast address")

    @property
    def bridge(self) -> str:
        return BRIDGE

    @property
    def subnets(self) -> tuple[IPv4Network, ...]:
        """Every subnet the lab puts on the bridge: the only addresses it ever contacts."""
        return (self.subnet,) if self.fleet_subnet is None else (self.subnet, self.fleet_subnet)

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
        if self.fleet_subnet is not None and host.address in self.fleet_subnet:
            return self.fleet_subnet
        return self.subnet

    def gateway_for(self, host: HostSpec) -> IPv4Address:
        """The bridge's address on the host's own subnet: all the host ever talks to."""
        return self.gateway_of(self.subnet_of(host))

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
