"""The drift check as one call: read states, code and the live cloud, compare, judge.

    run_drift(config, now) -> DriftResult(drift, violations, findings, errors, scope)

I/O happens here and in `live` / `hcl` / `auditor.sources.terraform`; `compare`,
`policy` and `findings` are pure. Nothing raises for a partial failure: an unreadable
state, .tf file, account, region or resource type is an entry in `errors`, and everything
else is still checked. A [[policy]] rule that does not parse is a ConfigError, raised first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from auditor.config import Config, OwnershipRule
from auditor.drift.compare import TerraformSide, compare, state_regions
from auditor.drift.findings import drift_findings, hides_drift
from auditor.drift.hcl import CodeModule, CodeResource, read_code
from auditor.drift.live import LiveRead, read_live
from auditor.drift.model import DriftItem, DriftResult, LiveResource, ReadScope
from auditor.drift.policy import config_policies, evaluate_policies
from auditor.drift.resources import SPECS, SUPPORTED_TYPES
from auditor.model import Finding
from auditor.sources.aws import DEFAULT_CLIENT_SETTINGS, AwsClientSettings
from auditor.sources.terraform import StateResource, TerraformStateSource

NO_AWS = (
    "no [[aws]] section: the live cloud was not read, so neither drift nor [[policy]] "
    "rules could be checked (add an [[aws]] section with the account's profile, regions "
    "and, for moto, endpoint_url)"
)


def drift_configured(config: Config) -> bool:
    """Is there anything for a drift check to do? (A Terraform state, code or a policy.)"""
    return bool(config_policies(config)) or any(t.state or t.config for t in config.terraform)


def run_drift(
    config: Config,
    now: datetime | None = None,
    *,
    judge_instance_presence: bool = True,
    reported_elsewhere: Callable[[DriftItem], bool] | None = None,
    client_settings: AwsClientSettings | None = None,
) -> DriftResult:
    """Compare every [[terraform]] section's state (and code) with the live cloud of the
    [[aws]] sections, and check the [[policy]] rules against the live resources.

    `judge_instance_presence=False` leaves missing and unmanaged `aws_instance`s out:
    `audit` reconciles hosts already (statuses missing and cloud-unmanaged); their
    attributes are still compared. `reported_elsewhere` marks items another finding already
    names (the audit's unmanaged-launcher names an ASG in no state, with its instances):
    they stay in `drift`, without a finding of their own."""
    now = now or datetime.now(UTC)
    policies = config_policies(config)  # first: a mistake in a rule fails before any read
    settings = client_settings or DEFAULT_CLIENT_SETTINGS
    errors: list[str] = []
    notes: list[str] = []

    sides: list[TerraformSide] = []
    code_folders: list[str] = []
    for section in config.terraform:
        resources: tuple[StateResource, ...] = ()
        if section.state:
            source = TerraformStateSource(
                section,
                s3_endpoint_url=section.s3_endpoint_url,
                s3_profile=section.s3_profile,
                client_settings=settings,
            )
            resources, state_errors = source.load_resources()
            errors += [f"terraform '{section.name}': {e}" for e in state_errors]
        code: dict[tuple[str | None, str, str], CodeResource] = {}
        for folder in section.config:
            module = read_code(folder)
            code_folders.append(str(folder))
            errors += [f"terraform '{section.name}': {e}" for e in module.errors]
            notes += list(module.notes)
            code.update(_supported(module))
        sides.append(TerraformSide(section.name, resources, code))

    all_state = [r for side in sides for r in side.resources]
    live = LiveRead((), (), ())
    if config.aws:
        reads = [
            read_live(aws, sorted(state_regions(all_state)), settings=settings)
            for aws in config.aws
        ]
        live = LiveRead(
            tuple(r for read in reads for r in read.resources),
            tuple(s for read in reads for s in read.read),
            tuple(e for read in reads for e in read.errors),
        )
        errors += live.errors
    elif all_state or policies:
        errors.append(NO_AWS)

    presence = tuple(t for t in SUPPORTED_TYPES if judge_instance_presence or t != "aws_instance")
    items = compare(
        sides,
        live.resources,
        live.read,
        judge_presence=presence,
        owned_by_tag=ownership_matcher(config.ownership),
    )
    violations = evaluate_policies(policies, live.resources, state_addresses(all_state))
    judged = [i for i in items if reported_elsewhere is None or not reported_elsewhere(i)]
    findings = drift_findings(judged, violations, errors, now)
    return DriftResult(
        drift=items,
        violations=violations,
        findings=tuple(findings),
        errors=tuple(errors),
        scope={
            "checked_at": now.isoformat(),
            "state_resources": sum(1 for r in all_state if r.type in SPECS),
            "code_folders": code_folders,
            "code_notes": notes,
            "live_resources": len(live.resources),
            "read": [_scope_dict(s) for s in live.read],
            "policies": [p.name for p in policies],
        },
    )


def _supported(module: CodeModule) -> dict[tuple[str | None, str, str], CodeResource]:
    return {key: r for key, r in module.index().items() if r.type in SPECS}


def state_addresses(resources: Iterable[StateResource]) -> dict[tuple[str, str], str]:
    """(type, id) -> state address, for policy violations of managed resources."""
    out: dict[tuple[str, str], str] = {}
    for resource in resources:
        spec = SPECS.get(resource.type)
        key = spec.state_key(resource.attributes) if spec else None
        if key and not resource.deposed:
            out.setdefault((resource.type, key), resource.address)
    return out


def ownership_matcher(
    rules: Sequence[OwnershipRule],
) -> Callable[[LiveResource], str | None]:
    """[[ownership]] tags (`key` or `key=value`) mark resources another system manages:
    they are never unmanaged drift."""

    def owner(resource: LiveResource) -> str | None:
        rule = next((r for r in rules if r.matches(resource.tags)), None)
        return rule.system if rule is not None else None

    return owner


def merge_findings(findings: Iterable[Finding], extra: Iterable[Finding]) -> tuple[Finding, ...]:
    """Both lists in the order `auditor.rules.evaluate` reports (worst first, then rule,
    host, title), for adding drift findings to a run's."""
    return tuple(
        sorted(
            (*findings, *extra),
            key=lambda f: (-f.severity.rank, f.rule, f.host or "", f.title),
        )
    )


def summary_lines(result: DriftResult, limit: int = 40) -> list[str]:
    """Pure: a short text summary for the terminal (`auditor drift`)."""
    counts = Counter(item.kind.value for item in result.drift)
    hidden = sum(1 for item in result.drift if hides_drift(item))
    head = (
        f"drift: {counts.get('changed', 0)} changed ({hidden} hidden by ignore_changes), "
        f"{counts.get('missing', 0)} missing, {counts.get('unmanaged', 0)} unmanaged, "
        f"{counts.get('unresolved', 0)} unresolved; "
        f"{len(result.violations)} policy violations"
    )
    lines = [head]
    ordered = merge_findings((), result.findings)
    for finding in ordered[:limit]:
        lines.append(f"  {finding.severity.value:<8} {finding.title}")
    if len(ordered) > limit:
        lines.append(f"  ... and {len(ordered) - limit} more (report.json)")
    lines += [f"  could not read: {e}" for e in result.errors[:10]]
    return lines


def _scope_dict(scope: ReadScope) -> dict[str, Any]:
    return {"type": scope.type, "account": scope.account, "region": scope.region}
