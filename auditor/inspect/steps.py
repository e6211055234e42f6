"""The checklist at the end of a dossier: whom to contact, what to back up, what must move
before the host can be switched off, what to record and what to decide. Pure."""

from __future__ import annotations

import re
from collections.abc import Sequence

from auditor.inspect.model import Dossier, NextStep, Service, UseState
from auditor.inspect.usage import Activity
from auditor.probe.owners import OTHER_NETWORKS

MAX_LISTED = 5
# An absolute path as a word of a command line (not the "/10" of "*/10").
_CRON_PATH_RE = re.compile(r"(?:^|(?<=[\s;&|(]))(/[\w.+-][\w./+-]*)")
_SYSTEM_PORTS = frozenset({22})


def _listed(items: Sequence[str], limit: int = MAX_LISTED) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _unique(items: Sequence[str]) -> str:
    return _listed(list(dict.fromkeys(items)))


def next_steps(dossier: Dossier, activity: Activity | None) -> tuple[NextStep, ...]:
    steps: list[NextStep] = []
    if dossier.probe_state == "partial":
        steps.append(
            NextStep(
                "access",
                f"The probe of {dossier.address} was cut short ({dossier.probe_reason}): what "
                "did not arrive is unknown. Inspect again (a longer [ssh] deadline if it hung).",
            )
        )
    elif dossier.probe_state != "ok":
        steps.append(
            NextStep(
                "access",
                f"Get SSH access to {dossier.address} ({dossier.probe_reason or 'no session'}) "
                "and inspect again: what runs there and who uses it is unknown until then.",
            )
        )
    if activity is not None:
        steps += _contacts(activity)
    steps += _backups(dossier, activity)
    steps += _moves(dossier, activity)
    steps += _records(dossier)
    steps += _decisions(dossier, activity)
    return tuple(steps)


def _contacts(activity: Activity) -> list[NextStep]:
    """One step per team that uses the host, busiest first, saying how much of the traffic
    is theirs (every access-log client counted on the host), their connections and logins;
    then the clients no team owns."""
    steps = []
    addresses: dict[str, list[str]] = {}
    for client in activity.clients:
        if client.owner:
            addresses.setdefault(client.owner, []).append(client.address)
    for login in activity.logins:
        if login.owner and login.source:
            addresses.setdefault(login.owner, []).append(login.source)
    use = {t.team: t for t in activity.team_use}
    for team in activity.teams:
        what = []
        if team in use:
            t = use[team]
            what.append(
                f"{t.requests} requests ({activity.share(t.requests)}% of all) from "
                f"{t.clients} addresses"
            )
        else:
            requests = sum(c.requests or 0 for c in activity.clients if c.owner == team)
            what += [f"{requests} requests"] if requests else []
        peers = sum(g.peers for g in activity.peer_groups if g.team == team)
        what += [f"{peers} peers connected now"] if peers else []
        logins = sum(1 for lg in activity.logins if lg.owner == team)
        what += [f"{logins} logins"] if logins else []
        seen = list(dict.fromkeys(addresses.get(team, [])))
        steps.append(
            NextStep(
                "contact",
                f"Contact {team}: {', '.join(what) or 'connections'} in the last "
                f"{activity.window_days} days" + (f" (e.g. {_listed(seen, 3)})" if seen else "")
                + ".",
            )
        )  # fmt: skip
    steps += _unowned(activity)
    users = sorted({lg.user for lg in activity.logins if lg.user != "?"})
    if users:
        steps.append(
            NextStep(
                "contact",
                f"Ask the people who log in ({_listed(users)}) what they do there.",
            )
        )
    return steps


def _unowned(activity: Activity) -> list[NextStep]:
    """Clients no [owners] network covers: their share and busiest networks, when the host
    counted every client; else the top addresses without a team."""
    networks = [n for n in activity.network_use if n.requests]
    if networks:
        requests = sum(n.requests for n in networks)
        clients = sum(n.clients for n in networks)
        named = [n.network for n in networks if n.network != OTHER_NETWORKS]
        return [
            NextStep(
                "contact",
                f"Find who is behind {clients} clients no team owns ({requests} requests, "
                f"{activity.share(requests)}% of all; busiest networks {_listed(named, 3)}): "
                "add their networks to [owners], or look them up (--reverse-dns).",
            )
        ]
    unowned = [c.address for c in activity.clients if not c.owner]
    if not unowned:
        return []
    return [
        NextStep(
            "contact",
            f"Find who is behind {len(unowned)} clients no team owns ({_listed(unowned, 3)}): "
            "add their networks to [owners], or look them up (--reverse-dns).",
        )
    ]


