"""Who and what uses a host, from its probed facts: clients (access logs and inbound
connections), logins, scheduled jobs, log writes; and the verdict in use / idle / unknown.
Pure: `auditor inspect` and `auditor premigrate` both judge activity here.

The auditor itself is left out: its SSH connection, its own logins (the login user from the
auditor's address) and SSH connections in general (an open SSH connection from someone
else is a login, not a client).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from auditor.inspect.model import Client, LoginSeen, UseState, Verdict
from auditor.model import Facts, Login, NetworkUse, PeerGroup, TeamUse

OwnerOf = Callable[[str], "str | None"]

# Cron lines a distribution installs: they say nothing about what the host is for.
_DISTRIBUTION_JOBS = re.compile(
    r"run-parts|/usr/lib(?:64)?/sa/sa[12]|debian-sa1|e2scrub|sessionclean|/usr/sbin/anacron|"
    r"0anacron|logrotate|man-db|makewhatis|mlocate|updatedb|tmpwatch|tmpreaper|apt-compat|"
    r"\bdpkg\b|popularity-contest|bsdmainutils|sysstat|cracklib|rpm\b|yum|prelink|readahead|"
    r"certwatch|raid-check|exim4-base|ntp\b|chrony|passwd\b|locate|0yum|00webalizer|"
    r"dailyjobs|mdadm|apport|update-notifier|fstrim|plocate|ureadahead|cron\.d/php"
)


@dataclass(frozen=True)
class Activity:
    """What used the host within `window_days`, the auditor itself left out."""

    window_days: int
    clients: tuple[Client, ...]  # access-log clients and inbound (non-SSH) connection peers
    web_requests: int | None  # requests in the window over all access logs; None: none read
    inbound: tuple[tuple[int, str], ...]  # (port, peer) of inbound non-SSH connections
    ssh_peers: tuple[str, ...]  # peers with an SSH connection open now (not the auditor)
    logins: tuple[LoginSeen, ...]  # logins within the window (and sessions open now)
    older_logins: tuple[LoginSeen, ...]  # logins seen, before the window
    scheduled_jobs: tuple[str, ...]  # cron entries beyond the distribution's own
    last_log_write: datetime | None
    unreadable: tuple[str, ...]  # the usage signals that could not be read, and why
    # Every access-log client in the window (counted on the host), per team and, for
    # clients of no team, per /24 or /64; empty when the logs or the totals could not be read.
    team_use: tuple[TeamUse, ...] = ()
    network_use: tuple[NetworkUse, ...] = ()
    peer_groups: tuple[PeerGroup, ...] = ()  # inbound (non-SSH) connections' peers per team

    @property
    def teams(self) -> tuple[str, ...]:
        """Every team seen using the host: the busiest (by requests) first, then the rest
        (connections, logins) by name."""
        owners = [t.team for t in self.team_use]
        owners += [c.owner for c in self.clients if c.owner]
        owners += [g.team for g in self.peer_groups if g.team]
        owners += [lg.owner for lg in self.logins if lg.owner]
        busiest = [t.team for t in self.team_use]
        return tuple(busiest + sorted(set(owners) - set(busiest)))

    @property
    def web_clients(self) -> int:
        """Distinct access-log clients in the window: all of them when the host counted
        them per team, else the top addresses it shipped."""
        if self.team_use or self.network_use:
            return sum(t.clients for t in self.team_use) + sum(n.clients for n in self.network_use)
        return sum(1 for c in self.clients if c.requests)

    @property
    def client_count(self) -> int:
        """Distinct clients: access-log clients plus peers only seen connected."""
        return self.web_clients + sum(1 for c in self.clients if c.requests is None)

    def share(self, requests: int) -> int:
        """`requests` as a whole percentage of all access-log requests in the window."""
        total = sum(t.requests for t in self.team_use) + sum(n.requests for n in self.network_use)
        return round(100 * requests / total) if total else 0

    @property
    def last_login(self) -> datetime | None:
        return max((lg.at for lg in self.logins if lg.at), default=None)

    @property
    def last_client(self) -> datetime | None:
        seen = [c.last_seen for c in self.clients]
        seen += [t.last_seen for t in self.team_use] + [n.last_seen for n in self.network_use]
        return max((t for t in seen if t), default=None)

    @property
    def in_use(self) -> bool:
        return bool(
            self.clients or self.team_use or self.network_use or self.logins or self.ssh_peers
        )


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address in ("localhost", "*")


def is_custom_job(entry: str) -> bool:
    """A cron entry (`file: line`) someone added, not one the distribution ships."""
    return _DISTRIBUTION_JOBS.search(entry) is None


def assess_activity(
    facts: Facts,
    *,
    now: datetime,
    window_days: int,
    owner_of: OwnerOf,
    own_addresses: Iterable[str] = (),
    own_user: str | None = None,
    ssh_ports: Iterable[int] = (22,),
    accepted_logins: Iterable[Login] = (),
) -> Activity:
    """Activity from one host's facts. `own_addresses`/`own_user` are the auditor's."""
    since = now - timedelta(days=window_days)
    mine = frozenset(own_addresses)
    ssh = frozenset(ssh_ports)
    unreadable: list[str] = []

    clients: dict[str, Client] = {}
    web_requests = None
    if facts.web_logs is not None:
        web_requests = sum(log.requests for log in facts.web_logs)
        # The host kept only the window's lines, by its own clock: no second cut here.
        for use in facts.clients or ():
            if use.address in mine:
                continue
            clients[use.address] = Client(
                use.address, use.requests, use.owner or owner_of(use.address), use.last_seen,
                "access log",
            )  # fmt: skip
    elif facts.errors.get("web_logs"):
        unreadable.append(f"access logs: {facts.errors['web_logs']}")

    inbound: list[tuple[int, str]] = []
    ssh_peers: list[str] = []
    if facts.connections is not None:
        for connection in facts.connections:
            if connection.peer in mine or is_loopback(connection.peer):
                continue
            if connection.port in ssh:
                ssh_peers.append(connection.peer)
                continue
            inbound.append((connection.port, connection.peer))
            via = f"connection to :{connection.port}"
            known = clients.get(connection.peer)
            if known is None:
                clients[connection.peer] = Client(
                    connection.peer, None, owner_of(connection.peer), None, via
                )
            elif via not in known.via:
                clients[connection.peer] = Client(
                    known.address, known.requests, known.owner, known.last_seen,
                    f"{known.via}, {via}",
                )  # fmt: skip
    else:
        unreadable.append(f"connections: {facts.errors.get('connections', 'not read')}")

    recent, older = _logins(facts, accepted_logins, since, mine, own_user, owner_of, unreadable)
    for peer in sorted(set(ssh_peers)):
        if not any(lg.source == peer for lg in recent):
            recent.append(LoginSeen("?", peer, None, "open SSH connection", owner_of(peer)))

    peer_groups = tuple(g for g in facts.connection_teams or () if g.port not in ssh)
    jobs = tuple(e for e in facts.cron or () if is_custom_job(e))
    latest_write = facts.log_activity.latest_write if facts.log_activity else None
    ordered = sorted(clients.values(), key=lambda c: (-(c.requests or 0), c.address))
    return Activity(
        window_days=window_days,
        clients=tuple(ordered),
        web_requests=web_requests,
        inbound=tuple(sorted(set(inbound))),
        ssh_peers=tuple(sorted(set(ssh_peers))),
        logins=tuple(recent),
        older_logins=tuple(older),
        scheduled_jobs=jobs,
        last_log_write=latest_write,
        unreadable=tuple(unreadable),
        team_use=facts.client_teams or (),
        network_use=facts.client_networks or (),
        peer_groups=peer_groups,
    )


def _logins(
    facts: Facts,
    accepted: Iterable[Login],
    since: datetime,
    mine: frozenset[str],
    own_user: str | None,
    owner_of: OwnerOf,
    unreadable: list[str],
) -> tuple[list[LoginSeen], list[LoginSeen]]:
    """(logins in the window and sessions open now, older logins), newest first, one entry
    per (user, source, time)."""
    seen: dict[tuple[str, str | None, datetime | None], LoginSeen] = {}
    sources: list[tuple[str, Iterable[Login]]] = [("auth log", accepted)]
    if facts.logins is not None:
        sources.append(("last", facts.logins))
    elif facts.errors.get("logins"):
        unreadable.append(f"logins: {facts.errors['logins']}")
    sources.append(("who (open now)", facts.sessions or ()))
    for via, logins in sources:
        for login in logins:
            if _is_auditor(login, mine, own_user):
                continue
            key = (login.user, login.source, login.at)
            if key in seen:
                continue
            owner = owner_of(login.source) if login.source else None
            seen[key] = LoginSeen(login.user, login.source, login.at, via, owner)
    recent = [
        lg for lg in seen.values() if lg.via == "who (open now)" or (lg.at and lg.at >= since)
    ]
    older = [lg for lg in seen.values() if lg not in recent]
    newest_first = sorted(recent, key=_login_order), sorted(older, key=_login_order)
    return newest_first[0], newest_first[1]


def _login_order(login: LoginSeen) -> tuple[float, str]:
    return (-login.at.timestamp() if login.at else 0.0, login.user)


def _is_auditor(login: Login, mine: frozenset[str], own_user: str | None) -> bool:
    if login.source is None or login.source not in mine:
        return False
    return own_user is None or login.user == own_user


def judge(activity: Activity | None, probe_reason: str | None = None) -> Verdict:
    """in use (someone or something used it within the window), idle (we could look and
    nobody did), unknown (we could not look). Evidence names what was seen."""
    if activity is None:
        return Verdict(
            UseState.UNKNOWN,
            (f"the host could not be probed: {probe_reason or 'no SSH session'}",),
        )
    days = activity.window_days
    evidence: list[str] = []
    if activity.clients or activity.team_use or activity.network_use:
        web = [c for c in activity.clients if c.requests]
        if activity.team_use or activity.network_use:
            groups: list[TeamUse | NetworkUse] = [*activity.team_use, *activity.network_use]
            requests = sum(g.requests for g in groups)
            last = max((g.last_seen for g in groups if g.last_seen), default=None)
        else:
            requests = sum(c.requests or 0 for c in web)
            last = max((c.last_seen for c in web if c.last_seen), default=None)
        if requests:
            evidence.append(
                f"{requests} requests from {activity.web_clients} clients in the access logs "
                f"in the last {days} days" + (f" (last {_when(last)})" if last else "")
            )
        evidence += [
            f"team {t.team}: {t.requests} requests ({activity.share(t.requests)}%) from "
            f"{t.clients} clients" + (f", last {_when(t.last_seen)}" if t.last_seen else "")
            for t in activity.team_use
        ]
        unowned = sum(n.requests for n in activity.network_use)
        if unowned:
            evidence.append(
                f"{unowned} requests ({activity.share(unowned)}%) from "
                f"{sum(n.clients for n in activity.network_use)} clients of no team"
            )
        for port, peer in activity.inbound[:5]:
            evidence.append(f"established connection to :{port} from {peer}")
        if len(activity.inbound) > 5:
            evidence.append(f"... and {len(activity.inbound) - 5} more inbound connections")
    teams = activity.teams
    if teams:
        evidence.append("clients belong to " + ", ".join(teams))
    if activity.logins:
        users = sorted({lg.user for lg in activity.logins})
        last = activity.last_login
        evidence.append(
            f"{len(activity.logins)} logins/sessions in the last {days} days by "
            + ", ".join(users[:6])
            + (f" (last {_when(last)})" if last else "")
        )
    if activity.in_use:
        evidence += _background(activity)
        return Verdict(UseState.IN_USE, tuple(evidence))
    looked = activity.web_requests is not None or not any(
        u.startswith("connections:") for u in activity.unreadable
    )
    if not looked:
        return Verdict(
            UseState.UNKNOWN,
            ("neither connections nor access logs could be read", *activity.unreadable),
        )
    quiet = [
        f"no client in the access logs in the last {days} days"
        if activity.web_requests is not None
        else "no access log found",
        "no established inbound connection (SSH aside) at the time of the probe",
        f"no login in the last {days} days",
    ]
    return Verdict(UseState.IDLE, (*quiet, *_background(activity), *activity.unreadable))


def _background(activity: Activity) -> list[str]:
    notes = []
    if activity.scheduled_jobs:
        notes.append(f"runs {len(activity.scheduled_jobs)} scheduled jobs of its own (cron)")
    if activity.last_log_write is not None:
        notes.append(f"last log write {_when(activity.last_log_write)}")
    return notes


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")
