"""Guard rails over live resources, independent of Terraform: the `[[policy]]` rules.

A rule selects live resources of one type (by name, region, tags, and whether a state
manages them) and says what their attributes must or must not be. It is data, read from
TOML and checked when the config is loaded; nothing is ever evaluated as code.

```toml
[[policy]]
name = "prod-dynamodb-capacity"
resource = "aws_dynamodb_table"
severity = "high"                                   # optional, default high
description = "prod tables: on-demand, or enough capacity to survive a spike"
where = { tags = { env = "prod" }, name = "orders-*" }
require_any = [ { billing_mode = "PAY_PER_REQUEST" }, { read_capacity = { ge = 50 } } ]

[[policy]]
name = "no-ssh-from-anywhere"
resource = "aws_security_group"
forbid = [ { ingress = { cidr = { in = ["0.0.0.0/0", "::/0"] }, port = 22 } } ]

[[policy]]
file = "policies/prod.toml"                         # more [[policy]] rules, from their own file
```

- `require`: every condition must hold; `require_any`: at least one; `forbid`: none may.
- A condition is a table of `attribute = matcher`; all of them must hold.
- A matcher is a value (equality) or a table of operators, all of which must hold:
  `eq ne lt le gt ge` (numbers for the four orderings), `in` / `not_in` (a list),
  `match` (a glob, `orders-*`), `contains` (a list attribute holds the value), `exists`.
- A table whose keys are not operators looks inside: in a map (`tags = { env = "prod" }`,
  `global_secondary_index = { "*" = { read_capacity = { ge = 5 } } }`, where `"*"` means
  every entry) or in a list of rules (`ingress = { cidr = "0.0.0.0/0", port = 22 }`: some
  rule matches all of it; `cidr` is IPv4 or IPv6). Only maps and rule lists can be looked
  inside: on a plain attribute a table must hold operators, so a typo like `gte` is an
  error. Inside `ingress`/`egress`, `port = 22` (or `port = { in = [22, 3389] }`) asks
  whether the rule's port range covers the port; an all-traffic rule covers every port.
- A missing attribute holds no comparison; `exists = false` asks for it to be absent.
"""

from __future__ import annotations

import fnmatch
import json
import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.config import Config
from auditor.drift.model import LiveResource, PolicyViolation
from auditor.drift.resources import ATTRIBUTE_SHAPES, RULE_FIELDS, SPECS, SUPPORTED_TYPES, rule_text
from auditor.errors import ConfigError
from auditor.model import Severity

ORDERINGS = {"lt": "<", "le": "<=", "gt": ">", "ge": ">="}
OPERATORS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "match", "contains", "exists")
EVERY_ENTRY = "*"
RULE_KEYS = ("name", "resource", "severity", "description", "where", "require", "require_any",
             "forbid", "file")  # fmt: skip
WHERE_KEYS = ("name", "region", "tags", "managed")


# --------------------------------------------------------------------------- the language


@dataclass(frozen=True)
class Matcher:
    """One test of one value: `op` is an operator name, or `covers` for a rule's port."""

    op: str
    operand: Any

    def holds(self, value: Any) -> bool:
        op, operand = self.op, self.operand
        if op == "exists":
            return (value is not None) is operand
        if op == "eq":
            return _equal(value, operand)
        if op == "ne":
            return not _equal(value, operand)
        if op in ORDERINGS:
            if not _is_number(value):
                return False
            number, limit = float(value), float(operand)
            return {
                "lt": number < limit,
                "le": number <= limit,
                "gt": number > limit,
                "ge": number >= limit,
            }[op]
        if op == "in":
            return any(_equal(value, o) for o in operand)
        if op == "not_in":
            return not any(_equal(value, o) for o in operand)
        if op == "match":
            return isinstance(value, str) and fnmatch.fnmatchcase(value, operand)
        if op == "contains":
            return isinstance(value, list | tuple) and any(_equal(v, operand) for v in value)
        if op == "covers":
            return isinstance(value, Mapping) and any(_covers(value, port) for port in operand)
        raise ValueError(f"unknown operator {op}")  # parse_matchers lets none through

    def describe(self) -> str:
        op, operand = self.op, self.operand
        if op == "exists":
            return "exists" if operand else "does not exist"
        if op == "covers":
            return f"port {operand[0]}" if len(operand) == 1 else f"port in {_show(operand)}"
        symbol = {"eq": "=", "ne": "!=", **ORDERINGS}.get(op)
        if symbol:
            return f"{symbol} {_show(operand)}"
        words = {"in": "in", "not_in": "not in", "match": "matches", "contains": "contains"}
        return f"{words[op]} {_show(operand)}"


