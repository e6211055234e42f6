"""Socket tables from `ss`, `netstat` (net-tools and BusyBox) and /proc/net/{tcp,udp}[6]."""

from __future__ import annotations

import re
from dataclasses import dataclass

from auditor.probe.parsers.addresses import proc_net_address, split_endpoint

LISTEN = "LISTEN"
UNCONN = "UNCONN"  # a bound UDP socket: "listening" for UDP
ESTAB = "ESTAB"


@dataclass(frozen=True)
class SocketRow:
    """One socket as a tool printed it. `pids`: every process holding it (pre-fork servers
    share one listening socket among a parent and its children)."""

    proto: str  # tcp | udp
    state: str  # LISTEN | UNCONN | ESTAB | the tool's word for anything else
    local_address: str
    local_port: int
    peer_address: str | None = None
    peer_port: int | None = None
    pids: tuple[int, ...] = ()
    process: str | None = None
    uid: int | None = None
    inode: int | None = None


# ------------------------------------------------------------------------------------ ss

_SS_NETIDS = {"tcp": "tcp", "udp": "udp", "tcp6": "tcp", "udp6": "udp"}
_SS_STATES = {"ESTAB": ESTAB, "LISTEN": LISTEN, "UNCONN": UNCONN}
# users:(("sshd",pid=812,fd=3),("sshd",pid=900,fd=3)) -- iproute2 >= 3.x
# users:(("sshd",812,3))                              -- iproute2 2.6.x (CentOS 5/6)
_SS_USER_RE = re.compile(r'\("((?:[^"\\]|\\.)*)",(?:pid=)?(\d+),(?:fd=)?\d+\)')
_SS_UID_RE = re.compile(r"\buid:(\d+)")
_SS_INO_RE = re.compile(r"\bino:(\d+)")


def parse_ss(text: str) -> tuple[SocketRow, ...]:
    """`ss -tuanpe`, `ss -tulpne`, `ss -tn` and friends, with or without the Netid column
    and header."""
    rows = []
    for line in text.split("\n"):
        tokens = line.split()
        if len(tokens) < 5:
            continue
        proto = _SS_NETIDS.get(tokens[0])
        rest = tokens[1:] if proto else tokens
        if len(rest) < 5 or not rest[1].isdigit() or not rest[2].isdigit():
            continue  # header, error message, or a socket kind we do not ask for
        local, peer = split_endpoint(rest[3]), split_endpoint(rest[4])
        if local is None or local[1] is None:
            continue
        state = _SS_STATES.get(rest[0], rest[0])
        if proto is None:  # `ss -t`/`ss -u` alone print no Netid column
            proto = "udp" if state == UNCONN else "tcp"
        users = _SS_USER_RE.findall(line)
        uid = _SS_UID_RE.search(line)
        ino = _SS_INO_RE.search(line)
        rows.append(
            SocketRow(
                proto=proto,
                state=state,
                local_address=local[0],
                local_port=local[1],
                peer_address=peer[0] if peer else None,
                peer_port=peer[1] if peer else None,
                pids=tuple(dict.fromkeys(int(pid) for _, pid in users)),
                process=_ss_unescape(users[0][0]) if users else None,
                # `ss -e` prints uid only when it is not 0; ino marks that -e was given
                uid=int(uid[1]) if uid else (0 if ino else None),
                inode=int(ino[1]) if ino else None,
            )
        )
    return tuple(rows)


def _ss_unescape(name: str) -> str:
    return name.replace('\\"', '"').replace("\\\\", "\\")


# ------------------------------------------------------------------------------- netstat

_NETSTAT_RE = re.compile(r"^(tcp6?|udp6?)\s+\d+\s+\d+\s+(\S+)\s+(\S+)\s*(.*)$")
_TCP_STATES = frozenset(
    {
        "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE",
        "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "UNKNOWN",
    }
)  # fmt: skip
_NETSTAT_STATES = {"LISTEN": LISTEN, "ESTABLISHED": ESTAB, "": UNCONN}
_PID_PROG_RE = re.compile(r"^(\d+)/(.*)$")


def parse_netstat(text: str) -> tuple[SocketRow, ...]:
    """`netstat -tulpn` / `-tn` from net-tools (1.60 to 2.10) and BusyBox.

    The PID/Program name column is `1234/name` (name cut at 20 columns, may hold spaces) or
    `-` when the process is not ours to see.
    """
    rows = []
    for line in text.split("\n"):
        match = _NETSTAT_RE.match(line.rstrip())
        if match is None:
            continue
        proto = match[1].rstrip("6")
        local, peer = split_endpoint(match[2]), split_endpoint(match[3])
        if local is None or local[1] is None:
            continue
        rest = match[4].strip()
        word, _, after = rest.partition(" ")
        state = ""
        if word in _TCP_STATES:
            state, rest = word, after.strip()
        pids: tuple[int, ...] = ()
        process = None
        prog = _PID_PROG_RE.match(rest)
        if prog:
            pids, process = (int(prog[1]),), prog[2].strip() or None
        rows.append(
            SocketRow(
                proto=proto,
                state=_NETSTAT_STATES.get(state, state),
                local_address=local[0],
                local_port=local[1],
                peer_address=peer[0] if peer else None,
                peer_port=peer[1] if peer else None,
                pids=pids,
                process=process,
            )
        )
    return tuple(rows)


# ---------------------------------------------------------------------------- /proc/net

_PROC_NET_RE = re.compile(
    r"^\s*\d+:\s+([0-9A-Fa-f]+:[0-9A-Fa-f]+)\s+([0-9A-Fa-f]+:[0-9A-Fa-f]+)\s+([0-9A-Fa-f]{2})"
    r"\s+\S+\s+\S+\s+\S+\s+(\d+)\s+\d+\s+(\d+)"
)
_PROC_STATES = {"0A": LISTEN, "07": UNCONN, "01": ESTAB}


def parse_proc_net(text: str, proto: str) -> tuple[SocketRow, ...]:
    """The content of /proc/net/tcp, tcp6, udp or udp6 (`proto` is tcp or udp).

    UDP sockets in state 07 (close) are the bound, unconnected ones: UDP's listeners.
    """
    rows = []
    for line in text.split("\n"):
        match = _PROC_NET_RE.match(line)
        if match is None:
            continue
        local, peer = proc_net_address(match[1]), proc_net_address(match[2])
        if local is None:
            continue
        state = _PROC_STATES.get(match[3].upper(), match[3].upper())
        rows.append(
            SocketRow(
                proto=proto,
                state=state,
                local_address=local[0],
                local_port=local[1],
                peer_address=peer[0] if peer else None,
                peer_port=peer[1] if peer else None,
                uid=int(match[4]),
                inode=int(match[5]),
            )
        )
    return tuple(rows)


def parse_fd_owners(text: str) -> dict[int, tuple[int, ...]]:
    """`F <pid> <inode>` lines (the probe's walk of /proc/*/fd) -> inode -> pids."""
    owners: dict[int, list[int]] = {}
    for line in text.split("\n"):
        tokens = line.split()
        if len(tokens) == 3 and tokens[0] == "F" and tokens[1].isdigit() and tokens[2].isdigit():
            pids = owners.setdefault(int(tokens[2]), [])
            if int(tokens[1]) not in pids:
                pids.append(int(tokens[1]))
    return {inode: tuple(sorted(pids)) for inode, pids in owners.items()}
