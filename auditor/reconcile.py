"""Observations -> hosts: merge sightings of one machine, then give each a verdict. No I/O.

Merging: observations that share a strong identifier (address, instance id, DNS name, MAC)
are one machine. Two different EC2 instance ids are never merged, even through a shared
address: private ranges are reused across VPCs, and a terminated instance's address comes
back on a new one. Inventory names (`name:`) are weak and never merge on their own.

Verdicts (HostStatus), each with a reason a person can read:
  managed          listed by Ansible or Terraform and alive, or present in the cloud; or
                   launched by a system (ASG, stack, node group ...) a state read defines
  unmanaged        alive on the network, in no inventory, no state and no cloud: the orphan
  cloud-unmanaged  an instance in the cloud in no inventory and no state: made by hand
  owned            an instance a system launched (its AWS tags say which, see
                   auditor.launchers, or an [[ownership]] tag) that no state read defines
  stale            in an inventory, inside a network we swept, and not seen alive anywhere
  missing          in Terraform state, but the cloud (which we read) doesn't have it
  unverified       listed, not seen alive, and nothing we read could have seen it
  ignored          an [[ignore]] rule matched (with its reason); expired rules stop hiding
"""

from __future__ import annotations

import fnmatch
import ipaddress
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from auditor.config import Config, IgnoreRule, OwnershipRule
from auditor.host_owner import declared_host_owner
from auditor.launchers import DefinedLauncher, LaunchedBy, launched_by
from auditor.model import (
    ID_AWS,
    ID_DNS,
    ID_IP,
    ID_MAC,
    ID_NAME,
    Host,
    HostStatus,
    Observation,
    SourceKind,
    SourceResult,
    split_ident,
)
from auditor.recheck import Recheck
from auditor.targets import in_targets, is_address

STRONG_KINDS = (ID_IP, ID_AWS, ID_DNS, ID_MAC)
_ID_PREFERENCE = (ID_AWS, ID_IP, ID_DNS, ID_NAME, ID_MAC)


@dataclass(frozen=True)
class Coverage:
    """What the run could have seen: which networks were swept and which clouds were read."""

    swept: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]  # (name, targets, exclude)
    cloud_read: bool  # at least one cloud source read completely
    failed_sources: tuple[str, ...]
    # (account, region) pairs some cloud source read completely, even when others failed
    cloud_scopes: frozenset[tuple[str | None, str | None]] = frozenset()
    # the instance launchers (ASGs, stacks, node groups ...) the states read define
    launchers: tuple[DefinedLauncher, ...] = ()

    @classmethod
    def from_results(cls, results: Sequence[SourceResult]) -> Coverage:
        swept = tuple(
            (r.name, tuple(r.details.get("targets", ())), tuple(r.details.get("exclude", ())))
            for r in results
            if r.kind == SourceKind.NETWORK and r.ok
        )
        cloud_read = any(r.kind == SourceKind.AWS and r.error is None for r in results)
        scopes = frozenset(
            (entry.get("account"), entry.get("region"))
            for r in results
            if r.kind == SourceKind.AWS
            for entry in (r.details.get("scope") or {}).get("read", ())
        )
        failed = tuple(f"{r.kind}:{r.name}" for r in results if not r.ok)
        launchers = tuple(
            DefinedLauncher.from_json(entry)
            for r in results
            if r.kind == SourceKind.TERRAFORM
            for entry in r.details.get("launchers", ())
        )
        return cls(swept, cloud_read, failed, scopes, launchers)

    def defining(
        self, launched: LaunchedBy, account: str | None, region: str | None
    ) -> DefinedLauncher | None:
        """The state resource that defines this launcher, if a state read has it."""
        return next((d for d in self.launchers if d.matches(launched, account, region)), None)

    def cloud_covers(self, account: str | None, region: str | None) -> bool:
        """Whether the cloud was read where a state's instance lives, so that its absence
        means something. Unknown account or region: only a complete cloud read counts."""
        if self.cloud_read:
            return True
        if account is None or region is None:
            return False
        return (account, region) in self.cloud_scopes

    def sweeping(self, address: str) -> str | None:
        """The name of a successful sweep whose targets include `address`, if any."""
        for name, targets, exclude in self.swept:
            if in_targets(address, targets, exclude):
                return name
        return None


# --------------------------------------------------------------------------- merging


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i


