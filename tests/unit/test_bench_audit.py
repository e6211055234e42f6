"""The pure parts of bench/audit.py: medians, ratios, targets, rusage and /proc parsing, the
bench's copy of the lab config."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tomllib
from ipaddress import IPv4Network
from pathlib import Path
from types import ModuleType

import pytest

from tests.builders import load_bench

LAB_TOML = Path(__file__).resolve().parents[2] / "inventories" / "lab" / "audit.toml"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench("audit")


def sample(
    bench: ModuleType, variant: str, rnd: int, wall: float, cpu: float, rss: float = 100.0
) -> object:
    return bench.Sample(
        variant=variant, round=rnd, wall_s=wall, cpu_s=cpu, peak_rss_mb=rss, max_rss_mb=rss,
        machine_cpu_s=2 * wall, hosts=50, ok=50, exit_code=0,
    )  # fmt: skip


def test_medians_are_per_variant_and_per_metric(bench: ModuleType) -> None:
    samples = [
        sample(bench, "audit-warm", 0, 10.0, 1.0),
        sample(bench, "audit-warm", 1, 30.0, 3.0),
        sample(bench, "audit-warm", 2, 11.0, 9.0, rss=300.0),
        sample(bench, "true", 0, 4.0, 0.5),
    ]
    meds = bench.medians(samples)
    assert meds["audit-warm"]["wall_s"] == 11.0
    assert meds["audit-warm"]["cpu_s"] == 3.0  # medians of each metric on its own
    assert meds["audit-warm"]["peak_rss_mb"] == 100.0
    assert meds["true"]["wall_s"] == 4.0
    assert bench.medians([]) == {}


def test_ratio_is_none_without_a_denominator(bench: ModuleType) -> None:
    assert bench.ratio(6.0, 3.0) == 2.0
    assert bench.ratio(6.0, 0.0) is None
    assert bench.ratio(None, 3.0) is None


def test_targets_pass_and_fail_on_the_ratios_of_medians(bench: ModuleType) -> None:
    meds = {
        "audit-warm": {"wall_s": 5.0, "cpu_s": 1.0, "peak_pss_mb": 200.0, "peak_rss_mb": 300.0},
        "audit-cold": {"wall_s": 6.0, "cpu_s": 2.0, "peak_pss_mb": 260.0, "peak_rss_mb": 240.0},
        "ansible": {"wall_s": 21.0, "cpu_s": 12.0, "peak_rss_mb": 900.0},
        "true": {"wall_s": 4.0, "cpu_s": 0.4, "peak_rss_mb": 60.0},
    }
    got = {(r.variant, r.name): (round(r.value, 3), r.passed) for r in bench.evaluate(meds)}
    assert got[("audit-warm", "audit/true wall")] == (1.25, True)
    assert got[("audit-cold", "audit/true wall")] == (1.5, False)
    assert got[("audit-warm", "ansible/audit wall")] == (4.2, True)
    assert got[("audit-cold", "ansible/audit wall")] == (3.5, False)
    assert got[("audit-warm", "ansible/audit CPU")] == (12.0, True)
    assert got[("audit-cold", "ansible/audit CPU")] == (6.0, False)
    # An absolute threshold, on the tree's PSS (its RSS sum counts shared pages per process).
    assert got[("audit-warm", "audit peak memory")] == (200.0, True)
    assert got[("audit-cold", "audit peak memory")] == (260.0, False)


def test_a_missing_variant_gives_no_verdict(bench: ModuleType) -> None:
    results = bench.evaluate({"audit-warm": {"wall_s": 5.0, "cpu_s": 1.0, "peak_pss_mb": 9.0}})
    assert {r.variant for r in results} == {"audit-warm"}  # cold was not run: not judged
    verdicts = {r.name: r.passed for r in results}
    assert verdicts["audit/true wall"] is None and verdicts["ansible/audit CPU"] is None
    assert verdicts["audit peak memory"] is True


def test_rounds_rotate_so_no_variant_always_goes_first(bench: ModuleType) -> None:
    v = ("a", "b", "c", "d")
    assert bench.rotation(0, v) == v
    assert bench.rotation(1, v) == ("b", "c", "d", "a")
    assert bench.rotation(5, v) == ("b", "c", "d", "a")
    assert bench.rotation(3, ()) == ()
    # The cold audit comes first in the first round: it seeds the warm one's cache.
    assert bench.VARIANTS[0] == "audit-cold"
    assert bench.VARIANTS.index("audit-warm") > 0


def test_users_take_turns_within_each_round(bench: ModuleType) -> None:
    order = bench.schedule(("root", "unprivileged"), 2, 1, ("cold", "warm", "true"))
    assert len(order) == 3 * 2 * 3
    # Warm-up round 0: root first, each user's variants in the round's rotation.
    assert order[:6] == [
        (0, "root", "cold"), (0, "root", "warm"), (0, "root", "true"),
        (0, "unprivileged", "cold"), (0, "unprivileged", "warm"), (0, "unprivileged", "true"),
    ]  # fmt: skip
    # Round 1: the unprivileged user goes first, the variants rotated by one.
    assert order[6:9] == [(1, "unprivileged", "warm"), (1, "unprivileged", "true"),
                          (1, "unprivileged", "cold")]  # fmt: skip
    assert [u for _, u, _ in order[9:12]] == ["root"] * 3
    assert bench.schedule(("root",), 1, 0, ("a",)) == [(0, "root", "a")]


def test_rates_and_rusage_units(bench: ModuleType) -> None:
    assert bench.hosts_per_minute(50, 10.0) == 300.0
    assert bench.hosts_per_minute(50, 0.0) == 0.0
    assert bench.rusage_cpu_s(1.25, 0.5) == 1.75
    assert bench.maxrss_mb(256 * 1024) == 256.0  # ru_maxrss is KiB on Linux
    # The tree's peak: the polled sum, or the largest process's exact peak if a poll missed it.
    assert bench.tree_peak_mb(300 * 2**20, 200 * 1024) == 300.0
    assert bench.tree_peak_mb(200 * 2**20, 217 * 1024) == 217.0


def test_proc_parsing(bench: ModuleType) -> None:
    assert bench.statm_rss_pages("12345 678 90 1 0 2000 0\n") == 678
    rollup = "55d0-7ffd ---p 00000000 00:00 0  [rollup]\nRss:  1024 kB\nPss:  612 kB\n"
    assert bench.rollup_pss_kib(rollup) == 612
    with pytest.raises(ValueError):
        bench.rollup_pss_kib("Rss: 1 kB\n")
    mb = 2**20
    tree = [("ssh", 2 * mb, 6 * mb), ("auditor", 90 * mb, 100 * mb), ("nmap", 9 * mb, 12 * mb)]
    assert bench.tree_text(tree) == "auditor 90/100, nmap 9/12, ssh 2/6"
    assert bench.tree_text(tree, shown=1) == "auditor 90/100, 2 more 11"
    assert bench.children_pids("101 202 303 ") == [101, 202, 303]
    assert bench.children_pids("") == []
    line = "cpu  100 5 50 1000 30 2 3 7 11 0"
    assert bench.busy_jiffies(line) == 100 + 5 + 50 + 2 + 3 + 7  # not idle, iowait, guests


def test_the_tree_rss_counts_the_children(bench: ModuleType) -> None:
    alone = bench.tree_rss_bytes(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        for _ in range(100):  # until the child's interpreter is resident
            if bench.tree_rss_bytes(os.getpid()) > alone + 4 * 2**20:
                break
            subprocess.run(["sleep", "0.05"], check=True)
        assert bench.tree_rss_bytes(os.getpid()) > alone + 4 * 2**20
        assert bench.tree_rss_bytes(child.pid) < bench.tree_rss_bytes(os.getpid())
    finally:
        child.kill()
        child.wait()
    assert bench.tree_rss_bytes(child.pid) == 0  # gone: nothing, no error


# A child that fills 64 MB, then forks a copy of itself that never execs (as a Popen with
# preexec_fn is until its exec): they share those pages until either writes them.
_FORKED_COPY = """
import os, sys, time
data = bytearray(os.urandom(1024)) * (64 * 1024)
if os.fork() == 0:
    time.sleep(60)
    os._exit(0)