@dataclass(frozen=True)
class Test:
    """One attribute and what it must be: matchers on its value, or a condition inside it
    (for maps, each named key; for lists of rules, some element)."""

    attribute: str
    matchers: tuple[Matcher, ...] = ()
    inner: Condition | None = None
    every_entry: bool = False  # inner applies to every value of a map ("*")

    def holds(self, value: Any) -> bool:
        if self.inner is not None:
            if self.every_entry:
                return isinstance(value, Mapping) and all(
                    self.inner.holds_in(v) for v in value.values()
                )
            if isinstance(value, Mapping):
                return self.inner.holds_in(value)
            if isinstance(value, list | tuple):
                return any(self.inner.holds_in(v) for v in value)
            return False
        # For `port`, `value` is the whole rule: the matcher reads its port range.
        return all(m.holds(value) for m in self.matchers)

    def witness(self, value: Any) -> Any:
        """The part of `value` that made this test hold (for a violation's `live`)."""
        if self.inner is not None and not self.every_entry and isinstance(value, list | tuple):
            hits = [v for v in value if self.inner.holds_in(v)]
            return [rule_text(v) if isinstance(v, Mapping) and "protocol" in v else v for v in hits]
        return value

    def describe(self) -> str:
        if self.inner is not None:
            if self.every_entry:
                return f"every {self.attribute} entry has {self.inner.describe()}"
            if self.attribute in ("ingress", "egress"):
                return f"{self.attribute} has a rule with {self.inner.describe()}"
            return self.inner.describe(prefix=self.attribute)
        if self.attribute == "port":
            return " and ".join(m.describe() for m in self.matchers)
        return " and ".join(f"{self.attribute} {m.describe()}" for m in self.matchers)


@dataclass(frozen=True)
class Condition:
    """Tests that must all hold, on the attributes of one resource (or of one entry)."""

    tests: tuple[Test, ...]

    def holds_in(self, values: Any) -> bool:
        if not isinstance(values, Mapping):
            return False
        return all(t.holds(values if t.attribute == "port" else values.get(t.attribute))
                   for t in self.tests)  # fmt: skip

    @property
    def attributes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.attribute for t in self.tests))

    def values(self, view: Mapping[str, Any], *, witness: bool = False) -> Any:
        """The resource's values of this condition's attributes: one value alone, else a
        map attribute -> value."""
        found = {
            t.attribute: t.witness(view.get(t.attribute)) if witness else view.get(t.attribute)
            for t in self.tests
        }
        return next(iter(found.values())) if len(found) == 1 else found

    def describe(self, prefix: str | None = None) -> str:
        parts = []
        for test in self.tests:
            if prefix is not None and test.inner is None and test.attribute != "port":
                name = f"{prefix}[{json.dumps(test.attribute)}]"
                parts.append(" and ".join(f"{name} {m.describe()}" for m in test.matchers))
            else:
                parts.append(test.describe())
        return " and ".join(parts)


@dataclass(frozen=True)
class Selector:
    """Which live resources of the rule's type it looks at. Empty: every one."""

    names: tuple[str, ...] = ()  # globs on the resource name (table, group, Name tag ...)
    regions: tuple[str, ...] = ()  # globs
    tags: Mapping[str, str] = field(default_factory=dict)  # key -> glob on its value
    managed: bool | None = None  # True: only in a state; False: only in none

    def selects(self, resource: LiveResource, managed: bool) -> bool:
        if self.names and not any(fnmatch.fnmatchcase(resource.name or "", g) for g in self.names):
            return False
        if self.regions and not any(fnmatch.fnmatchcase(resource.region, g) for g in self.regions):
            return False
        tags = resource.tags
        for key, pattern in self.tags.items():
            if key not in tags or not fnmatch.fnmatchcase(str(tags[key]), pattern):
                return False
        return self.managed is None or self.managed == managed


@dataclass(frozen=True)
class PolicyRule:
    name: str
    resource: str  # a resource type, e.g. aws_dynamodb_table
    severity: Severity = Severity.HIGH
    description: str | None = None
    where: Selector = field(default_factory=Selector)
    require: tuple[Condition, ...] = ()
    require_any: tuple[Condition, ...] = ()
    forbid: tuple[Condition, ...] = ()
    origin: str = ""  # "policies.toml: [[policy]] #2", for messages


# --------------------------------------------------------------------------- evaluating


