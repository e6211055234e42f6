"""Accepted findings: `[[accept]]` entries (in the config, or the `[audit] baseline` file)
that say a finding was looked at, why it may stay, and until when. Pure.

An accepted finding stays in every report, marked accepted with its reason; it counts
neither for `--fail-on` nor for the webhook. After `expires` it counts again, and says that
its acceptance ran out (`Acceptance.expired`), like an expired [[ignore]].

Matching: the entry's `rule` is the finding's rule id; `host` is a pattern over the host's
id, identifiers and names (an address, a CIDR, an instance id, a name glob: the grammar of
[[ignore]]); `resource` is a pattern over what a finding without a host names: a word of its
title (a Terraform address such as `aws_s3_bucket.logs`, a cloud id) or its `id:` evidence.
The first entry that matches and holds wins; an expired one only counts when none holds.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date

from auditor.config import AcceptRule
from auditor.model import Acceptance, Finding, Host, ident, split_ident
from auditor.reconcile import matches_identifiers


def _host_names(host: Host) -> tuple[str, ...]:
    """Everything a person might call the host, as identifiers the patterns understand."""
    names = (ident("name", n) for n in (*host.hostnames, host.label))
    return (host.id, *host.identifiers, *names)


def _resource_words(finding: Finding) -> set[str]:
    words = set(finding.title.split())
    words.update(e[len("id: ") :] for e in finding.evidence if e.startswith("id: "))
    if finding.host:
        words.update((finding.host, split_ident(finding.host)[1]))
    return words


def _matches(rule: AcceptRule, finding: Finding, host: Host | None) -> bool:
    if rule.rule != finding.rule:
        return False
    if rule.host is not None:
        if host is None:
            return False
        names = _host_names(host)
        return rule.host in names or matches_identifiers(rule.host, names)  # "ip:10.0.0.5" too
    pattern = rule.resource or ""
    # Exact first: Terraform addresses carry brackets ("aws_instance.web[0]") that a glob
    # would read as a character class.
    return any(w == pattern or fnmatch.fnmatchcase(w, pattern) for w in _resource_words(finding))


def acceptance_for(
    finding: Finding, host: Host | None, rules: Sequence[AcceptRule], today: date
) -> Acceptance | None:
    """The acceptance that holds for `finding` (or, when none holds, the one that ran out)."""
    expired: AcceptRule | None = None
    for rule in rules:
        if not _matches(rule, finding, host):
            continue
        if rule.expires >= today:
            return Acceptance(rule.reason, rule.expires, rule.source)
        expired = expired or rule
    if expired is None:
        return None
    return Acceptance(expired.reason, expired.expires, expired.source, expired=True)


def apply_acceptance(
    findings: Iterable[Finding],
    hosts: Iterable[Host],
    rules: Sequence[AcceptRule],
    today: date,
) -> tuple[Finding, ...]:
    """`findings` with `accepted` set where an [[accept]] entry matches. An expired
    acceptance also adds a line of evidence, so every format says why the finding is back."""
    if not rules:
        return tuple(findings)
    by_id: Mapping[str, Host] = {h.id: h for h in hosts}
    out = []
    for finding in findings:
        host = by_id.get(finding.host) if finding.host else None
        accepted = acceptance_for(finding, host, rules, today)
        if accepted is not None and accepted.expired:
            note = (
                f"acceptance expired on {accepted.expires} ({accepted.source}: "
                f"{accepted.reason}): this finding counts again"
            )
            finding = replace(finding, evidence=(note, *finding.evidence))
        out.append(replace(finding, accepted=accepted) if accepted else finding)
    return tuple(out)
