"""Before a listed host is called stale: a direct check of its own ports, no ping, more tries.

A sweep of a big network misses the odd live host (a dropped probe, a busy link, a host that
ignores pings). A host an inventory or state lists, that a sweep covering its address did not
see, is checked again on its own before the verdict: nmap `-Pn` (no host discovery) on its
SSH port(s) and the sweep's ports, with more retries. A host that answers (a port open, or
closed: a reset is an answer too) is alive, with that evidence; one that does not stays
`stale`, and its reason says what was tried.

`plan_recheck` (pure) picks the hosts and ports; `run_recheck` is the I/O (nmap); the pipeline
reconciles again with the result (`auditor.reconcile.reconcile(..., recheck=...)`), so
reconcile itself stays pure.

Network safety: only addresses inside a configured [[network]] section's live `targets` (and
outside its `exclude`) are ever re-checked; `run_recheck` checks this again itself before
nmap sees anything.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from auditor.config import Config, NetworkConfig
from auditor.errors import SourceError, TargetError
from auditor.model import ID_IP, Host, HostStatus, Observation, SourceKind, SourceResult, ident
from auditor.targets import in_targets, is_address

if TYPE_CHECKING:
    from auditor.sources.network import ScanPlan

RECHECK_SOURCE = "direct check"  # the source_name of the observations it makes
RECHECK_RETRIES = 3


@dataclass(frozen=True)
class RecheckPlan:
    """What to check: each address with the sweep that missed it, and the ports to try."""

    missed_by: Mapping[str, str]  # address -> name of the sweep that did not see it
    ports: tuple[int, ...]
    retries: int = RECHECK_RETRIES
    host_timeout: int = 60
    # the [[network]] targets and excludes: the only addresses run_recheck will touch
    targets: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(self.missed_by)

    def tried(self) -> str:
        """What was tried, for a status reason: "a direct check of 22, 2222/tcp (no ping,
        3 retries)"."""
        ports = ", ".join(map(str, self.ports))
        return f"a direct check of {ports}/tcp (no ping, {self.retries} retries)"

    def allows(self, address: str) -> bool:
        return in_targets(address, self.targets, self.exclude)


@dataclass(frozen=True)
class Recheck:
    """What the direct check found: observations of the hosts that answered."""

    plan: RecheckPlan
    observations: tuple[Observation, ...] = ()
    error: str | None = None  # nmap could not run: the hosts keep their sweep verdict
    arguments: tuple[str, ...] = field(default=(), compare=False)  # the nmap arguments used

    def after_sweep(self, address: str) -> str | None:
        """For the reason of a host still not seen: " nor a direct check of ...", or why
        that check could not run; None when this address was not re-checked."""
        if address not in self.plan.missed_by:
            return None
        if self.error is not None:
            return f" (a direct check could not run: {self.error})"
        return f" nor {self.plan.tried()}"


Rechecker = Callable[[RecheckPlan, datetime], Recheck]


class DirectCheck:
    """The re-check as a source, so the pipeline runs it like the others: progress through
    the same observer ("reading network source 'direct check' ..."), and an exception in it
    costs the check, not the run. Its result goes to reconcile as `recheck`, not as a
    source result: it is no sweep of its own."""

    kind = SourceKind.NETWORK
    name = RECHECK_SOURCE

    def __init__(self, plan: RecheckPlan, rechecker: Rechecker) -> None:
        self.plan = plan
        self.rechecker = rechecker
        self.recheck: Recheck | None = None

    def collect(self, now: datetime) -> SourceResult:
        self.recheck = self.rechecker(self.plan, now)
        return SourceResult(
            self.kind,
            self.name,
            ok=self.recheck.error is None,
            observations=self.recheck.observations,
            error=self.recheck.error,
            details={"addresses": list(self.plan.addresses), "ports": list(self.plan.ports)},
        )


def narrow_recheck(wider: Recheck, plan: RecheckPlan) -> Recheck | None:
    """Pure: what a direct check of `plan` finds, from one already made of more addresses
    (the pipeline starts it when the sweeps' first passes end, while their second look runs:
    every host still unseen at the end was unseen then too). The same scan (ports, retries,
    timeout, the networks allowed) or None; its answers for `plan`'s addresses, each as
    `answered` makes it for `plan`. None too when `plan` has an address `wider` did not check."""

    def scan(p: RecheckPlan) -> tuple[Any, ...]:
        return p.ports, p.retries, p.host_timeout, sorted(p.targets), sorted(p.exclude)

    if scan(wider.plan) != scan(plan) or any(
        wider.plan.missed_by.get(address) != sweep for address, sweep in plan.missed_by.items()
    ):
        return None
    observations = []
    for observation in wider.observations:
        addresses = [a for a in observation.values(ID_IP) if a in plan.missed_by]
        if not addresses:
            continue
        recheck = {"missed_by": plan.missed_by[addresses[0]], "tried": plan.tried()}
        identifiers = tuple(ident(ID_IP, a) for a in addresses)
        attributes = {**observation.attributes, "recheck": recheck}
        observations.append(replace(observation, identifiers=identifiers, attributes=attributes))
    return Recheck(plan, tuple(observations), wider.error, wider.arguments)


