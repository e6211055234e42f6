"""`inspect_hosts`: the I/O of `auditor inspect`. Sources (when configured), one SSH probe per
host (audit facts plus the deeper ones, one round trip), front pages of its HTTP services,
repository search, optional reverse DNS; then the pure `build_dossier`.

Network reach: the SSH connection to each inspected address, HTTP requests to that same
address on its own listening ports, the configured sources (as `auditor discover` runs
them), and reverse DNS only when asked. Nothing else; never a cloud metadata service.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from auditor.collect import collect
from auditor.config import Config
from auditor.errors import TargetError
from auditor.inspect.dossier import Gathered, build_dossier, with_reverse_names
from auditor.inspect.http import fetch_front_page, http_targets
from auditor.inspect.known import find_host, known_by
from auditor.inspect.model import Dossier, HttpFront, RepoSearch
from auditor.inspect.probe import InspectProbe
from auditor.inspect.repos import search_repos, search_terms
from auditor.model import ID_DNS, ID_IP, Facts, Host, HostStatus, ident
from auditor.parallel import parallel_map
from auditor.pipeline import Discovery, discover
from auditor.reconcile import ignored_reason, matching_ignore
from auditor.remote.session import Connector
from auditor.software_cache import SoftwareCache
from auditor.targets import is_address, is_host_name

Progress = Callable[[str], None]


@dataclass(frozen=True)
class InspectRequest:
    targets: tuple[str, ...]  # addresses or names
    repos: tuple[Path, ...] = ()
    reverse_dns: bool = False
    use_sources: bool = True  # run the configured sources (when the config has any)
    window_days: int | None = None  # default: [ssh] log_days
    fetch_http: bool = True
    resolve_timeout: float = 3.0


def has_sources(config: Config) -> bool:
    return bool(config.network or config.aws or config.ansible or config.terraform)


def inspect_hosts(
    config: Config,
    request: InspectRequest,
    *,
    connector: Connector | None = None,
    discovery: Discovery | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> list[Dossier]:
    """One dossier per target, in order. Raises TargetError for a name nobody knows.
    `now` is the clock the activity window is measured from (replayed output needs its own)."""
    say = progress or (lambda _message: None)
    now = now or datetime.now(UTC)
    if discovery is None and request.use_sources and has_sources(config):
        say("reading the configured sources ...")
        discovery = discover(config)
    window = request.window_days or config.ssh.log_days
    resolved = [resolve_target(t, discovery, request.resolve_timeout) for t in request.targets]

    from auditor.eol import load_eol_data

    try:
        eol_data = load_eol_data()
    except Exception:  # end-of-life status is an enrichment; the dossier stands without it
        eol_data = None
    # The audit's software version cache: an unchanged program is not run again.
    cache = SoftwareCache.load() if config.ssh.software_cache else None
    probe = InspectProbe(config, eol_data, window, cache)
    probe_hosts = [_probe_host(host, config, now) for _, host in resolved]
    say("probing " + ", ".join(address for address, _ in resolved) + " over SSH ...")
    owned = None
    if connector is None:
        from auditor.probing import connector_from_environment

        connector = owned = connector_from_environment()
    try:
        results = collect(probe_hosts, config.ssh, probe, connector=connector)
    finally:
        if owned is not None:
            owned.close()
        if cache is not None:
            cache.save()

    dossiers = []
    for (address, host), probe_host in zip(resolved, probe_hosts, strict=True):
        outcome, facts = results[probe_host.id]
        pages: dict[int, HttpFront] = {}
        skipped: list[tuple[int, str]] = []
        if facts is not None and facts.listeners and request.fetch_http:
            pages, skipped = front_pages(address, facts, say)
        names = _names(host, facts)
        references = RepoSearch(searched=False)
        if request.repos:
            say(f"searching {len(request.repos)} repositories for {address} ...")
            references = search_repos(request.repos, search_terms([address], names))
        own = local_address_towards(address)
        gathered = Gathered(
            address=address,
            host=host,
            outcome=outcome,
            facts=facts,
            deep=probe.deep.get(probe_host.id),
            now=now,
            window_days=window,
            login_user=config.ssh.user,
            own_addresses=(own,) if own else (),
            ssh_ports=config.ssh.ports,
            http=pages,
            http_skipped=tuple(skipped),
            known=known_by(discovery, host if host.sources else None),
            references=references,
        )
        dossier = build_dossier(gathered, lambda a: config.owner_of(a))
        if request.reverse_dns and dossier.clients:
            addresses = [c.address for c in dossier.clients][:100]
            dossier = with_reverse_names(dossier, reverse_names(addresses))
        dossiers.append(dossier)
    return dossiers


def resolve_target(
    target: str, discovery: Discovery | None, timeout: float = 3.0
) -> tuple[str, Host]:
    """(address, host) for an address or a name: the sources' host when they know it, else
    a host of its own ("in no source")."""
    text = target.strip()
    if not (is_address(text) or is_host_name(text)):
        raise TargetError(f"not a host address or name: {target!r}")
    try:
        address: str | None = str(ipaddress.ip_address(text))
    except ValueError:
        address = None
    known = find_host(discovery, address, () if address else (text,)) if discovery else None
    if known is not None:
        chosen = address or known.primary_address
        if chosen is None:
            raise TargetError(f"{text}: the sources know it but give no address to reach it")
        return chosen, known
    if address is None:
        address = _resolve(text, timeout)
        if address is None:
            raise TargetError(
                f"{text}: no configured source knows this name and it does not resolve; "
                "give its address"
            )
    identifiers = [ident(ID_IP, address)]
    if address != text:
        identifiers.append(ident(ID_DNS, text.lower()))
    host = Host(
        id=ident(ID_IP, address),
        addresses=(address,),
        hostnames=(text,) if address != text else (),
        identifiers=tuple(identifiers),
        sources=(),
        status=HostStatus.UNMANAGED,
        status_reason="inspected directly; no configured source knows it",
    )
    return address, host


def _resolve(name: str, timeout: float) -> str | None:
    def lookup(name: str) -> str | None:
        infos = socket.getaddrinfo(name, None, 0, socket.SOCK_STREAM)
        return str(infos[0][4][0]) if infos else None

    answer = parallel_map(lookup, [name], timeout=timeout, name="resolve")[name]
    if isinstance(answer, OSError):  # no answer in time (TimeoutError is one), or no name
        return None
    if isinstance(answer, Exception):
        raise answer
    return answer


def _probe_host(host: Host, config: Config, now: datetime) -> Host:
    """The host as `collect` should see it: asked for by name, so tried (a stale or down
    verdict from the sources must not stop an explicit inspection) unless an [[ignore]] rule
    hides it: ignore means hands off, also when a person names the host (`collect` then
    never connects; the dossier says why)."""
    rule, expired = matching_ignore(config.ignore, host.identifiers, now.date())
    if host.status is HostStatus.IGNORED or (rule is not None and not expired):
        reason = ignored_reason(rule) if rule is not None else host.status_reason
        return replace(host, observations=(), status=HostStatus.IGNORED, status_reason=reason)
    return replace(host, observations=(), status=HostStatus.UNMANAGED)


def _names(host: Host, facts: Facts | None) -> list[str]:
    names = list(host.hostnames)
    if facts is not None:
        names += [n for n in (facts.hostname, facts.fqdn) if n]
    return list(dict.fromkeys(names))


def front_pages(
    address: str, facts: Facts, say: Progress
) -> tuple[dict[int, HttpFront], list[tuple[int, str]]]:
    """Fetch the front page of each HTTP-looking listener, at the host's own address."""
    targets, skipped = http_targets(facts.listeners or (), address)
    pages = {}
    for target in targets:
        say(f"fetching the front page of {address}:{target.port} ...")
        pages[target.port] = fetch_front_page(address, target.port, target.scheme)
    return pages, skipped


def local_address_towards(address: str) -> str | None:
    """Our source address for packets to `address`, as the host sees us (no jump host).
    A UDP socket's connect() only picks a route: nothing is sent."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((address, 9))
            return str(probe.getsockname()[0])
    except OSError:
        return None


def reverse_names(addresses: Sequence[str], timeout: float = 2.0) -> dict[str, str]:
    """Reverse DNS for each address, in parallel, each bounded by `timeout`. Only called
    with --reverse-dns. Client addresses come from the host's own logs: anything that is not
    an IP address is skipped (gethostbyaddr would look a name up forward, a query to
    whatever resolver serves a name the host's logs chose)."""
    addresses = [a for a in dict.fromkeys(addresses) if is_address(a)]
    if not addresses:
        return {}
    names: dict[str, str] = {}
    answers = parallel_map(socket.gethostbyaddr, addresses, timeout=timeout, name="rdns")
    for address, answer in answers.items():
        if isinstance(answer, OSError):  # no answer in time (TimeoutError is one), or none
            continue
        if isinstance(answer, Exception):
            raise answer
        names[address] = answer[0]
    return names
