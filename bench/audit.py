#!/usr/bin/env python3
"""Bench: the whole `auditor audit` against `ansible all -m setup` and a bare connect (issue #14).

On one lab of N hosts (`python -m auditor.lab up --hosts N`: the demo hosts, then fillers),
with the same concurrency, each variant is one fresh process started the way a user starts it:

    audit-warm  `auditor audit --config <the lab's audit.toml>`: sweep, sources (Ansible
                inventory, moto AWS, Terraform state), probe, store, reports; the software
                version cache and the history store kept from the audit before (a daily run)
    audit-cold  the same with an empty software version cache and an empty store (a first audit)
    ansible     `ansible all -m setup` with pipelining (and --become, as the lab config sudoes)
    true        paramiko connect + `true` on the same hosts (bench/probe.py's `true` child)

Rounds interleave the variants in rotating order after discarded warm-up rounds; we print
medians of wall time, hosts/minute, controller CPU (the child's rusage from wait4: it and
everything it reaped: nmap, ansible-inventory, ansible's forks and their ssh), CPU per host,
peak memory of the process tree (polled from /proc: the sum of PSS, and of RSS) and the
issue #14 targets.

    python bench/audit.py [--hosts 50,1000] [--rounds 3] [--users root,unprivileged]
                          [--cache warm,cold] [--concurrency 16] [--quick] [--json FILE]

`--users unprivileged` runs every variant as `nobody` (setpriv): nmap then does a TCP connect
scan. Needs root (the lab, setpriv). Network safety: the only addresses contacted are the
lab's own (10.250.77.0/24, 10.250.80.0/20: network namespaces on this machine) and moto on
127.0.0.1; the sweep covers the lab's /24 and exactly the lab's hosts in the fleet subnet.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib.util
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv4Network, collapse_addresses
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LAB_CONFIG_DIR = REPO / "inventories" / "lab"
LAB_NETWORKS = (IPv4Network("10.250.77.0/24"), IPv4Network("10.250.80.0/20"))  # nothing else
LAB_STATE_DIR = Path("/run/auditor-lab")
UNPRIVILEGED = "nobody"
MACHINE_PYTHON = "/usr/bin/python3"

AUDIT_WARM, AUDIT_COLD, ANSIBLE, TRUE = "audit-warm", "audit-cold", "ansible", "true"
VARIANTS: tuple[str, ...] = (AUDIT_COLD, AUDIT_WARM, ANSIBLE, TRUE)  # a cold run seeds warm
TITLES: Mapping[str, str] = {
    AUDIT_WARM: "auditor audit, software cache warm",
    AUDIT_COLD: "auditor audit, software cache cold",
    ANSIBLE: "ansible all -m setup (pipelining)",
    TRUE: "paramiko connect + true",
}
AUDITS = (AUDIT_WARM, AUDIT_COLD)
METRICS: tuple[str, ...] = (
    "wall_s",
    "cpu_s",
    "peak_pss_mb",
    "peak_rss_mb",
    "max_rss_mb",
    "machine_cpu_s",
    "remote_cpu_s",
)
RSS_TARGET_MB, RSS_TARGET_HOSTS = 250.0, 1000
LARGE_LAB = 200  # beyond: --large-rounds, and the warm audit starts from the cold one's cache


def _load_probe_bench() -> ModuleType:
    """bench/probe.py (not a package): its ansible setup, `true` child and lab helpers."""
    spec = importlib.util.spec_from_file_location("bench_probe", HERE / "probe.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_probe"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- pure parts
# Unit-tested in tests/unit/test_bench_audit.py.


@dataclass(frozen=True)
class Sample:
    """One run of one variant: wall from spawn to exit, CPU from the child's rusage."""

    variant: str
    round: int
    wall_s: float
    cpu_s: float  # user + sys of the child and every descendant it waited for
    peak_rss_mb: float  # the largest sum of RSS over the process tree, polled
    max_rss_mb: float  # ru_maxrss: the largest single process of the tree
    machine_cpu_s: float  # the whole machine's busy CPU during the run
    hosts: int  # hosts the variant was asked about
    ok: int  # hosts it reached (audit: probed)
    exit_code: int
    findings: int | None = None
    note: str = ""
    # The lab hosts' side: CPU of their sshd and all it ran (sessions, shells, sudo, probe
    # commands) during the run, which on this machine competes with the controller.
    remote_cpu_s: float = 0.0
    # The largest sum of PSS over the tree, polled: what the tree holds (a page shared by k
    # processes counts 1/k in each; a forked child not yet exec'd adds next to nothing).
    peak_pss_mb: float = 0.0
    # The tree at that poll, and at the largest RSS sum: `comm PSS/RSS` per process, MB.
    peak_tree: str = ""
    peak_rss_tree: str = ""


