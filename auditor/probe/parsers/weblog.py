"""Access-log summaries made on the host by the probe's awk (Apache and nginx logs in the
common, combined and vhost_combined formats), and the admin-path patterns it flags.

The probe prints, per log file:

    F <size bytes> <1 when only the newest part was read, else 0> <path>
    S <lines read> <lines with a timestamp> <requests in window> <clients> <first> <last>
    C <requests> <client> <last seen epoch>      top clients, most requests first
    P <requests> <path>                          top paths (query strings dropped)
    A <requests> <path>                          admin-looking paths

plus `X <reason> <path>` for a log it skipped and `G <what> <value>` evidence lines (config
files read, log paths named there, piped logs it cannot read). After all logs, every client of
every log in the window, added up (see auditor.probe.owners):

    T <team index> <requests> <clients> <last seen epoch>     per [owners] team
    N <network> <requests> <clients> <last seen epoch>        clients of no team, per /24
                                                              or /64, top ones, then "other"
    U <requests> <clients>                                    all of them; always last
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from auditor.model import ClientUse, NetworkUse, PathCount, TeamUse, WebLog
from auditor.probe.owners import OTHER_NETWORKS, ClientOwners, canonical_network
from auditor.probe.parsers.addresses import normalise_address
from auditor.probe.parsers.clock import from_epoch

# Paths that betray an admin interface, a leaked secret or a scanner's favourite. Matched
# case-insensitively at the start of the path (after any number of slashes).
ADMIN_PATH_PREFIXES: tuple[str, ...] = (
    "admin", "administrator", "wp-admin", "wp-login.php", "xmlrpc.php", "phpmyadmin", "pma",
    "myadmin", "mysqladmin", "adminer", "server-status", "server-info", "manager/html",
    "host-manager", "jmx-console", "web-console", "invoker", "actuator", "console", "solr/admin",
    ".env", ".git", ".svn", ".htaccess", ".htpasswd", "cgi-bin", "phpinfo.php",
)  # fmt: skip

_ADMIN_RE = re.compile(
    "^/+(?:" + "|".join(re.escape(p) for p in ADMIN_PATH_PREFIXES) + ")", re.IGNORECASE
)


def admin_path_awk_regex() -> str:
    """The same patterns as an awk ERE for a string literal: no backslashes needed, since
    `.` is written `[.]` (backslash escapes differ between awks)."""
    alternatives = "|".join(p.replace(".", "[.]") for p in ADMIN_PATH_PREFIXES)
    return f"^/+({alternatives})"


def is_admin_path(path: str) -> bool:
    return _ADMIN_RE.match(path) is not None


@dataclass(frozen=True)
class WebLogSummary:
    log: WebLog
    lines: int  # lines read
    parsed: int  # lines with a timestamp we understood
    partial: bool  # only the newest part of the file was read


@dataclass(frozen=True)
class WebLogReport:
    summaries: tuple[WebLogSummary, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()  # (path, reason)
    evidence: tuple[str, ...] = ()
    incomplete: tuple[str, ...] = ()  # logs whose summary was cut off before its S line
    # Every client over all logs, per team and per network; None when the totals were cut off
    # (the probe stopped before the end) or no log was read.
    teams: tuple[TeamUse, ...] | None = None
    networks: tuple[NetworkUse, ...] | None = None


@dataclass
class _Open:
    path: str
    partial: bool
    stats: list[str] = field(default_factory=list)
    clients: list[ClientUse] = field(default_factory=list)
    paths: list[PathCount] = field(default_factory=list)
    admin: list[PathCount] = field(default_factory=list)


def parse_weblog_report(
    text: str,
    owner_of: Callable[[str], str | None],
    owners: ClientOwners | None = None,
) -> WebLogReport:
    """The report's parts; `owners` names the teams of the T lines (by index)."""
    summaries: list[WebLogSummary] = []
    teams: dict[str, TeamUse] = {}
    networks: dict[str, NetworkUse] = {}
    totals = False
    skipped: list[tuple[str, str]] = []
    evidence: list[str] = []
    incomplete: list[str] = []
    current: _Open | None = None

    def flush() -> None:
        # `sort` puts the S line last: a block without one was cut off mid-way.
        if current is not None:
            if current.stats:
                summaries.append(_summary(current))
            else:
                incomplete.append(current.path)

    for line in text.split("\n"):
        kind, _, rest = line.partition(" ")
        if kind == "F":
            flush()
            _size, _, tail = rest.partition(" ")
            cut, _, path = tail.partition(" ")
            current = _Open(path=path, partial=cut == "1") if path else None
        elif kind == "X":
            reason, _, path = rest.partition(" ")
            skipped.append((path, reason))
        elif kind == "G":
            evidence.append(rest)
        elif kind == "U":
            totals = True
        elif kind in ("T", "N"):
            fields = rest.split(" ")
            if len(fields) != 4 or not (fields[1].isdigit() and fields[2].isdigit()):
                continue
            requests, clients, last = int(fields[1]), int(fields[2]), from_epoch(fields[3])
            if kind == "T":
                team = (owners or ClientOwners()).team(fields[0])
                if team is not None:
                    teams.setdefault(team, TeamUse(team, requests, clients, last))
            else:
                name = fields[0] if fields[0] == OTHER_NETWORKS else canonical_network(fields[0])
                networks.setdefault(name, NetworkUse(name, requests, clients, last))
        elif current is None:
            continue
        elif kind == "S":
            current.stats = rest.split()
        elif kind == "C":
            fields = rest.split(" ")
            if len(fields) == 3 and fields[0].isdigit():
                address = normalise_address(fields[1])
                current.clients.append(
                    ClientUse(address, int(fields[0]), from_epoch(fields[2]), owner_of(address))
                )
        elif kind in ("P", "A"):
            count, _, path = rest.partition(" ")
            if count.isdigit() and path:
                (current.paths if kind == "P" else current.admin).append(
                    PathCount(path, int(count))
                )
    flush()
    if not totals:
        # No U line: no log was read, or the totals never came (the probe was cut off).
        return WebLogReport(tuple(summaries), tuple(skipped), tuple(evidence), tuple(incomplete))
    return WebLogReport(
        tuple(summaries), tuple(skipped), tuple(evidence), tuple(incomplete),
        teams=tuple(sorted(teams.values(), key=lambda t: (-t.requests, t.team))),
        networks=tuple(sorted(networks.values(), key=_network_order)),
    )  # fmt: skip


