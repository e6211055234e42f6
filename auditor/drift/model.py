"""The data drift checks produce: live resources, drift items, policy violations, results.

Frozen dataclasses, like `auditor.model`. Field names of `DriftItem` and `PolicyViolation`
are the keys of report.json's `drift` and `policy_violations` arrays (public API: add, never
rename); `jsonable` in `auditor.report.json_report` turns them into JSON as they are.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from auditor.model import Finding, Severity


@dataclass(frozen=True)
class Unresolved:
    """A value in the Terraform code that auditor cannot work out without running Terraform
    (a function call, another resource's attribute, a variable without a default ...).
    `reason` says which, so a report can say so instead of guessing."""

    reason: str

    def __str__(self) -> str:
        return f"(not resolvable: {self.reason})"


class DriftKind(enum.StrEnum):
    CHANGED = "changed"  # an attribute differs: state vs live, or (ignore_changes) code vs live
    MISSING = "missing"  # in Terraform state, gone from the cloud
    UNMANAGED = "unmanaged"  # in the cloud, in no Terraform state that was read
    UNRESOLVED = "unresolved"  # under ignore_changes, and the code's value can't be worked out


@dataclass(frozen=True)
class LiveResource:
    """One resource as the cloud describes it now, normalised to the shape a Terraform
    resource of the same type has (`attributes`, see `auditor.drift.resources`).

    `controlled_by` names what owns a resource that is in no state on purpose (the ASG that
    launched an instance, a VPC's default security group); such resources are never
    reported as unmanaged.
    """

    type: str
    id: str
    name: str | None
    region: str
    account: str | None
    arn: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict, compare=False)
    controlled_by: str | None = None

    @property
    def tags(self) -> Mapping[str, str]:
        tags = self.attributes.get("tags")
        return tags if isinstance(tags, Mapping) else {}

    @property
    def label(self) -> str:
        name = f" ({self.name})" if self.name and self.name != self.id else ""
        return f"{self.type} {self.id}{name} in {self.region}"


@dataclass(frozen=True)
class ReadScope:
    """One resource type in one account and region, read completely: what `missing` and
    `unmanaged` may be judged on."""

    type: str
    account: str | None
    region: str


@dataclass(frozen=True)
class DriftItem:
    """One difference between Terraform (state, or the code under ignore_changes) and the
    live cloud. `resource` is the state address (None for an unmanaged resource);
    `attribute` is a Terraform-style path (`read_capacity`, `tags["env"]`,
    `global_secondary_index["by_customer"].read_capacity`, `ingress`), None for a whole
    resource (missing, unmanaged). `code` is the value written in the .tf files when it
    could be worked out; `note` says where it came from, or why it could not be resolved."""

    kind: DriftKind
    resource: str | None
    type: str
    id: str | None
    attribute: str | None = None
    code: Any = None
    state: Any = None
    live: Any = None
    ignored_by_iac: bool = False
    region: str | None = None
    note: str | None = None
    state_file: str | None = None


@dataclass(frozen=True)
class PolicyViolation:
    """A live resource that breaks a [[policy]] rule, whether or not Terraform agrees.

    `resource` is the state address when a state manages the resource, else None; `live` is
    the value (or `{attribute: value}` for several) that broke the rule; `expected` says
    what the rule asks, in the rule's own terms."""

    rule: str
    severity: Severity
    resource: str | None
    type: str
    id: str
    name: str | None
    region: str | None
    attribute: str
    live: Any
    expected: str


@dataclass(frozen=True)
class DriftResult:
    """Everything one drift check found. `errors` are the parts that could not be read (a
    region that denied DescribeTable, a .tf file that does not parse, a state file): the
    rest was still checked, and `scope` says what was."""

    drift: tuple[DriftItem, ...] = ()
    violations: tuple[PolicyViolation, ...] = ()
    findings: tuple[Finding, ...] = ()
    errors: tuple[str, ...] = ()
    scope: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def read_nothing(self) -> bool:
        """No resource type of any region could be read: the check could not run at all."""
        return not self.scope.get("read")

    def report_extra(self) -> dict[str, Any]:
        """The keys this result adds to report.json (through `AuditRun.extra`)."""
        return {
            "drift": list(self.drift),
            "policy_violations": list(self.violations),
            "drift_errors": list(self.errors),
        }