@dataclass(frozen=True)
class Target:
    name: str
    numerator: str  # a variant, or "" for an absolute threshold on the audit's metric
    denominator: str
    metric: str
    op: str  # "<=" or ">="
    threshold: float
    text: str


def targets_for(audit: str) -> tuple[Target, ...]:
    """The issue #14 targets for one audit variant (warm or cold)."""
    return (
        Target("audit/true wall", audit, TRUE, "wall_s", "<=", 1.3, "within 1.3x of connect+true"),
        Target("ansible/audit wall", ANSIBLE, audit, "wall_s", ">=", 4.0, "4x faster than ansible"),
        Target("ansible/audit CPU", ANSIBLE, audit, "cpu_s", ">=", 8.0, "8x less CPU than ansible"),
        Target(
            "audit peak memory",
            audit,
            "",
            "peak_pss_mb",
            "<=",
            RSS_TARGET_MB,
            f"peak PSS of the tree <= {RSS_TARGET_MB:g} MB (the target is at "
            f"{RSS_TARGET_HOSTS:,} hosts)",
        ),
    )


@dataclass(frozen=True)
class TargetResult:
    variant: str
    name: str
    text: str
    value: float | None
    op: str
    threshold: float
    passed: bool | None  # None: a variant is missing


def medians(samples: Sequence[Sample]) -> dict[str, dict[str, float]]:
    """Per variant, the median of each metric over its samples."""
    out: dict[str, dict[str, float]] = {}
    for variant in dict.fromkeys(s.variant for s in samples):
        mine = [s for s in samples if s.variant == variant]
        out[variant] = {m: statistics.median(getattr(s, m) for s in mine) for m in METRICS}
    return out


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is 0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def evaluate(meds: Mapping[str, Mapping[str, float]]) -> list[TargetResult]:
    """Each target of each audit variant measured, on the medians."""
    results = []
    for audit in AUDITS:
        if audit not in meds:
            continue
        for t in targets_for(audit):
            top = meds.get(t.numerator, {}).get(t.metric)
            value = (
                top if not t.denominator else ratio(top, meds.get(t.denominator, {}).get(t.metric))
            )
            passed = None
            if value is not None:
                passed = value <= t.threshold if t.op == "<=" else value >= t.threshold
            results.append(TargetResult(audit, t.name, t.text, value, t.op, t.threshold, passed))
    return results


def rotation(round_index: int, variants: Sequence[str]) -> tuple[str, ...]:
    """The order of one round: the variants rotated by the round number."""
    if not variants:
        return ()
    k = round_index % len(variants)
    return (*variants[k:], *variants[:k])


def schedule(
    users: Sequence[str], rounds: int, warmup: int, variants: Sequence[str]
) -> list[tuple[int, str, str]]:
    """(round, user, variant) in running order: each round runs every user's variants (in
    the round's rotation), the users taking turns first, so that root and unprivileged
    rounds interleave as the variants do and a slow spell of the machine hits both. Rounds
    are numbered from 0 including the warm-up ones."""
    order = []
    for i in range(warmup + rounds):
        for user in rotation(i, users):
            order += [(i, user, v) for v in rotation(i, variants)]
    return order


def hosts_per_minute(hosts: int, wall_s: float) -> float:
    return 60.0 * hosts / wall_s if wall_s > 0 else 0.0


def rusage_cpu_s(ru_utime: float, ru_stime: float) -> float:
    """A wait4 rusage's CPU: the child's and its waited-for descendants' user + sys."""
    return ru_utime + ru_stime


def maxrss_mb(ru_maxrss_kib: int) -> float:
    """ru_maxrss is in KiB on Linux."""
    return ru_maxrss_kib / 1024.0


def tree_peak_mb(polled_bytes: int, ru_maxrss_kib: int) -> float:
    """The tree's peak: the largest polled sum, but never below its largest process's own
    peak (ru_maxrss is exact; a spike between two polls is not)."""
    return max(polled_bytes / 2**20, maxrss_mb(ru_maxrss_kib))


def statm_rss_pages(statm: str) -> int:
    """Resident pages: the second field of /proc/PID/statm."""
    return int(statm.split()[1])


def rollup_pss_kib(smaps_rollup: str) -> int:
    """Proportional set size (kB) from /proc/PID/smaps_rollup: each resident page divided by
    the number of processes that map it."""
    for line in smaps_rollup.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise ValueError("no Pss line")


