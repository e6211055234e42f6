"""The DynamoDB story, seeded into a moto server: drift that `terraform plan` never shows.

`seed_drift_story(endpoint_url, region, folder)` creates, through boto3 on a loopback moto
endpoint only (it refuses any other address: these are mutating calls),

- aws_dynamodb_table.orders: the code asks for capacity 100 under ignore_changes; a mode
  switch left 1 and a refresh put 1 in state. Drift: code 100, state 1, live 1, ignored by
  IaC (the story).
- aws_dynamodb_table.invoices: capacity cut to 1 by hand, state still says 100.
- aws_dynamodb_table.sessions: on-demand, untouched: clean.
- aws_dynamodb_table.legacy: deleted by hand: missing. Table `scratch-copy`: made by hand:
  unmanaged.
- aws_instance.web[0]: resized from t3.micro to t3.large by hand.
- aws_autoscaling_group.workers: resized by hand (1/3/2 to 2/10/3); desired_capacity is
  under ignore_changes, so its drift is the hidden kind.
- aws_security_group.web: ssh from 0.0.0.0/0 added by hand (drift, and a policy breach).
- aws_db_instance.main: untouched and single-AZ: no drift, but policy prod-db-multi-az.

and writes, under `folder`: `state/terraform.tfstate` (shaped as terraform 1.x writes it,
from what moto describes), `code/*.tf` (the configuration) and `policy.toml` (three rules).
It returns what it made (ids, paths, and a config snippet to add to an audit.toml).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import urllib.parse
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from auditor.errors import LabError
from auditor.lab.aws import lab_client

TERRAFORM_VERSION = "1.7.5"
AWS_PROVIDER = 'provider["registry.terraform.io/hashicorp/aws"]'
# An AMI in moto's built-in catalogue (Amazon Linux 2, 2018.08).
STORY_AMI = "ami-04681a1dbd79675a5"
VPC_CIDR = "10.252.0.0/16"
SUBNET_CIDR = "10.252.1.0/24"
PROD_TAGS = {"env": "prod", "team": "orders"}
_PRIVATE = base64.b64encode(b'{"schema_version":"1"}').decode()

POLICY_TOML = """\
# Guard rails over live resources: they hold whatever Terraform says.

[[policy]]
name = "prod-dynamodb-capacity"
resource = "aws_dynamodb_table"
description = "prod tables are on-demand, or provisioned for a spike"
where = { tags = { env = "prod" } }
require_any = [
  { billing_mode = "PAY_PER_REQUEST" },
  { read_capacity = { ge = 50 }, write_capacity = { ge = 50 } },
]

[[policy]]
name = "no-ssh-from-anywhere"
resource = "aws_security_group"
severity = "critical"
forbid = [ { ingress = { cidr = { in = ["0.0.0.0/0", "::/0"] }, port = 22 } } ]

