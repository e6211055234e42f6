"""What every rule shares: the context it reads and small evidence helpers."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from auditor.config import Config
from auditor.model import (
    Connection,
    Facts,
    Finding,
    Host,
    HostStatus,
    SourceResult,
    SshOutcome,
)


@dataclass(frozen=True)
class RuleContext:
    config: Config
    now: datetime
    hosts: tuple[Host, ...]
    ssh: Mapping[str, SshOutcome] = field(default_factory=dict)
    facts: Mapping[str, Facts] = field(default_factory=dict)
    sources: tuple[SourceResult, ...] = ()  # for source-failed; empty: not judged

    def judged(self) -> Iterator[tuple[Host, Facts | None]]:
        """Hosts rules look at (ignored ones are hidden on purpose) with their facts."""
        for host in self.hosts:
            if host.status != HostStatus.IGNORED:
                yield host, self.facts.get(host.id)

    def probed(self) -> Iterator[tuple[Host, Facts]]:
        for host, facts in self.judged():
            if facts is not None:
                yield host, facts


Rule = Callable[[RuleContext], Iterable[Finding]]

UNMANAGED = (HostStatus.UNMANAGED, HostStatus.CLOUD_UNMANAGED)


def when(value: datetime | None) -> str:
    """A timestamp for evidence: minutes are precise enough and read well."""
    if value is None:
        return "unknown time"
    return value.strftime("%Y-%m-%d %H:%M %Z").strip()


def probed_at(facts: Facts) -> str:
    return f"probed {when(facts.collected_at)}"


def is_loopback(address: str) -> bool:
    text = address.strip("[]").split("%")[0]
    if text in ("localhost", "localhost6"):
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def ssh_ports(host: Host, outcome: SshOutcome | None) -> set[int]:
    ports = {22}
    if host.ssh_port:
        ports.add(host.ssh_port)
    if outcome is not None and outcome.port:
        ports.add(outcome.port)
    return ports


def inbound_connections(
    host: Host, facts: Facts | None, outcome: SshOutcome | None
) -> tuple[Connection, ...]:
    """Established inbound connections that are traffic, not administration: the SSH port
    (our own probe session among them) and loopback peers don't count."""
    if facts is None or not facts.connections:
        return ()
    skip = ssh_ports(host, outcome)
    return tuple(c for c in facts.connections if c.port not in skip and not is_loopback(c.peer))


def serves_traffic(host: Host, facts: Facts | None, outcome: SshOutcome | None) -> bool:
    """Clients in its web logs, or established inbound connections on a service port."""
    return bool(facts and facts.clients) or bool(inbound_connections(host, facts, outcome))
