"""What a lab is made of: the fleet as frozen dataclasses, and the demo scenario.

A `LabSpec` is pure data: which hosts, on which subnet, where the runtime state lives. Every
name the lab creates on the machine (bridge, network namespaces, veth links) is derived here
from one prefix, so `down` and the leftover sweep can recognise them.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from auditor.errors import LabError

PREFIX = "audlab"
BRIDGE = f"{PREFIX}0"
VETH_PREFIX = "audv-"
DEFAULT_SUBNET = IPv4Network("10.250.77.0/24")
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
    """The whole lab: hosts on one bridge, plus an optional moto (AWS) endpoint."""

    hosts: tuple[HostSpec, ...]
    subnet: IPv4Network = DEFAULT_SUBNET
    state_dir: Path = DEFAULT_STATE_DIR
    moto_port: int | None = DEFAULT_MOTO_PORT
    ready_timeout: float = 30.0

    def __post_init__(self) -> None:
        validate_subnet(self.subnet)
        validate_state_dir(self.state_dir)
        names = [h.name for h in self.hosts]
        if len(set(names)) != len(names):
            raise LabError("lab host names must be unique")
        addrs = [h.address for h in self.hosts]
        if len(set(addrs)) != len(addrs):
            raise LabError("lab host addresses must be unique")
        for h in self.hosts:
            if h.address not in self.subnet or h.address == self.gateway:
                raise LabError(
                    f"lab host {h.name}: {h.address} is not a host address in "
                    f"{self.subnet} (the gateway {self.gateway} is the bridge)"
                )
        if len(self.hosts) > len(FILLER_OFFSETS) + len(DEMO_HOSTS):
            raise LabError("too many lab hosts for one /24")

    @property
    def bridge(self) -> str:
        return BRIDGE

    @property
    def gateway(self) -> IPv4Address:
        return self.subnet.network_address + GATEWAY_OFFSET

    @property
    def bridge_cidr(self) -> str:
        return f"{self.gateway}/{self.subnet.prefixlen}"

    def netns(self, host: HostSpec) -> str:
        return f"{PREFIX}-{host.name}"

    def veth(self, host: HostSpec) -> str:
        """Root-side veth name: short (Linux allows 15 characters) and prefixed."""
        return f"{VETH_PREFIX}{self.hosts.index(host)}"

    def http_port(self, host: HostSpec) -> int | None:
        """Port 80 if the host runs a web server (httpd on centos5, or nginx)."""
        return 80 if host.profile is Profile.CENTOS5 or "nginx" in host.services else None

    def host(self, name: str) -> HostSpec:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)


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


def demo_spec(
    *,
    hosts: int | None = None,
    subnet: IPv4Network = DEFAULT_SUBNET,
    state_dir: Path = DEFAULT_STATE_DIR,
    moto_port: int | None = DEFAULT_MOTO_PORT,
) -> LabSpec:
    """The demo fleet; `hosts` is the total host count: beyond the six demo hosts, fillers
    (`fill-001`, ...) are added; below six, the first `hosts` demo hosts are kept."""
    validate_subnet(subnet)
    base = subnet.network_address
    demo = [HostSpec(n, base + off, p, port, svc) for n, off, p, port, svc in DEMO_HOSTS]
    total = len(demo) if hosts is None else hosts
    if total < 1:
        raise LabError("--hosts must be at least 1")
    if total > len(demo) + len(FILLER_OFFSETS):
        raise LabError(
            f"--hosts {total}: at most {len(demo) + len(FILLER_OFFSETS)} fit in the lab subnet"
        )
    chosen = demo[:total]
    for i in range(total - len(demo)):
        chosen.append(HostSpec(f"fill-{i + 1:03d}", base + FILLER_OFFSETS[i], Profile.FILLER))
    return LabSpec(
        hosts=tuple(chosen),
        subnet=subnet,
        state_dir=state_dir,
        moto_port=moto_port,
        ready_timeout=max(30.0, 0.5 * total),
    )