def _backups(dossier: Dossier, activity: Activity | None) -> list[NextStep]:
    steps = []
    configs = [c for s in dossier.services for c in s.configs]
    if configs:
        steps.append(
            NextStep(
                "backup", f"Back up the service configs: {_listed(list(dict.fromkeys(configs)))}."
            )
        )
    unpackaged = [
        f"{s.program or s.exe}" + (f" (cwd {s.cwd})" if s.cwd and s.cwd != "/" else "")
        for s in dossier.services
        if (s.program or s.exe) and s.package is None and s.port not in _SYSTEM_PORTS
    ]
    if unpackaged:
        steps.append(
            NextStep(
                "backup",
                "Copy the programs no package owns (hand-installed: they exist nowhere else): "
                + _listed(list(dict.fromkeys(unpackaged)))
                + ".",
            )
        )
    if activity is not None and activity.scheduled_jobs:
        scripts = [
            path
            for job in activity.scheduled_jobs
            for path in _CRON_PATH_RE.findall(job.split(": ", 1)[-1])
            if not path.startswith(("/dev/", "/bin/", "/usr/bin/", "/sbin/", "/usr/sbin/"))
        ]
        if scripts:
            steps.append(
                NextStep(
                    "backup",
                    f"Back up the scripts its cron jobs run: {_unique(scripts)}.",
                )
            )
    logs = [log for s in dossier.services if s.clients for log in s.logs if "access" in log]
    if logs:
        steps.append(
            NextStep(
                "backup",
                f"Keep the access logs ({_listed(list(dict.fromkeys(logs)))}): they are the "
                "record of who used it.",
            )
        )
    return steps


def _service_name(service: Service) -> str:
    name = service.software or service.process or "a process"
    title = f", '{service.http.title}'" if service.http and service.http.title else ""
    server = f", {service.http.server}" if service.http and service.http.server else ""
    return f"{name} on :{service.port}{server}{title}"


def _moves(dossier: Dossier, activity: Activity | None) -> list[NextStep]:
    steps = []
    for service in dossier.services:
        if service.proto != "tcp" or service.port in _SYSTEM_PORTS:
            continue
        if service.clients:
            steps.append(
                NextStep(
                    "move",
                    f"Move or replace {_service_name(service)} before switching off: "
                    f"{service.clients} clients used it in the last {dossier.window_days} days.",
                )
            )
    if activity is not None and activity.scheduled_jobs:
        steps.append(
            NextStep(
                "move",
                "Move or retire its own cron jobs: "
                + _listed([j.split(": ", 1)[-1] for j in activity.scheduled_jobs], 3)
                + ".",
            )
        )
    return steps


def _records(dossier: Dossier) -> list[NextStep]:
    steps = []
    known = dossier.known_by
    if not known.checked:
        steps.append(
            NextStep(
                "record",
                "Run again with --config to see whether any inventory, Terraform state or "
                "cloud account lists it.",
            )
        )
    elif not known.listed_by:
        steps.append(
            NextStep(
                "record",
                "No inventory, state or cloud account lists it: record it (owner, purpose) in "
                "the inventory, or schedule its decommissioning.",
            )
        )
    refs = dossier.references
    if not refs.searched:
        steps.append(
            NextStep(
                "record",
                "Search the IaC and application repositories (--repos) for what points at it.",
            )
        )
    elif not refs.references and not refs.errors:
        steps.append(
            NextStep(
                "record",
                "No repository mentions it: whatever configures or calls it is not in code. "
                "Back up its configuration first; it exists only on the host.",
            )
        )
    elif refs.references:
        files = list(dict.fromkeys(f"{r.repo}:{r.path}" for r in refs.references))
        steps.append(
            NextStep(
                "record",
                f"Update what points at it when it moves: {_listed(files)}.",
            )
        )
    return steps


def _decisions(dossier: Dossier, activity: Activity | None) -> list[NextStep]:
    steps = []
    identity = dossier.identity
    if identity.os_eol == "eol":
        since = f" since {identity.os_eol_date}" if identity.os_eol_date else ""
        steps.append(
            NextStep(
                "decide",
                f"{identity.os or 'Its OS'} is past end of life{since}: migrate the services "
                "to a supported system rather than patch this one.",
            )
        )
    admin = [p.path for s in dossier.services for p in s.admin_paths]
    if admin:
        steps.append(
            NextStep(
                "decide",
                f"Admin-looking pages were requested ({_listed(list(dict.fromkeys(admin)), 4)}): "
                "check who asked and that they are not open to the network.",
            )
        )
    state = dossier.verdict.state
    if state is UseState.IN_USE and activity is not None:
        teams = ", ".join(activity.teams) or "its users"
        steps.append(
            NextStep(
                "decide",
                f"It is in use: agree a migration plan and date with {teams} before any shutdown.",
            )
        )
    elif state is UseState.IDLE:
        steps.append(
            NextStep(
                "decide",
                f"Nobody used it in {dossier.window_days} days: announce a shutdown date, stop "
                "its services for a scream test, then decommission it (keep the backups).",
            )
        )
    elif dossier.probe_state == "ok":
        steps.append(
            NextStep(
                "decide",
                "Usage could not be read: inspect again with sudo ([ssh] sudo = true) so "
                "connections and logs can be read as root.",
            )
        )
    needs_root = [key for key, reason in dossier.errors if "needs root" in reason]
    if needs_root and state is not UseState.UNKNOWN:
        steps.append(
            NextStep(
                "access",
                f"Some facts need root ({_listed(needs_root, 3)}): inspect again with sudo.",
            )
        )
    return steps
