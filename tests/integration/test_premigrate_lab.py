"""`auditor premigrate` on the lab: sweep the old space, probe every live host, hold the
result against a plan; the forgotten CentOS 5 box, outside the plan and still used by the
payments team, must stand out first. Then `--after`, with a plan whose "new platform" is
another lab address.

Network safety: the sweep, SSH and the TCP check of new addresses touch only the lab's
own addresses (10.250.77.0/24 namespaces) and moto on 127.0.0.1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from auditor.commands.premigrate import premigrate
from auditor.lab import LabState
from auditor.report.json_report import validate_report

pytestmark = pytest.mark.lab
CONFIG = Path(__file__).parents[2] / "inventories" / "lab" / "audit.toml"
PLANNED = ("web01", "web02", "db01", "cache01", "app01")


def run(out: Path, *args: str) -> tuple[int, str, dict[str, Any]]:
    result = CliRunner().invoke(
        premigrate, ["--config", str(CONFIG), "--out", str(out), *args], catch_exceptions=False
    )
    data = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else {}
    return result.exit_code, result.output, data


@pytest.fixture(scope="module")
def before(
    lab: LabState, aws_env: None, tmp_path_factory: pytest.TempPathFactory
) -> tuple[int, str, dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("premigrate")
    plan = out / "plan.txt"
    plan.write_text("# the migration plan\n" + "\n".join(PLANNED) + "\n")
    code, output, data = run(out, "--old", "10.250.77.0/24", "--plan", str(plan))
    return code, output, data, out


def by_label(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {h["label"]: h for h in data["hosts"]}


def test_the_orphan_stands_out_first(before: tuple[int, str, dict[str, Any], Path]) -> None:
    code, output, data, _ = before
    assert code == 1, output  # a high finding: unplanned and in use
    first = data["hosts"][0]
    assert first["label"] == "legacy-billing01" and first["migration"]["rank"] == 1
    migration = first["migration"]
    assert migration["in_plan"] is False and migration["migrated"] is False
    assert migration["group"] == "unplanned-in-use"
    activity = migration["activity"]
    assert activity["state"] == "in use" and activity["requests"] > 100
    assert "team-payments" in activity["teams"] and activity["last_log_write"]
    assert data["premigrate"]["order"][0] == first["id"]


def test_planned_hosts_are_in_the_plan(before: tuple[int, str, dict[str, Any], Path]) -> None:
    hosts = by_label(before[2])
    for name in PLANNED:
        migration = hosts[name]["migration"]
        assert migration["in_plan"] and migration["plan_entry"] == name, name
        assert migration["migrated"] is False
    assert not any(h["label"] == "10.250.77.1" for h in before[2]["hosts"])  # excluded bridge
    assert before[2]["premigrate"]["unmatched_plan"] == []


def test_reports_and_findings(before: tuple[int, str, dict[str, Any], Path]) -> None:
    _, output, data, out = before
    validate_report(data)
    for name in ("index.html", "report.json", "hosts.csv", "summary.md", "migration.md",
                 "migration.html"):  # fmt: skip
        assert (out / name).exists(), name
    findings = [f for f in data["findings"] if f["rule"] == "premigrate-unplanned"]
    orphan = by_label(data)["legacy-billing01"]["id"]
    assert any(f["host"] == orphan and f["severity"] == "high" for f in findings)
    assert data["findings"][0]["severity"] in ("critical", "high")
    table = (out / "migration.md").read_text()
    assert table.index("legacy-billing01") < table.index("web01")
    assert "NOT IN PLAN, IN USE" in output


def test_after_the_cut_over(lab: LabState, aws_env: None, tmp_path: Path) -> None:
    # Old platform: .10-.13. web01 now lives at .14 (answers on 22, outside the old space),
    # db01 is marked done, web02 is still to go, legacy-billing01 was forgotten.
    plan = tmp_path / "plan.txt"
    plan.write_text("web01 10.250.77.14\ndb01 migrated\nweb02\n")
    code, output, data = run(tmp_path, "--old", "10.250.77.10-13", "--plan", str(plan), "--after")
    assert code == 1, output
    validate_report(data)
    assert data["premigrate"]["mode"] == "after"
    hosts = by_label(data)
    assert set(hosts) == {"legacy-billing01", "web01", "web02", "db01"}
    assert data["hosts"][0]["label"] == "legacy-billing01"
    web01 = hosts["web01"]["migration"]
    assert web01["migrated"] and web01["migrated_reason"].startswith("answers at 10.250.77.14:")
    assert hosts["db01"]["migration"]["migrated"]
    assert "marked migrated" in hosts["db01"]["migration"]["migrated_reason"]
    assert hosts["web02"]["migration"]["in_plan"] and not hosts["web02"]["migration"]["migrated"]
    rules = {(f["rule"], f["host"]): f["severity"] for f in data["findings"]}
    assert rules[("postmigrate-still-active", hosts["legacy-billing01"]["id"])] == "critical"
    for name in ("web01", "web02", "db01"):
        state = hosts[name]["migration"]["activity"]["state"]
        rule = "postmigrate-still-active" if state == "in use" else "postmigrate-still-alive"
        assert (rule, hosts[name]["id"]) in rules, name