def evaluate_policies(
    rules: Sequence[PolicyRule],
    live: Iterable[LiveResource],
    addresses: Mapping[tuple[str, str], str] | None = None,
) -> tuple[PolicyViolation, ...]:
    """Pure: every violation of every rule by every live resource it selects.
    `addresses` maps (type, id) to the state address of managed resources."""
    addresses = addresses or {}
    live = tuple(live)
    out: list[PolicyViolation] = []
    for rule in rules:
        for resource in live:
            if resource.type != rule.resource:
                continue
            address = addresses.get((resource.type, resource.id))
            if not rule.where.selects(resource, address is not None):
                continue
            out += _violations(rule, resource, address)
    return tuple(sorted(out, key=lambda v: (v.rule, v.type, v.region or "", v.id, v.attribute)))


def _violations(
    rule: PolicyRule, resource: LiveResource, address: str | None
) -> list[PolicyViolation]:
    view = resource.attributes
    found: list[tuple[str, Any, str]] = []  # attribute, live, expected
    for condition in rule.require:
        if not condition.holds_in(view):
            found.append(
                (", ".join(condition.attributes), condition.values(view), condition.describe())
            )
    if rule.require_any and not any(c.holds_in(view) for c in rule.require_any):
        attributes = tuple(dict.fromkeys(a for c in rule.require_any for a in c.attributes))
        live_values = {a: view.get(a) for a in attributes}
        found.append(
            (
                ", ".join(attributes),
                next(iter(live_values.values())) if len(live_values) == 1 else live_values,
                " or ".join(_grouped(c) for c in rule.require_any),
            )
        )
    for condition in rule.forbid:
        if condition.holds_in(view):
            found.append(
                (
                    ", ".join(condition.attributes),
                    condition.values(view, witness=True),
                    f"not: {condition.describe()}",
                )
            )
    return [
        PolicyViolation(
            rule=rule.name,
            severity=rule.severity,
            resource=address,
            type=resource.type,
            id=resource.id,
            name=resource.name,
            region=resource.region,
            attribute=attribute,
            live=live_value,
            expected=expected,
        )
        for attribute, live_value, expected in found
    ]


def _grouped(condition: Condition) -> str:
    text = condition.describe()
    return f"({text})" if len(condition.tests) > 1 else text


def _equal(value: Any, operand: Any) -> bool:
    if isinstance(value, bool) or isinstance(operand, bool):
        return type(value) is type(operand) and value == operand
    if _is_number(value) and _is_number(operand):
        return bool(value == operand)
    if isinstance(value, str) and isinstance(operand, str):
        return value == operand
    return False


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _covers(rule: Mapping[str, Any], port: int) -> bool:
    protocol = rule.get("protocol")
    if protocol == "all":
        return True
    if protocol not in ("tcp", "udp"):
        return False  # ICMP "ports" are types and codes
    low: Any = rule.get("from_port")
    high: Any = rule.get("to_port")
    if not (_is_number(low) and _is_number(high)):
        return False
    return float(low) <= port <= float(high)


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# --------------------------------------------------------------------------- reading


def config_policies(config: Config) -> tuple[PolicyRule, ...]:
    """The config's [[policy]] rules, parsed. Raises ConfigError naming file and key."""
    tables = config.policy
    if tables.value is None or tables.file is None or tables.base is None:
        return ()
    return load_policies(tables.value, tables.file, tables.base)


def load_policies(value: Any, file: Path, base: Path) -> tuple[PolicyRule, ...]:
    """The [[policy]] array of a config file: rules, and `file = ...` entries naming
    files of more rules (relative to `base`; one level: an included file includes no
    other). Raises ConfigError naming the file and key."""
    rules = _load_entries(value, file, base, included=False)
    seen: dict[str, str] = {}
    for rule in rules:
        if rule.name in seen:
            raise ConfigError(
                f"{rule.origin}: policy name '{rule.name}' is already used by {seen[rule.name]}"
            )
        seen[rule.name] = rule.origin
    return rules


def _load_entries(value: Any, file: Path, base: Path, *, included: bool) -> tuple[PolicyRule, ...]:
    if value is None:
        return ()
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError(f"{file}: [[policy]] must be an array of tables, got {_type(value)}")
    rules: list[PolicyRule] = []
    for position, entry in enumerate(value, start=1):
        where = f"[[policy]] #{position}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{file}: {where} must be a table, got {_type(entry)}")
        if "file" in entry:
            rules += _include(entry, file, base, where, included=included)
        else:
            rules.append(parse_rule(entry, file, where))
    return tuple(rules)