def merge(observations: Sequence[Observation]) -> list[list[Observation]]:
    """Group observations of the same machine (see module docstring)."""
    uf = _UnionFind(len(observations))
    instance_ids: dict[int, set[str]] = {
        i: set(o.values(ID_AWS)) for i, o in enumerate(observations)
    }
    first_with: dict[str, int] = {}
    for i, obs in enumerate(observations):
        for identifier in obs.identifiers:
            kind, _ = split_ident(identifier)
            if kind not in STRONG_KINDS:
                continue
            if identifier not in first_with:
                first_with[identifier] = i
                continue
            a, b = uf.find(first_with[identifier]), uf.find(i)
            if a == b:
                continue
            ids_a, ids_b = instance_ids[a], instance_ids[b]
            if ids_a and ids_b and ids_a != ids_b:
                continue  # two different instances that happen to share an address
            uf.parent[b] = a
            instance_ids[a] = ids_a | ids_b
    groups: dict[int, list[Observation]] = {}
    for i, obs in enumerate(observations):
        groups.setdefault(uf.find(i), []).append(obs)
    return list(groups.values())


# --------------------------------------------------------------------------- verdicts


def reconcile(
    results: Sequence[SourceResult],
    config: Config,
    today: date,
    recheck: Recheck | None = None,
) -> tuple[Host, ...]:
    """All observations of a run -> reconciled hosts with statuses, sorted by id.

    `recheck` is the direct check of listed hosts the sweeps missed (auditor.recheck): its
    observations count as sightings, and a host still not seen says what was tried."""
    coverage = Coverage.from_results(results)
    observations = [o for r in results for o in r.observations]
    observations += recheck.observations if recheck else ()
    hosts = [_build_host(group, config, coverage, today, recheck) for group in merge(observations)]
    return tuple(sorted((h for h in hosts if h is not None), key=lambda h: h.id))


