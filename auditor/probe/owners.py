"""Which team a client address belongs to, decided the same way on the host (in awk, over
every client of the access logs) and in the controller (for connection peers).

The `[owners]` networks go to the host as prefix keys, never as team names: a key is the
address family, the prefix length and the prefix's bits cut into 16-bit groups, in decimal
(`4/16/2580` is 10.20.0.0/16; `6/48/8193/3512/1` is 2001:db8:1::/48). The awk builds the same
key for a client at each configured prefix length, longest first, and looks it up: the
longest matching prefix wins, as in `Config.owner_of`. Groups of 16 bits keep every number
below 2^16: awk numbers are doubles, mawk has no bit operations and prints integers beyond
2^31 in exponent form. The team comes back as an index into `ClientOwners.teams`.

Clients that match no network are grouped by /24 (IPv4) or /64 (IPv6); anything that is not
an address (a name logged with HostnameLookups on, a garbled field) is one group.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from auditor.model import Connection, PeerGroup

if TYPE_CHECKING:
    from auditor.config import OwnerRule

NOT_AN_ADDRESS = "not an address"
OTHER_NETWORKS = "other"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def prefix_key(network: IPNetwork) -> str:
    """The key the awk builds for an address inside `network` at its prefix length."""
    bits = network.max_prefixlen
    value = int(network.network_address)
    groups = [(value >> (bits - 16 * (i + 1))) & 0xFFFF for i in range(bits // 16)]
    full, rest = divmod(network.prefixlen, 16)
    parts = [str(g) for g in groups[:full]]
    if rest:
        parts.append(str(groups[full] >> (16 - rest)))
    return "/".join([str(network.version), str(network.prefixlen), *parts])


@dataclass(frozen=True)
class ClientOwners:
    """The `[owners]` networks, as the host's awk gets them (`awk_rules`) and as the parser
    reads its answers (`teams`, by index)."""

    teams: tuple[str, ...] = ()
    networks: tuple[tuple[str, int], ...] = ()  # (network, index into teams), longest first

    @classmethod
    def from_rules(cls, rules: tuple[OwnerRule, ...]) -> ClientOwners:
        """Networks of `[owners]` (an address is its /32 or /128; name patterns are left
        out: a client is an address). A network named twice keeps its first team."""
        found: dict[IPNetwork, str] = {}
        for rule in rules:
            network = rule.network()
            if network is not None and network not in found:
                found[network] = rule.team
        teams = tuple(sorted(set(found.values())))
        ordered = sorted(found, key=lambda n: (n.version, -n.prefixlen, int(n.network_address)))
        return cls(teams, tuple((str(n), teams.index(found[n])) for n in ordered))

    def awk_rules(self) -> tuple[str, str, str]:
        """(rules, IPv4 prefix lengths, IPv6 prefix lengths) for the awk's -v variables:
        `key=index` pairs and lengths longest first, space-separated; digits, `/` and `=`
        only, so they need no quoting beyond the shell's single quotes."""
        rules = []
        lengths: dict[int, set[int]] = {4: set(), 6: set()}
        for text, index in self.networks:
            network = ipaddress.ip_network(text)
            rules.append(f"{prefix_key(network)}={index}")
            lengths[network.version].add(network.prefixlen)
        return (
            " ".join(rules),
            " ".join(str(n) for n in sorted(lengths[4], reverse=True)),
            " ".join(str(n) for n in sorted(lengths[6], reverse=True)),
        )

    def team(self, index: str) -> str | None:
        """The team an awk answer's index names; None for anything else."""
        if index.isdigit() and int(index) < len(self.teams):
            return self.teams[int(index)]
        return None

    def owner_of(self, address: str) -> str | None:
        """The team of one address, longest prefix first (the awk's rule, in Python)."""
        ip = _plain_ip(address)
        if ip is None:
            return None
        for text, index in self.networks:
            if ip in ipaddress.ip_network(text):
                return self.teams[index]
        return None


