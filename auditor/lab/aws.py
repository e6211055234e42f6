"""The lab's cloud: a moto server on 127.0.0.1, seeded with boto3, plus the Terraform state
that claims some of it.

us-east-1 holds the lab VPC (the /16 around the lab subnet: 10.250.0.0/16 by default) with
instances for app01 (in Terraform) and web01 (in Ansible) at their lab addresses, and
`hand-made-1` at .200 which nothing claims; eu-west-1 holds two instances in its own VPC
10.251.0.0/16, and the Auto Scaling group `reports-batch` (launched by hand, in no state)
with one instance there: `owned` by its ASG, not cloud-unmanaged. The state file names app01
(count index 0) and one instance the cloud no longer has (`etl`). (The drift story's ASG
`workers` is in the story's state: its instances are managed through it.)
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import asdict
from ipaddress import IPv4Network
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.errors import LabError
from auditor.lab.state import AwsInstance, AwsState

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.type_defs import TagSpecificationTypeDef, TagTypeDef

HOME_REGION = "us-east-1"
OTHER_REGION = "eu-west-1"
OTHER_VPC_CIDR = "10.251.0.0/16"
OTHER_SUBNET_CIDR = "10.251.1.0/24"
MOTO_SEED = 77
# In the Terraform state, gone from the cloud: the `missing` case.
MISSING_INSTANCE_ID = "i-0e7c1b5a9d3f24680"
MISSING_INSTANCE_IP_OFFSET = 60
TERRAFORM_VERSION = "1.6.6"
AWS_PROVIDER = 'provider["registry.terraform.io/hashicorp/aws"]'
# AMIs from moto's built-in catalogue (amzn2 2018.08, Ubuntu 14.04), named directly: asking
# moto for its image list costs seconds.
AMI_AMAZON_LINUX_2 = "ami-04681a1dbd79675a5"
AMI_UBUNTU_TRUSTY = "ami-1e749f67"
# (name, offset in the lab subnet, AMI, tags) for us-east-1.
HOME_INSTANCES: tuple[tuple[str, int, str, Mapping[str, str]], ...] = (
    (
        "app01",
        15,
        AMI_AMAZON_LINUX_2,
        {"ManagedBy": "terraform", "Team": "payments", "Env": "prod"},
    ),
    ("web01", 11, AMI_AMAZON_LINUX_2, {"Team": "web", "Env": "prod"}),
    ("hand-made-1", 200, AMI_UBUNTU_TRUSTY, {"Owner": "bob", "Purpose": "test, delete me"}),
)
OTHER_INSTANCES: tuple[tuple[str, str, str, Mapping[str, str]], ...] = (
    ("analytics-01", "10.251.1.10", AMI_AMAZON_LINUX_2, {"Team": "data"}),
    ("analytics-02", "10.251.1.11", AMI_AMAZON_LINUX_2, {"Team": "data"}),
)
# An Auto Scaling group nobody's Terraform defines, in OTHER_REGION's subnet (outside the lab
# sweep: its instance's made-up address is never connected to).
UNSTATED_ASG = "reports-batch"

DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def moto_server_path() -> str:
    """`moto_server` of the running interpreter's environment."""
    candidate = Path(sys.executable).parent / "moto_server"
    if candidate.exists():
        return str(candidate)
    raise LabError(
        f"moto_server not found beside {sys.executable}; "
        "install the lab extra: pip install 'auditor[lab]'"
    )


def port_open(port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def start_moto(port: int, log_file: Path) -> subprocess.Popen[bytes]:
    if port_open(port):
        raise LabError(
            f"127.0.0.1:{port} is already in use: cannot start the lab's moto "
            "server (a moto from an earlier lab whose state was lost? stop it)"
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": HOME_REGION,
            "PYTHONUNBUFFERED": "1",
        }
    )
    with log_file.open("ab") as log:
        return subprocess.Popen(
            [moto_server_path(), "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,
            cwd="/",
        )


def _no_proxy_open(req: urllib.request.Request, timeout: float) -> bytes:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=timeout) as resp:
        body: bytes = resp.read()
        return body


def wait_moto(
    proc: subprocess.Popen[bytes] | None, port: int, timeout: float, log_file: Path
) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/moto-api/"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log_file.read_text(errors="replace")[-800:]
            raise LabError(f"moto_server exited with {proc.returncode}:\n{tail}")
        try:
            _no_proxy_open(urllib.request.Request(url), 1.0)
            return
        except OSError:
            time.sleep(0.1)
    raise LabError(f"moto_server did not answer on 127.0.0.1:{port} within {timeout:.0f} s")


def moto_alive(endpoint_url: str) -> bool:
    try:
        _no_proxy_open(urllib.request.Request(f"{endpoint_url}/moto-api/"), 1.0)
        return True
    except OSError:
        return False


def ec2_client(endpoint_url: str, region: str) -> EC2Client:
    """An EC2 client for the lab's moto endpoint (dummy credentials, no proxy)."""
    client: EC2Client = lab_client("ec2", endpoint_url, region)
    return client