def _identifiers(group: Iterable[Observation]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for obs in group:
        for identifier in obs.identifiers:
            seen.setdefault(identifier, None)
    return tuple(
        sorted(
            seen,
            key=lambda i: (
                _ID_PREFERENCE.index(split_ident(i)[0])
                if split_ident(i)[0] in _ID_PREFERENCE
                else 99,
                i,
            ),
        )
    )


def _values(identifiers: Iterable[str], kind: str) -> tuple[str, ...]:
    return tuple(v for k, v in map(split_ident, identifiers) if k == kind)


def _sort_addresses(addresses: Iterable[str]) -> tuple[str, ...]:
    def key(a: str) -> tuple[int, int, Any]:
        try:
            ip = ipaddress.ip_address(a)
            return (ip.version, 0 if ip.is_private else 1, int(ip))
        except ValueError:
            return (9, 9, a)

    return tuple(sorted(set(addresses), key=key))


def _build_host(
    group: list[Observation],
    config: Config,
    coverage: Coverage,
    today: date,
    recheck: Recheck | None = None,
) -> Host | None:
    identifiers = _identifiers(group)
    by_source: dict[SourceKind, list[Observation]] = {}
    for obs in group:
        by_source.setdefault(obs.source, []).append(obs)
    cloud_obs = by_source.get(SourceKind.AWS, [])
    cloud_states = [str(o.attributes.get("state", "")) for o in cloud_obs]
    in_iac = SourceKind.ANSIBLE in by_source or SourceKind.TERRAFORM in by_source
    if (
        cloud_obs
        and not in_iac
        and SourceKind.NETWORK not in by_source
        and all(s == "terminated" for s in cloud_states)
    ):
        return None  # a terminated instance nobody manages is history, not a host

    # Only real addresses are ever connected to, fetched from or put in a URL: an `ip:`
    # identifier is whatever a scan file, state or API said.
    addresses = _sort_addresses(a for a in _values(identifiers, ID_IP) if is_address(a))
    # Names people gave (inventory names, Name tags) read better than cloud DNS names.
    hostnames = tuple(dict.fromkeys(_values(identifiers, ID_NAME) + _values(identifiers, ID_DNS)))
    host_id = identifiers[0] if identifiers else "unknown"
    open_ports = tuple(sorted({
        int(p["port"]) for o in by_source.get(SourceKind.NETWORK, [])
        for p in o.attributes.get("open_ports", []) if p.get("proto", "tcp") == "tcp"
    }))  # fmt: skip
    ssh_port = next(
        (
            int(o.attributes["ansible_port"])
            for o in by_source.get(SourceKind.ANSIBLE, [])
            if o.attributes.get("ansible_port")
        ),
        None,
    )
    cloud = _cloud_summary(cloud_obs)
    status, reason = _verdict(
        group, by_source, addresses, config, coverage, today, identifiers, recheck
    )
    reason = sys.intern(reason)  # most hosts share theirs word for word (issue 14)
    return Host(
        id=host_id,
        addresses=addresses,
        hostnames=hostnames,
        identifiers=identifiers,
        sources=tuple(k for k in SourceKind if k in by_source),
        status=status,
        status_reason=reason,
        observations=tuple(group),
        open_ports=open_ports,
        owner=declared_host_owner(
            config,
            addresses[0] if addresses else None,
            hostnames,
            cloud_obs + by_source.get(SourceKind.TERRAFORM, []),
        ),
        cloud=cloud,
        ssh_port=ssh_port,
    )


def _cloud_summary(cloud_obs: Sequence[Observation]) -> dict[str, Any] | None:
    if not cloud_obs:
        return None
    # Prefer the live instance when the same address was also on a terminated one.
    obs = sorted(cloud_obs, key=lambda o: o.attributes.get("state") == "terminated")[0]
    keys = (
        "provider",
        "account",
        "region",
        "instance_id",
        "state",
        "instance_type",
        "vpc_id",
        "subnet_id",
        "launch_time",
        "tags",
        "platform",
        "key_name",
    )
    summary = {k: obs.attributes[k] for k in keys if k in obs.attributes}
    summary.setdefault("provider", "aws")
    summary.setdefault("instance_id", next(iter(obs.values(ID_AWS)), None))
    return summary


def _verdict(
    group: list[Observation],
    by_source: dict[SourceKind, list[Observation]],
    addresses: tuple[str, ...],
    config: Config,
    coverage: Coverage,
    today: date,
    identifiers: tuple[str, ...],
    recheck: Recheck | None = None,
) -> tuple[HostStatus, str]:
    expired_note = ""
    rule, expired = matching_ignore(config.ignore, identifiers, today)
    if rule is not None and not expired:
        return HostStatus.IGNORED, ignored_reason(rule)
    if rule is not None:
        expired_note = f" (ignore rule '{rule.match}' expired on {rule.expires})"

    alive_by = sorted({o.source.value for o in group if o.alive})
    network = by_source.get(SourceKind.NETWORK, [])
    ansible = by_source.get(SourceKind.ANSIBLE, [])
    terraform = by_source.get(SourceKind.TERRAFORM, [])
    cloud = by_source.get(SourceKind.AWS, [])
    listed = _listed_by(ansible, terraform)
    ports = sorted({int(p["port"]) for o in network for p in o.attributes.get("open_ports", [])})
    port_text = f" (open ports: {', '.join(map(str, ports))})" if ports else ""

    if listed:
        found = _found_by_recheck(group)
        if found:
            return HostStatus.MANAGED, f"{listed}; alive: {found}" + expired_note
        if alive_by:
            return HostStatus.MANAGED, f"{listed}; alive ({', '.join(alive_by)}){port_text}"
        cloud_live = [o for o in cloud if o.attributes.get("state") != "terminated"]
        if cloud_live:
            state = cloud_live[0].attributes.get("state", "unknown")
            return HostStatus.MANAGED, f"{listed}; cloud instance is {state}" + expired_note
        if (
            terraform
            and _state_has_instances(terraform)
            and all(
                coverage.cloud_covers(o.attributes.get("account"), o.attributes.get("region"))
                for o in terraform
            )
        ):
            gone = ", ".join(sorted({i for o in terraform for i in o.values(ID_AWS)}))
            why = "terminated" if cloud else "not found"
            return HostStatus.MISSING, (
                f"{listed}, but instance {gone} is {why} in the cloud accounts read" + expired_note
            )
        sweep = next((s for a in addresses if (s := coverage.sweeping(a))), None)
        nor = next((t for a in addresses if recheck and (t := recheck.after_sweep(a))), "")
        if sweep and ansible:
            return HostStatus.STALE, (
                f"{listed}, but {', '.join(addresses)} did not answer the sweep '{sweep}'"
                + nor
                + expired_note
            )
        if sweep:
            return HostStatus.STALE, (
                f"{listed}, but did not answer the sweep '{sweep}'" + nor + expired_note
            )
        why = "its name does not resolve" if not addresses else "no sweep or cloud read covers it"
        return HostStatus.UNVERIFIED, f"{listed}; not seen alive, and {why}" + expired_note

    if cloud:
        owned = _owned_by_launcher(cloud, config, coverage)
        if owned is not None:
            return owned[0], owned[1] + expired_note
        obs = cloud[0]
        instance = next(iter(obs.values(ID_AWS)), "?")
        name = next(iter(obs.values(ID_NAME)), None)
        where = f"{obs.attributes.get('account', '?')}/{obs.attributes.get('region', '?')}"
        named = f" ({name})" if name else ""
        return HostStatus.CLOUD_UNMANAGED, (
            f"EC2 instance {instance}{named} in {where} is in no inventory and no Terraform "
            f"state: created by hand?" + expired_note
        )
    return HostStatus.UNMANAGED, (
        f"answers on the network{port_text} but is in no inventory, no Terraform state and "
        f"no cloud account read" + expired_note
    )


def _found_by_recheck(group: Sequence[Observation]) -> str | None:
    """When only the direct re-check saw the host alive: what answered, for the reason."""
    alive = [o for o in group if o.alive]
    if not alive or not all(o.attributes.get("recheck") for o in alive):
        return None
    first = alive[0].attributes
    answers = [f"{p['port']}/tcp open" for p in first.get("open_ports", ())]
    answers += [f"{port}/tcp closed (a reset)" for port in first.get("closed_ports", ())]
    answers = answers or ["an ARP reply"]
    return (
        f"the sweep '{first['recheck']['missed_by']}' missed it, but {first['recheck']['tried']}"
        f" answered: {', '.join(answers)}"
    )


def _listed_by(ansible: list[Observation], terraform: list[Observation]) -> str:
    parts = []
    for obs in ansible:
        groups = obs.attributes.get("groups") or []
        in_groups = f" (groups: {', '.join(groups)})" if groups else ""
        parts.append(
            f"in Ansible inventory {obs.attributes.get('inventory', obs.source_name)}"
            f" as {obs.attributes.get('inventory_hostname', '?')}{in_groups}"
        )
    for obs in terraform:
        parts.append(f"in Terraform state as {next(iter(obs.values('tf')), '?')}")
    return "; ".join(dict.fromkeys(parts))


def _state_has_instances(terraform: list[Observation]) -> bool:
    return any(o.values(ID_AWS) for o in terraform)


def _owned_by_launcher(
    cloud: list[Observation], config: Config, coverage: Coverage
) -> tuple[HostStatus, str] | None:
    """A cloud instance in no inventory that a system launched: managed when a state read
    defines that system, else owned by it (or by what an [[ownership]] tag declares)."""
    obs = sorted(cloud, key=lambda o: o.attributes.get("state") == "terminated")[0]
    tags = obs.attributes.get("tags") or {}
    account, region = obs.attributes.get("account"), obs.attributes.get("region")
    launchers = launched_by(tags)
    for launched in launchers:
        defined = coverage.defining(launched, account, region)
        if defined is not None:
            return HostStatus.MANAGED, (
                f"launched by {launched.label}, which Terraform manages: via "
                f"{defined.address} in {defined.state_file}"
            )
    rule = declared_owner(tags, config.ownership)
    if rule is not None:
        key = rule.tag.partition("=")[0]
        return HostStatus.OWNED, (
            f"owned by {rule.system} (tag {key}={tags[key]}, an [[ownership]] rule), not by "
            "an inventory: managed outside what we read"
        )
    if launchers:
        first = launchers[0]
        return HostStatus.OWNED, (
            f"launched by {first.label} (tag {first.launcher.tag}={first.tag_value}) in "
            f"{account or '?'}/{region or '?'}, which is in no Terraform state read: it "
            f"belongs to that {first.launcher.kind}, not to an inventory"
        )
    return None


def declared_owner(tags: Mapping[str, Any], rules: Sequence[OwnershipRule]) -> OwnershipRule | None:
    """The first [[ownership]] rule whose tag (`key` or `key=value`) the tags carry."""
    return next((rule for rule in rules if rule.matches(tags)), None)


def ignored_reason(rule: IgnoreRule) -> str:
    """The status reason of a host an [[ignore]] rule hides."""
    until = f" until {rule.expires}" if rule.expires else ""
    return f"ignored{until}: {rule.reason} (rule '{rule.match}')"


def matching_ignore(
    rules: Sequence[IgnoreRule], identifiers: tuple[str, ...], today: date
) -> tuple[IgnoreRule | None, bool]:
    """The first rule matching any identifier, and whether it has expired."""
    expired_match: IgnoreRule | None = None
    for rule in rules:
        if matches_identifiers(rule.match, identifiers):
            if rule.expires is not None and rule.expires < today:
                expired_match = expired_match or rule
                continue
            return rule, False
    return (expired_match, True) if expired_match else (None, False)


def matches_identifiers(pattern: str, identifiers: Iterable[str]) -> bool:
    """An [[ignore]] / [[accept]] pattern (address, CIDR, instance id, name glob; case
    insensitive) against a host's identifiers (`ip:10.0.0.5`, `aws:i-0abc`, `dns:web1`)."""
    return any(_rule_matches(pattern, *split_ident(i)) for i in identifiers)


def _rule_matches(pattern: str, kind: str, value: str) -> bool:
    if kind == ID_IP and "/" in pattern:
        try:
            return ipaddress.ip_address(value) in ipaddress.ip_network(pattern, strict=False)
        except ValueError:
            return False
    return fnmatch.fnmatch(value.lower(), pattern.lower())
