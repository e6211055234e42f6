"""Drift against a real moto server on 127.0.0.1 (no mocks, no real AWS): the DynamoDB
story and its companions, read-only reads, partial failure, and report.json."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import botocore.client
import pytest

from auditor.config import Config, load_config
from auditor.drift.model import DriftKind, DriftResult
from auditor.drift.run import run_drift
from auditor.lab.drift_story import seed_drift_story
from auditor.model import Severity
from auditor.report.json_report import run_to_dict, validate_report
from auditor.sources.aws import AwsClientSettings
from tests.integration.moto_server import (
    LOOPBACK,
    TEST_ACCOUNT,
    aws_test_env,
    moto_endpoint,
    moto_server,
)
from tests.unit.test_report import sample_run

__all__ = ["aws_test_env", "moto_endpoint", "moto_server"]  # fixtures used by name below

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
REGION = "us-east-1"
# One attempt, short timeouts: failures in these tests are meant, don't wait for retries.
FAST = AwsClientSettings(max_attempts=1, connect_timeout=2, read_timeout=20)


def _config(tmp_path: Path, endpoint: str, story: dict[str, Any], regions: list[str]) -> Config:
    path = tmp_path / "audit.toml"
    path.write_text(
        "[[aws]]\n"
        'name = "moto"\n'
        f"endpoint_url = {json.dumps(endpoint)}\n"
        f"regions = {json.dumps(regions)}\n\n" + story["config_snippet"]
    )
    return load_config(path)


@pytest.fixture
def story(moto_endpoint: str, tmp_path: Path) -> dict[str, Any]:
    return seed_drift_story(moto_endpoint, REGION, tmp_path / "story")


@pytest.fixture
def api_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str]]]:
    """Every AWS operation made from now on, with the endpoint it went to."""
    calls: list[tuple[str, str]] = []
    original: Callable[..., Any] = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009

    def recording(self: Any, operation_name: str, api_params: Any) -> Any:
        calls.append((operation_name, self.meta.endpoint_url))
        return original(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)
    yield calls


def _drift_by_key(result: DriftResult) -> dict[tuple[str, str | None], Any]:
    return {(d.resource or str(d.id), d.attribute): d for d in result.drift}


def test_the_dynamodb_story_and_its_companions(
    story: dict[str, Any], moto_endpoint: str, tmp_path: Path
) -> None:
    config = _config(tmp_path, moto_endpoint, story, [REGION])
    result = run_drift(config, NOW, client_settings=FAST)
    assert result.errors == ()
    drift = _drift_by_key(result)

    # The story: code 100 under ignore_changes, state and cloud both 1.
    orders = drift[("aws_dynamodb_table.orders", "read_capacity")]
    assert (orders.kind, orders.code, orders.state, orders.live, orders.ignored_by_iac) == (
        DriftKind.CHANGED, 100, 1, 1, True,
    )  # fmt: skip
    assert "var.orders_capacity = 100 (default)" in (orders.note or "")
    assert drift[("aws_dynamodb_table.orders", "write_capacity")].code == 100
    # State says 100, the cloud 1: changed by hand, not refreshed since.
    invoices = drift[("aws_dynamodb_table.invoices", "read_capacity")]
    assert (invoices.state, invoices.live, invoices.ignored_by_iac) == (100, 1, False)
    # The instance resized by hand.
    web = drift[("aws_instance.web[0]", "instance_type")]
    assert (web.state, web.live, web.id) == (
        "t3.micro",
        "t3.large",
        story["ids"]["aws_instance.web[0]"],
    )
    # The ASG resized: min/max plainly, desired behind ignore_changes.
    assert drift[("aws_autoscaling_group.workers", "min_size")].live == 2
    assert drift[("aws_autoscaling_group.workers", "max_size")].live == 10
    desired = drift[("aws_autoscaling_group.workers", "desired_capacity")]
    assert (desired.code, desired.state, desired.live, desired.ignored_by_iac) == (2, 2, 3, True)
    # The security group rule added by hand.
    rule = drift[("aws_security_group.web", "ingress")]
    assert (rule.state, rule.live) == (None, "tcp 22 from 0.0.0.0/0")
    # Gone, and made by hand.
    assert drift[("aws_dynamodb_table.legacy", None)].kind == DriftKind.MISSING
    assert drift[("scratch-copy", None)].kind == DriftKind.UNMANAGED
    # Clean resources produce nothing (sessions: on-demand; main: engine "14" vs 14.7).
    clean = {"aws_dynamodb_table.sessions", "aws_db_instance.main"}
    assert not clean & {d.resource for d in result.drift}
    assert len(result.drift) == 11, [(d.resource, d.attribute) for d in result.drift]

    # Guard rails hold whatever Terraform says: the database agrees with its state.
    violations = {(v.rule, v.resource) for v in result.violations}
    assert violations == {
        ("prod-dynamodb-capacity", "aws_dynamodb_table.orders"),
        ("prod-dynamodb-capacity", "aws_dynamodb_table.invoices"),
        ("no-ssh-from-anywhere", "aws_security_group.web"),
        ("prod-db-multi-az", "aws_db_instance.main"),
    }

    by_title = {f.title: f for f in result.findings}
    story_finding = by_title[
        "aws_dynamodb_table.orders read_capacity: live value differs from the code, "
        "hidden by ignore_changes"
    ]
    assert story_finding.severity is Severity.HIGH and story_finding.rule == "drift"
    assert (
        by_title["aws_instance.web[0] instance_type changed outside Terraform"].host
        == f"aws:{story['ids']['aws_instance.web[0]']}"
    )
    assert {f.rule for f in result.findings} == {"drift", "policy"}
    assert len(result.findings) == len(result.drift) + len(result.violations)

    # report.json: drift and policy_violations at the top level, valid against the schema.
    data = run_to_dict(replace(sample_run(), extra=result.report_extra()))
    validate_report(data)
    assert {d["attribute"] for d in data["drift"] if d["resource"] == "aws_dynamodb_table.orders"} == {
        "read_capacity", "write_capacity",
    }  # fmt: skip
    assert data["policy_violations"][0].keys() >= {
        "rule",
        "resource",
        "attribute",
        "live",
        "expected",
    }


def test_reads_are_read_only_and_stay_on_loopback(
    story: dict[str, Any], moto_endpoint: str, tmp_path: Path, api_calls: list[tuple[str, str]]
) -> None:
    config = _config(tmp_path, moto_endpoint, story, [REGION])
    run_drift(config, NOW, client_settings=FAST)
    operations = {name for name, _ in api_calls}
    assert operations, "no AWS call recorded"
    assert all(name.startswith(("Describe", "List", "Get")) for name in operations), operations
    assert {"DescribeTable", "DescribeAutoScalingGroups", "DescribeSecurityGroups",
            "DescribeDBInstances", "DescribeInstances"} <= operations  # fmt: skip
    assert all(endpoint.startswith(f"http://{LOOPBACK}:") for _, endpoint in api_calls)


def test_an_unreadable_region_is_an_error_and_the_rest_is_checked(
    story: dict[str, Any], moto_endpoint: str, tmp_path: Path
) -> None:
    config = _config(tmp_path, moto_endpoint, story, [REGION, "xx-nowhere-1"])
    result = run_drift(config, NOW, client_settings=FAST)
    assert result.errors, "the bogus region should fail"
    assert all("xx-nowhere-1" in e for e in result.errors)
    assert any("aws_dynamodb_table in xx-nowhere-1" in e for e in result.errors)
    assert ("aws_dynamodb_table.orders", "read_capacity") in _drift_by_key(result)
    incomplete = [f for f in result.findings if f.title.startswith("Drift check was incomplete")]
    assert len(incomplete) == 1 and incomplete[0].severity is Severity.LOW


def test_audit_leaves_instance_presence_to_reconcile(
    story: dict[str, Any], moto_endpoint: str, tmp_path: Path
) -> None:
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=moto_endpoint)
    hand_made = ec2.run_instances(
        ImageId="ami-04681a1dbd79675a5", MinCount=1, MaxCount=1, InstanceType="t3.nano"
    )["Instances"][0]["InstanceId"]
    config = _config(tmp_path, moto_endpoint, story, [REGION])
    alone = _drift_by_key(run_drift(config, NOW, client_settings=FAST))
    assert alone[(hand_made, None)].kind == DriftKind.UNMANAGED
    in_audit = _drift_by_key(
        run_drift(config, NOW, client_settings=FAST, judge_instance_presence=False)
    )
    assert (hand_made, None) not in in_audit
    assert ("aws_instance.web[0]", "instance_type") in in_audit  # attributes still compared
    assert ("scratch-copy", None) in in_audit


def test_without_an_aws_section_nothing_is_read(
    story: dict[str, Any], tmp_path: Path, api_calls: list[tuple[str, str]]
) -> None:
    path = tmp_path / "audit.toml"
    path.write_text(story["config_snippet"])
    result = run_drift(load_config(path), NOW)
    assert result.drift == () and api_calls == []
    assert result.errors and "no [[aws]] section" in result.errors[0]


def test_the_account_is_moto_s(story: dict[str, Any]) -> None:
    assert story["account"] == TEST_ACCOUNT
    state = json.loads(Path(story["state"]).read_text())
    assert state["version"] == 4 and state["terraform_version"].startswith("1.")
    orders = next(r for r in state["resources"] if r["name"] == "orders")
    assert orders["instances"][0]["attributes"]["read_capacity"] == 1


FIXTURE_STORY = Path(__file__).parents[1] / "fixtures" / "drift" / "story"
# What moto makes up on every seeding: resource ids, ARNs' ids, timestamps, addresses, DNS
# names, tokens. Everything else the fixture holds is the story's own code and must match.
_MADE_UP = [
    (r"\b(vpc|subnet|sg|i|lt|ami|eni|r|vol|sgr|igw|rtb|acl)-[0-9a-f]{8,17}\b", r"\1-ID"),
    (r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?", "TIME"),
    (r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b", "ADDRESS"),
    (r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "UUID"),
    (r"ip-[0-9-]+\.ec2\.internal", "DNS"),
]


def _masked(text: str) -> str:
    for pattern, placeholder in _MADE_UP:
        text = re.sub(pattern, placeholder, text)
    return text


def test_the_fixture_story_is_what_the_lab_seeds(story: dict[str, Any]) -> None:
    """tests/fixtures/drift/story is generated by seed_drift_story (regenerate.py): a change
    to the story that is not regenerated into the fixture fails here, ids aside."""
    seeded = Path(story["policy_file"]).parent
    names = sorted(str(p.relative_to(seeded)) for p in seeded.rglob("*") if p.is_file())
    assert names == sorted(str(p.relative_to(FIXTURE_STORY)) for p in FIXTURE_STORY.rglob("*")
                           if p.is_file())  # fmt: skip
    for name in names:
        fresh, fixture = (seeded / name).read_text(), (FIXTURE_STORY / name).read_text()
        assert _masked(fresh) == _masked(fixture), f"{name}: run tests/fixtures/drift/regenerate.py"


def test_the_audit_checks_drift_while_it_discovers_with_the_same_result(
    story: dict[str, Any], moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 14: the audit's drift check reads code, state and the live cloud from the audit's
    # start instead of after the probe; what it finds is what the check run after discovery,
    # on the audit's hosts (the launchers the rules name), finds.
    import threading

    from auditor import pipeline
    from auditor.drift import run as drift_run

    # A hand-made ASG with an instance: the rules name it (unmanaged-launcher), so the
    # drift check, given the audit's hosts, leaves it out of its own findings.
    autoscaling = boto3.client("autoscaling", region_name=REGION, endpoint_url=moto_endpoint)
    autoscaling.create_launch_configuration(
        LaunchConfigurationName="batch-lc", ImageId="ami-04681a1dbd79675a5",
        InstanceType="t3.nano",
    )  # fmt: skip
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="batch", LaunchConfigurationName="batch-lc", MinSize=1, MaxSize=1,
        DesiredCapacity=1, AvailabilityZones=[f"{REGION}a"],
    )  # fmt: skip
    config = _config(tmp_path, moto_endpoint, story, [REGION])
    live_read = threading.Event()
    real_read_live, real_discover = drift_run.read_live, pipeline.discover

    def read_live(*args: Any, **kwargs: Any) -> Any:
        live_read.set()
        return real_read_live(*args, **kwargs)

    def discover(*args: Any, **kwargs: Any) -> Any:
        # Discovery waits here until the drift check has gone to the cloud: without the
        # overlap it never would, and the audit would end with no drift read in time.
        assert live_read.wait(timeout=120), "the drift check did not start before discovery"
        return real_discover(*args, **kwargs)

    monkeypatch.setattr(drift_run, "read_live", read_live)
    monkeypatch.setattr(pipeline, "discover", discover)
    run = pipeline.audit(config)
    after = pipeline.drift_check(config, run.started_at, in_audit=True, hosts=run.hosts)
    assert after is not None and after.findings
    assert any(h.status.value == "owned" for h in run.hosts)  # a launcher the rules name
    in_run = [f for f in run.findings if f.rule.startswith("drift") or f.rule == "policy"]
    def findings(found: Any) -> list[str]:  # in any order (the run sorts them by severity)
        return sorted(json.dumps(f) for f in run_to_dict(replace(run, findings=found))["findings"])

    assert findings(tuple(in_run)) == findings(after.findings)
    assert run.extra == after.report_extra()
    alone = pipeline.drift_check(config, run.started_at, in_audit=True)
    assert alone is not None and len(alone.findings) > len(after.findings)  # the ASG's own
