"""Pure parts of the EC2 source: boto3-shaped dicts in, Observations out; error wording."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import botocore.exceptions
import pytest

from auditor.model import SourceKind
from auditor.sources.aws import describe_aws_error, to_observations

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def running_instance() -> dict[str, Any]:
    """Shaped like boto3's describe_instances output for a two-ENI instance."""
    return {
        "InstanceId": "i-0abc1234def567890",
        "ImageId": "ami-0123456789abcdef0",
        "InstanceType": "m5.large",
        "KeyName": "ops-2019",
        "LaunchTime": datetime(2019, 3, 4, 5, 6, 7, tzinfo=UTC),
        "Placement": {"AvailabilityZone": "eu-west-1b", "Tenancy": "default"},
        "PrivateDnsName": "ip-10-0-1-10.eu-west-1.compute.internal",
        "PrivateIpAddress": "10.0.1.10",
        "PublicDnsName": "ec2-34-240-1-2.eu-west-1.compute.amazonaws.com",
        "PublicIpAddress": "34.240.1.2",
        "State": {"Code": 16, "Name": "running"},
        "StateTransitionReason": "",
        "SubnetId": "subnet-0aaa",
        "VpcId": "vpc-0bbb",
        "PlatformDetails": "Linux/UNIX",
        "IamInstanceProfile": {
            "Arn": "arn:aws:iam::210987654321:instance-profile/web",
            "Id": "AIPAEXAMPLE",
        },
        "SecurityGroups": [{"GroupId": "sg-01", "GroupName": "web"}],
        "Tags": [
            {"Key": "team", "Value": "payments"},
            {"Key": "Name", "Value": "web-legacy-1"},
        ],
        "NetworkInterfaces": [
            {  # listed second on purpose: device index decides the order
                "NetworkInterfaceId": "eni-0second",
                "MacAddress": "0A:BB:CC:00:00:02",
                "Attachment": {"DeviceIndex": 1},
                "PrivateIpAddress": "10.0.2.20",
                "PrivateIpAddresses": [
                    {"Primary": True, "PrivateIpAddress": "10.0.2.20"},
                    {
                        "Primary": False,
                        "PrivateIpAddress": "10.0.2.21",
                        "Association": {"PublicIp": "52.1.1.1", "PublicDnsName": ""},
                    },
                ],
                "Ipv6Addresses": [{"Ipv6Address": "2a05:d018::21"}],
                "SubnetId": "subnet-0ccc",
                "VpcId": "vpc-0bbb",
                "Groups": [{"GroupId": "sg-02", "GroupName": "db"}],
            },
            {
                "NetworkInterfaceId": "eni-0primary",
                "MacAddress": "0a:bb:cc:00:00:01",
                "Attachment": {"DeviceIndex": 0},
                "Association": {"PublicIp": "34.240.1.2"},
                "PrivateIpAddress": "10.0.1.10",
                "PrivateIpAddresses": [
                    {
                        "Primary": True,
                        "PrivateIpAddress": "10.0.1.10",
                        "PrivateDnsName": "ip-10-0-1-10.eu-west-1.compute.internal",
                        "Association": {
                            "PublicIp": "34.240.1.2",
                            "PublicDnsName": "ec2-34-240-1-2.eu-west-1.compute.amazonaws.com",
                        },
                    },
                    {"Primary": False, "PrivateIpAddress": "10.0.1.11"},
                ],
                "Ipv6Addresses": [],
                "SubnetId": "subnet-0aaa",
                "VpcId": "vpc-0bbb",
                "Groups": [{"GroupId": "sg-01", "GroupName": "web"}],
            },
        ],
    }


def terminated_instance() -> dict[str, Any]:
    """What EC2 still shows for an hour after termination: no network at all."""
    return {
        "InstanceId": "i-0dead",
        "InstanceType": "t2.micro",
        "LaunchTime": datetime(2025, 12, 1, tzinfo=UTC),
        "State": {"Code": 48, "Name": "terminated"},
        "StateTransitionReason": "User initiated (2026-01-15 11:00:00 GMT)",
        "PrivateDnsName": "",
        "PublicDnsName": "",
        "NetworkInterfaces": [],
    }


def test_identifiers_cover_every_address_primary_first() -> None:
    (obs,) = to_observations([running_instance()], "eu-west-1", "210987654321", NOW)

    assert obs.identifiers == (
        "aws:i-0abc1234def567890",
        "ip:10.0.1.10",
        "ip:10.0.1.11",
        "ip:10.0.2.20",
        "ip:10.0.2.21",
        "ip:34.240.1.2",
        "ip:52.1.1.1",
        "ip:2a05:d018::21",
        "mac:0a:bb:cc:00:00:01",
        "mac:0a:bb:cc:00:00:02",
        "dns:ip-10-0-1-10.eu-west-1.compute.internal",
        "dns:ec2-34-240-1-2.eu-west-1.compute.amazonaws.com",
        "name:web-legacy-1",
    )
    assert obs.source is SourceKind.AWS
    assert obs.alive is True
    assert obs.observed_at == NOW


