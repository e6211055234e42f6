"""Socket addresses as ss, netstat and /proc/net print them, normalised."""

from __future__ import annotations

import ipaddress

WILDCARD = "*"  # ss's "any address" for a dual-stack socket (and old ss's IPv4 any)


def split_endpoint(text: str) -> tuple[str, int | None] | None:
    """`addr:port` in any of the tools' spellings -> (normalised address, port or None).

    Handles `0.0.0.0:22`, `*:22`, `[::]:22`, `[::ffff:10.0.0.9]:5123`, `127.0.0.53%lo:53`,
    `[fe80::1]%eth0:123`, netstat's `:::22` and `::ffff:10.0.0.9:5123`, and `*` ports.
    """
    text = text.strip()
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            return None
        host, rest = text[1:close], text[close + 1 :]
        if "%" in rest:  # ss prints the scope after the bracket
            rest = rest[rest.index(":") :] if ":" in rest else ""
        if not rest.startswith(":"):
            return None
        port_text = rest[1:]
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            return None
    port: int | None
    if port_text == "*":
        port = None
    elif port_text.isdigit() and int(port_text) < 65536:
        port = int(port_text)
    else:
        return None
    return normalise_address(host), port


def normalise_address(host: str) -> str:
    """Canonical text: scope dropped, IPv6 compressed, IPv4-mapped IPv6 as plain IPv4.

    Anything that is not an address (a netstat-truncated IPv6, a hostname) is kept as is.
    """
    host = host.strip().strip("[]")
    if "%" in host:
        host = host.split("%", 1)[0]
    if host in ("", "*"):
        return WILDCARD
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def proc_net_address(hex_text: str) -> tuple[str, int] | None:
    """`0100007F:0016` or the 32-hex-digit IPv6 form from /proc/net/tcp* -> (address, port).

    The kernel prints each 32-bit word of the address in host byte order (little-endian on
    every platform we meet), so the bytes of each word are reversed.
    """
    addr_hex, sep, port_hex = hex_text.partition(":")
    if not sep:
        return None
    try:
        port = int(port_hex, 16)
        raw = bytes.fromhex(addr_hex)
    except ValueError:
        return None
    if len(raw) not in (4, 16):
        return None
    swapped = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(swapped)
    return normalise_address(str(ip)), port


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
