"""Terraform state source: golden v4 states in tests/fixtures/terraform, no Terraform needed.

Regenerate the golden observations after a deliberate change with
`AUDITOR_UPDATE_GOLDEN=1 pytest tests/unit/test_source_terraform.py` and review the diff.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from auditor.config import TerraformConfig
from auditor.errors import SourceError
from auditor.model import Observation, SourceKind
from auditor.sources.terraform import (
    StateFile,
    TerraformStateSource,
    decode_state,
    expand_location,
    foreign_attachments,
    load_state_resources,
    parse_state,
    resource_address,
    to_observations,
    workspace_of,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "terraform"
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def load_fixture(relative: str) -> StateFile:
    """Parse a fixture under a stable, relative name (golden files must not hold /tmp paths)."""
    return parse_state(decode_state((FIXTURES / relative).read_bytes(), relative), relative)


def dump(observations: tuple[Observation, ...]) -> list[dict[str, Any]]:
    return [
        {"identifiers": list(o.identifiers), "alive": o.alive, "attributes": dict(o.attributes)}
        for o in observations
    ]


# ----------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    ("module", "index", "expected"),
    [
        (None, None, "aws_instance.web"),
        (None, 0, "aws_instance.web[0]"),
        (None, "blue", 'aws_instance.web["blue"]'),
        ("module.app", 2, "module.app.aws_instance.web[2]"),
        (
            'module.env["prod"].module.app',
            "a b",
            'module.env["prod"].module.app.aws_instance.web["a b"]',
        ),
    ],
)
def test_resource_address(module: str | None, index: int | str | None, expected: str) -> None:
    assert resource_address("aws_instance", "web", module, index) == expected


@pytest.mark.parametrize(
    ("location", "workspace"),
    [
        ("infra/terraform.tfstate", "default"),
        ("infra/terraform.tfstate.d/staging/terraform.tfstate", "staging"),
        ("s3://acme-tfstate/env:/prod/network/terraform.tfstate", "prod"),
        ("s3://acme-tfstate/network/terraform.tfstate", "default"),
    ],
)
def test_workspace_of(location: str, workspace: str) -> None:
    assert workspace_of(location) == workspace


# ----------------------------------------------------------------- parsing


def test_prod_state_flattens_modules_count_for_each_and_skips_data() -> None:
    state = load_fixture("prod/terraform.tfstate")

    assert (state.terraform_version, state.serial) == ("1.7.5", 112)
    assert state.lineage == "4c1f6a2e-7d2b-4b8e-9f0a-1e2d3c4b5a69"
    addresses = [r.address for r in state.resources]
    assert "data.aws_ami.ubuntu" not in addresses and "aws_ami.ubuntu" not in addresses
    assert "module.app.aws_instance.web[0]" in addresses
    assert "module.app.aws_instance.web[1]" in addresses
    assert 'module.workers["blue"].aws_instance.worker["a"]' in addresses
    assert "aws_security_group.web" in addresses  # non-host resources are kept for drift

    web1 = next(r for r in state.resources if r.address == "module.app.aws_instance.web[1]")
    assert (web1.type, web1.name, web1.module, web1.index) == (
        "aws_instance",
        "web",
        "module.app",
        1,
    )
    assert web1.provider == 'provider["registry.terraform.io/hashicorp/aws"]'
    assert web1.status == "tainted"
    assert web1.id == "i-0e0b00000000eb01"
    assert web1.state_file == "prod/terraform.tfstate"
    assert web1.attributes["instance_type"] == "t3.medium"

    deposed = [r for r in state.resources if r.deposed]
    assert [(r.address, r.id, r.deposed) for r in deposed] == [
        ("aws_instance.db", "i-0de9053d0000db01", "00000001")
    ]


def test_sensitive_attributes_are_redacted() -> None:
    state = load_fixture("prod/terraform.tfstate")
    db = next(r for r in state.resources if r.type == "aws_db_instance")
    assert db.attributes["password"] == "(sensitive)"
    assert db.attributes["username"] == "orders"


def test_load_state_resources_reads_a_file() -> None:
    resources = load_state_resources(str(FIXTURES / "prod" / "terraform.tfstate"))
    assert len(resources) == 15
    assert all(r.state_file.endswith("prod/terraform.tfstate") for r in resources)


def test_empty_state_after_destroy_is_fine() -> None:
    assert load_fixture("empty.tfstate").resources == ()


# ----------------------------------------------------------------- observations


def test_prod_observations_match_golden() -> None:
    state = load_fixture("prod/terraform.tfstate")
    got = dump(to_observations(state.resources, source_name="tf-prod", now=NOW))
    golden = FIXTURES / "prod" / "expected-observations.json"
    if os.environ.get("AUDITOR_UPDATE_GOLDEN"):
        golden.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n")
    assert got == json.loads(golden.read_text())


def test_observations_attach_eni_and_eip_addresses_to_their_instance() -> None:
    state = load_fixture("prod/terraform.tfstate")
    by_id = {
        o.values("aws")[0]: o for o in to_observations(state.resources, source_name="tf", now=NOW)
    }

    web0 = by_id["i-0e0b00000000eb00"]
    assert web0.identifiers[0] == "tf:module.app.aws_instance.web[0]"
    assert {"10.40.1.10", "10.40.1.11", "10.40.1.50", "10.40.1.51"} == set(web0.values("ip"))
    assert web0.values("mac") == ("0a:1b:2c:3d:4e:50",)
    assert web0.values("name") == ("web-0",)
    assert web0.attributes["attached"] == [
        {
            "address": "module.app.aws_network_interface.extra",
            "type": "aws_network_interface",
            "id": "eni-0e0b0e0ea000001",
        }
    ]

    bastion = by_id["i-0b1a5710c0000aaaa"]  # aws_eip.instance
    assert set(bastion.values("ip")) == {"10.40.0.10", "52.18.40.10"}
    worker_a = by_id["i-0b1ee000000f00a"]  # aws_eip_association
    assert "52.18.40.21" in worker_a.values("ip")
    assert worker_a.attributes["instance_state"] == "stopped"
    worker_b = by_id["i-0b1ee000000f00b"]  # no tags at all
    assert worker_b.values("name") == ()

    assert all(o.alive is None for o in by_id.values())
    assert all(o.source is SourceKind.TERRAFORM for o in by_id.values())
    assert bastion.attributes["region"] == "eu-west-1"
    assert bastion.attributes["account"] == "210987654321"
    json.dumps([dict(o.attributes) for o in by_id.values()])


def test_eni_on_an_instance_in_no_state_makes_no_host_but_is_reported() -> None:
    state = load_fixture("prod/terraform.tfstate")
    observations = to_observations(state.resources, source_name="tf", now=NOW)
    assert not any("aws:i-0aade3ade00000001" in o.identifiers for o in observations)
    assert not any("10.40.8.8" in o.values("ip") for o in observations)  # unattached ENI
    assert foreign_attachments(state.resources) == [
        {
            "instance_id": "i-0aade3ade00000001",
            "attached": [
                {
                    "address": "aws_network_interface.legacy_nic",
                    "type": "aws_network_interface",
                    "id": "eni-0aade000000000c1",
                }
            ],
        }
    ]


def test_deposed_instance_is_its_own_observation() -> None:
    state = load_fixture("prod/terraform.tfstate")
    observations = to_observations(state.resources, source_name="tf", now=NOW)
    old = next(o for o in observations if "aws:i-0de9053d0000db01" in o.identifiers)
    new = next(o for o in observations if "aws:i-0de9053d0000db02" in o.identifiers)
    assert old.values("tf") == new.values("tf") == ("aws_instance.db",)
    assert old.attributes["deposed"] == "00000001" and new.attributes["deposed"] is None


# ----------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("relative", "message"),
    [
        ("broken/legacy-v3.tfstate", "state version 3 not supported, run terraform 0.12+"),
        ("broken/future-v5.tfstate", "state version 5 is newer than this auditor"),
        ("broken/truncated.tfstate", "not valid JSON (the file looks truncated)"),
        ("broken/not-json.tfstate", "not valid JSON"),
        ("broken/.terraform/terraform.tfstate", "backend settings file"),
    ],
)
def test_bad_states_raise_naming_the_file(relative: str, message: str) -> None:
    with pytest.raises(SourceError) as caught:
        load_fixture(relative)
    assert str(caught.value).startswith(relative + ": ")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"version": 4, "terraform_version": "1.7.5"}, "malformed state"),
        ({"version": 4, "resources": [{"mode": "managed"}]}, "malformed state"),
        ({"version": "4", "resources": []}, "no numeric 'version'"),
        ({"resources": []}, "no numeric 'version'"),
    ],
)
def test_malformed_states(state: dict[str, Any], message: str) -> None:
    with pytest.raises(SourceError, match=message):
        parse_state(state, "x.tfstate")


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "terraform.tfstate"
    empty.write_text("")
    with pytest.raises(SourceError, match="empty file"):
        load_state_resources(str(empty))


# ----------------------------------------------------------------- locations and the source


def test_folder_means_its_tfstate_files_and_workspaces_not_backups() -> None:
    found = expand_location(str(FIXTURES / "workspaces"))
    assert [Path(p).relative_to(FIXTURES).as_posix() for p in found] == [
        "workspaces/terraform.tfstate",
        "workspaces/terraform.tfstate.d/staging/terraform.tfstate",
    ]


def test_glob_and_no_match() -> None:
    found = expand_location(str(FIXTURES / "**" / "terraform.tfstate"))
    assert any(p.endswith("prod/terraform.tfstate") for p in found)
    with pytest.raises(SourceError, match="matches no state file"):
        expand_location(str(FIXTURES / "nowhere-*.tfstate"))


def test_workspaces_get_distinct_tf_identifiers() -> None:
    source = TerraformStateSource(TerraformConfig(name="ws", state=(str(FIXTURES / "workspaces"),)))
    result = source.collect(NOW)
    assert result.ok
    assert sorted(o.values("tf")[0] for o in result.observations) == [
        "aws_instance.app",
        "aws_instance.app@staging",
    ]
    assert [s["workspace"] for s in result.details["state_files"]] == ["default", "staging"]


def test_one_bad_file_among_several_is_an_error_entry(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "prod", tmp_path / "prod")
    shutil.copy(FIXTURES / "broken" / "truncated.tfstate", tmp_path / "prod" / "cut.tfstate")
    shutil.copy(FIXTURES / "broken" / "legacy-v3.tfstate", tmp_path / "prod" / "old.tfstate")
    config = TerraformConfig(
        name="tf",
        state=(str(tmp_path / "prod"), str(tmp_path / "missing.tfstate"), str(tmp_path / "prod")),
    )

    result = TerraformStateSource(config).collect(NOW)

    assert not result.ok
    assert result.kind is SourceKind.TERRAFORM and result.name == "tf"
    assert len(result.errors) == 3
    assert any("cut.tfstate: not valid JSON" in e for e in result.errors)
    assert any("old.tfstate: state version 3 not supported" in e for e in result.errors)
    assert any("missing.tfstate: no such state file" in e for e in result.errors)
    assert result.error is not None and result.error.startswith("3 problems")
    # The good file still counts, once although the folder was listed twice.
    assert len(result.observations) == 7
    assert len(result.details["state_files"]) == 1
    resources = result.details["resources"]
    assert {"address": "aws_security_group.web", "type": "aws_security_group"}.items() <= next(
        r for r in resources if r["address"] == "aws_security_group.web"
    ).items()
    assert resources[0].keys() >= {"address", "type", "id", "state_file"}
    assert "hunter2" not in json.dumps(result.details)
    assert [a["instance_id"] for a in result.details["foreign_attachments"]] == [
        "i-0aade3ade00000001"
    ]


def test_load_resources_for_drift_checks() -> None:
    source = TerraformStateSource(
        TerraformConfig(name="tf", state=(str(FIXTURES / "prod" / "terraform.tfstate"),))
    )
    resources, errors = source.load_resources()
    assert errors == ()
    assert {r.type for r in resources} >= {
        "aws_instance",
        "aws_eip",
        "aws_eip_association",
        "aws_network_interface",
        "aws_security_group",
        "aws_db_instance",
    }
