"""The resource types drift checks understand, and one normalised shape for each.

A Terraform resource (from a state, or from the .tf code) and the same resource as AWS
describes it (boto3) are turned into the same dict, the *view*: `{"read_capacity": 1,
"tags": {...}, "global_secondary_index": {"by_customer": {...}}, ...}`. Comparing drift is
then comparing two views, and a [[policy]] rule names view keys. Everything here is pure.

- aws_dynamodb_table: billing_mode, read_capacity, write_capacity, and each GSI's
  capacity are compared; policies may also name name, tags, deletion_protection.
- aws_instance: instance_type, ami, subnet_id, vpc_security_group_ids, tags; also name,
  key_name, public_ip, availability_zone, instance_state.
- aws_autoscaling_group: min_size, max_size, desired_capacity; also name, tags.
- aws_security_group: ingress, egress (one entry per rule and source); also name,
  description, vpc_id, tags.
- aws_db_instance: instance_class, engine_version, multi_az; also name, engine,
  publicly_accessible, storage_encrypted, deletion_protection, allocated_storage, tags.

Code values may be `Unresolved`; the builders pass them through so a report can say which
value could not be worked out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from auditor.drift.model import LiveResource, Unresolved
from auditor.launchers import launched_by

View = dict[str, Any]

# Tags AWS itself sets (aws:cloudformation:*, aws:autoscaling:groupName ...): no Terraform
# configuration can hold them, so they are never drift.
AWS_TAG_PREFIX = "aws:"

_PROTOCOL_NAMES = {"-1": "all", "all": "all", "6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}


# --------------------------------------------------------------------------- value helpers


def _as_int(value: Any) -> Any:
    """Numbers as Terraform converts them: "100" -> 100, 100.0 -> 100. Anything else is
    kept as it is, so a comparison shows it rather than hides it."""
    if isinstance(value, bool) or value is None or isinstance(value, Unresolved):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if number.is_integer() else number
    return value


def _as_bool(value: Any) -> Any:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def _as_str(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _first_unresolved(values: Iterable[Any]) -> Unresolved | None:
    for value in values:
        if isinstance(value, Unresolved):
            return value
        if isinstance(value, Mapping):
            found = _first_unresolved(value.values())
            if found:
                return found
        if isinstance(value, list | tuple):
            found = _first_unresolved(value)
            if found:
                return found
    return None


def _put(view: View, key: str, attrs: Mapping[str, Any], source: str, convert: Any) -> None:
    """view[key] = convert(attrs[source]) when the source says anything at all: the code
    omitting an argument means "no opinion", not None."""
    if source in attrs:
        view[key] = convert(attrs[source])


def _identity(value: Any) -> Any:
    return value


def _tags_from_terraform(attrs: Mapping[str, Any]) -> Any:
    # tags_all (state only) holds the provider's default_tags too; tags wins on conflicts.
    merged: dict[str, Any] = {}
    for key in ("tags_all", "tags"):
        value = attrs.get(key)
        if isinstance(value, Unresolved):
            return value
        if isinstance(value, Mapping):
            merged.update({str(k): _as_str(v) for k, v in value.items()})
    return merged


def _has_tags(attrs: Mapping[str, Any]) -> bool:
    return "tags" in attrs or "tags_all" in attrs


def _tags_from_api(tags: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    return {
        str(t["Key"]): str(t.get("Value", ""))
        for t in tags or ()
        if not str(t["Key"]).startswith(AWS_TAG_PREFIX)
    }


def _aws_tags(tags: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in tags or ()}


def arn_region_account(arn: Any) -> tuple[str | None, str | None]:
    """(region, account) of an ARN: arn:aws:dynamodb:eu-west-1:123456789012:table/orders."""
    parts = arn.split(":") if isinstance(arn, str) else []
    if len(parts) < 6:
        return None, None
    return parts[3] or None, parts[4] or None


def path_key(key: str) -> str:
    """A map key inside an attribute path, as Terraform writes it: ["by_customer"]."""
    return "[" + json.dumps(key, ensure_ascii=False) + "]"


# --------------------------------------------------------------------------- security rules


def rule_text(rule: Mapping[str, Any]) -> str:
    """One rule and source, readable and comparable: "tcp 22 from 0.0.0.0/0",
    "all from sg-0abc", "tcp 8000-8080 from self". Descriptions are left out on purpose:
    AWS keeps one per source, Terraform one per rule block."""
    protocol = rule.get("protocol")
    low, high = rule.get("from_port"), rule.get("to_port")
    ports = ""
    if protocol != "all" and (low is not None or high is not None):
        ports = f" {low}" if low == high else f" {low}-{high}"
    if rule.get("self"):
        source = "self"
    else:
        source = (
            rule.get("cidr")
            or (f"prefix list {rule['prefix_list']}" if rule.get("prefix_list") else None)
            or rule.get("source_security_group")
            or "?"
        )
    return f"{protocol}{ports} from {source}"


def _rule(
    protocol: Any,
    low: Any,
    high: Any,
    *,
    description: Any = None,
    cidr: str | None = None,
    prefix_list: str | None = None,
    source_security_group: str | None = None,
    self_: bool = False,
) -> dict[str, Any]:
    name = _PROTOCOL_NAMES.get(str(protocol).lower(), str(protocol).lower())
    if name == "all":  # AWS omits the ports of an all-traffic rule; Terraform says 0-0
        low = high = None
    return {
        "protocol": name,
        "from_port": _as_int(low),
        "to_port": _as_int(high),
        "cidr": cidr,  # IPv4 or IPv6: a policy on 0.0.0.0/0 usually means ::/0 too
        "prefix_list": prefix_list,
        "source_security_group": source_security_group,
        "self": self_,
        "description": description or None,
    }


def _rules_from_terraform(blocks: Any, own_id: Any) -> Any:
    """`ingress`/`egress` blocks (state or code) -> one rule per source."""
    if isinstance(blocks, Unresolved):
        return blocks
    unresolved = _first_unresolved(blocks or ())
    if unresolved:
        return unresolved
    rules: list[dict[str, Any]] = []
    for block in blocks or ():
        common = (block.get("protocol"), block.get("from_port"), block.get("to_port"))
        description = block.get("description")
        for cidr in block.get("cidr_blocks") or ():
            rules.append(_rule(*common, description=description, cidr=cidr))
        for cidr in block.get("ipv6_cidr_blocks") or ():
            rules.append(_rule(*common, description=description, cidr=cidr))
        for prefix in block.get("prefix_list_ids") or ():
            rules.append(_rule(*common, description=description, prefix_list=prefix))
        for group in block.get("security_groups") or ():
            if own_id and group == own_id:
                rules.append(_rule(*common, description=description, self_=True))
            else:
                rules.append(_rule(*common, description=description, source_security_group=group))
        if block.get("self"):
            rules.append(_rule(*common, description=description, self_=True))
    return _sorted_rules(rules)


def _rules_from_api(permissions: Iterable[Mapping[str, Any]] | None, own_id: str) -> Any:
    rules: list[dict[str, Any]] = []
    for perm in permissions or ():
        common = (perm["IpProtocol"], perm.get("FromPort"), perm.get("ToPort"))
        for r in perm.get("IpRanges") or ():
            rules.append(_rule(*common, description=r.get("Description"), cidr=r["CidrIp"]))
        for r in perm.get("Ipv6Ranges") or ():
            rules.append(_rule(*common, description=r.get("Description"), cidr=r["CidrIpv6"]))
        for r in perm.get("PrefixListIds") or ():
            rules.append(
                _rule(*common, description=r.get("Description"), prefix_list=r["PrefixListId"])
            )
        for r in perm.get("UserIdGroupPairs") or ():
            group = r.get("GroupId")
            if group == own_id:
                rules.append(_rule(*common, description=r.get("Description"), self_=True))
            else:
                rules.append(
                    _rule(*common, description=r.get("Description"), source_security_group=group)
                )
    return _sorted_rules(rules)


def _sorted_rules(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    unique = {rule_text(r): r for r in rules}
    return [unique[k] for k in sorted(unique)]


# --------------------------------------------------------------------------- the types


def _dynamodb_from_terraform(attrs: Mapping[str, Any]) -> View:
    view: View = {}
    _put(view, "name", attrs, "name", _identity)
    _put(view, "billing_mode", attrs, "billing_mode", _upper)
    _put(view, "read_capacity", attrs, "read_capacity", _as_int)
    _put(view, "write_capacity", attrs, "write_capacity", _as_int)
    _put(view, "deletion_protection", attrs, "deletion_protection_enabled", _as_bool)
    if "global_secondary_index" in attrs:
        view["global_secondary_index"] = _gsi_from_terraform(attrs["global_secondary_index"])
    if _has_tags(attrs):
        view["tags"] = _tags_from_terraform(attrs)
    return view


def _gsi_from_terraform(blocks: Any) -> Any:
    if isinstance(blocks, Unresolved):
        return blocks
    indexes: dict[str, Any] = {}
    for block in blocks or ():
        name = block.get("name")
        if isinstance(name, Unresolved):
            return name  # without the name no index can be matched to the cloud's
        capacity: dict[str, Any] = {}
        _put(capacity, "read_capacity", block, "read_capacity", _as_int)
        _put(capacity, "write_capacity", block, "write_capacity", _as_int)
        indexes[str(name)] = capacity
    return indexes


def _dynamodb_from_api(table: Mapping[str, Any], region: str, account: str | None) -> LiveResource:
    throughput = table.get("ProvisionedThroughput") or {}
    # Tables made before on-demand existed carry no BillingModeSummary: they are provisioned.
    billing = (table.get("BillingModeSummary") or {}).get("BillingMode") or "PROVISIONED"
    indexes = {
        str(i["IndexName"]): {
            "read_capacity": (i.get("ProvisionedThroughput") or {}).get("ReadCapacityUnits", 0),
            "write_capacity": (i.get("ProvisionedThroughput") or {}).get("WriteCapacityUnits", 0),
        }
        for i in table.get("GlobalSecondaryIndexes") or ()
    }
    name = str(table["TableName"])
    arn = table.get("TableArn")
    arn_account = arn_region_account(arn)[1]
    view: View = {
        "name": name,
        "billing_mode": billing,
        "read_capacity": throughput.get("ReadCapacityUnits", 0),
        "write_capacity": throughput.get("WriteCapacityUnits", 0),
        "global_secondary_index": indexes,
        "deletion_protection": bool(table.get("DeletionProtectionEnabled", False)),
        "tags": _tags_from_api(table.get("Tags")),
    }
    tags = _aws_tags(table.get("Tags"))
    return LiveResource(
        "aws_dynamodb_table",
        name,
        name,
        region,
        arn_account or account,
        arn,
        view,
        _controller(tags),
    )


def _instance_from_terraform(attrs: Mapping[str, Any]) -> View:
    view: View = {}
    _put(view, "instance_type", attrs, "instance_type", _identity)
    _put(view, "ami", attrs, "ami", _identity)
    _put(view, "subnet_id", attrs, "subnet_id", _identity)
    _put(view, "key_name", attrs, "key_name", lambda v: v or None)
    _put(view, "public_ip", attrs, "public_ip", lambda v: v or None)
    _put(view, "availability_zone", attrs, "availability_zone", _identity)
    _put(view, "instance_state", attrs, "instance_state", _identity)
    if "vpc_security_group_ids" in attrs:
        groups = attrs["vpc_security_group_ids"]
        unresolved = groups if isinstance(groups, Unresolved) else _first_unresolved(groups or ())
        view["vpc_security_group_ids"] = unresolved or sorted(str(g) for g in groups or ())
    if _has_tags(attrs):
        tags = _tags_from_terraform(attrs)
        view["tags"] = tags
        if isinstance(tags, Mapping) and "Name" in tags:
            view["name"] = tags["Name"]
    return view


def _instance_from_api(
    instance: Mapping[str, Any], region: str, account: str | None
) -> LiveResource:
    aws_tags = _aws_tags(instance.get("Tags"))
    tags = _tags_from_api(instance.get("Tags"))
    view: View = {
        "name": tags.get("Name"),
        "instance_type": instance.get("InstanceType"),
        "ami": instance.get("ImageId"),
        "subnet_id": instance.get("SubnetId"),
        "vpc_security_group_ids": sorted(
            str(g["GroupId"]) for g in instance.get("SecurityGroups") or ()
        ),
        "key_name": instance.get("KeyName") or None,
        "public_ip": instance.get("PublicIpAddress") or None,
        "availability_zone": (instance.get("Placement") or {}).get("AvailabilityZone"),
        "instance_state": instance["State"]["Name"],
        "tags": tags,
    }
    instance_id = str(instance["InstanceId"])
    return LiveResource(
        "aws_instance",
        instance_id,
        tags.get("Name"),
        region,
        account,
        None,
        view,
        _controller(aws_tags),
    )


def _asg_from_terraform(attrs: Mapping[str, Any]) -> View:
    view: View = {}
    _put(view, "name", attrs, "name", _identity)
    _put(view, "min_size", attrs, "min_size", _as_int)
    _put(view, "max_size", attrs, "max_size", _as_int)
    _put(view, "desired_capacity", attrs, "desired_capacity", _as_int)
    if "tag" in attrs or "tags" in attrs:
        view["tags"] = _asg_tags(attrs.get("tag"), attrs.get("tags"))
    return view


def _asg_tags(blocks: Any, legacy: Any) -> Any:
    # `tag { key, value, propagate_at_launch }` blocks; AWS provider < 5 also had `tags`, a
    # list of maps with the same keys.
    if isinstance(blocks, Unresolved):
        return blocks
    if isinstance(legacy, Unresolved):
        return legacy
    tags: dict[str, Any] = {}
    for block in [*(blocks or ()), *(legacy if isinstance(legacy, list) else ())]:
        if isinstance(block, Mapping) and "key" in block:
            key = block["key"]
            if isinstance(key, Unresolved):
                return key
            tags[str(key)] = _as_str(block.get("value"))
    return tags


def _asg_from_api(group: Mapping[str, Any], region: str, account: str | None) -> LiveResource:
    name = str(group["AutoScalingGroupName"])
    arn = group.get("AutoScalingGroupARN")
    aws_tags = _aws_tags(group.get("Tags"))
    view: View = {
        "name": name,
        "min_size": group.get("MinSize"),
        "max_size": group.get("MaxSize"),
        "desired_capacity": group.get("DesiredCapacity"),
        "tags": _tags_from_api(group.get("Tags")),
    }
    return LiveResource(
        "aws_autoscaling_group",
        name,
        name,
        region,
        arn_region_account(arn)[1] or account,
        arn,
        view,
        _controller(aws_tags),
    )


def _sg_from_terraform(attrs: Mapping[str, Any]) -> View:
    view: View = {}
    own_id = attrs.get("id")
    _put(view, "name", attrs, "name", _identity)
    _put(view, "description", attrs, "description", _identity)
    _put(view, "vpc_id", attrs, "vpc_id", _identity)
    for direction in ("ingress", "egress"):
        if direction in attrs:
            view[direction] = _rules_from_terraform(attrs[direction], own_id)
    if _has_tags(attrs):
        view["tags"] = _tags_from_terraform(attrs)
    return view


def _sg_from_api(group: Mapping[str, Any], region: str, account: str | None) -> LiveResource:
    group_id = str(group["GroupId"])
    name = group.get("GroupName")
    arn = group.get("SecurityGroupArn")
    view: View = {
        "name": name,
        "description": group.get("Description"),
        "vpc_id": group.get("VpcId"),
        "ingress": _rules_from_api(group.get("IpPermissions"), group_id),
        "egress": _rules_from_api(group.get("IpPermissionsEgress"), group_id),
        "tags": _tags_from_api(group.get("Tags")),
    }
    # Every VPC comes with a "default" group that cannot be deleted: no state holds it.
    controller = "the VPC (its default security group)" if name == "default" else None
    return LiveResource(
        "aws_security_group",
        group_id,
        name,
        region,
        arn_region_account(arn)[1] or group.get("OwnerId") or account,
        arn,
        view,
        controller or _controller(_aws_tags(group.get("Tags"))),
    )


def _db_from_terraform(attrs: Mapping[str, Any]) -> View:
    view: View = {}
    _put(view, "name", attrs, "identifier", _identity)
    _put(view, "instance_class", attrs, "instance_class", _identity)
    _put(view, "engine", attrs, "engine", _identity)
    _put(view, "engine_version", attrs, "engine_version", _as_str)
    _put(view, "multi_az", attrs, "multi_az", _as_bool)
    _put(view, "publicly_accessible", attrs, "publicly_accessible", _as_bool)
    _put(view, "storage_encrypted", attrs, "storage_encrypted", _as_bool)
    _put(view, "deletion_protection", attrs, "deletion_protection", _as_bool)
    _put(view, "allocated_storage", attrs, "allocated_storage", _as_int)
    if _has_tags(attrs):
        view["tags"] = _tags_from_terraform(attrs)
    return view


def _db_from_api(db: Mapping[str, Any], region: str, account: str | None) -> LiveResource:
    identifier = str(db["DBInstanceIdentifier"])
    arn = db.get("DBInstanceArn")
    view: View = {
        "name": identifier,
        "instance_class": db.get("DBInstanceClass"),
        "engine": db.get("Engine"),
        "engine_version": db.get("EngineVersion"),
        "multi_az": bool(db.get("MultiAZ", False)),
        "publicly_accessible": bool(db.get("PubliclyAccessible") or False),
        "storage_encrypted": bool(db.get("StorageEncrypted", False)),
        "deletion_protection": bool(db.get("DeletionProtection", False)),
        "allocated_storage": db.get("AllocatedStorage"),
        "tags": _tags_from_api(db.get("TagList")),
    }
    return LiveResource(
        "aws_db_instance",
        identifier,
        identifier,
        region,
        arn_region_account(arn)[1] or account,
        arn,
        view,
        _controller(_aws_tags(db.get("TagList"))),
    )


def _controller(tags: Mapping[str, str]) -> str | None:
    """The system that launched an instance (its AWS tags say), outermost first."""
    launched = launched_by(tags)
    return launched[0].label if launched else None


def _engine_version_same(terraform: Any, live: Any) -> bool:
    # engine_version = "14" asks for the latest 14.x; the provider accepts 14.7 then.
    if isinstance(terraform, str) and isinstance(live, str):
        return live == terraform or live.startswith(terraform + ".")
    return bool(terraform == live)


# --------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class ResourceSpec:
    """What drift checks know about one resource type.

    `compared`: top-level view keys compared between Terraform and the cloud.
    `rule_sets`: keys holding security-group rules, compared one rule per entry.
    `attributes`: every view key a live resource has (policies may name these).
    """

    type: str
    compared: tuple[str, ...]
    attributes: tuple[str, ...]
    from_terraform: Callable[[Mapping[str, Any]], View]
    from_api: Callable[[Mapping[str, Any], str, str | None], LiveResource]
    state_key: Callable[[Mapping[str, Any]], str | None]
    rule_sets: tuple[str, ...] = ()
    same: Mapping[str, Callable[[Any, Any], bool]] | None = None

    def equal(self, attribute: str, terraform: Any, live: Any) -> bool:
        top = attribute.split("[", 1)[0].split(".", 1)[0]
        custom = (self.same or {}).get(top)
        return custom(terraform, live) if custom else bool(terraform == live)


def _id(attrs: Mapping[str, Any]) -> str | None:
    value = attrs.get("id")
    return str(value) if value else None


def _db_key(attrs: Mapping[str, Any]) -> str | None:
    # AWS provider 5 made `id` the DbiResourceId; `identifier` is the name in every version.
    value = attrs.get("identifier") or attrs.get("id")
    return str(value) if value else None


def _name_key(attrs: Mapping[str, Any]) -> str | None:
    value = attrs.get("name") or attrs.get("id")
    return str(value) if value else None


_DYNAMODB_ATTRIBUTES = (
    "name", "billing_mode", "read_capacity", "write_capacity", "global_secondary_index",
    "deletion_protection", "tags",
)  # fmt: skip
_INSTANCE_ATTRIBUTES = (
    "name", "instance_type", "ami", "subnet_id", "vpc_security_group_ids", "key_name",
    "public_ip", "availability_zone", "instance_state", "tags",
)  # fmt: skip
_DB_ATTRIBUTES = (
    "name", "instance_class", "engine", "engine_version", "multi_az", "publicly_accessible",
    "storage_encrypted", "deletion_protection", "allocated_storage", "tags",
)  # fmt: skip

SPECS: Mapping[str, ResourceSpec] = {
    spec.type: spec
    for spec in (
        ResourceSpec(
            "aws_dynamodb_table",
            compared=("billing_mode", "read_capacity", "write_capacity", "global_secondary_index"),
            attributes=_DYNAMODB_ATTRIBUTES,
            from_terraform=_dynamodb_from_terraform,
            from_api=_dynamodb_from_api,
            state_key=_name_key,
        ),
        ResourceSpec(
            "aws_instance",
            compared=("instance_type", "ami", "subnet_id", "vpc_security_group_ids", "tags"),
            attributes=_INSTANCE_ATTRIBUTES,
            from_terraform=_instance_from_terraform,
            from_api=_instance_from_api,
            state_key=_id,
        ),
        ResourceSpec(
            "aws_autoscaling_group",
            compared=("min_size", "max_size", "desired_capacity"),
            attributes=("name", "min_size", "max_size", "desired_capacity", "tags"),
            from_terraform=_asg_from_terraform,
            from_api=_asg_from_api,
            state_key=_name_key,
        ),
        ResourceSpec(
            "aws_security_group",
            compared=("ingress", "egress"),
            attributes=("name", "description", "vpc_id", "ingress", "egress", "tags"),
            from_terraform=_sg_from_terraform,
            from_api=_sg_from_api,
            state_key=_id,
            rule_sets=("ingress", "egress"),
        ),
        ResourceSpec(
            "aws_db_instance",
            compared=("instance_class", "engine_version", "multi_az"),
            attributes=_DB_ATTRIBUTES,
            from_terraform=_db_from_terraform,
            from_api=_db_from_api,
            state_key=_db_key,
            same={"engine_version": _engine_version_same},
        ),
    )
}
SUPPORTED_TYPES: tuple[str, ...] = tuple(sorted(SPECS))

# The rule fields a policy may name inside `ingress`/`egress`, and `port`, which asks
# whether a rule's port range covers a port (see auditor.drift.policy).
RULE_FIELDS = (
    "protocol", "from_port", "to_port", "cidr", "prefix_list", "source_security_group", "self",
    "description", "port",
)  # fmt: skip
# How a policy may look inside an attribute (anything else is a plain value):
# "map": a map of plain values (tags), "map_of_maps": a map of maps of plain values (each GSI
# by name), "rules": a list of security-group rules (RULE_FIELDS).
ATTRIBUTE_SHAPES: Mapping[str, str] = {
    "tags": "map",
    "global_secondary_index": "map_of_maps",
    "ingress": "rules",
    "egress": "rules",
}


# --------------------------------------------------------------------------- flattening


def flatten(spec: ResourceSpec, view: Mapping[str, Any]) -> dict[str, Any]:
    """The compared part of a view as `path -> value`: `read_capacity`, `tags["env"]`,
    `global_secondary_index["by_customer"].read_capacity`, `ingress["tcp 22 from
    0.0.0.0/0"]` (a rule's value is its text). An Unresolved value stands at the deepest
    path that is known (`tags` when the whole map is a variable without a default)."""
    flat: dict[str, Any] = {}
    for key in spec.compared:
        if key not in view:
            continue
        value = view[key]
        if isinstance(value, Unresolved):
            flat[key] = value
        elif key in spec.rule_sets:
            for rule in value or ():
                text = rule_text(rule)
                flat[key + path_key(text)] = text
        elif isinstance(value, Mapping):
            _flatten_mapping(flat, key, value)
        else:
            flat[key] = value
    return flat


def _flatten_mapping(flat: dict[str, Any], prefix: str, value: Mapping[str, Any]) -> None:
    for sub, inner in value.items():
        path = prefix + path_key(str(sub))
        if isinstance(inner, Mapping):
            for leaf, leaf_value in inner.items():
                flat[f"{path}.{leaf}"] = leaf_value
        else:
            flat[path] = inner


def display_attribute(spec: ResourceSpec, path: str) -> str:
    """The attribute name a person reads: a rule entry shows as its set, `ingress`."""
    top = path.split("[", 1)[0]
    return top if top in spec.rule_sets else path


def live_from_api(
    type_: str, items: Sequence[Mapping[str, Any]], region: str, account: str | None
) -> tuple[LiveResource, ...]:
    """Pure: boto3 describe_* items of one type -> LiveResources."""
    convert = SPECS[type_].from_api
    return tuple(convert(item, region, account) for item in items)
