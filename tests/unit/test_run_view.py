"""report.json read back as frozen dataclasses (auditor.report.run_view): real reports made
by the tests' builders, round trips, and hostile strings that stay strings."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from auditor.model import (
    Changes,
    FactChange,
    FindingChange,
    HostOwner,
    HostStatus,
    NewHost,
    Severity,
    SshOutcome,
)
from auditor.report.json_report import SCHEMA_ID, changes_to_dict, run_to_dict
from auditor.report.run_view import read_changes, read_group, read_host, read_report
from auditor.spool import FactsSpool, SpooledRows
from tests.unit.big_fleet import generated_run
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


# --------------------------------------------------------------------------- the whole run


def test_a_real_report_reads_as_the_run_it_was_made_from() -> None:
    run = fleet_with_changes()
    view = read_report(written(run_to_dict(run)))
    assert (view.schema, view.run.id, view.run.config) == (SCHEMA_ID, run.id, run.config_path)
    assert view.run.started_at == run.started_at.isoformat() and not view.interrupted
    assert [(s.kind, s.name, s.ok, s.errors, s.count) for s in view.run.sources] == [
        (s.kind.value, s.name, s.ok, s.errors, s.count) for s in run.sources]
    assert [(h.index, h.id, h.label, h.status, h.addresses, h.owner) for h in view.hosts] == [
        (i, h.id, h.label, h.status, h.addresses, h.owner) for i, h in enumerate(run.hosts)]
    for host in view.hosts:
        expected = run.ssh.get(host.id)
        assert host.ssh == (expected or SshOutcome("not-attempted", "probe not run"))
        assert (host.facts is None) == (host.id not in run.facts)
    assert [(f.rule, f.severity, f.host, f.title, f.evidence) for f in view.findings] == [
        (f.rule, f.severity, f.host, f.title, f.evidence) for f in run.findings]
    assert view.changes == run.changes
    assert {h.label for h in view.hosts} >= {HOSTILE}  # a hostile label, as it was


def test_an_interrupted_run_and_its_interrupted_hosts_read_back_as_such() -> None:
    run = fleet_with_changes()
    cut = SshOutcome("skipped", "interrupted", "10.0.0.9", kind="interrupted", interrupted=True)
    host = run.hosts[0]
    run = replace(run, interrupted=True, ssh={**run.ssh, host.id: cut})
    view = read_report(written(run_to_dict(run)))
    assert view.interrupted and view.hosts[0].ssh == cut and view.hosts[0].ssh.interrupted
    assert not any(h.ssh.interrupted for h in view.hosts[1:])


def test_spooled_hosts_are_read_one_at_a_time_and_their_facts_through() -> None:
    run = generated_run(40)
    spool = FactsSpool()
    for host_id, facts in run.facts.items():
        spool[host_id] = facts
    data = run_to_dict(replace(run, facts=spool))
    assert isinstance(data["hosts"], SpooledRows)
    view, plain = read_report(data), read_report(written(run_to_dict(run)))
    assert len(view.hosts) == 40 and view.hosts[-1].id == run.hosts[-1].id
    for lazy, held in zip(view.hosts, plain.hosts, strict=True):
        assert lazy == held  # facts aside (compare=False)
        assert held.facts is None or type(lazy.facts) is not dict  # a handle, not the facts
        assert written(dict(lazy.facts or {})) == (held.facts or {})
    assert len(data["hosts"]._recent) <= SpooledRows._RECENT  # decoded rows stay bounded


def test_a_host_from_before_alive_and_owner_sources() -> None:
    old = {"id": "ip:10.0.0.1", "status": "managed", "owner": "team-a",
           "ssh": {"state": "ok"}, "observations": []}  # fmt: skip
    host = read_host(old)
    assert host.alive and host.label == "ip:10.0.0.1"
    assert host.owner == HostOwner("team-a", "config", "[owners]")
    with pytest.raises(ValueError, match="open_ports"):
        read_host({**old, "open_ports": ["22"]})  # a port that is a string is not guessed


def test_finding_groups_read_as_written_and_an_acceptance_that_holds_does_not_count() -> None:
    from tests.unit.test_accept import accepted_run

    _, run = accepted_run()
    data = written(run_to_dict(run))  # type: ignore[arg-type]
    groups = [read_group(g) for g in data["finding_groups"]]
    assert [(g.key, g.rule, g.severity.value, g.title, g.count, list(g.hosts)) for g in groups] == [
        (g["key"], g["rule"], g["severity"], g["title"], g["count"], g["hosts"])
        for g in data["finding_groups"]
    ]
    held = [g for g in groups if not g.counts]
    assert held and all(g.accepted is not None and not g.accepted.expired for g in held)
    assert any(g.accepted is not None and g.accepted.expired and g.counts for g in groups)
    with pytest.raises(ValueError, match="'count' is not a number"):
        read_group({**data["finding_groups"][0], "count": "many"})
