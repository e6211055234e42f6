"""Reading Terraform code with python-hcl2: values, variables, locals, what stays unresolved,
ignore_changes, count / for_each, local modules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from auditor.drift.hcl import (
    CodeResource,
    lifecycle_ignores,
    parse_hcl,
    parse_module,
    read_code,
    strip_module_indices,
)
from auditor.drift.model import Unresolved

FIXTURES = Path(__file__).parent.parent / "fixtures" / "drift"


def _resources(text: str, **more: str) -> dict[str, CodeResource]:
    resources, errors = parse_module({"main.tf": text, **more})
    assert errors == ()
    return {r.address: r for r in resources}


def _attrs(text: str, address: str = "aws_x.a", index: int | str | None = None) -> dict[str, Any]:
    return dict(_resources(text)[address].instance(index).attributes)


def test_literals_escapes_and_heredocs() -> None:
    attrs = _attrs(
        r"""
resource "aws_x" "a" {
  plain   = "PROVISIONED"
  escaped = "say \"hi\"\tand \\ \u00e9"
  dollar  = "cost $${literal}"
  number  = 100
  float   = 1.5
  sci     = 1e3
  neg     = -5
  yes     = true
  nothing = null
  list    = ["a", 1, false]
  map     = { "quoted key" = 1, plain = "v" }
  doc     = <<-EOT
    line one
    line two
  EOT
}
"""
    )
    assert attrs["plain"] == "PROVISIONED"
    assert attrs["escaped"] == 'say "hi"\tand \\ é'
    assert attrs["dollar"] == "cost ${literal}"
    assert attrs["number"] == 100 and attrs["float"] == 1.5 and attrs["sci"] == 1000
    assert attrs["neg"] == -5 and attrs["yes"] is True and attrs["nothing"] is None
    assert attrs["list"] == ["a", 1, False]
    assert attrs["map"] == {"quoted key": 1, "plain": "v"}
    assert attrs["doc"] == "line one\nline two"


def test_variables_with_literal_defaults_and_locals_resolve() -> None:
    attrs = _attrs(
        """
variable "capacity" {
  type    = number
  default = 100
}
variable "caps" {
  default = { read = 5, write = 7 }
}
locals {
  mode  = "PROVISIONED"
  env   = "prod"
  tags  = { env = local.env, team = "orders" }
  again = local.capacity_copy
  capacity_copy = var.capacity
}
resource "aws_x" "a" {
  billing_mode   = local.mode
  read_capacity  = var.capacity
  write_capacity = var.caps["write"]
  other          = var.caps.read
  tags           = local.tags
  name           = "orders-${local.env}"
  chained        = local.again
  paren          = (var.capacity)
}
"""
    )
    assert attrs["billing_mode"] == "PROVISIONED"
    assert attrs["read_capacity"] == 100
    assert attrs["write_capacity"] == 7 and attrs["other"] == 5
    assert attrs["tags"] == {"env": "prod", "team": "orders"}
    assert attrs["name"] == "orders-prod"
    assert attrs["chained"] == 100
    assert attrs["paren"] == 100


def test_origins_say_where_a_value_came_from() -> None:
    code = _resources(
        """
variable "capacity" {
  default = 100
}
resource "aws_x" "a" {
  read_capacity = var.capacity
  literal       = 3
}
"""
    )["aws_x.a"].instance(None)
    assert code.origin("read_capacity") == "var.capacity = 100 (default)"
    assert code.origin("literal") is None


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("max(1, 2)", "is an expression"),
        ("100 * 2", "is an expression"),
        ('var.on ? "a" : "b"', "is an expression"),
        ("aws_vpc.main.id", "refers to another resource"),
        ("data.aws_ami.x.id", "refers to another resource"),
        ("module.db.endpoint", "refers to another resource"),
        ("var.env", "var.env has no default"),
        ("var.nope", "var.nope is not declared"),
        ("local.nope", "local.nope is not defined"),
        ("count.index", "count.index outside a resource with count"),
        ("path.module", "depends on where and how terraform runs"),
        ('"x-${max(1, 2)}"', "is an expression"),
        ('"%{ if true }x%{ endif }"', "template directive"),
        ('var.caps["nope"]', "no 'nope'"),
    ],
)
def test_what_cannot_be_resolved_says_why(expression: str, reason: str) -> None:
    attrs = _attrs(
        f"""