def lab_client(service: str, endpoint_url: str, region: str, *, read_timeout: int = 15) -> Any:
    """A boto3 client for the lab's moto endpoint (dummy credentials, no proxy)."""
    import boto3
    from botocore.config import Config

    # No proxies, whatever the environment says: the endpoint is loopback.
    config = Config(
        proxies={"http": "", "https": ""},
        retries={"max_attempts": 2},
        connect_timeout=3,
        read_timeout=read_timeout,
    )
    return boto3.client(  # type: ignore[call-overload]
        service,
        region_name=region,
        endpoint_url=endpoint_url,
        config=config,
        aws_access_key_id=DUMMY_CREDENTIALS["aws_access_key_id"],
        aws_secret_access_key=DUMMY_CREDENTIALS["aws_secret_access_key"],
    )


def _tags(name: str, extra: Mapping[str, str]) -> list[TagSpecificationTypeDef]:
    tags: list[TagTypeDef] = [{"Key": "Name", "Value": name}]
    tags += [{"Key": k, "Value": v} for k, v in extra.items()]
    return [{"ResourceType": "instance", "Tags": tags}]


def seed(endpoint_url: str, subnet: IPv4Network) -> AwsState:
    """Create the lab's VPCs, subnets and instances; returns what was made."""
    # Moto's ids are random; seeding its generator makes them the same from run to run
    # (for a given moto version), so the committed example tfstate usually matches too.
    req = urllib.request.Request(f"{endpoint_url}/moto-api/seed?a={MOTO_SEED}", method="POST")
    _no_proxy_open(req, 5.0)
    instances: list[AwsInstance] = []
    vpcs: list[tuple[str, str, str]] = []
    subnets: list[tuple[str, str, str]] = []
    home_vpc = str(subnet.supernet(new_prefix=16)) if subnet.prefixlen > 16 else str(subnet)
    plans: list[tuple[str, str, str, list[tuple[str, str, str, Mapping[str, str]]]]] = [
        (
            HOME_REGION,
            home_vpc,
            str(subnet),
            [(n, str(subnet.network_address + off), ami, t) for n, off, ami, t in HOME_INSTANCES],
        ),
        (OTHER_REGION, OTHER_VPC_CIDR, OTHER_SUBNET_CIDR, list(OTHER_INSTANCES)),
    ]
    try:
        for region, vpc_cidr, subnet_cidr, members in plans:
            ec2 = ec2_client(endpoint_url, region)
            vpc_id = ec2.create_vpc(CidrBlock=vpc_cidr)["Vpc"]["VpcId"]
            subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock=subnet_cidr)["Subnet"]["SubnetId"]
            vpcs.append((region, vpc_id, vpc_cidr))
            subnets.append((region, subnet_id, subnet_cidr))
            for name, ip, image, tags in members:
                resp = ec2.run_instances(
                    ImageId=image,
                    InstanceType="t3.micro",
                    MinCount=1,
                    MaxCount=1,
                    SubnetId=subnet_id,
                    PrivateIpAddress=ip,
                    TagSpecifications=_tags(name, tags),
                )
                inst = resp["Instances"][0]
                if inst.get("PrivateIpAddress") != ip:
                    raise LabError(
                        f"moto gave {name} the address {inst.get('PrivateIpAddress')}, not {ip}"
                    )
                instances.append(
                    AwsInstance(
                        region, inst["InstanceId"], name, ip, vpc_id, subnet_id, image, "t3.micro"
                    )
                )
        _seed_unstated_asg(endpoint_url, OTHER_REGION, subnets[-1][1])
    except LabError:
        raise
    except Exception as exc:  # botocore's errors, translated where they enter
        raise LabError(f"seeding the moto server at {endpoint_url} failed: {exc}") from exc
    return AwsState(
        endpoint_url=endpoint_url,
        pid=None,
        log_file="",
        instances=tuple(instances),
        vpcs=tuple(vpcs),
        subnets=tuple(subnets),
    )


def _seed_unstated_asg(endpoint_url: str, region: str, subnet_id: str) -> None:
    """An ASG made by hand: moto launches its instance, tagged aws:autoscaling:groupName."""
    ec2 = ec2_client(endpoint_url, region)
    template = ec2.create_launch_template(
        LaunchTemplateName=UNSTATED_ASG,
        LaunchTemplateData={"ImageId": AMI_AMAZON_LINUX_2, "InstanceType": "t3.micro"},
    )["LaunchTemplate"]
    lab_client("autoscaling", endpoint_url, region).create_auto_scaling_group(
        AutoScalingGroupName=UNSTATED_ASG,
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": "$Latest"},
        MinSize=1,
        MaxSize=1,
        DesiredCapacity=1,
        VPCZoneIdentifier=subnet_id,
    )


def aws_json(aws: AwsState) -> str:
    """`STATE/aws.json`: what tests and the demo need to know about the seeded cloud."""
    data = {
        "endpoint_url": aws.endpoint_url,
        "regions": sorted({i.region for i in aws.instances}),
        "instances": [asdict(i) for i in aws.instances],
        "vpcs": [{"region": r, "vpc_id": v, "cidr": c} for r, v, c in aws.vpcs],
        "subnets": [{"region": r, "subnet_id": s, "cidr": c} for r, s, c in aws.subnets],
        "missing_from_cloud": [MISSING_INSTANCE_ID],
    }
    return json.dumps(data, indent=2) + "\n"


