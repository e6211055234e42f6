"""The pure parts of bench/probe.py: rotation, medians, ratios, targets, /proc parsing."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests.builders import load_bench


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench("probe")


def sample(bench: ModuleType, variant: str, rnd: int, wall: float, cpu: float) -> object:
    return bench.Sample(
        variant=variant, round=rnd, wall_s=wall, cpu_s=cpu, user_s=cpu, sys_s=0.0, ok=50, failed=0
    )


def test_rotation_puts_every_variant_first_once(bench: ModuleType) -> None:
    orders = [bench.rotation(i, ("probe", "ansible", "true")) for i in range(3)]
    assert orders == [
        ("probe", "ansible", "true"),
        ("ansible", "true", "probe"),
        ("true", "probe", "ansible"),
    ]
    assert bench.rotation(3, ("probe", "ansible", "true")) == orders[0]
    assert bench.rotation(1, ()) == ()


def test_medians_and_targets(bench: ModuleType) -> None:
    samples = [
        sample(bench, "probe", 0, 2.0, 1.0),
        sample(bench, "probe", 1, 9.0, 1.2),  # an outlier the median ignores
        sample(bench, "probe", 2, 2.2, 0.8),
        sample(bench, "ansible", 0, 8.0, 9.0),
        sample(bench, "ansible", 1, 7.0, 6.0),
        sample(bench, "ansible", 2, 7.5, 7.0),
        sample(bench, "true", 0, 1.5, 0.5),
        sample(bench, "true", 1, 1.6, 0.5),
        sample(bench, "true", 2, 1.4, 0.5),
    ]
    meds = bench.medians(samples)
    assert meds["probe"]["wall_s"] == 2.2
    assert meds["probe"]["cpu_s"] == 1.0
    assert meds["probe"]["hosts_cpu_s"] is None  # never measured
    results = {r.name: r for r in bench.evaluate(meds)}
    assert results["a/c wall"].ratio == pytest.approx(2.2 / 1.5)
    assert results["a/c wall"].passed is True
    assert results["b/a wall"].ratio == pytest.approx(7.5 / 2.2)
    assert results["b/a wall"].passed is True
    assert results["b/a cpu"].ratio == pytest.approx(7.0)
    assert results["b/a cpu"].passed is True
    spread = bench.per_round_ratios(samples)
    assert spread["a/c wall"] == pytest.approx([2.0 / 1.5, 9.0 / 1.6, 2.2 / 1.4])


def test_targets_fail_and_missing_variants(bench: ModuleType) -> None:
    meds = bench.medians([sample(bench, "probe", 0, 10.0, 2.0), sample(bench, "true", 0, 2.0, 1.0)])
    results = {r.name: r for r in bench.evaluate(meds)}
    assert results["a/c wall"].ratio == 5.0
    assert results["a/c wall"].passed is False
    assert results["b/a wall"].ratio is None and results["b/a wall"].passed is None
    assert bench.ratio(1.0, 0.0) is None
    assert bench.ratio(None, 2.0) is None


def test_proc_parsing(bench: ModuleType) -> None:
    # /proc/stat: user nice system idle iowait irq softirq steal guest guest_nice
    assert bench.busy_jiffies("cpu  100 5 50 1000 20 3 2 1 0 0") == 161
    # /proc/PID/stat with a command name holding spaces and parentheses
    fields = ["S", *["0"] * 10, "7", "3", "40", "50", *["0"] * 30]
    assert bench.proc_cpu_ticks("1 (sshd: a (x) b) " + " ".join(fields)) == 100


def test_host_load_delta(bench: ModuleType) -> None:
    before = bench.HostLoad(cpu_ticks=100, last_pid=1000, hosts=2)
    after = bench.HostLoad(cpu_ticks=300, last_pid=1052, hosts=2)
    cpu, tasks = before.delta(after)
    assert tasks == 50  # two readings' own `cat`s are not the run's
    assert cpu is not None and cpu > 0
    assert before.delta(bench.HostLoad(None, 900, 2)) == (None, None)


def test_ansible_oneline_output(bench: ModuleType) -> None:
    text = (
        'fill-001 | SUCCESS => {"ansible_facts": {}}\n'
        'fill-002 | UNREACHABLE! => {"msg": "timed out"}\n'
        'fill-003 | FAILED! => {"msg": "no python"}\n'
        "[WARNING]: something\n"
    )
    ok, failures = bench.parse_ansible_oneline(text)
    assert ok == 1
    assert [name for name, _ in failures] == ["fill-002", "fill-003"]


def test_ansible_config_is_strict_and_pipelined(bench: ModuleType, tmp_path: Path) -> None:
    plan = bench.Plan(
        hosts=(("fill-001", "10.250.77.100", 22),),
        key_file="/run/auditor-lab/id_ed25519",
        known_hosts="/run/auditor-lab/known_hosts",
        concurrency=16,
        sudo=False,
        workdir=str(tmp_path),
    )
    cfg = bench.ansible_cfg(plan)
    assert "pipelining = True" in cfg
    assert "forks = 16" in cfg
    assert "StrictHostKeyChecking=yes" in cfg
    assert "UserKnownHostsFile=/run/auditor-lab/known_hosts" in cfg
    assert "ControlMaster=no" in cfg
    inventory = bench.ansible_inventory(plan)
    assert "fill-001 ansible_host=10.250.77.100 ansible_port=22" in inventory
    assert "ansible_user=auditor" in inventory
    assert "ansible_python_interpreter=/usr/bin/python3" in inventory
    env = bench.ansible_env(plan)
    assert env["ANSIBLE_PIPELINING"] == "True"
    assert env["ANSIBLE_FORKS"] == "16"
    assert "--become" not in bench.ansible_command(plan)
