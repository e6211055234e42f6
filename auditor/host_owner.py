"""Who owns a host: `HostOwner` {team, source, detail}, from the first that says.

1. `config`: an `[owners]` rule matches the host's address (longest prefix) or one of its
   names. Someone wrote it down on purpose: nothing overrides it.
2. `tag`: a cloud tag the account's people set (`[audit] owner_tags`, by default Owner,
   owner, Team, team): the live instance's, else the one its Terraform state declares.
   Written on purpose too, but by whoever launched the instance, and tags go stale more
   often than the audit's own config.
3. `clients`: the team sending the most requests in the access logs (every client counted,
   `Facts.client_teams`), with its share; without access logs, the team with the most peers
   on established inbound connections. Inferred, not declared: a team that uses a host does
   not always own it, so it only fills in where nothing was declared.

Pure: reconcile calls `declared_host_owner` (config, tag); the run adds `client_owner` after
the probe, where nothing was declared.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from auditor.config import Config
from auditor.model import Facts, HostOwner, Observation, SourceKind


def declared_host_owner(
    config: Config, address: str | None, names: Sequence[str], cloud: Iterable[Observation]
) -> HostOwner | None:
    """The owner the config or a cloud tag declares, config first."""
    rule = config.owner_rule_of(address, tuple(names))
    if rule is not None:
        what = "address" if rule.network() is not None else "name"
        return HostOwner(rule.team, "config", f"[owners] {rule.match!r} matches its {what}")
    # The live instance's tags first; a Terraform state's tags when the cloud was not read.
    ordered = sorted(
        (o for o in cloud if o.source in (SourceKind.AWS, SourceKind.TERRAFORM)),
        key=lambda o: o.source != SourceKind.AWS,
    )
    for obs in ordered:
        found = tag_owner(obs.attributes.get("tags") or {}, config.audit.owner_tags)
        if found is not None:
            key, team = found
            where = next(iter(obs.values("aws")), None) or next(iter(obs.values("tf")), "")
            state = " in Terraform state" if obs.source == SourceKind.TERRAFORM else ""
            return HostOwner(team, "tag", f"tag {key}={team} on {where or obs.source_name}{state}")
    return None


def tag_owner(tags: Mapping[str, Any], keys: Sequence[str]) -> tuple[str, str] | None:
    """(tag key, team) of the first of `keys` the tags carry with a non-empty value."""
    for key in keys:
        value = tags.get(key)
        if isinstance(value, str) and value.strip():
            return key, value.strip()
    return None


def client_owner(facts: Facts | None, ssh_ports: Iterable[int] = (22,)) -> HostOwner | None:
    """The team sending the most requests (its share of all requests in the window), or,
    without any web request, the team with the most peers connected to a port other than
    SSH. None when no client belongs to a team."""
    if facts is None:
        return None
    teams = facts.client_teams or ()
    if teams and teams[0].requests > 0:
        total = sum(t.requests for t in teams) + sum(
            n.requests for n in facts.client_networks or ()
        )
        top = teams[0]
        share = round(100 * top.requests / total) if total else 0
        return HostOwner(
            top.team, "clients", f"inferred from clients, {share}% of requests ({top.requests} "
            f"of {total} in the access logs, {top.clients} addresses)",
        )  # fmt: skip
    peers = facts.connection_teams or ()
    ssh = frozenset(ssh_ports)
    counts: dict[str, int] = {}
    everyone = 0
    for group in peers:
        if group.port in ssh:
            continue
        everyone += group.peers
        if group.team is not None:
            counts[group.team] = counts.get(group.team, 0) + group.peers
    if not counts:
        return None
    team = min(counts, key=lambda t: (-counts[t], t))
    return HostOwner(
        team, "clients", f"inferred from connections, {counts[team]} of {everyone} connected "
        "peers",
    )  # fmt: skip
