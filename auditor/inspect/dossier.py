"""Assemble a `Dossier` from what was gathered: probe facts, deeper facts, front pages,
sources and repositories. Pure: every input is data, the clock is a parameter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from auditor.host_owner import client_owner
from auditor.inspect.http import url_for
from auditor.inspect.model import (
    Client,
    Dossier,
    HttpFront,
    Identity,
    KnownBy,
    LoginSeen,
    RepoSearch,
    Service,
    StartInfo,
)
from auditor.inspect.steps import next_steps
from auditor.inspect.usage import Activity, assess_activity, judge
from auditor.model import Facts, Host, Listener, Package, PathCount, SshOutcome
from auditor.probe.facts import InspectFacts
from auditor.probe.facts.auth_log import as_logins
from auditor.probe.facts.services import ServiceProcess
from auditor.probe.parsers.software import program_name

WEB_NAMES = ("httpd", "apache", "apache2", "nginx", "lighttpd")
CONFIG_SUFFIXES = (
    ".conf", ".cnf", ".cfg", ".ini", ".yml", ".yaml", ".toml", ".xml", ".properties", ".json",
)  # fmt: skip
CONFIG_FLAGS = ("-f", "-c", "--config", "-config", "--conf", "-conf", "--config-file", "-C")
MAX_LOGINS_SHOWN = 50


@dataclass(frozen=True)
class Gathered:
    """Everything collected about one host, before judging it."""

    address: str
    host: Host
    outcome: SshOutcome
    facts: Facts | None
    deep: InspectFacts | None
    now: datetime
    window_days: int
    login_user: str | None = None
    own_addresses: tuple[str, ...] = ()
    ssh_ports: tuple[int, ...] = (22,)
    http: Mapping[int, HttpFront] = field(default_factory=dict)
    http_skipped: tuple[tuple[int, str], ...] = ()  # web ports not asked, and why
    known: KnownBy = field(default_factory=lambda: KnownBy(checked=False))
    references: RepoSearch = field(default_factory=lambda: RepoSearch(searched=False))


def build_dossier(gathered: Gathered, owner_of: Callable[[str], str | None]) -> Dossier:
    g = gathered
    facts, deep = g.facts, g.deep
    own = tuple(dict.fromkeys((*g.own_addresses, *_machine_address(deep))))
    activity: Activity | None = None
    if facts is not None:
        activity = assess_activity(
            facts,
            now=g.now,
            window_days=g.window_days,
            owner_of=owner_of,
            own_addresses=own,
            own_user=g.login_user,
            ssh_ports=(*g.ssh_ports, *((g.outcome.port,) if g.outcome.port else ())),
            accepted_logins=as_logins(deep.accepted_logins or ()) if deep else (),
        )
    identity = build_identity(g, facts, deep)
    pages = dict(g.http)
    for port, why in g.http_skipped:  # web ports we did not ask, and why
        pages.setdefault(port, HttpFront(url_for(g.address, port, "http"), error=why))
    services = build_services(facts, deep, pages, activity)
    clients = activity.clients if activity else ()
    logins: tuple[LoginSeen, ...] = ()
    if activity is not None:
        logins = (activity.logins + activity.older_logins)[:MAX_LOGINS_SHOWN]
    verdict = judge(activity, g.outcome.reason)
    dossier = Dossier(
        host=_label(g.host, facts),
        address=g.address,
        generated_at=g.now,
        window_days=g.window_days,
        probe_state=g.outcome.state,
        probe_reason=g.outcome.reason,
        identity=identity,
        services=services,
        clients=clients,
        logins=logins,
        cron=tuple(facts.cron or ()) if facts else (),
        known_by=g.known,
        references=g.references,
        verdict=verdict,
        next_steps=(),
        software=_software(facts),
        last_log_write=activity.last_log_write if activity else None,
        errors=_errors(facts, deep),
        teams=activity.team_use if activity else (),
        networks=activity.network_use if activity else (),
        peer_groups=activity.peer_groups if activity else (),
        owner=g.host.owner or client_owner(facts, g.ssh_ports),
    )
    return replace(dossier, next_steps=next_steps(dossier, activity))


def _machine_address(deep: InspectFacts | None) -> tuple[str, ...]:
    if deep is None or deep.machine is None or deep.machine.auditor_address is None:
        return ()
    return (deep.machine.auditor_address,)


def _label(host: Host, facts: Facts | None) -> str:
    if facts is not None and facts.hostname:
        return facts.hostname
    return host.label


def _named(client: Client, names: Mapping[str, str]) -> Client:
    name = names.get(client.address)
    return replace(client, name=name) if name else client


# --------------------------------------------------------------------------- identity


def build_identity(g: Gathered, facts: Facts | None, deep: InspectFacts | None) -> Identity:
    names = list(g.host.hostnames)
    if facts is not None:
        names += [n for n in (facts.hostname, facts.fqdn) if n]
    machine = deep.machine if deep else None
    os = facts.os if facts else None
    cloud, cloud_details = _cloud(g.host, machine.cloud if machine else None)
    reached = None
    if g.outcome.state in ("ok", "partial"):
        who = f"{g.login_user}@" if g.login_user else ""
        reached = f"{who}{g.outcome.address or g.address}:{g.outcome.port or 22}"
    hardware = " ".join(x for x in (machine.vendor, machine.product) if x) if machine else ""
    return Identity(
        address=g.address,
        hostnames=tuple(dict.fromkeys(n for n in names if n)),
        fqdn=facts.fqdn if facts else None,
        os=(os.pretty_name or os.name) if os else None,
        os_id=os.id if os else None,
        os_version=os.version if os else None,
        os_eol=os.eol.status if os and os.eol else None,
        os_eol_date=os.eol.date if os and os.eol else None,
        kernel=facts.kernel if facts else None,
        arch=facts.arch if facts else None,
        uptime_seconds=facts.uptime_seconds if facts else None,
        boot_time=facts.boot_time if facts else None,
        virtualization=machine.virtualization if machine else None,
        virtualization_source=machine.virtualization_source if machine else None,
        hardware=hardware or None,
        hypervisor_flag=machine.hypervisor_flag if machine else None,
        cpus=machine.cpus if machine else None,
        memory_mb=machine.memory_kb // 1024 if machine and machine.memory_kb else None,
        cloud=cloud,
        cloud_details=cloud_details,
        reached_as=reached,
    )


def _cloud(host: Host, dmi_cloud: str | None) -> tuple[str | None, tuple[str, ...]]:
    """The AWS source's word when it knows the host; else the DMI vendor's hint."""
    if host.cloud:
        details = []
        for key in ("instance_id", "instance_type", "region", "account", "state", "launch_time"):
            value = host.cloud.get(key)
            if value:
                details.append(f"{key}: {value}")
        tags = host.cloud.get("tags")
        if isinstance(tags, Mapping) and tags:
            details.append("tags: " + ", ".join(f"{k}={v}" for k, v in sorted(tags.items())))
        return str(host.cloud.get("provider") or "aws"), tuple(details)
    if dmi_cloud:
        return dmi_cloud, ("from the DMI vendor (no cloud source knows this host)",)
    return None, ()


# --------------------------------------------------------------------------- services


def build_services(
    facts: Facts | None,
    deep: InspectFacts | None,
    pages: Mapping[int, HttpFront],
    activity: Activity | None,
) -> tuple[Service, ...]:
    if facts is None or facts.listeners is None:
        return ()
    by_pid = {p.pid: p for p in (deep.services or ())} if deep else {}
    grouped: dict[tuple[str, int], list[Listener]] = {}
    for listener in facts.listeners:
        grouped.setdefault((listener.proto, listener.port), []).append(listener)
    services = []
    for (proto, port), listeners in sorted(
        grouped.items(), key=lambda kv: (kv[0][0] != "tcp", kv[0][1])
    ):
        first = next((lst for lst in listeners if lst.pid is not None), listeners[0])
        process = by_pid.get(first.pid) if first.pid is not None else None
        web = _is_web(first)
        services.append(
            Service(
                port=port,
                proto=proto,
                bound=", ".join(dict.fromkeys(lst.address for lst in listeners)),
                process=first.process,
                pid=first.pid,
                exe=first.exe,
                program=process.program if process and process.program != first.exe else None,
                cwd=first.cwd,
                user=first.user,
                cmdline=first.cmdline,
                started_at=process.started_at if process else None,
                package=process.package.package if process and process.package else None,
                package_note=process.package.note if process and process.package else None,
                started_by=_start(process),
                tree=_tree(process),
                children=process.children if process else 0,
                child_names=tuple(dict.fromkeys(process.child_names)) if process else (),
                logs=service_logs(process, facts if web else None),
                configs=service_configs(first.cmdline, process),
                software=_software_of(first, process, facts),
                http=pages.get(port) if proto == "tcp" else None,
                admin_paths=_admin_paths(facts) if web else (),
                clients=_clients_of(port, web, activity),
            )
        )
    return tuple(services)


def _is_web(listener: Listener) -> bool:
    name = (listener.process or "").lower()
    return name.startswith(WEB_NAMES)


def _start(process: ServiceProcess | None) -> StartInfo | None:
    if process is None or process.started_by is None:
        return None
    started = process.started_by
    return StartInfo(started.kind, started.detail, started.evidence)


def _tree(process: ServiceProcess | None) -> tuple[str, ...]:
    if process is None:
        return ()
    return tuple(f"pid {a.pid}: {a.cmdline or '?'}" for a in process.ancestors)


_LOG_PATH_RE = re.compile(r"(?:^/var/log/|log|\.out$|\.err$)", re.IGNORECASE)


def service_logs(process: ServiceProcess | None, web_facts: Facts | None) -> tuple[str, ...]:
    """Files the process writes to (its open descriptors opened for writing, or anything
    under /var/log), and for a web server the access logs its config names."""
    logs: list[str] = []
    if process is not None:
        for opened in process.open_files:
            path = opened.path
            if path.startswith(("/dev/", "/proc/", "/sys/")) or path.endswith(" (deleted)"):
                continue
            if "w" in opened.mode or path.startswith("/var/log/") or _LOG_PATH_RE.search(path):
                logs.append(path)
    if web_facts is not None:
        logs += [log.path for log in web_facts.web_logs or ()]
    return tuple(dict.fromkeys(logs))


def service_configs(cmdline: str | None, process: ServiceProcess | None) -> tuple[str, ...]:
    """Config files named on the command line (`-f FILE`, `--config=FILE`, or an absolute
    path with a config suffix) and files under /etc the process holds open for reading."""
    found: list[str] = []
    words = (cmdline or "").split()
    for i, word in enumerate(words):
        flag, eq, value = word.partition("=")
        if eq and flag in CONFIG_FLAGS and value.startswith("/"):
            found.append(value)
        elif word in CONFIG_FLAGS and i + 1 < len(words) and words[i + 1].startswith("/"):
            found.append(words[i + 1])
        elif word.startswith("/") and word.lower().endswith(CONFIG_SUFFIXES):
            found.append(word)
    if process is not None:
        found += [
            f.path
            for f in process.open_files
            if f.mode == "r" and f.path.startswith("/etc/") and not f.path.startswith("/etc/ld.so")
        ]
    return tuple(dict.fromkeys(found))


def _software_of(listener: Listener, process: ServiceProcess | None, facts: Facts) -> str | None:
    names = {
        program_name(path)
        for path in (listener.process or "", listener.exe or "", process.program if process else "")
        if path
    }
    names.discard(None)
    for software in facts.software or ():
        if software.name in names or (software.name == "httpd" and "apache2" in names):
            return f"{software.name} {software.version}"
    return None


def _admin_paths(facts: Facts) -> tuple[PathCount, ...]:
    counts: dict[str, int] = {}
    for log in facts.web_logs or ():
        for admin in log.admin_paths:
            counts[admin.path] = counts.get(admin.path, 0) + admin.requests
    return tuple(PathCount(p, n) for p, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _clients_of(port: int, web: bool, activity: Activity | None) -> int:
    if activity is None:
        return 0
    addresses = {peer for p, peer in activity.inbound if p == port}
    if web:
        addresses |= {c.address for c in activity.clients if c.requests}
    return len(addresses)


# --------------------------------------------------------------------------- rest


def _software(facts: Facts | None) -> tuple[str, ...]:
    if facts is None:
        return ()
    out = []
    for software in facts.software or ():
        said = []
        if software.eol and software.eol.status != "unknown":
            said.append(software.eol.status)
        # Who maintains it decides whose end of life counts (docs/eol.md).
        if isinstance(software.package, Package):
            said.append(f"{software.package.manager} package {software.package.name}")
        elif software.package is None:
            said.append("hand-installed")
        status = f" ({', '.join(said)})" if said else ""
        out.append(f"{software.name} {software.version}{status}")
    return tuple(out)


def _errors(facts: Facts | None, deep: InspectFacts | None) -> tuple[tuple[str, str], ...]:
    merged: dict[str, str] = {}
    for source in (facts.errors if facts else {}, deep.errors if deep else {}):
        merged.update(source)
    return tuple(sorted(merged.items()))


def with_reverse_names(dossier: Dossier, names: Mapping[str, str]) -> Dossier:
    """The dossier with clients named by reverse DNS (`names`: address -> name)."""
    if not names:
        return dossier
    return replace(dossier, clients=tuple(_named(c, names) for c in dossier.clients))
