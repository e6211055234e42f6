"""The [[policy]] language: every operator, selection by name / region / tags / managed,
require / require_any / forbid, rules inside security groups, and errors naming file and key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from auditor.drift.model import LiveResource
from auditor.drift.policy import (
    PolicyRule,
    evaluate_policies,
    load_policies,
    parse_rule,
)
from auditor.drift.resources import live_from_api
from auditor.errors import ConfigError
from auditor.model import Severity

FILE = Path("/etc/auditor/audit.toml")


def _rule(**entry: Any) -> PolicyRule:
    entry.setdefault("name", "r")
    entry.setdefault("resource", "aws_dynamodb_table")
    return parse_rule(entry, FILE, "[[policy]] #1")


def _table(name: str = "orders", *, billing: str = "PROVISIONED", read: int = 1, write: int = 1,
           tags: dict[str, str] | None = None, region: str = "us-east-1",
           gsi: dict[str, int] | None = None) -> LiveResource:  # fmt: skip
    raw: dict[str, Any] = {
        "TableName": name,
        "TableArn": f"arn:aws:dynamodb:{region}:123456789012:table/{name}",
        "BillingModeSummary": {"BillingMode": billing},
        "ProvisionedThroughput": {"ReadCapacityUnits": read, "WriteCapacityUnits": write},
        "GlobalSecondaryIndexes": [
            {
                "IndexName": k,
                "ProvisionedThroughput": {"ReadCapacityUnits": v, "WriteCapacityUnits": v},
            }
            for k, v in (gsi or {}).items()
        ],
        "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    }
    (resource,) = live_from_api("aws_dynamodb_table", [raw], region, "123456789012")
    return resource


def _holds(rule: PolicyRule, resource: LiveResource) -> bool:
    return not evaluate_policies([rule], [resource])


# --------------------------------------------------------------------------- operators


@pytest.mark.parametrize(
    ("matcher", "read", "ok"),
    [
        (1, 1, True), (2, 1, False),
        ({"eq": 1}, 1, True), ({"ne": 1}, 1, False), ({"ne": 2}, 1, True),
        ({"lt": 2}, 1, True), ({"lt": 1}, 1, False),
        ({"le": 1}, 1, True), ({"le": 0}, 1, False),
        ({"gt": 0}, 1, True), ({"gt": 1}, 1, False),
        ({"ge": 50}, 50, True), ({"ge": 50}, 49, False), ({"ge": 0.5}, 1, True),
        ({"in": [1, 2]}, 2, True), ({"in": [1, 2]}, 3, False),
        ({"not_in": [1, 2]}, 3, True), ({"not_in": [1, 2]}, 1, False),
        ({"ge": 1, "le": 10}, 5, True), ({"ge": 1, "le": 10}, 11, False),
        ({"exists": True}, 1, True),
    ],
)  # fmt: skip
def test_number_operators(matcher: Any, read: int, ok: bool) -> None:
    rule = _rule(require=[{"read_capacity": matcher}])
    assert _holds(rule, _table(read=read)) is ok


@pytest.mark.parametrize(
    ("matcher", "ok"),
    [
        ("PROVISIONED", True), ("provisioned", False), ({"match": "PROV*"}, True),
        ({"match": "PAY*"}, False), ({"in": ["PAY_PER_REQUEST"]}, False),
        ({"ge": 5}, False),  # an ordering on a string holds nothing
    ],
)  # fmt: skip
def test_string_operators(matcher: Any, ok: bool) -> None:
    assert _holds(_rule(require=[{"billing_mode": matcher}]), _table()) is ok


def test_exists_and_missing_attributes() -> None:
    instance = LiveResource("aws_instance", "i-1", "web", "us-east-1", None,
                            attributes={"public_ip": None, "tags": {}})  # fmt: skip
    no_public = parse_rule({"name": "n", "resource": "aws_instance",
                            "require": [{"public_ip": {"exists": False}}]}, FILE, "p")  # fmt: skip
    assert _holds(no_public, instance)
    needs_key = parse_rule({"name": "k", "resource": "aws_instance",
                            "require": [{"key_name": "ops"}]}, FILE, "p")  # fmt: skip
    (violation,) = evaluate_policies([needs_key], [instance])
    assert violation.live is None and violation.expected == 'key_name = "ops"'


def test_contains_on_lists() -> None:
    instance = LiveResource("aws_instance", "i-1", "web", "us-east-1", None,
                            attributes={"vpc_security_group_ids": ["sg-1", "sg-2"]})  # fmt: skip
    rule = parse_rule({"name": "c", "resource": "aws_instance",
                       "forbid": [{"vpc_security_group_ids": {"contains": "sg-2"}}]}, FILE, "p")  # fmt: skip
    (violation,) = evaluate_policies([rule], [instance])
    assert violation.expected == 'not: vpc_security_group_ids contains "sg-2"'


def test_maps_and_every_entry() -> None:
    tagged = _rule(require=[{"tags": {"owner": {"exists": True}}}])
    assert not _holds(tagged, _table(tags={"env": "prod"}))
    assert _holds(tagged, _table(tags={"owner": "bob"}))
    every = _rule(require=[{"global_secondary_index": {"*": {"read_capacity": {"ge": 5}}}}])
    assert _holds(every, _table(gsi={"a": 5, "b": 9}))
    (violation,) = evaluate_policies([every], [_table(gsi={"a": 5, "b": 1})])
    assert violation.expected == "every global_secondary_index entry has read_capacity >= 5"
    assert _holds(every, _table())  # no index: nothing breaks "every"


# --------------------------------------------------------------------------- the rule kinds


STORY_RULE = {
    "name": "prod-dynamodb-capacity",
    "resource": "aws_dynamodb_table",
    "where": {"tags": {"env": "prod"}},
    "require_any": [{"billing_mode": "PAY_PER_REQUEST"},
                    {"read_capacity": {"ge": 50}, "write_capacity": {"ge": 50}}],
}  # fmt: skip


def test_require_any_the_dynamodb_story() -> None:
    rule = _rule(**STORY_RULE)
    tables = [
        _table("orders", read=1, write=1, tags={"env": "prod"}),
        _table("sessions", billing="PAY_PER_REQUEST", read=0, write=0, tags={"env": "prod"}),
        _table("big", read=100, write=60, tags={"env": "prod"}),
        _table("dev", read=1, write=1, tags={"env": "dev"}),
    ]
    (violation,) = evaluate_policies(
        [rule], tables, {("aws_dynamodb_table", "orders"): "aws_dynamodb_table.orders"}
    )
    assert violation.rule == "prod-dynamodb-capacity" and violation.severity == Severity.HIGH
    assert violation.resource == "aws_dynamodb_table.orders" and violation.id == "orders"
    assert violation.attribute == "billing_mode, read_capacity, write_capacity"
    assert violation.live == {
        "billing_mode": "PROVISIONED",
        "read_capacity": 1,
        "write_capacity": 1,
    }
    assert violation.expected == (
        'billing_mode = "PAY_PER_REQUEST" or (read_capacity >= 50 and write_capacity >= 50)'
    )


def test_require_reports_each_failing_condition() -> None:
    rule = _rule(require=[{"read_capacity": {"ge": 5}}, {"billing_mode": "PROVISIONED"},
                          {"write_capacity": {"ge": 5}}])  # fmt: skip
    violations = evaluate_policies([rule], [_table(read=1, write=1)])
    assert [(v.attribute, v.live, v.expected) for v in violations] == [
        ("read_capacity", 1, "read_capacity >= 5"),
        ("write_capacity", 1, "write_capacity >= 5"),
    ]


def test_forbid_security_group_open_to_the_world_on_22() -> None:
    rule = parse_rule({
        "name": "no-ssh", "resource": "aws_security_group", "severity": "critical",
        "forbid": [{"ingress": {"cidr": {"in": ["0.0.0.0/0", "::/0"]}, "port": 22}}],
    }, FILE, "[[policy]] #2")  # fmt: skip

    def group(*permissions: dict[str, Any]) -> LiveResource:
        (g,) = live_from_api("aws_security_group", [{
            "GroupId": "sg-1", "GroupName": "web", "IpPermissions": list(permissions),
        }], "us-east-1", "1")  # fmt: skip
        return g

    world = [{"CidrIp": "0.0.0.0/0"}]
    open_22 = group({"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": world})
    (violation,) = evaluate_policies([rule], [open_22])
    assert violation.severity == Severity.CRITICAL
    assert violation.live == ["tcp 22 from 0.0.0.0/0"]
    assert (
        violation.expected
        == 'not: ingress has a rule with cidr in ["0.0.0.0/0", "::/0"] and port 22'
    )
    assert evaluate_policies(
        [rule], [group({"IpProtocol": "tcp", "FromPort": 0, "ToPort": 1024, "IpRanges": world})]
    )
    assert evaluate_policies(
        [rule], [group({"IpProtocol": "-1", "IpRanges": world})]
    )  # all traffic
    assert evaluate_policies([rule], [group({"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                                             "Ipv6Ranges": [{"CidrIpv6": "::/0"}]})])  # fmt: skip
    assert not evaluate_policies([rule], [group({"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                                                 "IpRanges": [{"CidrIp": "10.0.0.0/8"}]})])  # fmt: skip
    assert not evaluate_policies(
        [rule], [group({"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": world})]
    )
    assert not evaluate_policies(
        [rule], [group({"IpProtocol": "icmp", "FromPort": 22, "ToPort": -1, "IpRanges": world})]
    )


# --------------------------------------------------------------------------- selection


@pytest.mark.parametrize(
    ("where", "selected"),
    [
        ({}, {"orders", "orders-eu", "dev"}),
        ({"name": "orders*"}, {"orders", "orders-eu"}),
        ({"name": ["dev", "nope"]}, {"dev"}),
        ({"region": "eu-*"}, {"orders-eu"}),
        ({"tags": {"env": "prod"}}, {"orders", "orders-eu"}),
        ({"tags": {"env": "*"}}, {"orders", "orders-eu", "dev"}),
        ({"tags": {"team": "*"}}, {"orders"}),
        ({"tags": {"env": "prod"}, "region": "us-*"}, {"orders"}),
        ({"managed": True}, {"orders"}),
        ({"managed": False}, {"orders-eu", "dev"}),
    ],
)
def test_selection(where: dict[str, Any], selected: set[str]) -> None:
    rule = _rule(where=where, require=[{"read_capacity": {"ge": 50}}])
    tables = [
        _table("orders", tags={"env": "prod", "team": "o"}),
        _table("orders-eu", tags={"env": "prod"}, region="eu-west-1"),
        _table("dev", tags={"env": "dev"}),
    ]
    managed = {("aws_dynamodb_table", "orders"): "aws_dynamodb_table.orders"}
    assert {v.id for v in evaluate_policies([rule], tables, managed)} == selected


def test_other_types_are_not_selected() -> None:
    rule = _rule(require=[{"read_capacity": {"ge": 50}}])
    group = LiveResource("aws_security_group", "sg-1", "x", "us-east-1", None)
    assert evaluate_policies([rule], [group]) == ()


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"resource": "aws_s3_bucket", "require": [{"x": 1}]},
            "key 'resource': expected one of aws_autoscaling_group",
        ),
        (
            {"require": [{"read_capcity": 1}]},
            "key 'require' item 1 key 'read_capcity': unknown attribute",
        ),
        (
            {"require": [{"read_capacity": {"gte": 1}}]},
            "key 'read_capacity': unknown operator 'gte' (operators: eq, ne",
        ),
        ({"require": [{"tags": {"env": {"gte": 1}}}]}, "key 'env': unknown operator 'gte'"),
        (
            {"require": [{"tags": {"*": {"x": 1}}}]},
            '"*" (every entry) needs entries that are tables',
        ),
        (
            {"require": [{"read_capacity": {"ge": "50"}}]},
            "operator 'ge': expected a number, got string '50'",
        ),
        ({"require": [{"read_capacity": {"in": 5}}]}, "operator 'in': expected a list of values"),
        ({"require": [{"read_capacity": {"ge": 1, "x": 2}}]}, "mixes operators (ge) with 'x'"),
        ({"require": [{"billing_mode": ["A"]}]}, "a list is not a matcher; write { in = [...] }"),
        ({"require": [{"name": {"match": 5}}]}, "operator 'match': expected a glob string"),
        ({"require": [{"name": {"exists": "yes"}}]}, "operator 'exists': expected true or false"),
        ({"require": []}, "key 'require': expected a list of conditions"),
        ({}, "needs 'require', 'require_any' or 'forbid'"),
        (
            {"require": [{"name": "x"}], "severity": "urgent"},
            "key 'severity': unknown severity 'urgent'",
        ),
        ({"require": [{"name": "x"}], "where": {"tag": {}}}, "key 'where': unknown key 'tag'"),
        (
            {"require": [{"name": "x"}], "where": {"tags": {"env": 1}}},
            "where'.tags: expected a table",
        ),
        (
            {"require": [{"name": "x"}], "where": {"managed": "yes"}},
            "where'.managed: expected true or false",
        ),
        ({"require": [{"name": "x"}], "unless": 1}, "unknown key 'unless'"),
        (
            {"resource": "aws_security_group", "forbid": [{"ingress": {"prot": "tcp"}}]},
            "key 'prot': unknown attribute",
        ),
        (
            {"resource": "aws_security_group", "forbid": [{"ingress": {"port": "22"}}]},
            "key 'port': expected a port",
        ),
        (
            {"require": [{"global_secondary_index": {"*": 5}}]},
            '"*" (every entry) must be the only key',
        ),
    ],
)
def test_errors_name_the_file_the_rule_and_the_key(entry: dict[str, Any], message: str) -> None:
    entry = {"name": "r", "resource": "aws_dynamodb_table", **entry}
    with pytest.raises(ConfigError) as raised:
        parse_rule(entry, FILE, "[[policy]] #3")
    text = str(raised.value)
    assert text.startswith(f"{FILE}: [[policy]] #3 'r'"), text
    assert message in text, text


def test_a_name_is_required() -> None:
    with pytest.raises(ConfigError, match=r"\[\[policy\]\] #1: key 'name' is required"):
        parse_rule({"resource": "aws_instance"}, FILE, "[[policy]] #1")


def test_included_files_and_duplicate_names(tmp_path: Path) -> None:
    (tmp_path / "more.toml").write_text(
        '[[policy]]\nname = "b"\nresource = "aws_instance"\nrequire = [{ instance_type = "t3.micro" }]\n'
    )
    rules = load_policies(
        [{"name": "a", "resource": "aws_instance", "forbid": [{"public_ip": {"exists": True}}]},
         {"file": "more.toml"}],
        tmp_path / "audit.toml", tmp_path,
    )  # fmt: skip
    assert [r.name for r in rules] == ["a", "b"]
    assert rules[1].origin == f"{tmp_path / 'more.toml'}: [[policy]] #1 'b'"
    with pytest.raises(ConfigError, match="policy name 'b' is already used"):
        load_policies([{"file": "more.toml"}, {"file": "more.toml"}], tmp_path / "a.toml", tmp_path)
    with pytest.raises(ConfigError, match=r"cannot read .*nope\.toml"):
        load_policies([{"file": "nope.toml"}], tmp_path / "a.toml", tmp_path)
    with pytest.raises(ConfigError, match="key 'name' next to 'file'"):
        load_policies([{"file": "more.toml", "name": "x"}], tmp_path / "a.toml", tmp_path)
    (tmp_path / "loop.toml").write_text('[[policy]]\nfile = "more.toml"\n')
    with pytest.raises(ConfigError, match="an included policy file cannot include"):
        load_policies([{"file": "loop.toml"}], tmp_path / "a.toml", tmp_path)
    (tmp_path / "bad.toml").write_text("[[policy]\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: invalid TOML"):
        load_policies([{"file": "bad.toml"}], tmp_path / "a.toml", tmp_path)
    (tmp_path / "other.toml").write_text("[audit]\n")
    with pytest.raises(ConfigError, match="unknown section 'audit'"):
        load_policies([{"file": "other.toml"}], tmp_path / "a.toml", tmp_path)