def _include(
    entry: Mapping[str, Any], file: Path, base: Path, where: str, *, included: bool
) -> list[PolicyRule]:
    if included:
        raise ConfigError(f"{file}: {where} key 'file': an included policy file cannot include")
    extra = sorted(set(entry) - {"file"})
    if extra:
        raise ConfigError(
            f"{file}: {where}: key '{extra[0]}' next to 'file' (an entry either includes a "
            "file or is a rule)"
        )
    name = entry["file"]
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{file}: {where} key 'file': expected a path, got {_type(name)}")
    path = Path(name).expanduser()
    path = path if path.is_absolute() else base / path
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"{file}: {where} key 'file': cannot read {path}: {exc.strerror or exc}"
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    unknown = sorted(set(data) - {"policy"})
    if unknown:
        raise ConfigError(
            f"{path}: unknown section '{unknown[0]}' (a policy file holds [[policy]])"
        )
    return list(_load_entries(data.get("policy"), path, path.parent, included=True))


def parse_rule(entry: Mapping[str, Any], file: Path, where: str) -> PolicyRule:
    """One [[policy]] table -> a PolicyRule. Raises ConfigError naming file and key."""
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{file}: {where}: key 'name' is required (a non-empty string)")
    origin = f"{file}: {where} '{name}'"
    unknown = sorted(set(entry) - set(RULE_KEYS))
    if unknown:
        raise ConfigError(
            f"{origin}: unknown key '{unknown[0]}' (known keys: {', '.join(RULE_KEYS[:-1])})"
        )
    type_ = entry.get("resource")
    if not isinstance(type_, str) or type_ not in SPECS:
        raise ConfigError(
            f"{origin} key 'resource': expected one of {', '.join(SUPPORTED_TYPES)}, "
            f"got {_type(type_)} {type_!r}"
        )
    severity_text = entry.get("severity", "high")
    try:
        severity = Severity.parse(str(severity_text))
    except ValueError as exc:
        raise ConfigError(f"{origin} key 'severity': {exc}") from None
    description = entry.get("description")
    if description is not None and not isinstance(description, str):
        raise ConfigError(f"{origin} key 'description': expected a string")
    attributes = SPECS[type_].attributes
    lists = {
        key: _conditions(entry.get(key), f"{origin} key '{key}'", attributes)
        for key in ("require", "require_any", "forbid")
    }
    if not any(lists.values()):
        raise ConfigError(f"{origin}: needs 'require', 'require_any' or 'forbid'")
    return PolicyRule(
        name=name,
        resource=type_,
        severity=severity,
        description=description,
        where=_selector(entry.get("where"), f"{origin} key 'where'"),
        require=lists["require"],
        require_any=lists["require_any"],
        forbid=lists["forbid"],
        origin=origin,
    )


