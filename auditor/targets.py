"""nmap targets: validation (the gate before nmap sees anything) and membership. Pure."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from auditor.errors import TargetError

_OCTET_RANGE = re.compile(r"^(\*|\d{1,3}(-\d{1,3})?(,\d{1,3}(-\d{1,3})?)*)$")
_DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
# Inventory and cloud names also use "_" (web_01); OpenSSH accepts it in host names too.
_NAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
MAX_HOST_NAME = 253


def is_address(text: str) -> bool:
    """An IPv4 or IPv6 address, exactly (no CIDR, no brackets, no spaces)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_host_name(text: str) -> bool:
    """A host name: dot-separated labels of letters, digits, `-` and `_` (none starting or
    ending with `-`), at most 253 characters. Nothing in it a shell, a path, a URL or an
    ssh_config `%h` expansion could read as syntax: the gate for every name we discovered
    (scans, inventories, cloud tags, state, the host's own answer) before it is used as one."""
    if not text or len(text) > MAX_HOST_NAME:
        return False
    labels = text[:-1].split(".") if text.endswith(".") else text.split(".")
    return all(_NAME_LABEL.match(label) for label in labels)


def is_host_name_or_address(text: str) -> bool:
    return is_address(text) or is_host_name(text)


def validate_target(target: str) -> str:
    """Return the target unchanged if nmap may see it; raise TargetError naming the problem."""
    text = target.strip()
    if not text:
        raise TargetError("empty nmap target")
    if text != target or any(c.isspace() for c in text):
        raise TargetError(f"nmap target {target!r} contains white space")
    if text.startswith("-"):
        raise TargetError(f"nmap target {target!r} looks like an option; refused")
    try:
        ipaddress.ip_network(text, strict=False)
        return text
    except ValueError:
        pass
    parts = text.split(".")
    if len(parts) == 4 and all(_OCTET_RANGE.match(p) for p in parts):
        for part in parts:
            for chunk in part.split(","):
                if chunk == "*":
                    continue
                low, _, high = chunk.partition("-")
                lo, hi = int(low), int(high or low)
                if lo > 255 or hi > 255 or lo > hi:
                    raise TargetError(f"nmap target {target!r}: octet range {chunk!r} is invalid")
        return text
    if "/" in text or ":" in text:
        raise TargetError(f"nmap target {target!r} is not a valid CIDR or address")
    labels = text.rstrip(".").split(".")
    if len(text) <= 253 and all(_DNS_LABEL.match(label) for label in labels):
        if all(label.isdigit() for label in labels):
            raise TargetError(f"nmap target {target!r} is not a valid address")
        return text
    raise TargetError(
        f"nmap target {target!r} is not a CIDR, an address, an nmap octet range "
        "(10.0.0.1-50) or a DNS name"
    )


def target_contains(target: str, address: str) -> bool:
    """Whether an nmap target (CIDR, address, octet range, name) includes `address`."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return target.lower() == address.lower()
    try:
        net = ipaddress.ip_network(target, strict=False)
        return ip.version == net.version and ip in net
    except ValueError:
        pass
    parts = target.split(".")
    if len(parts) != 4 or ip.version != 4:
        return False
    try:
        return all(
            _octet_matches(part, int(octet))
            for part, octet in zip(parts, str(ip).split("."), strict=True)
        )
    except ValueError:
        return False


def _octet_matches(part: str, value: int) -> bool:
    if part == "*":
        return True
    for chunk in part.split(","):
        low, _, high = chunk.partition("-")
        if int(low) <= value <= int(high or low):
            return True
    return False


def in_targets(address: str, targets: Iterable[str], exclude: Iterable[str] = ()) -> bool:
    """Whether `address` is inside one of `targets` and outside every `exclude`: the one
    test of "may we touch this address" (sweep coverage, probe scope, direct re-checks)."""
    return any(target_contains(t, address) for t in targets) and not any(
        target_contains(t, address) for t in exclude
    )