print("ready", flush=True)
time.sleep(60)
"""


def test_the_tree_pss_counts_a_forked_copy_once_where_the_rss_sum_counts_it_twice(
    bench: ModuleType,
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _FORKED_COPY], stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        tree = bench.tree_memory(child.pid)
        assert len(tree.processes) == 2
        assert tree.rss > 2 * 64 * 2**20  # each copy's RSS holds the 64 MB
        assert 64 * 2**20 < tree.pss < 64 * 2**20 * 1.5  # shared: counted once in all
        assert all(comm.startswith("python") for comm, _, _ in tree.processes)
        assert not bench.same_memory(child.pid, os.getpid())
        assert bench.same_memory(child.pid, child.pid)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()


def test_the_sweep_covers_exactly_the_lab_hosts_beyond_the_slash_24(bench: ModuleType) -> None:
    lab = IPv4Network("10.250.77.0/24")
    addresses = ["10.250.77.100", "10.250.80.2", "10.250.80.3", "10.250.80.4", "10.250.80.9"]
    got = bench.sweep_targets(addresses, lab)
    assert got == ["10.250.80.2/31", "10.250.80.4/32", "10.250.80.9/32"]
    assert bench.sweep_targets(["10.250.77.100"], lab) == []


def test_the_bench_config_is_the_lab_config_with_its_paths_moved(bench: ModuleType) -> None:
    text = bench.bench_config(
        LAB_TOML.read_text(), store="/w/state/s.sqlite", reports="/w/out", run_dir="/w/run/",
        extra_targets=["10.250.80.2/31"], concurrency=16,
    )  # fmt: skip
    config = tomllib.loads(text)
    lab = tomllib.loads(LAB_TOML.read_text())
    assert config["audit"]["store"] == "/w/state/s.sqlite"
    assert config["audit"]["reports"] == "/w/out"
    assert config["network"][0]["targets"] == ["10.250.77.0/24", "10.250.80.2/31"]
    assert config["ssh"]["key_file"] == "/w/run/id_ed25519"
    assert config["ssh"]["concurrency"] == 16
    assert "/run/auditor-lab" not in text
    # Everything else as users run it.
    for section in ("aws", "ansible", "policy", "owners"):
        assert config[section] == lab[section]
    assert config["ssh"]["sudo"] is True and config["ssh"]["ports"] == lab["ssh"]["ports"]


def test_the_bench_config_refuses_a_lab_config_it_does_not_know(bench: ModuleType) -> None:
    changed = LAB_TOML.read_text().replace('store = "../../reports/lab-history.sqlite"', "")
    with pytest.raises(ValueError, match="the lab config changed"):
        bench.bench_config(
            changed, store="/s", reports="/r", run_dir="/w", extra_targets=[], concurrency=1
        )
