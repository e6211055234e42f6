"""[[policy]] in audit.toml: inline rules, rules from their own file, errors naming both.

The config keeps the tables as written; auditor.drift.policy parses them."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.config import load_config
from auditor.drift.policy import PolicyRule, config_policies
from auditor.errors import ConfigError
from auditor.model import Severity


def rules_of(path: Path) -> tuple[PolicyRule, ...]:
    return config_policies(load_config(path))


def write(tmp_path: Path, text: str, name: str = "audit.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_no_policy_section_means_no_rules(tmp_path: Path) -> None:
    assert rules_of(write(tmp_path, "[audit]\n")) == ()


def test_inline_rules_and_an_included_file(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    write(tmp_path, """
[[policy]]
name = "no-ssh-from-anywhere"
resource = "aws_security_group"
forbid = [ { ingress = { cidr = "0.0.0.0/0", port = 22 } } ]
""", "policies/network.toml")  # fmt: skip
    first, second = rules_of(write(tmp_path, """
[[policy]]
name = "prod-dynamodb-capacity"
resource = "aws_dynamodb_table"
severity = "critical"
description = "prod tables survive a spike"
where = { tags = { env = "prod" }, name = ["orders*", "invoices"] }
require_any = [ { billing_mode = "PAY_PER_REQUEST" }, { read_capacity = { ge = 50 } } ]

[[policy]]
file = "policies/network.toml"
"""))  # fmt: skip
    assert first.name == "prod-dynamodb-capacity" and first.severity is Severity.CRITICAL
    assert first.where.tags == {"env": "prod"} and first.where.names == ("orders*", "invoices")
    assert len(first.require_any) == 2 and first.description == "prod tables survive a spike"
    assert second.name == "no-ssh-from-anywhere" and second.resource == "aws_security_group"
    assert second.origin.startswith(str(tmp_path / "policies" / "network.toml"))


def test_errors_name_the_config_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, """
[[policy]]
name = "typo"
resource = "aws_dynamodb_table"
require = [ { read_capacity = { gte = 50 } } ]
""")  # fmt: skip
    with pytest.raises(ConfigError) as raised:
        rules_of(path)
    assert str(raised.value).startswith(
        f"{path}: [[policy]] #1 'typo' key 'require' item 1 key 'read_capacity': "
        "unknown operator 'gte'"
    )


def test_an_error_in_an_included_file_names_that_file(tmp_path: Path) -> None:
    included = write(tmp_path, '[[policy]]\nname = "x"\nresource = "aws_lambda"\nforbid = [{a = 1}]\n',
                     "more.toml")  # fmt: skip
    with pytest.raises(ConfigError, match=rf"^{included}: \[\[policy\]\] #1 'x' key 'resource'"):
        rules_of(write(tmp_path, '[[policy]]\nfile = "more.toml"\n'))


def test_policy_must_be_an_array_of_tables(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[\[policy\]\] must be an array of tables"):
        rules_of(write(tmp_path, 'policy = "strict"\n'))
    # A single [policy] table is read as one rule: then it needs what a rule needs.
    with pytest.raises(ConfigError, match="key 'name' is required"):
        rules_of(write(tmp_path, '[policy]\nfile2 = "x"\n'))