def tree_text(processes: Iterable[tuple[str, int, int]], shown: int = 8) -> str:
    """`comm PSS/RSS` in MB per (comm, pss bytes, rss bytes), largest PSS first; past the
    `shown` largest, how many more and their PSS."""
    ranked = sorted(processes, key=lambda p: (-p[1], p[0]))
    text = ", ".join(
        f"{comm} {pss / 2**20:.0f}/{rss / 2**20:.0f}" for comm, pss, rss in ranked[:shown]
    )
    rest = ranked[shown:]
    if rest:
        text += f", {len(rest)} more {sum(p[1] for p in rest) / 2**20:.0f}"
    return text


def children_pids(text: str) -> list[int]:
    """PIDs from a /proc/PID/task/TID/children file."""
    return [int(p) for p in text.split()]


def busy_jiffies(proc_stat_line: str) -> int:
    """Busy time from /proc/stat's `cpu` line: everything but idle and iowait."""
    values = [int(v) for v in proc_stat_line.split()[1:]]
    return sum(values[:8]) - values[3] - values[4]


def sweep_targets(addresses: Iterable[str], lab_subnet: IPv4Network) -> list[str]:
    """The lab hosts beyond the lab's /24, as few networks as cover exactly them: an address
    nobody answers at would cost an unpinned neighbour entry (README "The lab")."""
    beyond = [IPv4Network(a) for a in addresses if IPv4Address(a) not in lab_subnet]
    return [str(n) for n in collapse_addresses(beyond)]


