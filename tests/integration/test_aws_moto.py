"""Ec2Source against a real moto server on 127.0.0.1 (no mocks, no real AWS)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from auditor.config import AwsConfig
from auditor.model import SourceKind
from auditor.sources.aws import AwsClientSettings, Ec2Source
from tests.integration.moto_server import (
    TEST_ACCOUNT,
    MotoServer,
    aws_environment,
    aws_test_env,
    moto_endpoint,
    moto_server,
    running_moto_server,
)

__all__ = ["aws_test_env", "moto_endpoint", "moto_server"]  # fixtures used by name below

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
AMI = "ami-12c6146b"
# One attempt, short timeouts: failures in these tests are meant, don't wait for retries.
FAST = AwsClientSettings(max_attempts=1, connect_timeout=2, read_timeout=10)


@dataclass(frozen=True)
class Launched:
    instance_id: str
    region: str
    name: str
    state: str
    extra_ips: tuple[str, ...] = ()
    extra_eni: str | None = None


def _ec2(endpoint: str, region: str, session: boto3.Session | None = None) -> Any:
    return (session or boto3.Session()).client("ec2", region_name=region, endpoint_url=endpoint)


def _launch_fleet(endpoint: str, region: str, count: int, prefix: str) -> list[Launched]:
    """`count` instances, one reservation each (moto pages by reservation), in a VPC; the
    first gets a second ENI with three addresses, one is stopped and one terminated."""
    ec2 = _ec2(endpoint, region)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24", AvailabilityZone=f"{region}a")
    subnet_id = subnet["Subnet"]["SubnetId"]
    launched: list[Launched] = []
    for n in range(count):
        name = f"{prefix}-{n:02d}"
        instance = ec2.run_instances(
            ImageId=AMI,
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.micro",
            SubnetId=subnet_id,
            KeyName="ops",
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": "Name", "Value": name}, {"Key": "team", "Value": "web"}],
                }
            ],
        )["Instances"][0]
        launched.append(Launched(instance["InstanceId"], region, name, "running"))

    first = launched[0]
    eni = ec2.create_network_interface(
        SubnetId=subnet_id,
        PrivateIpAddresses=[
            {"PrivateIpAddress": "10.20.1.200", "Primary": True},
            {"PrivateIpAddress": "10.20.1.201", "Primary": False},
        ],
    )["NetworkInterface"]["NetworkInterfaceId"]
    ec2.attach_network_interface(
        NetworkInterfaceId=eni, InstanceId=first.instance_id, DeviceIndex=1
    )
    launched[0] = Launched(
        first.instance_id, region, first.name, "running", ("10.20.1.200", "10.20.1.201"), eni
    )

    ec2.stop_instances(InstanceIds=[launched[1].instance_id])
    launched[1] = Launched(launched[1].instance_id, region, launched[1].name, "stopped")
    ec2.terminate_instances(InstanceIds=[launched[2].instance_id])
    launched[2] = Launched(launched[2].instance_id, region, launched[2].name, "terminated")
    return launched


def _describe(endpoint: str, region: str, instance_id: str) -> dict[str, Any]:
    response = _ec2(endpoint, region).describe_instances(InstanceIds=[instance_id])
    instance: dict[str, Any] = response["Reservations"][0]["Instances"][0]
    return instance


def test_two_regions_many_pages_every_state(moto_endpoint: str) -> None:
    fleet = _launch_fleet(moto_endpoint, "us-east-1", 7, "use") + _launch_fleet(
        moto_endpoint, "eu-west-1", 5, "euw"
    )
    paginator = _ec2(moto_endpoint, "us-east-1").get_paginator("describe_instances")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 5}))
    assert len(pages) > 1, "the fleet must span several pages for this test to mean anything"
    config = AwsConfig(
        name="prod-aws",
        regions=("us-east-1", "eu-west-1"),
        endpoint_url=moto_endpoint,
        page_size=5,
    )

    result = Ec2Source(config, client_settings=FAST).collect(NOW)

    assert result.ok, result.errors
    assert (result.kind, result.name, result.errors) == (SourceKind.AWS, "prod-aws", ())
    seen = Counter(obs.values("aws")[0] for obs in result.observations)
    assert seen == Counter({i.instance_id: 1 for i in fleet}), "each instance exactly once"
    assert result.details["scope"] == {
        "read": [
            {"account": TEST_ACCOUNT, "region": "us-east-1"},
            {"account": TEST_ACCOUNT, "region": "eu-west-1"},
        ],
        "failed": [],
    }

    by_id = {obs.values("aws")[0]: obs for obs in result.observations}
    for launched in fleet:
        obs = by_id[launched.instance_id]
        live = _describe(moto_endpoint, launched.region, launched.instance_id)
        assert obs.source is SourceKind.AWS and obs.source_name == "prod-aws"
        assert obs.observed_at == NOW
        assert obs.attributes["state"] == launched.state
        assert obs.alive is (launched.state == "running")
        assert obs.attributes["region"] == launched.region
        assert obs.attributes["account"] == TEST_ACCOUNT
        assert obs.attributes["tags"] == {"Name": launched.name, "team": "web"}
        assert obs.values("name") == (launched.name,)
        assert obs.attributes["instance_type"] == "t3.micro"
        assert obs.attributes["key_name"] == "ops"
        expected_ips = [
            a["PrivateIpAddress"]
            for eni in live.get("NetworkInterfaces", [])
            for a in eni["PrivateIpAddresses"]
        ]
        assert set(obs.values("ip")) >= set(expected_ips)
        if live.get("PrivateIpAddress"):
            # The primary address leads: it is the one to probe.
            assert obs.values("ip")[0] == live["PrivateIpAddress"]
            assert f"dns:{live['PrivateDnsName'].lower()}" in obs.identifiers
        if live.get("PublicIpAddress"):
            assert live["PublicIpAddress"] in obs.values("ip")
        macs = {eni["MacAddress"] for eni in live.get("NetworkInterfaces", [])}
        assert set(obs.values("mac")) == macs
        json.dumps(dict(obs.attributes))  # JSON-serialisable, datetimes included

    multi = by_id[fleet[0].instance_id]
    assert set(fleet[0].extra_ips) <= set(multi.values("ip"))
    assert len(multi.values("mac")) == 2
    assert [n["id"] for n in multi.attributes["network_interfaces"]][1] == fleet[0].extra_eni
    assert multi.attributes["network_interfaces"][1]["private_ips"][:2] == [
        "10.20.1.200",
        "10.20.1.201",
    ]


def test_bogus_region_is_an_error_entry_and_the_rest_goes_on(moto_endpoint: str) -> None:
    fleet = _launch_fleet(moto_endpoint, "us-east-1", 4, "web")
    config = AwsConfig(
        name="typo", regions=("us-east-1", "us-esat-1"), endpoint_url=moto_endpoint, page_size=5
    )

    result = Ec2Source(config, client_settings=FAST).collect(NOW)

    assert not result.ok
    assert {o.values("aws")[0] for o in result.observations} == {i.instance_id for i in fleet}
    assert len(result.errors) == 1
    assert "us-esat-1" in result.errors[0] and f"account {TEST_ACCOUNT}" in result.errors[0]
    assert "typo?" in result.errors[0]
    assert result.error is not None and "1 of 2 reads failed" in result.error
    assert [f["region"] for f in result.details["scope"]["failed"]] == ["us-esat-1"]
    assert result.details["scope"]["read"] == [{"account": TEST_ACCOUNT, "region": "us-east-1"}]


def test_unreachable_endpoint_fails_the_source_without_raising(aws_test_env: None) -> None:
    config = AwsConfig(name="down", regions=("us-east-1",), endpoint_url="http://127.0.0.1:9")

    result = Ec2Source(config, client_settings=FAST).collect(NOW)

    assert not result.ok
    assert result.observations == ()
    assert result.error is not None and "unreachable" in result.error


def test_all_enabled_regions_when_none_configured(moto_endpoint: str) -> None:
    _launch_fleet(moto_endpoint, "us-east-1", 3, "a")
    _launch_fleet(moto_endpoint, "ap-southeast-2", 3, "b")
    config = AwsConfig(name="everywhere", endpoint_url=moto_endpoint)

    result = Ec2Source(config, client_settings=FAST).collect(NOW)

    assert result.ok, result.errors
    regions_read = {r["region"] for r in result.details["scope"]["read"]}
    assert {"us-east-1", "eu-west-1", "ap-southeast-2"} <= regions_read
    assert Counter(o.attributes["region"] for o in result.observations) == {
        "us-east-1": 3,
        "ap-southeast-2": 3,
    }


def _assumed(endpoint: str, role_arn: str) -> boto3.Session:
    sts = boto3.client("sts", region_name="us-east-1", endpoint_url=endpoint)
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="setup")["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def test_assume_role_reads_each_account_not_the_base_one(moto_endpoint: str) -> None:
    roles = {
        "111111111111": "arn:aws:iam::111111111111:role/auditor-read",
        "222222222222": "arn:aws:iam::222222222222:role/auditor-read",
    }
    expected: dict[str, str] = {}
    for account, role in roles.items():
        ec2 = _ec2(moto_endpoint, "eu-west-1", _assumed(moto_endpoint, role))
        for _ in range(2):
            instance = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]
            expected[instance["InstanceId"]] = account
    # In the base account: must not be read when roles are given.
    base_only = _ec2(moto_endpoint, "eu-west-1").run_instances(ImageId=AMI, MinCount=1, MaxCount=1)
    base_id = base_only["Instances"][0]["InstanceId"]

    config = AwsConfig(
        name="org",
        regions=("eu-west-1",),
        endpoint_url=moto_endpoint,
        assume_role=tuple(roles.values()),
    )
    result = Ec2Source(config, client_settings=FAST).collect(NOW)

    assert result.ok, result.errors
    got = {o.values("aws")[0]: o.attributes["account"] for o in result.observations}
    assert got == expected
    assert base_id not in got


def test_same_account_through_two_roles_reports_each_instance_once(moto_endpoint: str) -> None:
    fleet = _launch_fleet(moto_endpoint, "us-east-1", 3, "dup")
    config = AwsConfig(
        name="dup",
        regions=("us-east-1",),
        endpoint_url=moto_endpoint,
        assume_role=(
            f"arn:aws:iam::{TEST_ACCOUNT}:role/one",
            f"arn:aws:iam::{TEST_ACCOUNT}:role/two",
        ),
    )
    result = Ec2Source(config, client_settings=FAST).collect(NOW)
    assert result.ok
    assert sorted(o.values("aws")[0] for o in result.observations) == sorted(
        i.instance_id for i in fleet
    )


# ----------------------------------------------------------------- IAM enforced by moto


@pytest.fixture
def iam_enforcing_server() -> Iterator[MotoServer]:
    """A private server: IAM enforcement is server-wide and would break other tests."""
    with aws_environment(), running_moto_server() as server:
        yield server


def _policy(*actions: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
        }
    )


def test_denied_role_is_an_error_entry_and_the_allowed_role_is_read(
    iam_enforcing_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = iam_enforcing_server.endpoint
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=endpoint)
    iam.create_user(UserName="auditor")
    key = iam.create_access_key(UserName="auditor")["AccessKey"]
    iam.put_user_policy(
        UserName="auditor",
        PolicyName="assume",
        PolicyDocument=_policy("sts:AssumeRole", "sts:GetCallerIdentity"),
    )
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
            ],
        }
    )
    arns = {}
    for role, actions in (("no-ec2", ("sts:GetCallerIdentity",)), ("reader", ("ec2:Describe*",))):
        arns[role] = iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=_policy(*actions))
    fleet = _launch_fleet(endpoint, "us-east-1", 3, "app")

    iam_enforcing_server.enforce_iam()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    monkeypatch.delenv("AWS_SECURITY_TOKEN")

    config = AwsConfig(
        name="iam",
        regions=("us-east-1", "eu-west-1"),
        endpoint_url=endpoint,
        assume_role=(arns["no-ec2"], arns["reader"]),
    )
    result = Ec2Source(config, client_settings=FAST).collect(NOW)

    assert not result.ok
    assert sorted(o.values("aws")[0] for o in result.observations) == sorted(
        i.instance_id for i in fleet
    )
    assert len(result.errors) == 2  # both regions of the denied role
    for error, region in zip(result.errors, ("us-east-1", "eu-west-1"), strict=True):
        assert f"role {arns['no-ec2']}" in error and f"region {region}" in error
        assert "access denied (AccessDenied)" in error
    text = json.dumps([result.error, *result.errors, result.details])
    assert key["AccessKeyId"] not in text and key["SecretAccessKey"] not in text


def test_rejected_credentials_fail_the_source(
    iam_enforcing_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    iam_enforcing_server.enforce_iam()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7NOTREAL")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret-at-all")
    config = AwsConfig(
        name="bad-keys", regions=("us-east-1",), endpoint_url=iam_enforcing_server.endpoint
    )

    result = Ec2Source(config, client_settings=FAST).collect(NOW)

    assert not result.ok and result.observations == ()
    assert result.error is not None
    assert "credentials rejected" in result.error or "access denied" in result.error
    assert "AKIAIOSFODNN7NOTREAL" not in result.error
    assert "not-a-real-secret-at-all" not in result.error