def _plain_ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address, IPv4-mapped IPv6 as IPv4; None for anything that is no address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def client_network(address: str) -> str:
    """The group of a client that matches no owner: its /24 or /64, or NOT_AN_ADDRESS."""
    ip = _plain_ip(address)
    if ip is None:
        return NOT_AN_ADDRESS
    prefix = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


PeerKey = tuple[int, str | None, str | None]  # (port, team, network)


def owner_vars(owners: ClientOwners) -> str:
    """`-v rules=... -v p4=... -v p6=...` for an awk that includes AWK_OWNERS."""
    rules, v4_lengths, v6_lengths = owners.awk_rules()
    return " ".join(
        f"-v {name}={shlex.quote(value)}"
        for name, value in (("rules", rules), ("p4", v4_lengths), ("p6", v6_lengths))
    )


def over_counts(text: str) -> dict[PeerKey, int]:
    """The sockets awk's `# over PORT T INDEX N` / `# over PORT N NETWORK N` lines: the
    (port, peer) pairs beyond `max_connections`, counted on the host. Team indexes are
    kept as text here (`peer_groups` names them)."""
    found: dict[PeerKey, int] = {}
    for line in text.split("\n"):
        words = line.split(" ")
        if len(words) != 6 or words[:2] != ["#", "over"] or not words[2].isdigit():
            continue
        if not words[5].isdigit() or words[3] not in ("T", "N"):
            continue
        port, count = int(words[2]), int(words[5])
        if words[3] == "T":
            key: PeerKey = (port, words[4], None)
        else:
            key = (port, None, canonical_network(words[4]))
        found[key] = found.get(key, 0) + count
    return found


def peer_groups(
    connections: Iterable[Connection],
    owners: ClientOwners,
    beyond: dict[PeerKey, int] | None = None,
) -> tuple[PeerGroup, ...]:
    """Established connections' peers per listening port and team, the same way as the
    access logs' clients (longest [owners] prefix; else per /24 or /64). Loopback peers are
    the host talking to itself and left out. The probe lists one line per (port, peer) up
    to `max_connections` and counts the rest on the host (`beyond`, from `over_counts`:
    team indexes there)."""
    counts: dict[PeerKey, int] = {}
    for (port, index, network), count in (beyond or {}).items():
        team = owners.team(index) if index is not None else None
        if index is not None and team is None:
            continue
        key = (port, team, network)
        counts[key] = counts.get(key, 0) + count
    for connection in connections:
        ip = _plain_ip(connection.peer)
        if ip is not None and ip.is_loopback:
            continue
        team = owners.owner_of(connection.peer)
        key = (connection.port, team, None if team else client_network(connection.peer))
        counts[key] = counts.get(key, 0) + 1
    return tuple(
        PeerGroup(port, team, network, peers)
        for (port, team, network), peers in sorted(
            counts.items(),
            key=lambda item: (item[0][0], -item[1], item[0][1] or "", item[0][2] or ""),
        )
    )


def canonical_network(text: str) -> str:
    """The awk's network text (`10.9.8.0/24`, `2001:db8:0:1::/64`) in ipaddress's spelling;
    anything else is NOT_AN_ADDRESS."""
    try:
        return str(ipaddress.ip_network(text, strict=True))
    except ValueError:
        return NOT_AN_ADDRESS


