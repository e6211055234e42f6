"""Findings from infrastructure drift and [[policy]] violations. Pure.

Drift items and violations are computed by `auditor.drift` (which reads the cloud); this
module only judges them. Rule ids: `drift` and `policy`.

| what | severity |
|---|---|
| live value differs from the code, hidden by lifecycle.ignore_changes | high |
| attribute changed outside Terraform (state vs live) | medium |
| in state, gone from the cloud / in the cloud, in no state | medium |
| code value under ignore_changes cannot be worked out | info |
| the drift check could not read everything | low |
| a policy violation | the rule's `severity` (default high) |

Titles are stable from run to run (values go in the evidence), so history and notification
see a drift once, not once per run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from auditor.drift.model import DriftItem, DriftKind, PolicyViolation
from auditor.drift.resources import SPECS
from auditor.model import ID_AWS, Finding, Severity, ident
from auditor.rules.common import when

DRIFT_RULE = "drift"
POLICY_RULE = "policy"


def drift_findings(
    drift: Iterable[DriftItem],
    violations: Iterable[PolicyViolation],
    errors: Iterable[str],
    now: datetime,
) -> list[Finding]:
    findings = [_drift_finding(item, now) for item in drift]
    findings += [_policy_finding(v, now) for v in violations]
    errors = tuple(errors)
    if errors:
        evidence = [*errors[:10]]
        if len(errors) > 10:
            evidence.append(f"... and {len(errors) - 10} more")
        evidence.append(f"checked {when(now)}")
        findings.append(
            Finding(
                DRIFT_RULE,
                Severity.LOW,
                None,
                "Drift check was incomplete: some resources could not be read",
                tuple(evidence),
            )
        )
    return findings


def hides_drift(item: DriftItem) -> bool:
    """The class of drift no `terraform plan` shows: ignore_changes covers an attribute
    whose live value is not what the code asks for."""
    if item.kind != DriftKind.CHANGED or not item.ignored_by_iac or item.code is None:
        return False
    spec = SPECS.get(item.type)
    if spec is None:
        return bool(item.code != item.live)
    return not spec.equal(item.attribute or "", item.code, item.live)


def _drift_finding(item: DriftItem, now: datetime) -> Finding:
    who = item.resource or f"{item.type} {item.id}"
    host = ident(ID_AWS, item.id) if item.type == "aws_instance" and item.id else None
    evidence: list[str] = []
    if item.kind == DriftKind.CHANGED:
        subject = _subject(item)
        if hides_drift(item):
            severity = Severity.HIGH
            title = f"{who} {subject}: live value differs from the code, hidden by ignore_changes"
        else:
            severity = Severity.MEDIUM
            title = f"{who} {subject} {_change_verb(item)} outside Terraform"
        if item.code is not None:
            evidence.append(f"code: {_show(item.code)}")
        evidence += [f"state: {_show(item.state)}", f"live: {_show(item.live)}"]
    elif item.kind == DriftKind.MISSING:
        severity = Severity.MEDIUM
        title = f"{who} is in Terraform state but gone from the cloud"
    elif item.kind == DriftKind.UNMANAGED:
        severity = Severity.MEDIUM
        title = f"{item.type} {item.id} in {item.region} is in no Terraform state"
        if item.live and item.live != item.id:
            evidence.append(f"name: {item.live}")
    else:
        severity = Severity.INFO
        title = f"{who} {item.attribute}: the code's value under ignore_changes is not known"
        evidence += [f"state: {_show(item.state)}", f"live: {_show(item.live)}"]
    if item.note:
        evidence.append(item.note)
    if item.resource and item.id:
        evidence.append(f"id: {item.id}")
    if item.region:
        evidence.append(f"region: {item.region}")
    if item.state_file:
        evidence.append(f"state file: {item.state_file}")
    evidence.append(f"checked {when(now)}")
    return Finding(DRIFT_RULE, severity, host, title, tuple(evidence))


def _subject(item: DriftItem) -> str:
    spec = SPECS.get(item.type)
    if spec and item.attribute in spec.rule_sets:
        rule = item.live if item.live is not None else item.state
        if rule is None:
            rule = item.code
        return f"{item.attribute} rule {rule}"
    return item.attribute or "?"


def _change_verb(item: DriftItem) -> str:
    spec = SPECS.get(item.type)
    is_set_entry = spec is not None and item.attribute in spec.rule_sets
    if is_set_entry or (item.attribute or "").startswith("tags["):
        if item.state is None:
            return "added"
        if item.live is None:
            return "removed"
    return "changed"


def _policy_finding(violation: PolicyViolation, now: datetime) -> Finding:
    who = violation.resource or f"{violation.type} {violation.id}"
    host = ident(ID_AWS, violation.id) if violation.type == "aws_instance" else None
    evidence = [f"expected: {violation.expected}", f"live: {_show(violation.live)}"]
    if violation.name and violation.name != violation.id:
        evidence.append(f"name: {violation.name}")
    if violation.resource:
        evidence.append(f"id: {violation.id}")
    if violation.region:
        evidence.append(f"region: {violation.region}")
    evidence.append(f"checked {when(now)}")
    return Finding(
        POLICY_RULE,
        violation.severity,
        host,
        f"Policy '{violation.rule}' broken by {who} ({violation.attribute})",
        tuple(evidence),
    )


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
