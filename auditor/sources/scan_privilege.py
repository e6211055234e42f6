"""May nmap send raw packets here? Root, or the capabilities nmap needs without root.

A SYN scan and ARP/ICMP host discovery need raw sockets: CAP_NET_RAW and CAP_NET_ADMIN. An
unprivileged auditor can have them two ways, and nmap itself only looks at its euid, so then it
must be told with `--privileged`:
- file capabilities on the nmap binary (`setcap cap_net_raw,cap_net_admin+eip $(command -v nmap)`),
  read from its `security.capability` extended attribute;
- ambient capabilities of this process (systemd's `AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN`),
  which every program it starts inherits, read from /proc/self/status.
Without either, the sweep is a TCP connect scan (`-sT --unprivileged`).
"""

from __future__ import annotations

import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

CAP_NET_ADMIN = 12
CAP_NET_RAW = 13
RAW_SCAN_CAPABILITIES = (1 << CAP_NET_ADMIN) | (1 << CAP_NET_RAW)

# struct vfs_cap_data (linux/capability.h): le32 magic_etc, then per 32-bit word a le32
# permitted and a le32 inheritable (one word for revision 1, two for 2 and 3; revision 3 adds
# a le32 root uid). The low bit of magic_etc is "effective": raised at exec.
_VFS_CAP_REVISION_MASK = 0xFF000000
_VFS_CAP_REVISIONS = {0x01000000: 1, 0x02000000: 2, 0x03000000: 2}
_VFS_CAP_FLAGS_EFFECTIVE = 0x000001


@dataclass(frozen=True)
class ScanPrivilege:
    raw: bool  # nmap may send raw packets: SYN scan, ARP/ICMP discovery
    how: str  # why (shown in the source's details and --dry-run)
    tell_nmap: bool = False  # pass --privileged: nmap checks only its own euid


def file_capabilities(raw: bytes) -> int:
    """The capabilities a binary with this `security.capability` value gets at exec, as a
    bit mask: its permitted set when the effective flag is on, else none. Raises ValueError
    on a value that is not a vfs_cap_data."""
    if len(raw) < 12:
        raise ValueError(f"security.capability too short ({len(raw)} bytes)")
    (magic,) = struct.unpack_from("<I", raw, 0)
    words = _VFS_CAP_REVISIONS.get(magic & _VFS_CAP_REVISION_MASK)
    if words is None or len(raw) < 4 + 8 * words:
        raise ValueError(f"security.capability: unknown revision {magic:#010x}")
    if not magic & _VFS_CAP_FLAGS_EFFECTIVE:
        return 0
    permitted = 0
    for word in range(words):
        (low,) = struct.unpack_from("<I", raw, 4 + 8 * word)
        permitted |= low << (32 * word)
    return permitted


def ambient_capabilities(proc_status: str) -> int:
    """The CapAmb mask from a /proc/PID/status text (0 when the kernel has no such line)."""
    for line in proc_status.splitlines():
        key, _, value = line.partition(":")
        if key == "CapAmb":
            return int(value.strip(), 16)
    return 0


def decide(euid: int, ambient: int, nmap_caps: int | None, nmap_path: str | None) -> ScanPrivilege:
    """Pure: the privilege from the euid, this process's ambient set and nmap's file caps."""
    if euid == 0:
        return ScanPrivilege(True, "root")
    if ambient & RAW_SCAN_CAPABILITIES == RAW_SCAN_CAPABILITIES:
        return ScanPrivilege(True, "ambient capabilities cap_net_raw,cap_net_admin", True)
    if nmap_caps is not None and nmap_caps & RAW_SCAN_CAPABILITIES == RAW_SCAN_CAPABILITIES:
        return ScanPrivilege(
            True, f"file capabilities cap_net_raw,cap_net_admin on {nmap_path}", True
        )
    return ScanPrivilege(False, "not root, and nmap has no cap_net_raw,cap_net_admin")


def scan_privilege(nmap_path: str | None = None) -> ScanPrivilege:
    """What this process may do with the nmap it would run (found on PATH by default)."""
    path = nmap_path or shutil.which("nmap")
    try:
        ambient = ambient_capabilities(Path("/proc/self/status").read_text())
    except OSError:
        ambient = 0
    nmap_caps: int | None = None
    if path is not None:
        try:
            nmap_caps = file_capabilities(os.getxattr(path, "security.capability"))
        except (OSError, ValueError):  # no attribute, no xattr support, or garbage: none
            nmap_caps = None
    return decide(os.geteuid(), ambient, nmap_caps, path)