def _replace_once(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise ValueError(f"the lab config changed: {old!r} found {text.count(old)} times")
    return text.replace(old, new)


def bench_config(
    lab_toml: str,
    *,
    store: str,
    reports: str,
    run_dir: str,
    extra_targets: Sequence[str],
    concurrency: int,
) -> str:
    """The lab's audit.toml as the bench runs it: the history store at `store`, the lab's
    state files (key, known_hosts, Terraform state) read from copies in `run_dir`, the sweep
    extended to `extra_targets`, [ssh] concurrency set. Everything else exactly as users run it."""
    text = _replace_once(
        lab_toml, 'store = "../../reports/lab-history.sqlite"', f'store = "{store}"'
    )
    text = _replace_once(text, 'reports = "../../reports"', f'reports = "{reports}"')
    if lab_toml.count('"/run/auditor-lab/') < 3:
        raise ValueError("the lab config no longer reads the lab's key and state from /run")
    text = text.replace('"/run/auditor-lab/', f'"{run_dir.rstrip("/")}/')
    if extra_targets:
        more = ", ".join(f'"{t}"' for t in extra_targets)
        text = _replace_once(
            text, 'targets = ["10.250.77.0/24"]', f'targets = ["10.250.77.0/24", {more}]'
        )
    return _replace_once(text, "\ntimeout = 5\n", f"\ntimeout = 5\nconcurrency = {concurrency}\n")


# --------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class TreeMemory:
    """`root` and its descendants at one moment: sums in bytes, and (comm, pss, rss) each."""

    rss: int  # a page shared by k processes counted k times
    pss: int  # ... counted once in all
    processes: tuple[tuple[str, int, int], ...] = ()


_KCMP_VM = 1
_SYS_KCMP = {"x86_64": 312, "aarch64": 272}.get(platform.machine())
_libc = ctypes.CDLL(None, use_errno=True)


def same_memory(pid1: int, pid2: int) -> bool:
    """Whether two processes share one address space (kcmp KCMP_VM): a vfork'd child before
    its exec, whose statm and smaps show its parent's memory."""
    if _SYS_KCMP is None:
        return False
    return _libc.syscall(_SYS_KCMP, pid1, pid2, _KCMP_VM, 0, 0) == 0


def tree_memory(root: int) -> TreeMemory:
    """RSS and PSS of `root` and all its descendants now (processes gone meanwhile count 0;
    a child sharing its parent's address space, vfork'd and not yet exec'd, counts once)."""
    page = os.sysconf("SC_PAGE_SIZE")
    rss = pss = 0
    processes: list[tuple[str, int, int]] = []
    todo: list[tuple[int, int | None]] = [(root, None)]
    seen: set[int] = set()
    while todo:
        pid, parent = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            if parent is None or not same_memory(parent, pid):
                own_rss = statm_rss_pages(Path(f"/proc/{pid}/statm").read_text()) * page
                own_pss = rollup_pss_kib(Path(f"/proc/{pid}/smaps_rollup").read_text()) * 1024
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
                rss, pss = rss + own_rss, pss + own_pss
                processes.append((comm, own_pss, own_rss))
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [(c, pid) for c in children_pids((task / "children").read_text())]
        except (OSError, ValueError, IndexError):
            continue
    return TreeMemory(rss, pss, tuple(processes))


def tree_rss_bytes(root: int) -> int:
    """The RSS of `root` and all its descendants now (0 for processes gone meanwhile)."""
    return tree_memory(root).rss


def machine_busy_ticks() -> int:
    with open("/proc/stat") as f:
        return busy_jiffies(f.readline())


def stat_cpu_ticks(stat: str) -> tuple[str, int, int]:
    """(comm, ppid, utime + stime + cutime + cstime) from a /proc/PID/stat line: a process's
    own CPU and that of the children it reaped."""
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    rest = stat[stat.rindex(")") + 2 :].split()
    return comm, int(rest[1]), sum(int(v) for v in rest[11:15])


def lab_sshd_ticks() -> int:
    """CPU ticks of every listening sshd outside this process's network namespace (the lab
    hosts'), their reaped sessions included: a session's sshd, shell, sudo and commands are
    reaped by the listener, so the difference across a run is what the lab hosts spent on it
    (sessions still open at the second reading are missed: read after a run ends)."""
    here = os.readlink("/proc/self/ns/net")
    procs: dict[int, tuple[str, int, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "ns" / "net") == here:
                continue
            procs[int(entry.name)] = stat_cpu_ticks((entry / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue
    return sum(
        ticks
        for comm, ppid, ticks in procs.values()
        if comm.startswith("sshd") and not procs.get(ppid, ("",))[0].startswith("sshd")
    )


@dataclass(frozen=True)
class Measured:
    exit_code: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    max_rss_mb: float
    machine_cpu_s: float
    remote_cpu_s: float
    peak_pss_mb: float = 0.0
    peak_tree: str = ""
    peak_rss_tree: str = ""


def measure(cmd: Sequence[str], env: Mapping[str, str], cwd: Path, log: Path) -> Measured:
    """Run `cmd` to its end: wall, the rusage wait4 hands back, the tree's peak PSS and RSS
    sums (and what the tree was at the PSS peak)."""
    tick = os.sysconf("SC_CLK_TCK")
    m0, r0 = machine_busy_ticks(), lab_sshd_ticks()
    t0 = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            list(cmd), env=dict(env), cwd=cwd, stdout=out, stderr=out, start_new_session=True
        )
    peak_rss = peak_pss = TreeMemory(0, 0)
    try:
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            now = tree_memory(proc.pid)
            peak_rss = now if now.rss > peak_rss.rss else peak_rss
            peak_pss = now if now.pss > peak_pss.pss else peak_pss
            time.sleep(0.05)
    except BaseException:  # interrupted: the run goes too, and its process group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
        raise
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return Measured(
        exit_code=proc.returncode,
        wall_s=wall,
        cpu_s=rusage_cpu_s(usage.ru_utime, usage.ru_stime),
        peak_rss_mb=tree_peak_mb(peak_rss.rss, usage.ru_maxrss),
        max_rss_mb=maxrss_mb(usage.ru_maxrss),
        machine_cpu_s=(machine_busy_ticks() - m0) / tick,
        remote_cpu_s=(lab_sshd_ticks() - r0) / tick,
        peak_pss_mb=peak_pss.pss / 2**20,
        peak_tree=tree_text(peak_pss.processes),
        peak_rss_tree=tree_text(peak_rss.processes),
    )


# --------------------------------------------------------------------------- the lab


@dataclass(frozen=True)
class LabHost:
    name: str
    address: str
    port: int


def lab_hosts(state: Any) -> tuple[LabHost, ...]:
    hosts = tuple(LabHost(h.name, str(h.address), int(h.port)) for h in state.hosts)
    for h in hosts:  # network safety: nothing outside the lab's own subnets
        if not any(IPv4Address(h.address) in net for net in LAB_NETWORKS):
            raise SystemExit(f"bench: lab host {h.name} at {h.address} is outside the lab")
    return hosts


def lab_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "auditor.lab", *args]


def run_lab(cmd: list[str], say: Callable[[str], None]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd[1:])} failed:\n{done.stderr[-2000:]}")


def lab_of(size: int, say: Callable[[str], None]) -> tuple[Any, list[str] | None]:
    """The lab with exactly `size` hosts, and the command that puts it back as found."""
    from auditor.lab import lab_status, load_state

    state = load_state(LAB_STATE_DIR)
    if (
        state is not None
        and len(state.hosts) == size
        and state.aws is not None
        and lab_status(LAB_STATE_DIR).healthy
    ):
        return state, None
    if os.geteuid() != 0:
        raise SystemExit("bench: bringing the lab up needs root (sudo make bench)")
    restore = lab_cli("down") if state is None else lab_cli("up", "--hosts", str(len(state.hosts)))
    say(f"bringing the lab up with {size} hosts")
    started = time.monotonic()
    run_lab(lab_cli("up", "--hosts", str(size)), say)
    say(f"lab up in {time.monotonic() - started:.0f} s")
    state = load_state(LAB_STATE_DIR)
    assert state is not None
    return state, restore


# --------------------------------------------------------------------------- one setting


@dataclass(frozen=True)
class Setting:
    hosts: int
    user: str  # "root" or "unprivileged"
    variants: tuple[str, ...]
    rounds: int
    warmup: int
    concurrency: int
    logs: Path | None = None  # a copy of every run's output goes here
    pycache: Path | None = None  # compiled modules, shared by the settings of one user


class Bench:
    """One lab size, one controller user: the work dir, configs and the runs."""

    def __init__(self, setting: Setting, state: Any, probe: ModuleType, say: Callable[[str], None]):
        self.setting, self.probe, self.say = setting, probe, say
        self.logs = setting.logs
        self.pycache = setting.pycache or Path(tempfile.gettempdir()) / "auditor-bench-pycache"
        self.hosts = lab_hosts(state)
        self.work = Path(tempfile.mkdtemp(prefix=f"auditor-bench-{setting.user}-"))
        ids = None if setting.user == "root" else _ids(UNPRIVILEGED)
        self.uid, self.gid = (None, None) if ids is None else ids
        run = self.work / "run"  # copies of the lab's key, known_hosts, Terraform state
        run.mkdir()
        lab_dir = Path(state.state_dir)
        for name in ("id_ed25519", "known_hosts", "terraform.tfstate"):
            shutil.copy2(lab_dir / name, run / name)
        shutil.copytree(lab_dir / "drift", run / "drift")
        config_dir = self.work / "config"
        shutil.copytree(LAB_CONFIG_DIR, config_dir)
        lab_toml = (LAB_CONFIG_DIR / "audit.toml").read_text()
        extra = sweep_targets((h.address for h in self.hosts), LAB_NETWORKS[0])
        for variant in AUDITS:
            store = self.work / "state" / f"{variant}.sqlite"
            (config_dir / f"{variant}.toml").write_text(
                bench_config(
                    lab_toml,
                    store=str(store),
                    reports=str(self.work / "out"),
                    run_dir=str(run),
                    extra_targets=extra,
                    concurrency=setting.concurrency,
                )
            )
        plan = probe.Plan(
            hosts=tuple((h.name, h.address, h.port) for h in self.hosts),
            key_file=str(run / "id_ed25519"),
            known_hosts=str(run / "known_hosts"),
            concurrency=setting.concurrency,
            sudo=True,  # the lab config sudoes; ansible gets --become, `true` the sudo wrapper
            workdir=str(self.work),
        )
        self.plan_path = self.work / "plan.json"
        self.plan_path.write_text(json.dumps(asdict(plan)))
        (self.work / "ansible.cfg").write_text(probe.ansible_cfg(plan))
        (self.work / "hosts.ini").write_text(probe.ansible_inventory(plan))
        self.ansible_env = probe.ansible_env(plan)
        for d in ("state", "home", "cache-warm", "out", "ansible-home", "ansible-local"):
            (self.work / d).mkdir(exist_ok=True)
        self.pycache.mkdir(exist_ok=True)
        if self.uid is not None:
            for path in (self.work, self.pycache):
                subprocess.run(["chown", "-R", f"{self.uid}:{self.gid}", str(path)], check=True)
        self.work.chmod(0o755)
        self.bin = Path(sys.executable).parent if self.uid is None else self._user_venv()

    def _user_venv(self) -> Path:
        """A venv `nobody` can run: the machine's python3 over this venv's site-packages.
        (The venv's own interpreter may live where only root can reach, e.g. ~root/.pyenv.)"""
        ours = f"{sys.version_info.major}.{sys.version_info.minor}"
        theirs = subprocess.run(
            [MACHINE_PYTHON, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        if theirs != ours:
            raise SystemExit(f"bench: {MACHINE_PYTHON} is {theirs}, the venv's Python {ours}")
        venv = self.work / "venv"
        subprocess.run([MACHINE_PYTHON, "-m", "venv", "--without-pip", str(venv)], check=True)
        site = next((venv / "lib").glob("python3*/site-packages"))
        root_site = next(p for p in map(Path, sys.path) if p.name == "site-packages")
        (site / "bench-venv.pth").write_text(f"import site; site.addsitedir({str(root_site)!r})\n")
        shebang = f"#!{Path(sys.executable).parent / 'python'}"
        for script in Path(sys.executable).parent.iterdir():
            if script.is_file() and not script.is_symlink():
                text = script.read_bytes()
                if text.startswith(shebang.encode()):  # a console script of this venv
                    _, rest = text.split(b"\n", 1)
                    copy = venv / "bin" / script.name
                    copy.write_bytes(f"#!{venv / 'bin' / 'python'}\n".encode() + rest)
                    copy.chmod(0o755)
        return venv / "bin"

    def env(self, cache: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANSIBLE_"))}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # compiled once, in the warm-up, as pip does
        env.update(
            HOME=str(self.work / "home"),
            PYTHONPYCACHEPREFIX=str(self.pycache),
            XDG_CACHE_HOME=str(cache),
            PATH=f"{self.bin}:{env.get('PATH', '/usr/bin:/bin')}",
            # The lab's AWS is moto on 127.0.0.1: dummies, and never a real credential.
            AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
            AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/dev/null",
            AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        )  # fmt: skip
        return env

    def as_user(self, cmd: list[str]) -> list[str]:
        if self.uid is None:
            return cmd
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups", *cmd]

    def fresh(self, path: Path) -> Path:
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        if self.uid is not None:
            os.chown(path, self.uid, self.gid or 0)
        return path

    def run(self, variant: str, round_index: int) -> Sample:
        w = self.work
        warm_cache = w / "cache-warm"
        note = ""
        if variant in AUDITS:
            cold = variant == AUDIT_COLD
            cache = self.fresh(w / "cache-cold") if cold else warm_cache
            if cold:
                (w / "state" / f"{AUDIT_COLD}.sqlite").unlink(missing_ok=True)
            elif not (warm_cache / "auditor").exists():
                note = "cache was empty (no warm-up or cold run before)"
            out = self.fresh(w / "out")
            cmd = [
                str(self.bin / "auditor"), "audit",
                "--config", str(w / "config" / f"{variant}.toml"), "--out", str(out),
            ]  # fmt: skip
            env = self.env(cache)
        elif variant == ANSIBLE:
            cmd = self.probe.ansible_command(self.probe.Plan.load(self.plan_path))
            cmd[0] = str(self.bin / "ansible")
            env = {**self.env(warm_cache), **{k: v for k, v in self.ansible_env.items()
                                              if k.startswith("ANSIBLE_")}}  # fmt: skip
        else:
            me = str(HERE / "probe.py")
            cmd = [str(self.bin / "python"), me, "--child", TRUE, "--plan", str(self.plan_path)]
            env = self.env(warm_cache)
        log = w / f"{variant}.log"
        m = measure(self.as_user(cmd), env, w, log)
        if self.logs is not None:
            name = f"{self.setting.hosts}-{self.setting.user}-{variant}-{round_index + 1}.log"
            shutil.copy2(log, self.logs / name)
        output = log.read_text(errors="replace")
        ok, findings = self._outcome(variant, m.exit_code, output)
        if variant == AUDIT_COLD and not (warm_cache / "auditor").exists():
            # A first audit leaves what the next day's audit starts from: the warm run's.
            shutil.copytree(w / "cache-cold", warm_cache, dirs_exist_ok=True)
            store = w / "state" / f"{AUDIT_COLD}.sqlite"
            if store.exists():
                shutil.copy2(store, w / "state" / f"{AUDIT_WARM}.sqlite")
            if self.uid is not None:
                subprocess.run(["chown", "-R", f"{self.uid}:{self.gid}", str(w)], check=True)
        return Sample(
            variant=variant, round=round_index, wall_s=m.wall_s, cpu_s=m.cpu_s,
            peak_rss_mb=m.peak_rss_mb, max_rss_mb=m.max_rss_mb, machine_cpu_s=m.machine_cpu_s,
            hosts=len(self.hosts), ok=ok, exit_code=m.exit_code, findings=findings, note=note,
            remote_cpu_s=m.remote_cpu_s, peak_pss_mb=m.peak_pss_mb, peak_tree=m.peak_tree,
            peak_rss_tree=m.peak_rss_tree,
        )  # fmt: skip

    def _outcome(self, variant: str, code: int, output: str) -> tuple[int, int | None]:
        """(hosts reached, findings) of a run; a run that failed outright stops the bench."""
        if variant in AUDITS:
            if code not in (0, 1):  # 1: findings at or above fail_on, the lab's normal
                raise SystemExit(f"bench: {variant} exited {code}:\n{output[-2000:]}")
            data = json.loads((self.work / "out" / "report.json").read_text())
            return int(data["summary"]["probed"]), len(data["findings"])
        if variant == ANSIBLE:
            ok, _ = self.probe.parse_ansible_oneline(output)
            return ok, None
        if code != 0:
            raise SystemExit(f"bench: the true child exited {code}:\n{output[-2000:]}")
        return int(json.loads(output.strip().splitlines()[-1])["ok"]), None

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


def _ids(user: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def run_settings(
    settings: Sequence[Setting], state: Any, probe: ModuleType, say: Callable[[str], None]
) -> list[list[Sample]]:
    """Every setting of one lab size (one per user), their rounds interleaved (`schedule`);
    the measured samples of each setting."""
    benches = {s.user: Bench(s, state, probe, say) for s in settings}
    samples: dict[str, list[Sample]] = {s.user: [] for s in settings}
    first = settings[0]
    try:
        for i, user, v in schedule(list(benches), first.rounds, first.warmup, first.variants):
            setting = benches[user].setting
            measured = i >= setting.warmup
            label = f"round {i - setting.warmup + 1}/{setting.rounds}" if measured else "warm-up"
            s = benches[user].run(v, i - setting.warmup)
            say(
                f"{setting.hosts} hosts, {user}, {label}: {v:<10} "
                f"wall {s.wall_s:7.2f}s cpu {s.cpu_s:7.2f}s "
                f"peak PSS {s.peak_pss_mb:4.0f} MB (RSS sum {s.peak_rss_mb:4.0f}) "
                f"ok {s.ok}/{s.hosts}"
            )
            say(f"  tree at the PSS peak (MB PSS/RSS): {s.peak_tree}")
            say(f"  tree at the RSS-sum peak: {s.peak_rss_tree}")
            if measured:
                samples[user].append(s)
    finally:
        for bench in benches.values():
            bench.close()
    return [samples[s.user] for s in settings]


# --------------------------------------------------------------------------- the report


def print_setting(setting: Setting, samples: Sequence[Sample]) -> dict[str, Any]:
    meds = medians(samples)
    results = evaluate(meds)
    cpus = os.cpu_count() or 1
    scan = "SYN scan" if setting.user == "root" else f"as {UNPRIVILEGED}, TCP connect scan"
    hosts = samples[0].hosts if samples else setting.hosts
    print(
        f"\n== {hosts} lab hosts, controller {setting.user} ({scan}), concurrency "
        f"{setting.concurrency}, {setting.rounds} rounds after {setting.warmup} warm-up, "
        f"{cpus} CPUs: medians"
    )
    print(
        f"{'variant':<40} {'wall':>8} {'hosts/min':>9} {'CPU':>8} {'CPU/host':>8} "
        f"{'peak PSS':>9} {'RSS sum':>8} {'maxrss':>7} {'busy':>5} {'remote/host':>11}  ok   "
        "wall per round"
    )
    for v in VARIANTS:
        if v not in meds:
            continue
        m, mine = meds[v], [s for s in samples if s.variant == v]
        busy = ratio(m["machine_cpu_s"], m["wall_s"] * cpus)
        walls = " ".join(f"{s.wall_s:.2f}" for s in mine)
        oks = "/".join(sorted({str(s.ok) for s in mine}))
        print(
            f"{TITLES[v]:<40} {m['wall_s']:>7.2f}s {hosts_per_minute(hosts, m['wall_s']):>9.0f} "
            f"{m['cpu_s']:>7.2f}s {1000 * m['cpu_s'] / hosts:>6.1f}ms {m['peak_pss_mb']:>6.0f} MB "
            f"{m['peak_rss_mb']:>5.0f} MB "
            f"{m['max_rss_mb']:>4.0f} MB {'-' if busy is None else f'{busy:.0%}':>5} "
            f"{1000 * m.get('remote_cpu_s', 0.0) / hosts:>9.1f}ms  "
            f"{oks:<4} {walls}"
        )
    print(
        "CPU: user+sys of the process and all it waited for (wait4 rusage). peak PSS: the largest"
        " sum of PSS over the\nprocess tree (polled every 50 ms: a shared page counts once in all,"
        " a forked child not yet exec'd adds\nnearly nothing). RSS sum: the largest sum of RSS"
        " (shared pages and forked copies counted per process;\nat least maxrss). maxrss: the"
        " largest single process.\nremote/host: CPU of the lab hosts' sshd and all"
        " it ran (sessions, shells, commands) per host: on this machine it shares the 2 CPUs."
    )
    for r in results:
        verdict = {True: "PASS", False: "FAIL", None: "n/a"}[r.passed]
        value = "-" if r.value is None else f"{r.value:.2f}"
        print(f"{r.variant:<10} {r.name:<19} {value:>7}  target {r.op} {r.threshold:<5g} {verdict}")
    for s in samples:
        if s.ok < s.hosts or s.note:
            print(
                f"note: round {s.round + 1} {s.variant}: reached {s.ok}/{s.hosts} hosts"
                f"{'; ' + s.note if s.note else ''}"
            )
    return {
        "hosts": hosts,
        "user": setting.user,
        "concurrency": setting.concurrency,
        "rounds": setting.rounds,
        "warmup": setting.warmup,
        "medians": meds,
        "targets": [asdict(r) for r in results],
        "samples": [asdict(s) for s in samples],
    }


def _commit() -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), "log", "-1", "--format=%h %s"], capture_output=True, text=True
    )
    return done.stdout.strip()[:90] or "?"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench/audit.py",
        description="the whole auditor audit vs ansible -m setup vs connect+true on the lab",
    )
    add = p.add_argument
    add("--hosts", default="50,1000", help="lab sizes, comma-separated (default 50,1000)")
    add("--rounds", type=int, default=3, metavar="R", help="measured rounds (default 3)")
    add("--warmup", type=int, default=1, metavar="W", help="discarded rounds first (default 1)")
    add(
        "--large-rounds", type=int, default=1, metavar="R",
        help=f"measured rounds on labs over {LARGE_LAB} hosts, no warm-up (default 1)",
    )  # fmt: skip
    add("--concurrency", type=int, default=16, metavar="C", help="hosts at once, forks (16)")
    add("--users", default="root,unprivileged", help="root, unprivileged or both (default both)")
    add("--cache", default="warm,cold", help="the audit's software cache: warm, cold or both")
    add("--variants", default="audit,ansible,true", help="subset of audit,ansible,true")
    add(
        "--quick", action="store_true",
        help="development: defaults --hosts 50 --rounds 1 --warmup 0 --users root",
    )  # fmt: skip
    add("--json", type=Path, metavar="FILE", help="write every number to FILE")
    add("--logs", type=Path, metavar="DIR", help="keep every run's output in DIR")
    add("--keep-lab", action="store_true", help="leave the lab at the last size benched")
    return p


def _choose(value: str, allowed: Sequence[str], option: str) -> tuple[str, ...]:
    chosen = tuple(v.strip() for v in value.split(",") if v.strip())
    bad = [v for v in chosen if v not in allowed]
    if bad or not chosen:
        raise SystemExit(f"bench: {option}: choose from {','.join(allowed)}")
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    if parser.parse_args(argv).quick:  # new defaults; options given still win
        parser.set_defaults(hosts="50", rounds=1, warmup=0, users="root", cache="cold,warm")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.hosts.split(",")]
    users = _choose(args.users, ("root", "unprivileged"), "--users")
    caches = _choose(args.cache, ("warm", "cold"), "--cache")
    kinds = _choose(args.variants, ("audit", "ansible", "true"), "--variants")
    variants = tuple(
        v for v in VARIANTS
        if (v in AUDITS and "audit" in kinds and v.removeprefix("audit-") in caches)
        or v in kinds
    )  # fmt: skip
    if min(*sizes, args.rounds, args.concurrency) < 1 or args.warmup < 0:
        raise SystemExit("bench: --hosts, --rounds, --concurrency must be positive")

    def say(msg: str) -> None:
        print(f"bench: {msg}", file=sys.stderr, flush=True)

    probe = _load_probe_bench()
    if args.logs is not None:
        args.logs.mkdir(parents=True, exist_ok=True)
    print(
        f"bench/audit.py {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {_commit()}\n"
        f"machine: {platform.node()}, {os.cpu_count()} CPUs, {platform.platform()}, "
        f"Python {platform.python_version()}\ncommand: python bench/audit.py "
        f"{' '.join(sys.argv[1:] if argv is None else argv)}"
    )
    data: dict[str, Any] = {"commit": _commit(), "settings": []}
    restore: list[str] | None = None
    try:
        for size in sizes:
            state, back = lab_of(size, say)
            restore = restore or back
            large = size > LARGE_LAB
            settings = [
                Setting(
                    size,
                    user,
                    variants,
                    rounds=args.large_rounds if large else args.rounds,
                    warmup=0 if large else args.warmup,  # the cold audit seeds the warm one
                    concurrency=args.concurrency,
                    logs=args.logs,
                    pycache=Path(tempfile.gettempdir()) / f"auditor-bench-pycache-{user}",
                )
                for user in users
            ]
            measured = run_settings(settings, state, probe, say)
            for setting, samples in zip(settings, measured, strict=True):
                data["settings"].append(print_setting(setting, samples))
            sys.stdout.flush()
    finally:
        for user in users:
            shutil.rmtree(Path(tempfile.gettempdir()) / f"auditor-bench-pycache-{user}", True)
        if restore is not None and not args.keep_lab:
            say("putting the lab back: " + " ".join(restore[3:]))
            run_lab(restore, say)
    if args.json:
        args.json.write_text(json.dumps(data, indent=2) + "\n")
        say(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