def plan_recheck(hosts: Sequence[Host], config: Config) -> RecheckPlan | None:
    """The stale hosts worth a second look, or None when there are none. Pure."""
    live = [n for n in config.network if n.targets]
    missed: dict[str, str] = {}
    ports: dict[int, None] = {}
    networks: dict[str, NetworkConfig] = {}
    for host in hosts:
        if host.status is not HostStatus.STALE:
            continue
        for address in host.addresses:
            network = next((n for n in live if in_targets(address, n.targets, n.exclude)), None)
            if network is None or not is_address(address):
                continue
            missed[address] = network.name
            networks[network.name] = network
            for port in (host.ssh_port, *config.ssh.ports, *network.ports):
                if port:
                    ports.setdefault(port, None)
    if not missed:
        return None
    chosen = networks.values()
    return RecheckPlan(
        missed_by=missed,
        ports=tuple(sorted(ports)),
        host_timeout=min(max(n.host_timeout for n in chosen), 120),
        targets=tuple(t for n in chosen for t in n.targets),
        exclude=tuple(t for n in chosen for t in n.exclude),
    )


def recheck_scans(plan: RecheckPlan, *, privileged: bool | None = None) -> list[ScanPlan]:
    """The nmap runs of the re-check, one per address family (nmap takes IPv6 targets only
    with -6). Pure but for the scan-privilege lookup; raises TargetError. `--dry-run` shows
    these very commands."""
    from auditor.sources.network import plan_scan

    scans = []
    for family in (4, 6):
        addresses = tuple(a for a in plan.addresses if ipaddress.ip_address(a).version == family)
        if not addresses:
            continue
        config = NetworkConfig(
            name=RECHECK_SOURCE, targets=addresses, ports=plan.ports, host_timeout=plan.host_timeout
        )
        scans.append(
            plan_scan(config, privileged=privileged, no_ping=True, max_retries=plan.retries)
        )
    return scans


def run_recheck(plan: RecheckPlan, now: datetime, *, privileged: bool | None = None) -> Recheck:
    """nmap -Pn the plan's addresses on its ports (I/O). Never raises: a failure is the
    Recheck's `error`. Refuses any address outside the plan's [[network]] targets."""
    from auditor.sources.network import parse_nmap_xml, run_nmap

    outside = [a for a in plan.addresses if not plan.allows(a)]
    if outside:
        # plan_recheck never does this; a caller building its own plan might.
        return Recheck(plan, error=f"refused: {', '.join(outside)} outside every [[network]]")
    observations: list[Observation] = []
    arguments: list[str] = []
    try:
        for scan_plan in recheck_scans(plan, privileged=privileged):
            arguments.append(scan_plan.arguments)
            scan = parse_nmap_xml(run_nmap(scan_plan), origin="nmap (direct check)")
            observations += answered(scan.hosts, plan, now)
    except (SourceError, TargetError) as exc:
        return Recheck(plan, tuple(observations), str(exc), tuple(arguments))
    return Recheck(plan, tuple(observations), None, tuple(arguments))


def answered(
    scanned: Sequence[Mapping[str, Any]], plan: RecheckPlan, now: datetime
) -> list[Observation]:
    """Pure: an alive Observation per planned address that answered: on a port (open, or
    closed: a reset), or to ARP on a local segment. With -Pn nmap calls a host it did not
    try to discover "up" (reason user-set): that alone means nothing."""
    out = []
    for host in scanned:
        open_ports = list(host.get("ports") or ())
        closed = list(host.get("closed_ports") or ())
        addresses = [a for a in host.get("addresses") or () if a in plan.missed_by]
        arp = host.get("state") == "up" and host.get("reason") == "arp-response"
        if not addresses or not (open_ports or closed or arp):
            continue
        attributes = {
            "reason": host.get("reason"),
            "open_ports": sorted(open_ports, key=lambda p: (p["proto"] or "", p["port"])),
            "closed_ports": sorted(closed),
            "recheck": {"missed_by": plan.missed_by[addresses[0]], "tried": plan.tried()},
        }
        identifiers = tuple(ident(ID_IP, a) for a in addresses)
        out.append(
            Observation(SourceKind.NETWORK, RECHECK_SOURCE, identifiers, now, True, attributes)
        )
    return out