def test_attributes_are_json_and_complete() -> None:
    (obs,) = to_observations(
        [running_instance()], "eu-west-1", "210987654321", NOW, source_name="prod"
    )
    attrs = obs.attributes

    assert obs.source_name == "prod"
    assert json.loads(json.dumps(attrs)) == attrs
    assert attrs["account"] == "210987654321"
    assert attrs["region"] == "eu-west-1"
    assert attrs["state"] == "running"
    assert attrs["launch_time"] == "2019-03-04T05:06:07+00:00"
    assert attrs["tags"] == {"Name": "web-legacy-1", "team": "payments"}
    assert attrs["name"] == "web-legacy-1"
    assert attrs["platform"] == "Linux/UNIX"
    assert attrs["key_name"] == "ops-2019"
    assert attrs["instance_profile"] == "arn:aws:iam::210987654321:instance-profile/web"
    assert attrs["availability_zone"] == "eu-west-1b"
    assert (attrs["vpc_id"], attrs["subnet_id"]) == ("vpc-0bbb", "subnet-0aaa")
    assert [n["id"] for n in attrs["network_interfaces"]] == ["eni-0primary", "eni-0second"]
    assert attrs["network_interfaces"][1] == {
        "id": "eni-0second",
        "mac": "0a:bb:cc:00:00:02",
        "device_index": 1,
        "private_ips": ["10.0.2.20", "10.0.2.21"],
        "public_ips": ["52.1.1.1"],
        "ipv6": ["2a05:d018::21"],
        "subnet_id": "subnet-0ccc",
        "vpc_id": "vpc-0bbb",
        "security_groups": ["sg-02"],
    }
    assert attrs["private_ips"] == ["10.0.1.10", "10.0.1.11", "10.0.2.20", "10.0.2.21"]
    assert attrs["public_ips"] == ["34.240.1.2", "52.1.1.1"]


@pytest.mark.parametrize(
    ("state", "alive"),
    [
        ("pending", True),
        ("running", True),
        ("stopping", False),
        ("stopped", False),
        ("shutting-down", False),
        ("terminated", False),
    ],
)
def test_alive_follows_state(state: str, alive: bool) -> None:
    instance = running_instance()
    instance["State"] = {"Name": state}
    (obs,) = to_observations([instance], "eu-west-1", "1", NOW)
    assert obs.alive is alive
    assert obs.attributes["state"] == state


def test_terminated_instance_without_network_keeps_its_id() -> None:
    (obs,) = to_observations([terminated_instance()], "us-east-1", "1", NOW)
    assert obs.identifiers == ("aws:i-0dead",)
    assert obs.alive is False
    assert obs.attributes["state_reason"].startswith("User initiated")
    assert obs.attributes["private_dns"] is None
    assert obs.attributes["tags"] == {}


def test_missing_required_fields_fail_loudly() -> None:
    broken = running_instance()
    del broken["State"]
    with pytest.raises(KeyError):
        to_observations([broken], "us-east-1", "1", NOW)


def test_output_is_sorted_and_deterministic() -> None:
    instances = [running_instance(), terminated_instance()]
    first = to_observations(instances, "us-east-1", "1", NOW)
    assert first == to_observations(list(reversed(instances)), "us-east-1", "1", NOW)
    assert [o.identifiers[0] for o in first] == ["aws:i-0abc1234def567890", "aws:i-0dead"]


def _client_error(code: str, message: str) -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError(
        {"Error": {"Code": code, "Message": message}}, "DescribeInstances"
    )


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (_client_error("UnauthorizedOperation", "You are not authorized"), "access denied"),
        (_client_error("OptInRequired", "You are not subscribed"), "region not enabled"),
        (_client_error("AuthFailure", "AWS was not able to validate"), "credentials rejected"),
        (_client_error("ExpiredToken", "The security token expired"), "credentials expired"),
        (_client_error("RequestLimitExceeded", "Request limit exceeded."), "throttled"),
        (botocore.exceptions.NoCredentialsError(), "no AWS credentials found"),
        (botocore.exceptions.ProfileNotFound(profile="prod"), "profile not found"),
        (botocore.exceptions.EndpointConnectionError(endpoint_url="https://x"), "unreachable"),
    ],
)
def test_errors_are_translated(exc: Exception, expected: str) -> None:
    assert expected in describe_aws_error(exc)


def test_access_key_ids_never_reach_messages() -> None:
    exc = _client_error(
        "InvalidClientTokenId", "The security token for AKIAIOSFODNN7EXAMPLE is invalid"
    )
    text = describe_aws_error(exc)
    assert "AKIAIOSFODNN7EXAMPLE" not in text
    assert "<access-key>" in text