def _instance_resource(
    name: str,
    inst: AwsInstance | None,
    *,
    index: int | None,
    instance_id: str,
    private_ip: str,
    tags: Mapping[str, str],
    subnet_id: str,
    vpc_sg: str | None,
    ami: str,
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "id": instance_id,
        "arn": f"arn:aws:ec2:{HOME_REGION}:123456789012:instance/{instance_id}",
        "ami": ami,
        "instance_type": inst.instance_type if inst else "t3.small",
        "availability_zone": f"{HOME_REGION}a",
        "subnet_id": subnet_id,
        "private_ip": private_ip,
        "public_ip": "",
        "instance_state": "running",
        "vpc_security_group_ids": [vpc_sg] if vpc_sg else [],
        "tags": dict(tags),
        "tags_all": dict(tags),
    }
    instance: dict[str, Any] = {
        "schema_version": 1,
        "attributes": attributes,
        "sensitive_attributes": [],
        "dependencies": ["aws_subnet.lab", "aws_vpc.lab"],
    }
    if index is not None:
        instance = {"index_key": index, **instance}
    return {
        "mode": "managed",
        "type": "aws_instance",
        "name": name,
        "provider": AWS_PROVIDER,
        "instances": [instance],
    }


def terraform_state(
    aws: AwsState,
    subnet: IPv4Network,
    *,
    serial: int = 42,
    lineage: str | None = None,
    security_group: str | None = "sg-0a1b2c3d4e5f60718",
) -> dict[str, Any]:
    """A Terraform v4 state managing the lab VPC, subnet, app01 (`aws_instance.app[0]`) and
    `aws_instance.etl`, which no longer exists in the cloud."""
    app = aws.instance("app01")
    _, vpc_id, vpc_cidr = next(v for v in aws.vpcs if v[0] == HOME_REGION)
    _, subnet_id, subnet_cidr = next(s for s in aws.subnets if s[0] == HOME_REGION)
    sg = security_group
    etl_ip = str(subnet.network_address + MISSING_INSTANCE_IP_OFFSET)
    return {
        "version": 4,
        "terraform_version": TERRAFORM_VERSION,
        "serial": serial,
        "lineage": lineage or str(uuid.uuid5(uuid.NAMESPACE_URL, "auditor-lab")),
        "outputs": {"app_private_ip": {"value": app.private_ip, "type": "string"}},
        "resources": [
            {
                "mode": "managed",
                "type": "aws_vpc",
                "name": "lab",
                "provider": AWS_PROVIDER,
                "instances": [
                    {
                        "schema_version": 1,
                        "attributes": {
                            "id": vpc_id,
                            "cidr_block": vpc_cidr,
                            "tags": {"Name": "lab"},
                            "tags_all": {"Name": "lab"},
                        },
                        "sensitive_attributes": [],
                    }
                ],
            },
            {
                "mode": "managed",
                "type": "aws_subnet",
                "name": "lab",
                "provider": AWS_PROVIDER,
                "instances": [
                    {
                        "schema_version": 1,
                        "attributes": {
                            "id": subnet_id,
                            "vpc_id": vpc_id,
                            "cidr_block": subnet_cidr,
                            "availability_zone": f"{HOME_REGION}a",
                            "tags": {"Name": "lab"},
                            "tags_all": {"Name": "lab"},
                        },
                        "sensitive_attributes": [],
                        "dependencies": ["aws_vpc.lab"],
                    }
                ],
            },
            _instance_resource(
                "app",
                app,
                index=0,
                instance_id=app.instance_id,
                private_ip=app.private_ip,
                tags={"Name": "app01", "ManagedBy": "terraform", "Team": "payments", "Env": "prod"},
                subnet_id=subnet_id,
                vpc_sg=sg,
                ami=app.image_id,
            ),
            _instance_resource(
                "etl",
                None,
                index=None,
                instance_id=MISSING_INSTANCE_ID,
                private_ip=etl_ip,
                tags={"Name": "etl01", "ManagedBy": "terraform", "Team": "data"},
                subnet_id=subnet_id,
                vpc_sg=sg,
                ami=app.image_id,
            ),
        ],
        "check_results": None,
    }


def write_terraform_state(path: Path, aws: AwsState, subnet: IPv4Network) -> None:
    """The state as `terraform apply` would have left it: app01's security group is the one
    moto gave the instance, so the only drift the demo shows is the drift story's."""
    app = aws.instance("app01")
    ec2 = ec2_client(aws.endpoint_url, app.region)
    reservations = ec2.describe_instances(InstanceIds=[app.instance_id])["Reservations"]
    groups = reservations[0]["Instances"][0].get("SecurityGroups") or []
    state = terraform_state(aws, subnet, security_group=groups[0]["GroupId"] if groups else None)
    path.write_text(json.dumps(state, indent=2) + "\n")