variable "env" {{}}
variable "on" {{
  default = true
}}
variable "caps" {{
  default = {{ read = 1 }}
}}
resource "aws_x" "a" {{
  value = {expression}
}}
"""
    )
    value = attrs["value"]
    assert isinstance(value, Unresolved), value
    assert reason in value.reason


def test_locals_that_refer_to_themselves_are_unresolved_not_a_crash() -> None:
    attrs = _attrs(
        """
locals {
  a = local.b
  b = local.a
}
resource "aws_x" "a" {
  value = local.a
}
"""
    )
    assert isinstance(attrs["value"], Unresolved)
    assert "refers to itself" in attrs["value"].reason


def test_tfvars_override_defaults(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        """
variable "capacity" {
  default = 100
}
variable "env" {}
variable "zone" {
  default = "a"
}
resource "aws_x" "a" {
  read_capacity = var.capacity
  name          = "t-${var.env}"
  zone          = var.zone
}
"""
    )
    (tmp_path / "terraform.tfvars").write_text('capacity = 25\nenv = "prod"\n')
    (tmp_path / "z.auto.tfvars.json").write_text('{"zone": "b"}')
    module = read_code(tmp_path)
    assert module.errors == ()
    code = module.resources[0].instance(None)
    assert code.attributes["read_capacity"] == 25
    assert code.attributes["name"] == "t-prod"
    assert code.attributes["zone"] == "b"
    assert code.origin("read_capacity") == "var.capacity = 25 (terraform.tfvars)"


def test_count_index_and_for_each_resolve_per_instance() -> None:
    resources = _resources(
        """
resource "aws_instance" "web" {
  count         = 2
  instance_type = "t3.micro"
  tags          = { Name = "web-${count.index}" }
}
resource "aws_instance" "pool" {
  for_each      = { blue = "t3.small", green = "t3.large" }
  instance_type = each.value
  tags          = { Name = "pool-${each.key}" }
}
resource "aws_instance" "set" {
  for_each      = toset(["a"])
  instance_type = each.value
}
"""
    )
    web = resources["aws_instance.web"]
    assert web.instance(1).attributes["tags"] == {"Name": "web-1"}
    pool = resources["aws_instance.pool"]
    assert pool.instance("green").attributes["instance_type"] == "t3.large"
    assert pool.instance("blue").attributes["tags"] == {"Name": "pool-blue"}
    # toset(...) is a function call: each.key is still known (from the state), each.value not.
    unknown = resources["aws_instance.set"].instance("a").attributes["instance_type"]
    assert isinstance(unknown, Unresolved)


@pytest.mark.parametrize(
    ("lifecycle", "paths", "every"),
    [
        ("ignore_changes = [read_capacity, write_capacity]", ("read_capacity", "write_capacity"), False),
        ('ignore_changes = [tags["Owner"], global_secondary_index[0].read_capacity]',
         ('tags["Owner"]', "global_secondary_index"), False),
        ("ignore_changes = all", (), True),
        ('ignore_changes = ["read_capacity"]', ("read_capacity",), False),  # terraform 0.11 style
        ("create_before_destroy = true", (), False),
    ],
)  # fmt: skip
def test_ignore_changes_forms(lifecycle: str, paths: tuple[str, ...], every: bool) -> None:
    data = parse_hcl(
        f'resource "aws_x" "a" {{\n  lifecycle {{\n    {lifecycle}\n  }}\n}}\n', "x.tf"
    )
    body = data["resource"][0]['"aws_x"']['"a"']
    assert lifecycle_ignores(body) == (paths, every)


def test_ignores_covers_map_keys_and_nested_paths() -> None:
    code = _resources(
        """
resource "aws_x" "a" {
  lifecycle {
    ignore_changes = [tags, global_secondary_index]
  }
}
"""
    )["aws_x.a"].instance(None)
    assert code.ignores('tags["env"]')
    assert code.ignores('global_secondary_index["by_customer"].read_capacity')
    assert not code.ignores("read_capacity")
    assert not code.ignores("tags_all")


def test_dynamic_blocks_are_unresolved() -> None:
    attrs = _attrs(
        """