def _network_order(use: NetworkUse) -> tuple[bool, int, str]:
    return (use.network == OTHER_NETWORKS, -use.requests, use.network)


def _summary(found: _Open) -> WebLogSummary:
    numbers = [int(x) if x.lstrip("-").isdigit() else 0 for x in found.stats] + [0] * 6
    lines, parsed, requests, clients, first, last = numbers[:6]
    # awk counted "::ffff:10.0.0.5" and "10.0.0.5" apart; they are one client.
    top_clients = _merge(found.clients)
    clients = max(clients - (len(found.clients) - len(top_clients)), len(top_clients))
    log = WebLog(
        path=found.path,
        requests=requests,
        clients=clients,
        top_paths=_ranked(found.paths),
        admin_paths=_ranked(found.admin),
        top_clients=top_clients,
        first_seen=from_epoch(first) if first else None,
        last_seen=from_epoch(last) if last else None,
    )
    return WebLogSummary(log, lines, parsed, found.partial)


def _ranked(counts: list[PathCount]) -> tuple[PathCount, ...]:
    return tuple(sorted(counts, key=lambda p: (-p.requests, p.path)))


def merge_clients(logs: tuple[WebLog, ...]) -> tuple[ClientUse, ...]:
    """One entry per client address over all logs: requests summed, latest last_seen."""
    return _merge([client for log in logs for client in log.top_clients])


def _merge(clients: list[ClientUse]) -> tuple[ClientUse, ...]:
    merged: dict[str, ClientUse] = {}
    for client in clients:
        seen = merged.get(client.address)
        if seen is None:
            merged[client.address] = client
            continue
        latest = max((t for t in (seen.last_seen, client.last_seen) if t is not None), default=None)
        merged[client.address] = ClientUse(
            client.address, seen.requests + client.requests, latest, seen.owner or client.owner
        )
    return tuple(sorted(merged.values(), key=lambda c: (-c.requests, c.address)))
