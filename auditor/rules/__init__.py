"""Findings from hosts, facts and history. Pure: every rule takes data and returns findings.

A rule is a callable `(RuleContext) -> Iterable[Finding]`; `ALL_RULES` lists them in the
order their findings are reported. Each finding carries the evidence a person needs to act:
what was seen, where, and when.

Titles are stable from run to run (no counts or durations that grow daily) because history
and notification compare findings by `(rule, host, title)`; volatile detail goes in evidence.
Titles never name the host (the finding's `host` does): findings identical but for the host
group into one line ("Debian 12 is in extended support only — 990 hosts", `finding_groups`).

| module | rules (finding `rule` ids) |
|---|---|
| `status` | unmanaged-host, cloud-unmanaged, stale-inventory, missing-from-cloud, |
|          | unmanaged-launcher, source-failed |
| `ssh` | ssh-host-key-changed, ssh-host-key-unknown, ssh-auth-refused, ssh-unreachable, |
| | ssh-probe-partial |
| `eol` | eol-os, eol-software |
| `uptime` | long-uptime |
| `listeners` | unexpected-listener |
| `activity` | log-silence, unmanaged-activity |
| `vantage` | vantage-no-worker, vantage-none (with an [engine]) |
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TypeVar

from auditor.model import Finding
from auditor.rules.activity import activity_findings
from auditor.rules.common import Rule, RuleContext
from auditor.rules.eol import eol_findings, eol_severity
from auditor.rules.listeners import listener_findings
from auditor.rules.ssh import ssh_findings
from auditor.rules.status import launcher_findings, source_findings, status_findings
from auditor.rules.uptime import uptime_findings
from auditor.rules.vantage import vantage_findings

T = TypeVar("T")

ALL_RULES: tuple[Rule, ...] = (
    status_findings,
    ssh_findings,
    eol_findings,
    uptime_findings,
    listener_findings,
    activity_findings,
    launcher_findings,
    source_findings,
    vantage_findings,
)


# Every rule id a finding can carry ([[accept]] entries name one; `auditor accept` checks it).
RULE_IDS: tuple[str, ...] = (
    "unmanaged-host", "cloud-unmanaged", "unmanaged-launcher", "stale-inventory",
    "missing-from-cloud", "source-failed", "ssh-host-key-changed", "ssh-host-key-unknown",
    "ssh-auth-refused", "ssh-unreachable", "ssh-probe-partial", "ssh-jump-host",
    "ssh-host-certificate", "eol-os", "eol-software",
    "long-uptime", "unexpected-listener", "log-silence", "unmanaged-activity", "drift", "policy",
    "vantage-no-worker", "vantage-none",
)  # fmt: skip


def evaluate(ctx: RuleContext, rules: Iterable[Rule] = ALL_RULES) -> tuple[Finding, ...]:
    """Every rule's findings, worst first; within a severity in the order of `rules` (an
    orphan serving traffic before an old OpenSSL), then by rule, host and title."""
    shared = _Shared()
    ranked = [(order, shared.finding(f)) for order, rule in enumerate(rules) for f in rule(ctx)]
    ranked.sort(key=lambda item: (-item[1].severity.rank, item[0], item[1].rule,
                                  item[1].host or "", item[1].title))  # fmt: skip
    return tuple(f for _, f in ranked)


class _Shared:
    """Equal titles and evidence held once: titles never name the host, so 990 hosts on
    Debian 12 have the same finding's text 990 times (60,000 findings at 10,000 hosts,
    ~36 MB as separate strings; issue 14: memory flat in fleet size). Values are unchanged."""

    def __init__(self) -> None:
        self._seen: dict[object, object] = {}

    def _one(self, value: T) -> T:
        return self._seen.setdefault(value, value)  # type: ignore[return-value]

    def finding(self, finding: Finding) -> Finding:
        evidence = self._one(tuple(self._one(line) for line in finding.evidence))
        return replace(finding, title=self._one(finding.title), evidence=evidence)


__all__ = [
    "ALL_RULES",
    "RULE_IDS",
    "Rule",
    "RuleContext",
    "activity_findings",
    "eol_findings",
    "eol_severity",
    "evaluate",
    "launcher_findings",
    "listener_findings",
    "source_findings",
    "ssh_findings",
    "status_findings",
    "uptime_findings",
]
