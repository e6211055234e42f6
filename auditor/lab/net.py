"""The lab's network: one bridge in the root namespace, one netns + veth pair per host.

No forwarding, no NAT, no default route inside the hosts: packets from a lab host can reach
the bridge address and the other lab hosts, nothing else. IPv6 address generation is off on
every lab link so the kernel sends nothing (no router solicitations, no DAD) on its own.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, ip_interface, ip_network
from pathlib import Path
from typing import Any

from auditor.errors import LabError
from auditor.lab.spec import BRIDGE, PREFIX, VETH_PREFIX, LabSpec, mac_for

NETNS_DIR = Path("/run/netns")


def run(cmd: Sequence[str], *, stdin: str | None = None, check: bool = True) -> str:
    """Run a command, return stdout; a failure becomes a LabError quoting stderr."""
    try:
        proc = subprocess.run(
            list(cmd), input=stdin, capture_output=True, text=True, timeout=60, check=False
        )
    except FileNotFoundError as exc:
        raise LabError(f"{cmd[0]} is not installed (needed by the lab)") from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{' '.join(cmd)} did not finish in 60 s") from exc
    if check and proc.returncode != 0:
        raise LabError(f"`{' '.join(cmd)}` failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def _ip_json(*args: str) -> list[dict[str, Any]]:
    out = run(["ip", "-j", *args]).strip()
    if not out:
        return []
    data = json.loads(out)
    return [d for d in data if isinstance(d, dict)]


@dataclass(frozen=True)
class Conflict:
    what: str  # "route" or "address"
    detail: str


def find_conflicts(subnet: IPv4Network, own_bridge: str = BRIDGE) -> tuple[Conflict, ...]:
    """Routes (every table) and addresses that overlap `subnet`, other than our bridge's.

    Default routes are not conflicts: they claim nothing in particular.
    """
    routes = _ip_json("-4", "route", "show", "table", "all")
    addrs = _ip_json("-4", "addr", "show")
    return conflicts_in(subnet, routes, addrs, own_bridge)


def conflicts_in(
    subnet: IPv4Network,
    routes: Iterable[dict[str, Any]],
    addrs: Iterable[dict[str, Any]],
    own_bridge: str = BRIDGE,
) -> tuple[Conflict, ...]:
    """Pure part of `find_conflicts`, on `ip -j` output."""
    found: list[Conflict] = []
    for r in routes:
        dst = str(r.get("dst", ""))
        if not dst or dst == "default" or r.get("dev") == own_bridge:
            continue
        try:
            net = ip_network(dst if "/" in dst else f"{dst}/32", strict=False)
        except ValueError:
            continue
        if net.version == 4 and net.overlaps(subnet):
            table = r.get("table", "main")
            dev = r.get("dev", r.get("type", "?"))
            found.append(Conflict("route", f"{dst} dev {dev} table {table}"))
    for link in addrs:
        ifname = str(link.get("ifname", "?"))
        if ifname == own_bridge:
            continue
        for ai in link.get("addr_info", []):
            if ai.get("family") != "inet":
                continue
            iface = ip_interface(f"{ai['local']}/{ai['prefixlen']}")
            if iface.network.overlaps(subnet):
                found.append(Conflict("address", f"{iface} on {ifname}"))
    return tuple(found)


def check_subnet_free(subnet: IPv4Network) -> None:
    """Refuse a subnet that any route or address of the machine already uses."""
    conflicts = find_conflicts(subnet)
    if conflicts:
        lines = "\n".join(f"  {c.what}: {c.detail}" for c in conflicts)
        raise LabError(
            f"refusing to build the lab on {subnet}: it overlaps networks this machine "
            f"already uses:\n{lines}\nchoose another subnet with --subnet"
        )


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def netns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def lab_netns() -> tuple[str, ...]:
    """Network namespaces carrying the lab prefix (ours by name)."""
    if not NETNS_DIR.is_dir():
        return ()
    return tuple(sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(f"{PREFIX}-")))


def lab_links() -> tuple[str, ...]:
    """Root-namespace links carrying a lab prefix: the bridge and the host-side veths."""
    return tuple(
        sorted(
            p.name
            for p in Path("/sys/class/net").iterdir()
            if p.name.startswith((PREFIX, VETH_PREFIX))
        )
    )


def netns_inode(name: str) -> int | None:
    try:
        return (NETNS_DIR / name).stat().st_ino
    except OSError:
        return None


def create_bridge(spec: LabSpec) -> None:
    """Create the bridge(s) with the gateway address(es) (idempotent if they exist).

    A bridge's MAC is set, not left to the kernel (a bridge otherwise takes its lowest
    port's), because every host pins it as its gateway's (`LabSpec.neighbours`).
    """
    for bridge, mac, cidrs in spec.bridges:
        if not link_exists(bridge):
            run(["ip", "link", "add", bridge, "address", mac, "type", "bridge"])
        run(["ip", "link", "set", bridge, "address", mac, "addrgenmode", "none"])
        have = {
            f"{ai['local']}/{ai['prefixlen']}"
            for link in _ip_json("-4", "addr", "show", "dev", bridge)
            for ai in link.get("addr_info", [])
        }
        for cidr in cidrs:
            if cidr not in have:
                run(["ip", "addr", "add", cidr, "dev", bridge])
        run(["ip", "link", "set", bridge, "up"])


def host_link_commands(spec: LabSpec) -> list[str]:
    """`ip -batch` lines: one netns per host with `eth0` inside (MAC derived from the host's
    address), its peer enslaved to the bridge, and the bridge side's permanent neighbour
    entry for the host (see `LabSpec.neighbours`)."""
    lines: list[str] = []
    for host in spec.hosts:
        ns, veth = spec.netns(host), spec.veth(host)
        if len(veth) > 15:
            raise LabError(f"veth name {veth} is longer than 15 characters")
        lines.append(f"netns add {ns}")
        lines.append(
            f"link add {veth} type veth peer name eth0 address {mac_for(host.address)} netns {ns}"
        )
        lines.append(f"link set {veth} addrgenmode none")
        lines.append(f"link set {veth} master {spec.bridge_of(host)} up")
    lines += [
        f"neigh replace {address} lladdr {mac} dev {spec.bridge_of(host)} nud permanent"
        for host, (address, mac) in zip(spec.hosts, spec.neighbours(), strict=True)
    ]
    return lines


def create_host_links(spec: LabSpec) -> None:
    """The hosts' namespaces and links; addresses inside the namespaces are set by each
    host's boot script, so this is one `ip -batch` run whatever the fleet size."""
    run(["ip", "-batch", "-"], stdin="\n".join(host_link_commands(spec)) + "\n")