def _selector(value: Any, where: str) -> Selector:
    if value is None:
        return Selector()
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table (name, region, tags, managed)")
    unknown = sorted(set(value) - set(WHERE_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}' (known: {', '.join(WHERE_KEYS)})")
    tags = value.get("tags", {})
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise ConfigError(f"{where}.tags: expected a table of tag = \"value glob\" ('*': any)")
    managed = value.get("managed")
    if managed is not None and not isinstance(managed, bool):
        raise ConfigError(f"{where}.managed: expected true or false, got {_type(managed)}")
    return Selector(
        names=_globs(value.get("name"), f"{where}.name"),
        regions=_globs(value.get("region"), f"{where}.region"),
        tags={str(k): v for k, v in tags.items()},
        managed=managed,
    )


def _globs(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: expected a glob or a list of globs, got {_type(value)}")
    return tuple(value)


def _conditions(value: Any, where: str, attributes: Sequence[str]) -> tuple[Condition, ...]:
    if value is None:
        return ()
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: expected a list of conditions (tables), got {_type(value)}")
    out = []
    for position, item in enumerate(value, start=1):
        here = f"{where} item {position}"
        if not isinstance(item, dict) or not item:
            raise ConfigError(f"{here}: expected a table of attribute = matcher")
        out.append(_condition(item, here, attributes, shapes=ATTRIBUTE_SHAPES))
    return tuple(out)


def _condition(
    item: Mapping[str, Any],
    where: str,
    known: Sequence[str] | None,
    *,
    shapes: Mapping[str, str] | None = None,
    inner_shape: str = "value",
) -> Condition:
    """A table of key -> matcher. `shapes` says which keys may be looked inside (the
    resource's maps and rule lists); `inner_shape` is the shape of every key's value
    when there is no such table (entries of a map)."""
    tests = []
    for key, spec in item.items():
        here = f"{where} key '{key}'"
        if known is not None and key not in known:
            raise ConfigError(f"{here}: unknown attribute (known: {', '.join(known)})")
        shape = shapes.get(key, "value") if shapes is not None else inner_shape
        tests.append(_test(key, spec, here, shape))
    return Condition(tuple(tests))


def _test(key: str, spec: Any, where: str, shape: str) -> Test:
    if shape == "port":
        return Test("port", (Matcher("covers", _ports(spec, where)),))
    if isinstance(spec, list):
        raise ConfigError(f"{where}: a list is not a matcher; write {{ in = [...] }}")
    if not isinstance(spec, dict):
        if not _scalar(spec):
            raise ConfigError(f"{where}: expected a value or a table of operators")
        return Test(key, (Matcher("eq", spec),))
    if not spec:
        raise ConfigError(f"{where}: empty table")
    operators = [k for k in spec if k in OPERATORS]
    if operators:
        other = [k for k in spec if k not in OPERATORS]
        if other:
            raise ConfigError(
                f"{where}: mixes operators ({', '.join(operators)}) with '{other[0]}' "
                f"(operators: {', '.join(OPERATORS)})"
            )
        return Test(key, tuple(_matcher(op, spec[op], f"{where} operator '{op}'") for op in spec))
    if shape == "value":  # a plain value can only be compared: these must be operators
        raise ConfigError(
            f"{where}: unknown operator '{next(iter(spec))}' (operators: {', '.join(OPERATORS)})"
        )
    if shape == "rules":
        rule_shapes = {f: ("port" if f == "port" else "value") for f in RULE_FIELDS}
        return Test(key, inner=_condition(spec, where, RULE_FIELDS, shapes=rule_shapes))
    entry_shape = "map" if shape == "map_of_maps" else "value"
    if EVERY_ENTRY in spec:
        if len(spec) != 1 or not isinstance(spec[EVERY_ENTRY], dict):
            raise ConfigError(
                f'{where}: "*" (every entry) must be the only key, with a table of '
                "conditions on each entry"
            )
        if entry_shape != "map":
            raise ConfigError(f'{where}: "*" (every entry) needs entries that are tables')
        inner = _condition(spec[EVERY_ENTRY], f'{where} "*"', None, inner_shape="value")
        return Test(key, inner=inner, every_entry=True)
    return Test(key, inner=_condition(spec, where, None, inner_shape=entry_shape))


def _matcher(op: str, operand: Any, where: str) -> Matcher:
    # TOML has inf and nan: nan compares false with everything, so a rule with it would
    # silently never (or always) fire.
    values = operand if isinstance(operand, list) else [operand]
    if any(isinstance(v, float) and not math.isfinite(v) for v in values):
        raise ConfigError(f"{where}: expected a finite number, got {operand!r}")
    if op in ORDERINGS:
        if not _is_number(operand):
            raise ConfigError(f"{where}: expected a number, got {_type(operand)} {operand!r}")
    elif op in ("in", "not_in"):
        if not isinstance(operand, list) or not all(_scalar(o) for o in operand):
            raise ConfigError(f"{where}: expected a list of values, got {_type(operand)}")
        operand = tuple(operand)
    elif op == "match":
        if not isinstance(operand, str):
            raise ConfigError(f"{where}: expected a glob string, got {_type(operand)}")
    elif op == "exists":
        if not isinstance(operand, bool):
            raise ConfigError(f"{where}: expected true or false, got {_type(operand)}")
    elif not _scalar(operand):  # eq, ne, contains
        raise ConfigError(f"{where}: expected a string, number or boolean, got {_type(operand)}")
    return Matcher(op, operand)


def _ports(spec: Any, where: str) -> tuple[int, ...]:
    ports = spec.get("in") if isinstance(spec, dict) and set(spec) == {"in"} else spec
    if isinstance(ports, int) and not isinstance(ports, bool):
        ports = [ports]
    if (
        not isinstance(ports, list)
        or not ports
        or not all(
            isinstance(p, int) and not isinstance(p, bool) and 0 <= p <= 65535 for p in ports
        )
    ):
        raise ConfigError(
            f"{where}: expected a port (0-65535) or {{ in = [ports] }}, got {_type(spec)} {spec!r}"
        )
    return tuple(ports)


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _type(value: Any) -> str:
    return {
        str: "string", int: "integer", float: "number", bool: "boolean",
        list: "list", dict: "table", type(None): "nothing",
    }.get(type(value), type(value).__name__)  # fmt: skip
