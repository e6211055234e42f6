"""`--dry-run` with an [engine]: which vantage would sweep each target and probe each host,
what no vantage reaches, and the counts per vantage. Nothing is sent: the plan is routing
(auditor.engine.routing) over the config and the local inventory."""

from __future__ import annotations

import json
from pathlib import Path

from auditor.config import load_config
from auditor.dryrun import VantageCount, dry_run_json, dry_run_lines, plan_dry_run
from tests.unit.test_dry_run import _network_events, _run_hooked


def _config(tmp_path: Path) -> Path:
    (tmp_path / "hosts.ini").write_text(
        "[web]\na ansible_host=10.250.77.5\nb ansible_host=10.250.77.20\n"
        "c ansible_host=10.250.77.21\nunswept ansible_host=10.250.77.40\n"
        "far ansible_host=10.250.77.50\n"
    )
    path = tmp_path / "audit.toml"
    path.write_text(f"""
[audit]
reports = "{tmp_path / "reports"}"

[engine]
broker = "redis://auditor:s3cret@broker.invalid:6379/0"

[[vantage]]
name = "dc1"
networks = ["10.250.77.0/28"]

[[vantage]]
name = "dc2"
networks = ["10.250.77.16/28"]

[[network]]
name = "lab"
targets = ["10.250.77.0/28", "10.250.77.16/28", "10.250.77.32/28"]

[[network]]
name = "names"
targets = ["db1.example.invalid"]
vantage = "dc2"

[[ansible]]
name = "inv"
inventory = ["hosts.ini"]
""")
    return path


def test_each_sweep_and_host_names_its_vantage_with_counts(tmp_path: Path) -> None:
    plan = plan_dry_run(load_config(_config(tmp_path)), command="audit", probe=True)
    assert plan.engine is not None
    assert [(s.vantage, s.network, s.targets) for s in plan.engine.sweeps] == [
        ("dc1", "lab", ("10.250.77.0/28",)),
        ("dc2", "lab", ("10.250.77.16/28",)),
        ("dc2", "names", ("db1.example.invalid",)),
    ]
    [(network, target, why)] = plan.engine.unrouted
    assert (network, target) == ("lab", "10.250.77.32/28") and "not swept" in why
    hosts = {h.label: (h.probe, h.vantage) for h in plan.hosts}
    assert hosts == {
        "a": (True, "dc1"), "b": (True, "dc2"), "c": (True, "dc2"),
        "unswept": (False, None), "far": (False, None),
    }  # fmt: skip
    far = next(h for h in plan.hosts if h.label == "far")
    assert far.why.startswith("no [[vantage]] reaches 10.250.77.50") and far.no_vantage
    assert plan.engine.counts == (
        VantageCount("dc1", sweeps=1, targets=1, hosts=1),
        VantageCount("dc2", sweeps=2, targets=2, hosts=2),
        VantageCount(None, sweeps=1, targets=1, hosts=2),
    )


def test_the_text_and_json_say_it_and_hide_the_broker_password(tmp_path: Path) -> None:
    plan = plan_dry_run(load_config(_config(tmp_path)), command="audit", probe=True)
    text = "\n".join(dry_run_lines(plan))
    assert "vantage dc1: 1 sweeps (1 targets), 1 listed hosts to probe" in text
    assert "vantage dc2: 2 sweeps (2 targets), 2 listed hosts to probe" in text
    assert "no vantage reaches: 1 sweeps (1 targets), 2 listed hosts (not swept" in text
    assert "sweep [[network]] names at vantage dc2: db1.example.invalid" in text
    assert "not swept ([[network]] lab): target 10.250.77.32/28" in text
    assert "  b 10.250.77.20 [ansible inv] at vantage dc2: " in text
    assert "s3cret" not in text
    data = dry_run_json(plan)
    assert "s3cret" not in json.dumps(data)
    assert data["engine"]["vantages"][2] == {"vantage": None, "sweeps": 1, "targets": 1, "hosts": 2}
    assert {h["host"]: h["vantage"] for h in data["hosts"]}["a"] == "dc1"


def test_without_an_engine_the_plan_names_no_vantage(tmp_path: Path) -> None:
    path = _config(tmp_path)
    text = path.read_text()
    without = text[: text.index("[engine]")] + text[text.index("[[network]]") :]
    path.write_text(without.replace('vantage = "dc2"\n', ""))
    plan = plan_dry_run(load_config(path), command="audit", probe=True)
    assert plan.engine is None
    assert [(h.probe, h.vantage) for h in plan.hosts] == [(True, None)] * 5
    assert "Vantage points" not in "\n".join(dry_run_lines(plan))


def test_the_cli_dry_run_with_an_engine_sends_nothing(tmp_path: Path) -> None:
    done, events = _run_hooked(["audit", "--dry-run", "-c", str(_config(tmp_path))], tmp_path)
    assert done.returncode == 0, done.stderr
    assert _network_events(events) == []  # not the broker either
    assert "Vantage points (engine, broker redis://broker.invalid:6379/0):" in done.stdout
