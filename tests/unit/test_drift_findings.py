"""Findings from drift items and policy violations: severity, stable titles, evidence."""

from __future__ import annotations

from datetime import UTC, datetime

from auditor.drift.findings import drift_findings, hides_drift
from auditor.drift.model import DriftItem, DriftKind, PolicyViolation
from auditor.drift.run import merge_findings
from auditor.model import Finding, Severity

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _item(**fields: object) -> DriftItem:
    base: dict[str, object] = {
        "kind": DriftKind.CHANGED, "resource": "aws_dynamodb_table.orders",
        "type": "aws_dynamodb_table", "id": "orders", "attribute": "read_capacity",
        "region": "us-east-1", "state_file": "prod.tfstate",
    }  # fmt: skip
    base.update(fields)
    return DriftItem(**base)  # type: ignore[arg-type]


def _one(item: DriftItem) -> Finding:
    (finding,) = drift_findings([item], [], [], NOW)
    return finding


def test_the_hidden_kind_is_high_and_says_so() -> None:
    finding = _one(_item(code=100, state=1, live=1, ignored_by_iac=True, note="code: x.tf"))
    assert finding.rule == "drift" and finding.severity is Severity.HIGH and finding.host is None
    assert finding.title == (
        "aws_dynamodb_table.orders read_capacity: live value differs from the code, "
        "hidden by ignore_changes"
    )
    assert finding.evidence[:4] == ("code: 100", "state: 1", "live: 1", "code: x.tf")
    assert (
        "region: us-east-1" in finding.evidence and "state file: prod.tfstate" in finding.evidence
    )


def test_state_vs_live_is_medium_and_the_title_carries_no_values() -> None:
    first = _one(_item(state=100, live=1))
    second = _one(_item(state=100, live=2))
    assert first.severity is Severity.MEDIUM
    assert (
        first.title
        == second.title
        == "aws_dynamodb_table.orders read_capacity changed outside Terraform"
    )
    # ignored, but the code agrees with the cloud: state is merely stale
    assert not hides_drift(_item(code=1, state=100, live=1, ignored_by_iac=True))


def test_rules_and_tags_added_or_removed() -> None:
    added = _one(_item(type="aws_security_group", resource="aws_security_group.web", id="sg-1",
                       attribute="ingress", state=None, live="tcp 22 from 0.0.0.0/0"))  # fmt: skip
    assert (
        added.title
        == "aws_security_group.web ingress rule tcp 22 from 0.0.0.0/0 added outside Terraform"
    )
    removed = _one(_item(attribute='tags["env"]', state="prod", live=None))
    assert removed.title.endswith('tags["env"] removed outside Terraform')


def test_instances_point_at_their_host() -> None:
    finding = _one(_item(type="aws_instance", resource="aws_instance.web[0]", id="i-0abc",
                         attribute="instance_type", state="t3.micro", live="t3.large"))  # fmt: skip
    assert finding.host == "aws:i-0abc"


def test_missing_unmanaged_unresolved() -> None:
    missing = _one(_item(kind=DriftKind.MISSING, attribute=None, note="gone"))
    assert missing.severity is Severity.MEDIUM
    assert (
        missing.title == "aws_dynamodb_table.orders is in Terraform state but gone from the cloud"
    )
    unmanaged = _one(_item(kind=DriftKind.UNMANAGED, resource=None, id="scratch", attribute=None,
                           live="scratch", state_file=None))  # fmt: skip
    assert unmanaged.title == "aws_dynamodb_table scratch in us-east-1 is in no Terraform state"
    unresolved = _one(
        _item(kind=DriftKind.UNRESOLVED, ignored_by_iac=True, note="code value not resolvable: x")
    )
    assert unresolved.severity is Severity.INFO


def test_policy_violation_and_errors() -> None:
    violation = PolicyViolation(
        rule="no-ssh", severity=Severity.CRITICAL, resource=None, type="aws_security_group",
        id="sg-1", name="web", region="us-east-1", attribute="ingress",
        live=["tcp 22 from 0.0.0.0/0"], expected="not: ingress has a rule with port 22",
    )  # fmt: skip
    policy, error = drift_findings([], [violation], ["region x: access denied"], NOW)
    assert policy.rule == "policy" and policy.severity is Severity.CRITICAL
    assert policy.title == "Policy 'no-ssh' broken by aws_security_group sg-1 (ingress)"
    assert policy.evidence[:3] == ("expected: not: ingress has a rule with port 22",
                                   'live: ["tcp 22 from 0.0.0.0/0"]', "name: web")  # fmt: skip
    assert error.severity is Severity.LOW and error.evidence[0] == "region x: access denied"


def test_merge_keeps_evaluate_order() -> None:
    low = Finding("b", Severity.LOW, None, "x")
    high = Finding("a", Severity.HIGH, "h", "y")
    assert merge_findings([low], [high]) == (high, low)
