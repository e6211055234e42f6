"""report.json read back as frozen dataclasses (auditor.report.run_view): real reports made
by the tests' builders, round trips, and hostile strings that stay strings."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from auditor.model import Changes, FactChange, FindingChange, HostStatus, NewHost, Severity
from auditor.report.json_report import changes_to_dict, run_to_dict
from auditor.report.run_view import read_changes
from tests.unit.test_report_fleet import HOSTILE, fleet_with_changes


def written(data: Any) -> Any:
    """`data` as a reader of report.json gets it: through JSON text."""
    return json.loads(json.dumps(data))


def test_changes_of_a_real_report_read_back_equal_and_write_the_same_bytes() -> None:
    run = fleet_with_changes()
    assert run.changes is not None and run.changes.status_changed and run.changes.fact_changes
    data = written(run_to_dict(run))
    changes = read_changes(data["changes"])
    assert changes == run.changes
    assert changes is not None and changes.first_seen == run.changes.first_seen
    assert json.dumps(changes_to_dict(changes)) == json.dumps(data["changes"])
    assert {h.label for h in changes.new_hosts} == {"edge-proxy", HOSTILE}
    assert all(isinstance(c.before, HostStatus) for c in changes.status_changed)


def test_no_history_and_a_report_from_before_returned_hosts() -> None:
    assert read_changes(None) is None
    old = {"previous_run": "r1", "new_hosts": [], "gone_hosts": [], "status_changed": [],
           "fact_changes": [], "new_findings": [{"rule": "r", "severity": "low", "host": None,
                                                 "title": "t"}]}  # fmt: skip
    changes = read_changes(old)
    assert changes == Changes("r1", None, new_findings=(FindingChange("r", Severity.LOW, None, "t"),))
    assert changes is not None and changes.returned_hosts == () and changes.first_seen == {}


@pytest.mark.parametrize(
    "hostile", ["123", "true", "null", "", "{}", "[1]", "1e400", HOSTILE, "\x1b[2J\u202e", "from"]
)
def test_hostile_strings_stay_the_strings_they_were(hostile: str) -> None:
    changes = Changes(
        "run",
        None,
        new_hosts=(NewHost(hostile, hostile, HostStatus.UNMANAGED),),
        fact_changes=(FactChange(hostile, hostile, "kernel", hostile, None),),
        new_findings=(FindingChange("rule", Severity.HIGH, hostile, hostile, hostile),),
        first_seen={hostile: hostile},
    )
    back = read_changes(written(changes_to_dict(changes)))
    assert back == changes
    assert back is not None and back.first_seen == {hostile: hostile}
    assert type(back.new_hosts[0].label) is str and back.fact_changes[0].before == hostile


@pytest.mark.parametrize(
    ("key", "value"),
    [("new_hosts", [{"host": 1, "label": "x", "status": "managed"}]),
     ("new_hosts", [{"host": "h", "label": "x", "status": "friendly"}]),
     ("status_changed", "not a list"),
     ("previous_run", 7)],
)  # fmt: skip
def test_a_damaged_changes_object_is_refused_not_guessed(key: str, value: Any) -> None:
    data = changes_to_dict(Changes("run", None))
    with pytest.raises(ValueError):
        read_changes({**data, key: value})


def test_the_run_written_again_from_its_read_changes_is_byte_identical() -> None:
    run = fleet_with_changes()
    text = json.dumps(run_to_dict(run))
    again = replace(run, changes=read_changes(written(run_to_dict(run))["changes"]))
    assert json.dumps(run_to_dict(again)) == text