# The awk side: address parsing and prefix keys, shared by the web-log aggregation. Call
# `own_init()` in BEGIN (with -v rules, p4, p6 set), then `addr(a)`: it sets AF (4, 6, or 0
# for not an address), AG[1..2 or 8] (16-bit groups) and AC (the canonical text); `owner()`
# returns the team index or "" and `net()` the /24 or /64 text.
AWK_OWNERS = r"""
function own_init(   i, k, n, r) {
  pw[0] = 1; for (i = 1; i <= 16; i++) pw[i] = pw[i - 1] * 2
  n4 = split(p4, L4, " "); n6 = split(p6, L6, " ")
  n = split(rules, r, " ")
  for (i = 1; i <= n; i++) {
    k = index(r[i], "="); own[substr(r[i], 1, k - 1)] = substr(r[i], k + 1)
  }
}
function hexval(s,   i, c, v) {
  v = 0; s = tolower(s)
  for (i = 1; i <= length(s); i++) {
    c = index("0123456789abcdef", substr(s, i, 1)); if (c == 0) return -1
    v = v * 16 + c - 1
  }
  return v
}
function quad(a, q,   n, i) {
  if (a !~ /^[0-9]+[.][0-9]+[.][0-9]+[.][0-9]+$/) return 0
  n = split(a, q, ".")
  # Leading zeros make it no address (as for Python's ipaddress; BusyBox reads them octal).
  for (i = 1; i <= 4; i++) {
    if (length(q[i]) > 3 || (length(q[i]) > 1 && substr(q[i], 1, 1) == "0")) return 0
    q[i] = q[i] + 0; if (q[i] > 255) return 0
  }
  return 1
}
function addr(a,   q, i, j, h, t, nh, nt, H, T, k) {
  AF = 0; AC = a
  if (quad(a, q)) {
    AF = 4; AG[1] = q[1] * 256 + q[2]; AG[2] = q[3] * 256 + q[4]
    AC = q[1] "." q[2] "." q[3] "." q[4]; return
  }
  sub(/%.*/, "", a)
  if (a !~ /^[0-9A-Fa-f:.]+$/ || index(a, ":") == 0) return
  k = match(a, /[0-9.]+$/)
  if (index(a, ".")) {
    if (k == 0 || !quad(substr(a, k), q) || substr(a, k - 1, 1) != ":") return
    a = substr(a, 1, k - 1) sprintf("%x:%x", q[1] * 256 + q[2], q[3] * 256 + q[4])
  }
  i = index(a, "::")
  if (i) {
    h = substr(a, 1, i - 1); t = substr(a, i + 2)
    if (index(t, "::")) return
    nh = (h == "") ? 0 : split(h, H, ":"); nt = (t == "") ? 0 : split(t, T, ":")
    if (nh + nt > 7) return
  } else {
    nh = split(a, H, ":"); nt = 0
    if (nh != 8) return
  }
  for (j = 1; j <= 8; j++) AG[j] = 0
  for (j = 1; j <= nh; j++) { if (length(H[j]) > 4 || (AG[j] = hexval(H[j])) < 0) return }
  for (j = 1; j <= nt; j++) {
    if (length(T[j]) > 4 || (AG[8 - nt + j] = hexval(T[j])) < 0) return
  }
  if (AG[1] + AG[2] + AG[3] + AG[4] + AG[5] == 0 && AG[6] == 65535) {
    AF = 4; AG[1] = AG[7]; AG[2] = AG[8]
    AC = int(AG[1] / 256) "." AG[1] % 256 "." int(AG[2] / 256) "." AG[2] % 256; return
  }
  AF = 6; AC = AG[1]
  for (j = 2; j <= 8; j++) AC = AC ":" AG[j]
}
function owner() {
  if (AF == 4) return longest(L4, n4)
  if (AF == 6) return longest(L6, n6)
  return ""
}
function longest(L, n,   i, p, f, k, j) {
  for (i = 1; i <= n; i++) {
    p = L[i] + 0; f = int(p / 16); k = AF "/" p
    for (j = 1; j <= f; j++) k = k "/" AG[j]
    if (p % 16) k = k "/" int(AG[f + 1] / pw[16 - p % 16])
    if (k in own) return own[k]
  }
  return ""
}
function net() {
  if (AF == 4) return int(AG[1] / 256) "." AG[1] % 256 "." int(AG[2] / 256) ".0/24"
  if (AF == 6) return sprintf("%x:%x:%x:%x::/64", AG[1], AG[2], AG[3], AG[4])
  return "?"
}
"""
