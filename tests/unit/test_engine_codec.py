"""What crosses the broker comes back as the same typed value: real probe outputs' facts
(with EOL status), hosts with their observations, SSH outcomes, source results."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from auditor.engine.codec import CodecError, decode, encode
from auditor.eol import load_eol_data
from auditor.model import Facts, Host, HostStatus, SourceKind, SourceResult, SshOutcome
from auditor.probing import add_eol
from tests.builders import mkhost
from tests.unit.test_probe_golden import FIXTURES, _probe_output

PROBE_OUTPUTS = sorted((FIXTURES / "probe_output").glob("*.txt"))


def through_the_broker(value: object) -> object:
    return json.loads(json.dumps(encode(value)))


@pytest.mark.parametrize("case", PROBE_OUTPUTS, ids=lambda p: p.stem)
def test_real_facts_survive_the_trip(case: Path) -> None:
    args = json.loads(case.with_suffix(".json").read_text())["args"]
    facts = add_eol(_probe_output(case.read_text(), args, case), date(2026, 12, 7), load_eol_data())
    back = decode(Facts, through_the_broker(facts))
    assert back == facts and back.errors == facts.errors
    assert encode(back) == encode(facts)


def test_hosts_outcomes_and_sources_survive_the_trip() -> None:
    host = mkhost(7, HostStatus.STALE, ports=(22, 80), groups=("web",), ssh_port=2222)
    assert decode(Host, through_the_broker(host)) == host
    outcome = SshOutcome("skipped", "refused", "10.0.0.7", 22, 0.25, "connect")
    assert decode(SshOutcome, through_the_broker(outcome)) == outcome
    result = SourceResult(SourceKind.NETWORK, "lan", True, host.observations, details={"a": 1})
    back = decode(SourceResult, through_the_broker(result))
    assert back == result and back.details == {"a": 1}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"state": "ok", "pickle": "x"}, "unknown field"),
        ({"reason": "x"}, "state"),
        ({"state": 3}, "3 is not a SshState"),
        ({"state": "ok", "port": "22"}, "expected int"),
        ("ok", "expected an object"),
    ],
)
def test_a_message_of_the_wrong_shape_is_refused(data: object, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        decode(SshOutcome, data)


AT = "2026-12-07T08:00:00+00:00"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"collected_at": "yesterday"}, "Facts.collected_at: expected an ISO datetime$"),
        (
            {"collected_at": AT, "listeners": [
                {"proto": "tcp", "address": "0.0.0.0", "port": 22},
                {"proto": "tcp", "address": "::", "port": "80"},
            ]},
            r"^Facts.listeners\[1\].port: expected int, got str$",
        ),
        (
            {"collected_at": AT, "software": [{"name": "x", "version": "1", "package": {"y": 1}}]},
            r"^Facts.software\[0\].package: unknown field\(s\) y; "
            r"Facts.software\[0\].package: unknown field\(s\) y$",
        ),
        ({"collected_at": AT, "errors": {"os": 3}}, r"^Facts.errors.os: expected str, got int$"),
        ({"collected_at": AT, "cron": None, "os": None, "uptime_seconds": 5}, None),
    ],
)  # fmt: skip
def test_a_refused_value_is_named_by_its_path(data: dict[str, object], message: str | None) -> None:
    if message is None:
        assert decode(Facts, data).uptime_seconds == 5.0  # an int where a float is fine
        return
    with pytest.raises(CodecError, match=message):
        decode(Facts, data)


def test_report_json_names_the_vantage_per_host_and_counts_per_vantage() -> None:
    from dataclasses import replace

    from auditor.report.json_report import run_to_dict, validate_report
    from tests.builders import T0, mkfacts, mkrun

    hosts = [mkhost(1), mkhost(2), mkhost(3)]
    run = mkrun(T0, hosts, facts={hosts[0].id: mkfacts(os="Ubuntu 22.04.4 LTS")})
    run = replace(run, ssh={
        hosts[0].id: SshOutcome("ok", vantage="dc1"),
        hosts[1].id: SshOutcome("not-attempted", "vantage dc2: no worker answered within 60 s",
                                kind="no-worker", vantage="dc2"),
        hosts[2].id: SshOutcome("not-attempted", "no [[vantage]] reaches 10.0.0.3",
                                kind="no-vantage"),
    })  # fmt: skip
    data = run_to_dict(run)
    validate_report(data)
    assert data["run"]["vantages"] == {
        "dc1": {"hosts": 1, "ok": 1},
        "dc2": {"hosts": 1, "not-attempted": 1},
    }
    by_id = {h["id"]: h for h in data["hosts"]}
    assert by_id[hosts[0].id]["ssh"]["vantage"] == "dc1"
    assert by_id[hosts[0].id]["facts"]["vantage"] == "dc1"
    assert "vantages" not in run_to_dict(mkrun(T0, hosts))["run"]  # single machine: as before


def test_what_the_controller_sends_survives_the_trip() -> None:
    """A sweep's [[network]] section and a direct check's plan (a field added to either later
    must be one the codec carries)."""
    from auditor.config import NetworkConfig
    from auditor.recheck import Recheck, RecheckPlan

    network = NetworkConfig("dc1", ("10.0.0.0/24",), ("10.0.0.1",), (22, 80), True, (), 30, "dc1")
    assert decode(NetworkConfig, through_the_broker(network)) == network
    plan = RecheckPlan({"10.0.0.5": "dc1"}, (22, 2222), 3, 60, ("10.0.0.0/24",), ())
    recheck = Recheck(plan, mkhost(5).observations, None, ("-Pn",))
    assert decode(Recheck, through_the_broker(recheck)) == recheck
