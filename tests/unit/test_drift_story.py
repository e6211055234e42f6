"""seed_drift_story's guard and the fixture it wrote: a terraform 1.x shaped state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.errors import LabError
from auditor.lab.drift_story import require_loopback, seed_drift_story
from auditor.sources.terraform import load_state

FIXTURES = Path(__file__).parent.parent / "fixtures" / "drift"


@pytest.mark.parametrize(
    "endpoint",
    ["https://dynamodb.us-east-1.amazonaws.com", "http://10.0.0.5:5000", "http://moto:5000", ""],
)
def test_seeding_refuses_anything_but_loopback(endpoint: str, tmp_path: Path) -> None:
    with pytest.raises(LabError, match="only seeded into a moto server on a loopback address"):
        seed_drift_story(endpoint, "us-east-1", tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "endpoint", ["http://127.0.0.1:5000", "http://localhost:1", "http://[::1]:80"]
)
def test_loopback_endpoints_pass(endpoint: str) -> None:
    require_loopback(endpoint)


def test_the_story_state_is_shaped_like_terraform_writes_it() -> None:
    path = FIXTURES / "story" / "state" / "terraform.tfstate"
    raw = json.loads(path.read_text())
    assert raw["version"] == 4 and raw["terraform_version"].startswith("1.")
    assert set(raw) == {"version", "terraform_version", "serial", "lineage", "outputs",
                        "resources", "check_results"}  # fmt: skip
    for block in raw["resources"]:
        assert set(block) == {"mode", "type", "name", "provider", "instances"}
        for instance in block["instances"]:
            assert {"schema_version", "attributes", "sensitive_attributes"} <= set(instance)
    state = load_state(str(path))
    addresses = {r.address for r in state.resources}
    assert {"aws_dynamodb_table.orders", "aws_instance.web[0]", "aws_db_instance.main"} <= addresses
    db = next(r for r in state.resources if r.address == "aws_db_instance.main")
    assert db.attributes["password"] == "(sensitive)"  # marked sensitive, as terraform does
