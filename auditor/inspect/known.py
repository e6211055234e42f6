"""Which configured sources know a host: pure lookups over a `Discovery`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from auditor.inspect.model import KnownBy, SourceMention
from auditor.model import ID_IP, Host, Observation, SourceKind, split_ident
from auditor.pipeline import Discovery


def find_host(discovery: Discovery, address: str | None, names: Iterable[str] = ()) -> Host | None:
    """The reconciled host with this address, else one with one of these names."""
    wanted = {n.lower().rstrip(".") for n in names if n}
    if address:
        for host in discovery.hosts:
            if address in host.addresses:
                return host
    for host in discovery.hosts:
        host_names = {n.lower() for n in host.hostnames}
        host_names |= {split_ident(i)[1].lower() for i in host.identifiers}
        if wanted & host_names or {n.split(".", 1)[0] for n in wanted} & host_names:
            return host
    return None


def known_by(discovery: Discovery | None, host: Host | None) -> KnownBy:
    """What the sources said about the host; `checked=False` when none were run."""
    if discovery is None:
        return KnownBy(checked=False)
    ran = tuple(f"{r.kind.value}:{r.name}" for r in discovery.sources)
    problems = tuple(f"{r.kind.value}:{r.name}: {r.error}" for r in discovery.sources if r.error)
    if host is None:
        return KnownBy(
            checked=True,
            status=None,
            status_reason="no source knows this address or name",
            sources_run=ran,
            source_errors=problems,
        )
    mentions = tuple(_mention(o) for o in host.observations)
    return KnownBy(
        checked=True,
        mentions=tuple(dict.fromkeys(mentions)),
        status=host.status.value,
        status_reason=host.status_reason,
        sources_run=ran,
        source_errors=problems,
    )


def _mention(observation: Observation) -> SourceMention:
    attributes: Mapping[str, Any] = observation.attributes
    kind = observation.source
    if kind is SourceKind.ANSIBLE:
        groups = ", ".join(attributes.get("groups") or ()) or "no groups"
        detail = (
            f"{attributes.get('inventory')} as {attributes.get('inventory_hostname')} "
            f"(groups: {groups})"
        )
    elif kind is SourceKind.AWS:
        detail = " ".join(
            str(x)
            for x in (
                *observation.values("aws"),
                attributes.get("region"),
                attributes.get("state"),
                _tag_name(attributes),
            )
            if x
        )
    elif kind is SourceKind.TERRAFORM:
        addresses = ", ".join(observation.values("tf")) or "a resource"
        detail = (
            f"{attributes.get('state_file') or attributes.get('state') or 'state'}: {addresses}"
        )
    else:
        ports = [
            str(p.get("port")) if isinstance(p, Mapping) else str(p)
            for p in attributes.get("open_ports") or ()
        ]
        ip = ", ".join(observation.values(ID_IP))
        up = "up" if observation.alive else "down" if observation.alive is False else "listed"
        detail = f"{ip} {up}" + (f", open ports {', '.join(ports)}" if ports else "")
    return SourceMention(kind.value, observation.source_name, detail)


def _tag_name(attributes: Mapping[str, Any]) -> str | None:
    tags = attributes.get("tags")
    if isinstance(tags, Mapping) and tags.get("Name"):
        return f"Name={tags['Name']}"
    return None