[[policy]]
name = "prod-db-multi-az"
resource = "aws_db_instance"
severity = "medium"
where = { tags = { env = "prod" } }
require = [ { multi_az = true } ]
"""


def seed_drift_story(endpoint_url: str, region: str, folder: Path) -> dict[str, Any]:
    """Create the story's resources on the moto server at `endpoint_url` (loopback only)
    and write the matching state, code and policy file under `folder`."""
    require_loopback(endpoint_url)
    folder = Path(folder)
    try:
        made = _seed(endpoint_url, region)
    except LabError:
        raise
    except Exception as exc:  # botocore's errors, translated where they enter
        raise LabError(f"seeding the drift story at {endpoint_url} failed: {exc}") from exc
    state_path = folder / "state" / "terraform.tfstate"
    code_dir = folder / "code"
    policy_path = folder / "policy.toml"
    state_path.parent.mkdir(parents=True, exist_ok=True)
    code_dir.mkdir(parents=True, exist_ok=True)
    state_path.write_text(json.dumps(story_state(made), indent=2) + "\n", encoding="utf-8")
    for name, text in story_code(made).items():
        (code_dir / name).write_text(text, encoding="utf-8")
    policy_path.write_text(POLICY_TOML, encoding="utf-8")
    return {
        "region": region,
        "account": made["account"],
        "state": str(state_path),
        "config": str(code_dir),
        "policy_file": str(policy_path),
        "ids": {
            "aws_dynamodb_table.orders": "orders",
            "aws_dynamodb_table.invoices": "invoices",
            "aws_dynamodb_table.sessions": "sessions",
            "aws_dynamodb_table.legacy": "legacy",
            "aws_instance.web[0]": made["instance"]["InstanceId"],
            "aws_autoscaling_group.workers": "workers",
            "aws_security_group.web": made["security_group"]["GroupId"],
            "aws_db_instance.main": "main",
        },
        "unmanaged": ["scratch-copy"],
        "missing": ["aws_dynamodb_table.legacy"],
        "config_snippet": config_snippet(state_path, code_dir, policy_path, endpoint_url, region),
    }


def config_snippet(state: Path, code: Path, policy: Path, endpoint_url: str, region: str) -> str:
    """TOML to add to an audit.toml so `auditor drift` / `audit` check the story."""
    return (
        "[[terraform]]\n"
        'name = "drift-story"\n'
        f"state = [{json.dumps(str(state))}]\n"
        f"config = [{json.dumps(str(code))}]\n\n"
        "# (an [[aws]] section reading this endpoint and region is needed too)\n"
        f"# endpoint_url = {json.dumps(endpoint_url)}, regions = [{json.dumps(region)}]\n\n"
        "[[policy]]\n"
        f"file = {json.dumps(str(policy))}\n"
    )


def require_loopback(endpoint_url: str) -> None:
    """Seeding mutates: it may only ever reach a local moto server."""
    host = urllib.parse.urlsplit(endpoint_url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise LabError(
            f"refusing to seed {endpoint_url!r}: the drift story is only seeded into a moto "
            "server on a loopback address"
        )


# --------------------------------------------------------------------------- seeding


def _client(service: str, endpoint_url: str, region: str) -> Any:
    # The story kept its own read timeout (30 s) when it moved to the lab: unchanged.
    return lab_client(service, endpoint_url, region, read_timeout=30)


def _tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _seed(endpoint_url: str, region: str) -> dict[str, Any]:
    # Untyped on purpose: the stubs' TypedDicts for these literal payloads add noise, and
    # moto checks every request against the real API models anyway.
    ec2 = _client("ec2", endpoint_url, region)
    dynamodb = _client("dynamodb", endpoint_url, region)
    autoscaling = _client("autoscaling", endpoint_url, region)
    rds = _client("rds", endpoint_url, region)
    sts = _client("sts", endpoint_url, region)
    account: str = sts.get_caller_identity()["Account"]

    vpc = ec2.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]
    subnet = ec2.create_subnet(
        VpcId=vpc["VpcId"], CidrBlock=SUBNET_CIDR, AvailabilityZone=f"{region}a"
    )["Subnet"]
    group_id = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc["VpcId"])[
        "GroupId"
    ]
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
             "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        ],
    )  # fmt: skip

    key = [{"AttributeName": "id", "KeyType": "HASH"}]
    id_attribute = [{"AttributeName": "id", "AttributeType": "S"}]
    dynamodb.create_table(
        TableName="orders",
        BillingMode="PROVISIONED",
        AttributeDefinitions=[*id_attribute, {"AttributeName": "customer", "AttributeType": "S"}],
        KeySchema=key,
        ProvisionedThroughput={"ReadCapacityUnits": 100, "WriteCapacityUnits": 100},
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_customer",
                "KeySchema": [{"AttributeName": "customer", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 50, "WriteCapacityUnits": 50},
            }
        ],
        Tags=_tags(PROD_TAGS),
    )
    # The story: a switch to on-demand and back left the table at 1/1, and ignore_changes
    # on capacity made every plan since look clean.
    dynamodb.update_table(
        TableName="orders",
        ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
    )
    dynamodb.create_table(
        TableName="invoices",
        BillingMode="PROVISIONED",
        AttributeDefinitions=id_attribute,
        KeySchema=key,
        ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
        Tags=_tags({"env": "prod"}),
    )
    for name, tags in (("sessions", PROD_TAGS), ("scratch-copy", {"env": "dev"})):
        dynamodb.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=id_attribute,
            KeySchema=key,
            Tags=_tags(tags),
        )

    instance = ec2.run_instances(
        ImageId=STORY_AMI,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet["SubnetId"],
        SecurityGroupIds=[group_id],
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": _tags({"Name": "web-0", "env": "prod"})}
        ],
    )["Instances"][0]
    instance_id = instance["InstanceId"]
    # Resized by hand: stop, change the type, start (as the console does it).
    ec2.stop_instances(InstanceIds=[instance_id])
    ec2.modify_instance_attribute(InstanceId=instance_id, InstanceType={"Value": "t3.large"})
    ec2.start_instances(InstanceIds=[instance_id])

    template = ec2.create_launch_template(
        LaunchTemplateName="workers",
        LaunchTemplateData={"ImageId": STORY_AMI, "InstanceType": "t3.micro"},
    )["LaunchTemplate"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="workers",
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": "$Latest"},
        MinSize=1,
        MaxSize=3,
        DesiredCapacity=2,
        VPCZoneIdentifier=subnet["SubnetId"],
        Tags=[
            {"Key": "env", "Value": "prod", "PropagateAtLaunch": True,
             "ResourceId": "workers", "ResourceType": "auto-scaling-group"},
        ],
    )  # fmt: skip
    autoscaling.update_auto_scaling_group(
        AutoScalingGroupName="workers", MinSize=2, MaxSize=10, DesiredCapacity=3
    )

    rds.create_db_instance(
        DBInstanceIdentifier="main",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        EngineVersion="14.7",
        MasterUsername="app",
        MasterUserPassword="story-password-1",
        AllocatedStorage=20,
        MultiAZ=False,
        Tags=_tags(PROD_TAGS),
    )

    # Added by hand after the last apply: ssh from anywhere.
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
             "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "debugging, remove me"}]},
        ],
    )  # fmt: skip

    tables = {
        name: dict(dynamodb.describe_table(TableName=name)["Table"])
        for name in ("orders", "invoices", "sessions")
    }
    for table in tables.values():
        table["Tags"] = dynamodb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"]
    return {
        "account": account,
        "region": region,
        "vpc": dict(vpc),
        "subnet": dict(subnet),
        "security_group": dict(
            ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
        ),
        "instance": dict(
            ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        ),
        "launch_template": dict(template),
        "asg": dict(
            autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["workers"])[
                "AutoScalingGroups"
            ][0]
        ),
        "tables": tables,
        "db": dict(rds.describe_db_instances(DBInstanceIdentifier="main")["DBInstances"][0]),
    }


# --------------------------------------------------------------------------- the state


def story_state(made: Mapping[str, Any], *, serial: int = 17) -> dict[str, Any]:
    """Pure: the state terraform would hold, from what moto describes now, with the values
    hand changes made after the last refresh set back to what terraform last saw."""
    region, account = made["region"], made["account"]
    tables = made["tables"]
    orders = dynamodb_state_attributes(tables["orders"], PROD_TAGS)  # refreshed: 1/1
    invoices = dynamodb_state_attributes(tables["invoices"], {"env": "prod"})
    invoices.update(read_capacity=100, write_capacity=100)  # not refreshed since the cut
    sessions = dynamodb_state_attributes(tables["sessions"], PROD_TAGS)
    legacy = dynamodb_state_attributes(
        {
            "TableName": "legacy",
            "TableArn": f"arn:aws:dynamodb:{region}:{account}:table/legacy",
            "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "ProvisionedThroughput": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0},
        },
        {"env": "prod"},
    )
    group = made["security_group"]
    web_sg = security_group_state_attributes(group, account, region)
    web_sg["ingress"] = [r for r in web_sg["ingress"] if r["from_port"] == 443]  # before ssh
    web = instance_state_attributes(made["instance"], account, region)
    web["instance_type"] = "t3.micro"  # resized by hand since
    asg = autoscaling_state_attributes(made["asg"], made["launch_template"])
    asg.update(min_size=1, max_size=3, desired_capacity=2)  # resized by hand since
    db = db_state_attributes(made["db"])
    db["engine_version"] = "14"  # the code asks for 14; AWS picked 14.7

    vpc, subnet = made["vpc"], made["subnet"]
    resources = [
        _block("aws_vpc", "main", {
            "arn": f"arn:aws:ec2:{region}:{account}:vpc/{vpc['VpcId']}",
            "cidr_block": vpc["CidrBlock"], "id": vpc["VpcId"], "tags": {}, "tags_all": {},
        }),
        _block("aws_subnet", "main", {
            "arn": f"arn:aws:ec2:{region}:{account}:subnet/{subnet['SubnetId']}",
            "availability_zone": subnet["AvailabilityZone"], "cidr_block": subnet["CidrBlock"],
            "id": subnet["SubnetId"], "vpc_id": vpc["VpcId"], "tags": {}, "tags_all": {},
        }, ["aws_vpc.main"]),
        _block("aws_security_group", "web", web_sg, ["aws_vpc.main"]),
        _block("aws_dynamodb_table", "orders", orders),
        _block("aws_dynamodb_table", "invoices", invoices),
        _block("aws_dynamodb_table", "sessions", sessions),
        _block("aws_dynamodb_table", "legacy", legacy),
        _block("aws_instance", "web", web, ["aws_security_group.web", "aws_subnet.main"], 0),
        _block("aws_launch_template", "workers", {
            "arn": f"arn:aws:ec2:{region}:{account}:launch-template/"
                   f"{made['launch_template']['LaunchTemplateId']}",
            "id": made["launch_template"]["LaunchTemplateId"], "name": "workers",
            "image_id": STORY_AMI, "instance_type": "t3.micro", "latest_version": 1,
        }),
        _block("aws_autoscaling_group", "workers", asg,
               ["aws_launch_template.workers", "aws_subnet.main"]),
        _block("aws_db_instance", "main", db, sensitive=["password"]),
    ]  # fmt: skip
    return {
        "version": 4,
        "terraform_version": TERRAFORM_VERSION,
        "serial": serial,
        "lineage": str(uuid.uuid5(uuid.NAMESPACE_URL, f"auditor-drift-story/{region}")),
        "outputs": {},
        "resources": resources,
        "check_results": None,
    }


def _block(
    type_: str,
    name: str,
    attributes: Mapping[str, Any],
    dependencies: list[str] | None = None,
    index: int | None = None,
    *,
    sensitive: list[str] | None = None,
) -> dict[str, Any]:
    instance: dict[str, Any] = {
        "schema_version": 1,
        "attributes": dict(sorted(attributes.items())),
        "sensitive_attributes": [[{"type": "get_attr", "value": s}] for s in sensitive or ()],
        "private": _PRIVATE,
    }
    if index is not None:
        instance = {"index_key": index, **instance}
    if dependencies:
        instance["dependencies"] = dependencies
    return {
        "mode": "managed",
        "type": type_,
        "name": name,
        "provider": AWS_PROVIDER,
        "instances": [instance],
    }


def dynamodb_state_attributes(table: Mapping[str, Any], tags: Mapping[str, str]) -> dict[str, Any]:
    """aws_dynamodb_table attributes (AWS provider 5.x) from describe_table."""
    throughput = table.get("ProvisionedThroughput") or {}
    billing = (table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
    hash_key = next(k["AttributeName"] for k in table["KeySchema"] if k["KeyType"] == "HASH")
    return {
        "arn": table["TableArn"],
        "attribute": [
            {"name": a["AttributeName"], "type": a["AttributeType"]}
            for a in table.get("AttributeDefinitions") or ()
        ],
        "billing_mode": billing,
        "deletion_protection_enabled": False,
        "global_secondary_index": [
            {
                "hash_key": next(
                    k["AttributeName"] for k in i["KeySchema"] if k["KeyType"] == "HASH"
                ),
                "name": i["IndexName"],
                "non_key_attributes": [],
                "on_demand_throughput": [],
                "projection_type": i["Projection"]["ProjectionType"],
                "range_key": "",
                "read_capacity": (i.get("ProvisionedThroughput") or {}).get("ReadCapacityUnits", 0),
                "write_capacity": (i.get("ProvisionedThroughput") or {}).get(
                    "WriteCapacityUnits", 0
                ),
            }
            for i in table.get("GlobalSecondaryIndexes") or ()
        ],
        "hash_key": hash_key,
        "id": table["TableName"],
        "import_table": [],
        "local_secondary_index": [],
        "name": table["TableName"],
        "on_demand_throughput": [],
        "point_in_time_recovery": [{"enabled": False}],
        "range_key": None,
        "read_capacity": throughput.get("ReadCapacityUnits", 0),
        "replica": [],
        "restore_date_time": None,
        "restore_source_name": None,
        "restore_to_latest_time": None,
        "server_side_encryption": [],
        "stream_arn": "",
        "stream_enabled": False,
        "stream_label": "",
        "stream_view_type": "",
        "table_class": "STANDARD",
        "tags": dict(tags),
        "tags_all": dict(tags),
        "timeouts": None,
        "ttl": [{"attribute_name": "", "enabled": False}],
        "write_capacity": throughput.get("WriteCapacityUnits", 0),
    }


def _state_rules(permissions: Any, own_id: str) -> list[dict[str, Any]]:
    rules = []
    for perm in permissions or ():
        protocol = perm["IpProtocol"]
        rules.append(
            {
                "cidr_blocks": [r["CidrIp"] for r in perm.get("IpRanges") or ()],
                "description": "",
                "from_port": perm.get("FromPort", 0) if protocol != "-1" else 0,
                "ipv6_cidr_blocks": [r["CidrIpv6"] for r in perm.get("Ipv6Ranges") or ()],
                "prefix_list_ids": [r["PrefixListId"] for r in perm.get("PrefixListIds") or ()],
                "protocol": protocol,
                "security_groups": [
                    g["GroupId"]
                    for g in perm.get("UserIdGroupPairs") or ()
                    if g.get("GroupId") != own_id
                ],
                "self": any(g.get("GroupId") == own_id for g in perm.get("UserIdGroupPairs") or ()),
                "to_port": perm.get("ToPort", 0) if protocol != "-1" else 0,
            }
        )
    return rules


def security_group_state_attributes(
    group: Mapping[str, Any], account: str, region: str
) -> dict[str, Any]:
    group_id = group["GroupId"]
    tags = {t["Key"]: t["Value"] for t in group.get("Tags") or ()}
    return {
        "arn": f"arn:aws:ec2:{region}:{account}:security-group/{group_id}",
        "description": group.get("Description", ""),
        "egress": _state_rules(group.get("IpPermissionsEgress"), group_id),
        "id": group_id,
        "ingress": _state_rules(group.get("IpPermissions"), group_id),
        "name": group["GroupName"],
        "name_prefix": "",
        "owner_id": group.get("OwnerId", account),
        "revoke_rules_on_delete": False,
        "tags": tags,
        "tags_all": tags,
        "timeouts": None,
        "vpc_id": group.get("VpcId"),
    }


def instance_state_attributes(
    instance: Mapping[str, Any], account: str, region: str
) -> dict[str, Any]:
    instance_id = instance["InstanceId"]
    tags = {t["Key"]: t["Value"] for t in instance.get("Tags") or ()}
    return {
        "ami": instance["ImageId"],
        "arn": f"arn:aws:ec2:{region}:{account}:instance/{instance_id}",
        "associate_public_ip_address": bool(instance.get("PublicIpAddress")),
        "availability_zone": instance["Placement"]["AvailabilityZone"],
        "cpu_options": [{"amd_sev_snp": "", "core_count": 1, "threads_per_core": 2}],
        "credit_specification": [{"cpu_credits": "unlimited"}],
        "disable_api_stop": False,
        "disable_api_termination": False,
        "ebs_block_device": [],
        "ebs_optimized": False,
        "get_password_data": False,
        "hibernation": False,
        "iam_instance_profile": "",
        "id": instance_id,
        "instance_initiated_shutdown_behavior": "stop",
        "instance_lifecycle": "",
        "instance_state": instance["State"]["Name"],
        "instance_type": instance["InstanceType"],
        "ipv6_address_count": 0,
        "ipv6_addresses": [],
        "key_name": instance.get("KeyName", ""),
        "monitoring": False,
        "network_interface": [],
        "placement_group": "",
        "primary_network_interface_id": (instance.get("NetworkInterfaces") or [{}])[0].get(
            "NetworkInterfaceId", ""
        ),
        "private_dns": instance.get("PrivateDnsName", ""),
        "private_ip": instance.get("PrivateIpAddress", ""),
        "public_dns": instance.get("PublicDnsName", ""),
        "public_ip": instance.get("PublicIpAddress", ""),
        "secondary_private_ips": [],
        "security_groups": [],
        "source_dest_check": True,
        "subnet_id": instance.get("SubnetId", ""),
        "tags": tags,
        "tags_all": tags,
        "tenancy": "default",
        "timeouts": None,
        "user_data": None,
        "user_data_replace_on_change": False,
        "volume_tags": None,
        "vpc_security_group_ids": sorted(
            g["GroupId"] for g in instance.get("SecurityGroups") or ()
        ),
    }


def autoscaling_state_attributes(
    group: Mapping[str, Any], template: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "arn": group["AutoScalingGroupARN"],
        "availability_zones": sorted(group.get("AvailabilityZones") or ()),
        "capacity_rebalance": False,
        "context": "",
        "default_cooldown": group.get("DefaultCooldown", 300),
        "default_instance_warmup": 0,
        "desired_capacity": group["DesiredCapacity"],
        "desired_capacity_type": "",
        "enabled_metrics": [],
        "force_delete": False,
        "force_delete_warm_pool": False,
        "health_check_grace_period": group.get("HealthCheckGracePeriod", 300),
        "health_check_type": group.get("HealthCheckType", "EC2"),
        "id": group["AutoScalingGroupName"],
        "ignore_failed_scaling_activities": False,
        "initial_lifecycle_hook": [],
        "instance_maintenance_policy": [],
        "instance_refresh": [],
        "launch_configuration": "",
        "launch_template": [
            {
                "id": template["LaunchTemplateId"],
                "name": template["LaunchTemplateName"],
                "version": "$Latest",
            }
        ],
        "load_balancers": [],
        "max_instance_lifetime": 0,
        "max_size": group["MaxSize"],
        "metrics_granularity": "1Minute",
        "min_elb_capacity": None,
        "min_size": group["MinSize"],
        "mixed_instances_policy": [],
        "name": group["AutoScalingGroupName"],
        "name_prefix": "",
        "placement_group": "",
        "predicted_capacity": 0,
        "protect_from_scale_in": False,
        "service_linked_role_arn": group.get("ServiceLinkedRoleARN", ""),
        "suspended_processes": [],
        "tag": [
            {"key": t["Key"], "propagate_at_launch": t["PropagateAtLaunch"], "value": t["Value"]}
            for t in group.get("Tags") or ()
        ],
        "target_group_arns": [],
        "termination_policies": [],
        "timeouts": None,
        "traffic_source": [],
        "vpc_zone_identifier": sorted(
            s for s in (group.get("VPCZoneIdentifier") or "").split(",") if s
        ),
        "wait_for_capacity_timeout": "10m",
        "wait_for_elb_capacity": None,
        "warm_pool": [],
        "warm_pool_size": 0,
    }


def db_state_attributes(db: Mapping[str, Any]) -> dict[str, Any]:
    tags = {t["Key"]: t["Value"] for t in db.get("TagList") or ()}
    endpoint = db.get("Endpoint") or {}
    return {
        "address": endpoint.get("Address", ""),
        "allocated_storage": db.get("AllocatedStorage", 20),
        "arn": db["DBInstanceArn"],
        "auto_minor_version_upgrade": True,
        "availability_zone": db.get("AvailabilityZone", ""),
        "backup_retention_period": db.get("BackupRetentionPeriod", 0),
        "db_name": db.get("DBName", ""),
        "deletion_protection": bool(db.get("DeletionProtection", False)),
        "endpoint": f"{endpoint.get('Address', '')}:{endpoint.get('Port', 5432)}",
        "engine": db["Engine"],
        "engine_version": db["EngineVersion"],
        "engine_version_actual": db["EngineVersion"],
        "id": db.get("DbiResourceId", db["DBInstanceIdentifier"]),
        "identifier": db["DBInstanceIdentifier"],
        "instance_class": db["DBInstanceClass"],
        "multi_az": bool(db.get("MultiAZ", False)),
        "password": "story-password-1",
        "port": endpoint.get("Port", 5432),
        "publicly_accessible": bool(db.get("PubliclyAccessible") or False),
        "resource_id": db.get("DbiResourceId", ""),
        "skip_final_snapshot": True,
        "storage_encrypted": bool(db.get("StorageEncrypted", False)),
        "storage_type": db.get("StorageType", "gp2"),
        "tags": tags,
        "tags_all": tags,
        "timeouts": None,
        "username": db.get("MasterUsername", "app"),
        "vpc_security_group_ids": [],
    }


# --------------------------------------------------------------------------- the code


def story_code(made: Mapping[str, Any]) -> dict[str, str]:
    """Pure: the story's .tf files (file name -> text)."""
    region = made["region"]
    variables = f"""\
variable "region" {{
  type    = string
  default = "{region}"
}}

variable "orders_capacity" {{
  description = "Provisioned read and write capacity of the orders table"
  type        = number
  default     = 100
}}

variable "web_type" {{
  type    = string
  default = "t3.micro"
}}

variable "web_ami" {{
  type    = string
  default = "{STORY_AMI}"
}}

variable "db_password" {{
  type      = string
  sensitive = true
}}
"""
    main = """\
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

provider "aws" {
  region = var.region
}

locals {
  env  = "prod"
  tags = { env = local.env, team = "orders" }
}

resource "aws_vpc" "main" {
  cidr_block = "10.252.0.0/16"
}

resource "aws_subnet" "main" {
  vpc_id            = aws_vpc.main.id
  cidr_block        = "10.252.1.0/24"
  availability_zone = "${var.region}a"
}

resource "aws_security_group" "web" {
  name        = "web"
  description = "web"
  vpc_id      = aws_vpc.main.id

  ingress {
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_instance" "web" {
  count                  = 1
  ami                    = var.web_ami
  instance_type          = var.web_type
  subnet_id              = aws_subnet.main.id
  vpc_security_group_ids = [aws_security_group.web.id]

  tags = {
    Name = "web-${count.index}"
    env  = local.env
  }
}

resource "aws_launch_template" "workers" {
  name          = "workers"
  image_id      = var.web_ami
  instance_type = "t3.micro"
}

resource "aws_autoscaling_group" "workers" {
  name                = "workers"
  min_size            = 1
  max_size            = 3
  desired_capacity    = 2
  vpc_zone_identifier = [aws_subnet.main.id]

  launch_template {
    id      = aws_launch_template.workers.id
    version = "$Latest"
  }

  tag {
    key                 = "env"
    value               = local.env
    propagate_at_launch = true
  }

  # Scaling policies move desired_capacity; plans must not fight them.
  lifecycle {
    ignore_changes = [desired_capacity]
  }
}

resource "aws_db_instance" "main" {
  identifier          = "main"
  engine              = "postgres"
  engine_version      = "14"
  instance_class      = "db.t3.micro"
  allocated_storage   = 20
  multi_az            = false
  username            = "app"
  password            = var.db_password
  skip_final_snapshot = true
  tags                = local.tags
}
"""
    tables = """\
# The orders table's capacity is driven by application autoscaling, so terraform was told
# to leave it alone. Then a switch to on-demand and back left it at 1.
resource "aws_dynamodb_table" "orders" {
  name           = "orders"
  billing_mode   = "PROVISIONED"
  read_capacity  = var.orders_capacity
  write_capacity = var.orders_capacity
  hash_key       = "id"

  attribute {
    name = "id"
    type = "S"
  }

  attribute {
    name = "customer"
    type = "S"
  }

  global_secondary_index {
    name            = "by_customer"
    hash_key        = "customer"
    projection_type = "ALL"
    read_capacity   = 50
    write_capacity  = 50
  }

  tags = local.tags

  lifecycle {
    ignore_changes = [read_capacity, write_capacity, global_secondary_index]
  }
}

resource "aws_dynamodb_table" "invoices" {
  name           = "invoices"
  billing_mode   = "PROVISIONED"
  read_capacity  = 100
  write_capacity = 100
  hash_key       = "id"

  attribute {
    name = "id"
    type = "S"
  }

  tags = { env = local.env }
}

resource "aws_dynamodb_table" "sessions" {
  name         = "sessions"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"

  attribute {
    name = "id"
    type = "S"
  }

  tags = local.tags
}

resource "aws_dynamodb_table" "legacy" {
  name         = "legacy"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"

  attribute {
    name = "id"
    type = "S"
  }

  tags = { env = local.env }
}
"""
    return {"variables.tf": variables, "main.tf": main, "dynamodb.tf": tables}
