"""The pure comparison: normalised views, state vs live, code vs live under ignore_changes,
missing and unmanaged, and the whole story fixture (state + code + recorded live answers)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from auditor.drift.compare import (
    TerraformSide,
    compare,
    compare_attributes,
    find_unmanaged,
    state_regions,
)
from auditor.drift.hcl import CodeInstance, read_code
from auditor.drift.model import DriftItem, DriftKind, LiveResource, ReadScope, Unresolved
from auditor.drift.resources import SPECS, flatten, live_from_api, rule_text
from auditor.sources.terraform import StateResource, load_state_resources

FIXTURES = Path(__file__).parent.parent / "fixtures" / "drift"
REGION = "us-east-1"
ACCOUNT = "123456789012"
ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders"


def _state(
    type_: str, attributes: Mapping[str, Any], name: str = "orders", index: Any = None
) -> StateResource:
    address = f"{type_}.{name}" + (f"[{index}]" if index is not None else "")
    return StateResource(
        address=address, type=type_, name=name, module=None, index=index,
        provider='provider["registry.terraform.io/hashicorp/aws"]', attributes=attributes,
        state_file="terraform.tfstate",
    )  # fmt: skip


def _table(
    read: int, write: int, *, billing: str = "PROVISIONED", gsi: int | None = None
) -> dict[str, Any]:
    table: dict[str, Any] = {
        "TableName": "orders",
        "TableArn": ARN,
        "BillingModeSummary": {"BillingMode": billing},
        "ProvisionedThroughput": {"ReadCapacityUnits": read, "WriteCapacityUnits": write},
        "Tags": [{"Key": "env", "Value": "prod"}, {"Key": "aws:cloudformation:x", "Value": "y"}],
    }
    if gsi is not None:
        table["GlobalSecondaryIndexes"] = [
            {"IndexName": "by_customer",
             "ProvisionedThroughput": {"ReadCapacityUnits": gsi, "WriteCapacityUnits": gsi}}
        ]  # fmt: skip
    return table


def _table_state(read: int, write: int, *, gsi: int | None = None) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "id": "orders", "name": "orders", "arn": ARN, "billing_mode": "PROVISIONED",
        "read_capacity": read, "write_capacity": write, "tags": {"env": "prod"},
        "tags_all": {"env": "prod"}, "global_secondary_index": [],
    }  # fmt: skip
    if gsi is not None:
        attributes["global_secondary_index"] = [
            {"name": "by_customer", "read_capacity": gsi, "write_capacity": gsi, "hash_key": "c"}
        ]
    return attributes


def _code(attributes: Mapping[str, Any], ignore: tuple[str, ...] = (), *, every: bool = False,
          origins: Mapping[str, str] | None = None) -> CodeInstance:  # fmt: skip
    return CodeInstance("aws_dynamodb_table.orders", "dynamodb.tf", attributes, origins or {},
                        ignore, every)  # fmt: skip


def _live(table: Mapping[str, Any]) -> LiveResource:
    (resource,) = live_from_api("aws_dynamodb_table", [table], REGION, ACCOUNT)
    return resource


def _compare(
    state: Mapping[str, Any], live: Mapping[str, Any], code: CodeInstance | None = None
) -> list[DriftItem]:
    spec = SPECS["aws_dynamodb_table"]
    return compare_attributes(spec, _state("aws_dynamodb_table", state), _live(live), code)


# --------------------------------------------------------------------------- comparison


def test_the_story_state_and_cloud_agree_but_the_code_under_ignore_changes_does_not() -> None:
    code = _code({"read_capacity": 100, "write_capacity": 100, "billing_mode": "PROVISIONED"},
                 ("read_capacity", "write_capacity"),
                 origins={"read_capacity": "var.capacity = 100 (default)"})  # fmt: skip
    items = _compare(_table_state(1, 1), _table(1, 1), code)
    assert [(i.kind, i.attribute, i.code, i.state, i.live, i.ignored_by_iac) for i in items] == [
        (DriftKind.CHANGED, "read_capacity", 100, 1, 1, True),
        (DriftKind.CHANGED, "write_capacity", 100, 1, 1, True),
    ]
    assert items[0].resource == "aws_dynamodb_table.orders" and items[0].id == "orders"
    assert "var.capacity = 100 (default)" in (items[0].note or "")
    assert "ignore_changes" in (items[0].note or "")


def test_state_differs_from_live() -> None:
    items = _compare(_table_state(100, 100), _table(1, 100))
    assert [(i.attribute, i.state, i.live, i.ignored_by_iac, i.code) for i in items] == [
        ("read_capacity", 100, 1, False, None)
    ]


def test_a_clean_resource_has_no_drift() -> None:
    code = _code({"read_capacity": 5, "write_capacity": 5}, ("read_capacity",))
    assert _compare(_table_state(5, 5, gsi=2), _table(5, 5, gsi=2), code) == []


def test_code_that_agrees_but_is_not_ignored_is_not_compared_with_live() -> None:
    # Without ignore_changes, a code/live difference shows in every plan: not our news.
    code = _code({"read_capacity": 100})
    assert _compare(_table_state(1, 1), _table(1, 1), code) == []


def test_gsi_capacity_is_compared_per_index_name() -> None:
    items = _compare(_table_state(5, 5, gsi=10), _table(5, 5, gsi=1))
    assert [(i.attribute, i.state, i.live) for i in items] == [
        ('global_secondary_index["by_customer"].read_capacity', 10, 1),
        ('global_secondary_index["by_customer"].write_capacity', 10, 1),
    ]
    code = _code({"global_secondary_index": [{"name": "by_customer", "read_capacity": 50}]},
                 ("global_secondary_index",))  # fmt: skip
    items = _compare(_table_state(5, 5, gsi=1), _table(5, 5, gsi=1), code)
    assert [(i.attribute, i.code, i.live, i.ignored_by_iac) for i in items] == [
        ('global_secondary_index["by_customer"].read_capacity', 50, 1, True)
    ]


def test_an_unresolvable_code_value_is_reported_as_such_once() -> None:
    reason = "var.capacity has no default and no tfvars value (it is given at apply time)"
    code = _code({"read_capacity": Unresolved(reason), "tags": Unresolved("local.x")},
                 ("read_capacity", "tags"))  # fmt: skip
    items = _compare(_table_state(1, 1), _table(1, 1), code)
    assert [(i.kind, i.attribute) for i in items] == [(DriftKind.UNRESOLVED, "read_capacity")]
    assert items[0].code is None and items[0].note == f"code value not resolvable: {reason}"


def test_unresolvable_code_with_state_drift_is_changed_with_a_note() -> None:
    code = _code({"read_capacity": Unresolved("`max(1, 2)` is an expression")}, ("read_capacity",))
    (item,) = _compare(_table_state(5, 5), _table(1, 5), code)
    assert item.kind == DriftKind.CHANGED and item.code is None and item.ignored_by_iac
    assert "not resolvable" in (item.note or "")


def test_ignore_all_compares_every_attribute_the_code_sets() -> None:
    code = _code({"billing_mode": "PAY_PER_REQUEST"}, every=True)
    (item,) = _compare(_table_state(1, 1), _table(1, 1), code)
    assert (item.attribute, item.code, item.live, item.ignored_by_iac) == (
        "billing_mode", "PAY_PER_REQUEST", "PROVISIONED", True,
    )  # fmt: skip


def test_instance_tags_and_aws_reserved_tags() -> None:
    spec = SPECS["aws_instance"]
    state = _state("aws_instance", {
        "id": "i-1", "arn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-1",
        "instance_type": "t3.micro", "ami": "ami-1", "subnet_id": "subnet-1",
        "vpc_security_group_ids": ["sg-2", "sg-1"],
        "tags": {"Name": "web"}, "tags_all": {"Name": "web", "managed-by": "terraform"},
    }, name="web", index=0)  # fmt: skip
    (live,) = live_from_api("aws_instance", [{
        "InstanceId": "i-1", "State": {"Name": "running"}, "InstanceType": "t3.large",
        "ImageId": "ami-1", "SubnetId": "subnet-1",
        "SecurityGroups": [{"GroupId": "sg-1"}, {"GroupId": "sg-2"}],
        "Tags": [{"Key": "Name", "Value": "web"}, {"Key": "Owner", "Value": "bob"},
                 {"Key": "aws:autoscaling:groupName", "Value": "x"}],
    }], REGION, ACCOUNT)  # fmt: skip
    items = compare_attributes(spec, state, live, None)
    assert [(i.attribute, i.state, i.live) for i in items] == [
        ("instance_type", "t3.micro", "t3.large"),
        ('tags["Owner"]', None, "bob"),
        ('tags["managed-by"]', "terraform", None),
    ]
    assert live.controlled_by == "Auto Scaling group 'x'"


def test_security_group_rules_are_compared_one_by_one() -> None:
    spec = SPECS["aws_security_group"]
    state = _state("aws_security_group", {
        "id": "sg-1", "arn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/sg-1", "name": "web",
        "ingress": [{"protocol": "tcp", "from_port": 443, "to_port": 443,
                     "cidr_blocks": ["0.0.0.0/0"], "security_groups": ["sg-9"], "self": True}],
        "egress": [{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}],
    }, name="web")  # fmt: skip
    (live,) = live_from_api("aws_security_group", [{
        "GroupId": "sg-1", "GroupName": "web", "OwnerId": ACCOUNT,
        "IpPermissions": [
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
             "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "https"}],
             "UserIdGroupPairs": [{"GroupId": "sg-9"}, {"GroupId": "sg-1"}]},
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        ],
        "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    }], REGION, ACCOUNT)  # fmt: skip
    items = compare_attributes(spec, state, live, None)
    assert [(i.attribute, i.state, i.live) for i in items] == [
        ("ingress", None, "tcp 22 from 0.0.0.0/0")
    ]
    assert [rule_text(r) for r in live.attributes["ingress"]] == [
        "tcp 22 from 0.0.0.0/0", "tcp 443 from 0.0.0.0/0", "tcp 443 from self", "tcp 443 from sg-9",
    ]  # fmt: skip
    assert [rule_text(r) for r in live.attributes["egress"]] == ["all from 0.0.0.0/0"]


def test_db_engine_version_prefix_matches_and_class_differs() -> None:
    spec = SPECS["aws_db_instance"]
    state = _state("aws_db_instance", {
        "id": "db-ABC", "identifier": "main", "arn": f"arn:aws:rds:{REGION}:{ACCOUNT}:db:main",
        "instance_class": "db.t3.micro", "engine_version": "14", "multi_az": False,
    }, name="main")  # fmt: skip
    (live,) = live_from_api("aws_db_instance", [{
        "DBInstanceIdentifier": "main", "DBInstanceArn": f"arn:aws:rds:{REGION}:{ACCOUNT}:db:main",
        "DBInstanceClass": "db.t3.small", "Engine": "postgres", "EngineVersion": "14.7",
        "MultiAZ": False,
    }], REGION, ACCOUNT)  # fmt: skip
    items = compare_attributes(spec, state, live, None)
    assert [(i.attribute, i.state, i.live) for i in items] == [
        ("instance_class", "db.t3.micro", "db.t3.small")
    ]
    assert spec.equal("engine_version", "14.7", "14.9") is False


def test_autoscaling_group_sizes() -> None:
    spec = SPECS["aws_autoscaling_group"]
    state = _state("aws_autoscaling_group", {
        "id": "workers", "name": "workers", "min_size": 1, "max_size": 3, "desired_capacity": 2,
        "arn": f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:u:autoScalingGroupName/workers",
        "tag": [{"key": "env", "value": "prod", "propagate_at_launch": True}],
    }, name="workers")  # fmt: skip
    (live,) = live_from_api("aws_autoscaling_group", [{
        "AutoScalingGroupName": "workers", "MinSize": 1, "MaxSize": 3, "DesiredCapacity": 5,
        "Tags": [{"Key": "env", "Value": "prod"}],
    }], REGION, ACCOUNT)  # fmt: skip
    code = CodeInstance("aws_autoscaling_group.workers", "main.tf", {"desired_capacity": 2}, {},
                        ("desired_capacity",), False)  # fmt: skip
    (item,) = compare_attributes(spec, state, live, code)
    assert (item.attribute, item.code, item.state, item.live, item.ignored_by_iac) == (
        "desired_capacity", 2, 2, 5, True,
    )  # fmt: skip
    assert live.tags == {"env": "prod"}


def test_views_from_state_and_code_have_the_same_shape() -> None:
    spec = SPECS["aws_dynamodb_table"]
    state_view = spec.from_terraform(_table_state(3, 4, gsi=2))
    live_view = _live(_table(3, 4, gsi=2)).attributes
    assert flatten(spec, state_view) == flatten(spec, live_view)
    code_view = spec.from_terraform({"read_capacity": "3"})
    assert code_view == {"read_capacity": 3}  # strings become numbers, as terraform does


# --------------------------------------------------------------------------- missing, unmanaged


def _side(*resources: StateResource) -> TerraformSide:
    return TerraformSide("infra", tuple(resources))


READ = (ReadScope("aws_dynamodb_table", ACCOUNT, REGION),)


def test_missing_only_where_the_read_succeeded() -> None:
    gone = _state("aws_dynamodb_table", _table_state(1, 1))
    (item,) = compare([_side(gone)], [], READ)
    assert item.kind == DriftKind.MISSING and item.resource == "aws_dynamodb_table.orders"
    assert "was read" in (item.note or "")
    assert compare([_side(gone)], [], ()) == ()  # region not read: no verdict
    elsewhere = (ReadScope("aws_dynamodb_table", ACCOUNT, "eu-west-1"),)
    assert compare([_side(gone)], [], elsewhere) == ()
    assert compare([_side(gone)], [], READ, judge_presence=()) == ()


def test_unmanaged_skips_what_something_else_owns() -> None:
    live = [
        _live(_table(1, 1)),
        LiveResource("aws_security_group", "sg-d", "default", REGION, ACCOUNT,
                     controlled_by="the VPC (its default security group)"),
        LiveResource("aws_instance", "i-t", None, REGION, ACCOUNT,
                     attributes={"instance_state": "terminated"}),
        LiveResource("aws_instance", "i-k8s", None, REGION, ACCOUNT,
                     attributes={"tags": {"kubernetes.io/cluster/x": "owned"}}),
        LiveResource("aws_instance", "i-hand", "hand-made", REGION, ACCOUNT),
    ]  # fmt: skip
    items = find_unmanaged(
        live,
        managed=set(),
        owned_by_tag=lambda r: "k8s" if "kubernetes.io/cluster/x" in r.tags else None,
    )
    assert [(i.type, i.id, i.live) for i in items] == [
        ("aws_dynamodb_table", "orders", "orders"),
        ("aws_instance", "i-hand", "hand-made"),
    ]
    assert find_unmanaged(live, {("aws_dynamodb_table", "orders")}, ("aws_dynamodb_table",)) == []


def test_deposed_objects_count_as_managed_but_are_not_compared() -> None:
    deposed = StateResource(
        address="aws_dynamodb_table.orders", type="aws_dynamodb_table", name="orders",
        module=None, index=None, provider="aws", attributes=_table_state(100, 100),
        state_file="s", deposed="abc123",
    )  # fmt: skip
    assert compare([_side(deposed)], [_live(_table(1, 1))], READ) == ()


def test_state_regions_come_from_arns() -> None:
    assert state_regions([_state("aws_dynamodb_table", _table_state(1, 1)),
                          _state("aws_vpc", {"arn": "arn:aws:ec2:eu-west-2:1:vpc/x"})]) == {REGION}  # fmt: skip


# --------------------------------------------------------------------------- the story fixture


def _fixture_live() -> list[LiveResource]:
    raw = json.loads((FIXTURES / "live.json").read_text())
    return [r for type_, items in raw.items() for r in live_from_api(type_, items, REGION, ACCOUNT)]


def test_the_story_fixture_end_to_end_without_a_server() -> None:
    state = load_state_resources(str(FIXTURES / "story" / "state" / "terraform.tfstate"))
    code = read_code(FIXTURES / "story" / "code")
    live = _fixture_live()
    read = [ReadScope(t, ACCOUNT, REGION) for t in SPECS]
    items = compare([TerraformSide("story", state, code.index())], live, read)
    seen = {(i.kind.value, i.resource or i.id, i.attribute, i.code, i.state, i.live,
             i.ignored_by_iac) for i in items}  # fmt: skip
    assert seen == {
        ("changed", "aws_dynamodb_table.orders", "read_capacity", 100, 1, 1, True),
        ("changed", "aws_dynamodb_table.orders", "write_capacity", 100, 1, 1, True),
        ("changed", "aws_dynamodb_table.invoices", "read_capacity", 100, 100, 1, False),
        ("changed", "aws_dynamodb_table.invoices", "write_capacity", 100, 100, 1, False),
        ("missing", "aws_dynamodb_table.legacy", None, None, None, None, False),
        ("unmanaged", "scratch-copy", None, None, None, "scratch-copy", False),
        (
            "changed",
            "aws_instance.web[0]",
            "instance_type",
            "t3.micro",
            "t3.micro",
            "t3.large",
            False,
        ),
        ("changed", "aws_autoscaling_group.workers", "min_size", 1, 1, 2, False),
        ("changed", "aws_autoscaling_group.workers", "max_size", 3, 3, 10, False),
        ("changed", "aws_autoscaling_group.workers", "desired_capacity", 2, 2, 3, True),
        (
            "changed",
            "aws_security_group.web",
            "ingress",
            None,
            None,
            "tcp 22 from 0.0.0.0/0",
            False,
        ),
    }
    clean = {"aws_dynamodb_table.sessions", "aws_db_instance.main"}
    assert not clean & {i.resource for i in items}


@pytest.mark.parametrize("type_", sorted(SPECS))
def test_every_live_view_has_exactly_the_documented_attributes(type_: str) -> None:
    views = [r for r in _fixture_live() if r.type == type_]
    assert views, f"live.json has no {type_}"
    for view in views:
        assert set(view.attributes) == set(SPECS[type_].attributes)