resource "aws_x" "a" {
  dynamic "global_secondary_index" {
    for_each = var.indexes
    content {
      name = global_secondary_index.value
    }
  }
}
"""
    )
    assert isinstance(attrs["global_secondary_index"], Unresolved)
    assert "dynamic block" in attrs["global_secondary_index"].reason


def test_blocks_become_lists_of_maps() -> None:
    attrs = _attrs(
        """
resource "aws_x" "a" {
  ingress {
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["10.0.0.0/8"]
  }
  ingress {
    from_port = 443
    to_port   = 443
    protocol  = "tcp"
    self      = true
  }
}
"""
    )
    assert attrs["ingress"] == [
        {"from_port": 22, "to_port": 22, "protocol": "tcp", "cidr_blocks": ["10.0.0.0/8"]},
        {"from_port": 443, "to_port": 443, "protocol": "tcp", "self": True},
    ]


def test_a_broken_file_is_an_error_naming_it_and_the_others_still_count(tmp_path: Path) -> None:
    (tmp_path / "good.tf").write_text('resource "aws_x" "a" {\n  v = 1\n}\n')
    (tmp_path / "bad.tf").write_text('resource "aws_x" "b" {\n  v = \n}\n')
    module = read_code(tmp_path)
    assert [r.address for r in module.resources] == ["aws_x.a"]
    assert len(module.errors) == 1
    assert "bad.tf: not valid HCL" in module.errors[0]
    assert "line 2" in module.errors[0]


def test_missing_folder_and_unsupported_files(tmp_path: Path) -> None:
    assert "no such configuration folder" in read_code(tmp_path / "nope").errors[0]
    (tmp_path / "main.tf").write_text('resource "aws_x" "a" {\n  v = 1\n}\n')
    (tmp_path / "main_override.tf").write_text('resource "aws_x" "a" {\n  v = 2\n}\n')
    (tmp_path / "extra.tf.json").write_text("{}")
    module = read_code(tmp_path)
    assert module.errors == ()
    assert module.resources[0].instance(None).attributes["v"] == 1
    assert any("override files are not merged" in n for n in module.notes)
    assert any("JSON configuration syntax is not read" in n for n in module.notes)


def test_local_modules_are_followed_with_their_arguments(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        """
variable "capacity" {
  default = 40
}
module "orders" {
  source   = "./modules/table"
  name     = "orders"
  capacity = var.capacity
}
module "remote" {
  source = "terraform-aws-modules/dynamodb-table/aws"
}
"""
    )
    child = tmp_path / "modules" / "table"
    child.mkdir(parents=True)
    (child / "main.tf").write_text(
        """
variable "name" {}
variable "capacity" {
  default = 1
}
resource "aws_dynamodb_table" "this" {
  name          = var.name
  read_capacity = var.capacity
}
"""
    )
    module = read_code(tmp_path)
    assert module.errors == ()
    (table,) = module.resources
    assert table.address == "module.orders.aws_dynamodb_table.this"
    code = table.instance(None)
    assert code.attributes == {"name": "orders", "read_capacity": 40}
    assert any("module.remote" in n and "not a local path" in n for n in module.notes)
    assert (table.module, table.type, table.name) in module.index()


def test_state_module_indices_are_stripped_to_match_code() -> None:
    assert strip_module_indices('module.app[0].module.db["x"]') == "module.app.module.db"
    assert strip_module_indices(None) is None


def test_story_fixture_code_parses() -> None:
    module = read_code(FIXTURES / "story" / "code")
    assert module.errors == ()
    orders = module.index()[(None, "aws_dynamodb_table", "orders")].instance(None)
    assert orders.attributes["read_capacity"] == 100
    assert orders.ignore_changes == ("read_capacity", "write_capacity", "global_secondary_index")
    web = module.index()[(None, "aws_instance", "web")].instance(0)
    assert web.attributes["tags"] == {"Name": "web-0", "env": "prod"}
    assert isinstance(web.attributes["subnet_id"], Unresolved)