def vantage_link_commands(spec: LabSpec) -> list[list[str]]:
    """`ip` commands for a segmented lab's own namespaces: each segment's vantage namespace
    with `eth0` in the segment's bridge, and every such namespace (and the controller's)
    with an uplink `up0` to the machine on a /30 of its own. No default route anywhere: a
    namespace reaches its segment (if any) and its uplink's other end, nothing else."""
    cmds: list[list[str]] = []
    for index, segment in enumerate(spec.segments):
        ns, veth = segment.netns, f"{VETH_PREFIX}s{index}"
        address = f"{segment.vantage_address}/{segment.subnet.prefixlen}"
        cmds += [
            ["ip", "netns", "add", ns],
            ["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns],
            ["ip", "link", "set", veth, "addrgenmode", "none"],
            ["ip", "link", "set", veth, "master", segment.bridge, "up"],
            ["ip", "-n", ns, "link", "set", "eth0", "addrgenmode", "none"],
            ["ip", "-n", ns, "addr", "add", address, "dev", "eth0"],
            ["ip", "-n", ns, "link", "set", "eth0", "up"],
            ["ip", "-n", ns, "link", "set", "lo", "up"],
        ]
    for uplink in spec.uplinks:
        ns = uplink.netns
        if not any(ns == s.netns for s in spec.segments):
            cmds += [["ip", "netns", "add", ns], ["ip", "-n", ns, "link", "set", "lo", "up"]]
        cmds += [
            ["ip", "link", "add", uplink.veth, "type", "veth", "peer", "name", "up0", "netns", ns],
            ["ip", "link", "set", uplink.veth, "addrgenmode", "none"],
            ["ip", "addr", "add", f"{uplink.local}/{uplink.prefixlen}", "dev", uplink.veth],
            ["ip", "link", "set", uplink.veth, "up"],
            ["ip", "-n", ns, "link", "set", "up0", "addrgenmode", "none"],
            ["ip", "-n", ns, "addr", "add", f"{uplink.remote}/{uplink.prefixlen}", "dev", "up0"],
            ["ip", "-n", ns, "link", "set", "up0", "up"],
        ]
    return cmds


def create_vantage_links(spec: LabSpec) -> None:
    for cmd in vantage_link_commands(spec):
        run(cmd)


def delete_netns_all(names: Iterable[str]) -> None:
    """Delete many namespaces in one `ip -batch` (their veth pairs go with them)."""
    todo = [n for n in names if netns_exists(n)]
    if not todo:
        return
    run(
        ["ip", "-force", "-batch", "-"],
        stdin="".join(f"netns delete {n}\n" for n in todo),
        check=False,
    )
    left = [n for n in todo if netns_exists(n)]
    if left:
        raise LabError(f"could not delete network namespaces {', '.join(left[:5])}")


def delete_links_all(names: Iterable[str], timeout: float = 10.0) -> None:
    """Delete many links; veths whose peer namespace was just deleted vanish by themselves
    as the kernel cleans the namespace up, so only what is still there is deleted."""
    deadline = time.monotonic() + timeout
    todo = [n for n in names if link_exists(n)]
    while todo:
        run(["ip", "-force", "-batch", "-"], stdin="".join(f"link delete {n}\n" for n in todo),
            check=False)  # fmt: skip
        todo = [n for n in todo if link_exists(n)]
        if todo and time.monotonic() > deadline:
            raise LabError(f"could not delete links {', '.join(todo[:5])}")
        if todo:
            time.sleep(0.1)


def pids_by_netns(names: Iterable[str]) -> dict[str, tuple[int, ...]]:
    """Processes living in each named namespace, from one pass over /proc."""
    by_inode: dict[tuple[int, int], str] = {}
    for name in names:
        try:
            st = (NETNS_DIR / name).stat()
        except OSError:
            continue
        by_inode[(st.st_dev, st.st_ino)] = name
    found: dict[str, list[int]] = {name: [] for name in by_inode.values()}
    if not by_inode:
        return {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            st = (entry / "ns" / "net").stat()
        except OSError:
            continue
        owner = by_inode.get((st.st_dev, st.st_ino))
        if owner is not None:
            found[owner].append(int(entry.name))
    return {name: tuple(pids) for name, pids in found.items()}


def delete_link(name: str, timeout: float = 2.0) -> None:
    """Delete a link; a veth whose peer namespace was just deleted may vanish by itself
    meanwhile, so failure counts only if the link is still there afterwards."""
    deadline = time.monotonic() + timeout
    while link_exists(name):
        run(["ip", "link", "delete", name], check=False)
        if not link_exists(name):
            return
        if time.monotonic() > deadline:
            raise LabError(f"could not delete link {name}")
        time.sleep(0.05)


def require_tools() -> None:
    # Debian packages: iproute2, util-linux, mount, hostname, sudo (the audit account's
    # passwordless sudo), net-tools (netstat on the centos5 host), openssh-server.
    missing = [
        t
        for t in ("ip", "unshare", "mount", "hostname", "sudo", "netstat")
        if shutil.which(t) is None
    ]
    if not Path("/usr/sbin/sshd").exists():
        missing.append("/usr/sbin/sshd")
    if missing:
        raise LabError(
            f"the lab needs these tools, not found: {', '.join(missing)} "
            "(apt-get install iproute2 util-linux sudo net-tools openssh-server)"
        )


def in_subnet(address: str, subnets: IPv4Network | Iterable[IPv4Network]) -> bool:
    nets = (subnets,) if isinstance(subnets, IPv4Network) else tuple(subnets)
    try:
        return any(IPv4Address(address) in net for net in nets)
    except ValueError:
        return False
