#!/usr/bin/env python3
"""Bench: auditor's probe against `ansible -m setup` and a bare connect, on the lab fleet.

Three variants, each run in a fresh subprocess with the same concurrency:

    a  probe    auditor's full probe: `probe_hosts` (collect + make_probe + EOL), the real
                ParamikoConnector, strict host keys from the lab's known_hosts
    b  ansible  `ansible all -m setup` with pipelining, forks = the concurrency
    c  true     the same connector and fan-out, a probe that only runs `true`

Each variant runs `--rounds` times, interleaved in rotating order (a b c, b c a, c a b, ...),
after one discarded warm-up round. Per run we record the wall time and the controller's CPU
(user + sys of the child process and everything it waited for: RUSAGE_SELF + RUSAGE_CHILDREN
deltas inside the child), plus the CPU the run caused on the lab hosts (their sshd, PID 1 of
each host namespace, reaps every session: its cutime + cstime) and on the whole machine
(/proc/stat). We print medians, the ratios of medians and the issue #4 targets.

    python bench/probe.py [--hosts 50] [--rounds 5] [--concurrency 16] [--json FILE] [--cold]

The probe's software version cache (`auditor.software_cache`) lives in the bench's temp dir
(the children's XDG_CACHE_HOME): the warm-up round fills it and the measured rounds run warm,
as a daily audit does. `--cold` gives every run a fresh, empty cache dir instead.

Needs root when the lab has to be brought up (`python -m auditor.lab up --hosts D+N`: the D
demo hosts and N plain Debian fillers, which are the ones benchmarked); the lab is left as it
was found (taken down, or brought back to its former size). Network safety: the only
addresses contacted are the lab's own (10.250.77.0/24, network namespaces on this machine).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

# Only the lab's layout; the variants import auditor in their own (measured) child processes.
from auditor.lab.spec import DEMO_HOSTS

REPO = Path(__file__).resolve().parent.parent
LAB_SUBNET = IPv4Network("10.250.77.0/24")  # the only network this bench may touch
DEMO_HOST_COUNT = len(DEMO_HOSTS)  # the lab's demo hosts come first; fillers follow

PROBE, ANSIBLE, TRUE = "probe", "ansible", "true"
VARIANTS: tuple[str, ...] = (PROBE, ANSIBLE, TRUE)
LETTERS: Mapping[str, str] = {PROBE: "a", ANSIBLE: "b", TRUE: "c"}
TITLES: Mapping[str, str] = {
    PROBE: "auditor probe (probe_hosts, paramiko)",
    ANSIBLE: "ansible all -m setup (pipelining)",
    TRUE: "paramiko connect + true",
}
METRICS: tuple[str, ...] = ("wall_s", "cpu_s", "hosts_cpu_s", "hosts_tasks", "machine_cpu_s")


# --------------------------------------------------------------------------- statistics
# Pure code: unit-tested in tests/unit/test_bench_probe.py.


@dataclass(frozen=True)
class Sample:
    """One run of one variant. `cpu_s` is the controller's user + sys (children included)."""

    variant: str
    round: int
    wall_s: float
    cpu_s: float
    user_s: float
    sys_s: float
    ok: int
    failed: int
    hosts_cpu_s: float | None = None  # CPU the run caused on the lab hosts (sshd and below)
    hosts_tasks: int | None = None  # processes and threads the run created on the lab hosts
    machine_cpu_s: float | None = None  # busy CPU of the whole machine during the run
    process_wall_s: float | None = None  # the child process from spawn to exit (startup too)
    process_cpu_s: float | None = None
    phases: Mapping[str, float] = field(default_factory=dict)  # e.g. setup_s (imports) in (a)
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    """An issue #4 target on a ratio of medians: `numerator/denominator` of `metric`."""

    name: str
    numerator: str
    denominator: str
    metric: str
    op: str  # "<=" or ">="
    threshold: float
    text: str


TARGETS: tuple[Target, ...] = (
    Target("a/c wall", PROBE, TRUE, "wall_s", "<=", 1.5, "(a) within 1.5x of (c) in wall time"),
    Target("b/a wall", ANSIBLE, PROBE, "wall_s", ">=", 3.0, "(a) at least 3x faster than (b)"),
    Target("b/a cpu", ANSIBLE, PROBE, "cpu_s", ">=", 5.0, "(a)'s CPU at least 5x below (b)'s"),
)


@dataclass(frozen=True)
class TargetResult:
    name: str
    text: str
    ratio: float | None
    op: str
    threshold: float
    passed: bool | None  # None: a variant is missing or its median is zero


def rotation(round_index: int, variants: Sequence[str]) -> tuple[str, ...]:
    """The order of one round: the variants rotated by the round number."""
    if not variants:
        return ()
    k = round_index % len(variants)
    return (*variants[k:], *variants[:k])


def medians(samples: Sequence[Sample]) -> dict[str, dict[str, float | None]]:
    """Per variant, the median of each metric over its samples (None where never measured)."""
    out: dict[str, dict[str, float | None]] = {}
    for variant in dict.fromkeys(s.variant for s in samples):
        mine = [s for s in samples if s.variant == variant]
        row: dict[str, float | None] = {}
        for metric in METRICS:
            values = [v for v in (getattr(s, metric) for s in mine) if v is not None]
            row[metric] = statistics.median(values) if values else None
        out[variant] = row
    return out


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is 0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def evaluate(meds: Mapping[str, Mapping[str, float | None]]) -> list[TargetResult]:
    """Each target against the ratio of medians."""
    results = []
    for t in TARGETS:
        r = ratio(
            meds.get(t.numerator, {}).get(t.metric), meds.get(t.denominator, {}).get(t.metric)
        )
        passed = None if r is None else (r <= t.threshold if t.op == "<=" else r >= t.threshold)
        results.append(TargetResult(t.name, t.text, r, t.op, t.threshold, passed))
    return results


def per_round_ratios(samples: Sequence[Sample]) -> dict[str, list[float]]:
    """Each target's ratio within each round (a spread to go with the ratio of medians)."""
    by_round: dict[int, dict[str, Sample]] = {}
    for s in samples:
        by_round.setdefault(s.round, {})[s.variant] = s
    out: dict[str, list[float]] = {t.name: [] for t in TARGETS}
    for _, runs in sorted(by_round.items()):
        for t in TARGETS:
            if t.numerator in runs and t.denominator in runs:
                r = ratio(
                    getattr(runs[t.numerator], t.metric), getattr(runs[t.denominator], t.metric)
                )
                if r is not None:
                    out[t.name].append(r)
    return out


def busy_jiffies(proc_stat_line: str) -> int:
    """Busy time from /proc/stat's `cpu` line: everything but idle and iowait."""
    values = [int(v) for v in proc_stat_line.split()[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice: already in user/nice]
    return sum(values[:8]) - values[3] - values[4]


def proc_cpu_ticks(stat: str) -> int:
    """utime + stime + cutime + cstime from a /proc/PID/stat line."""
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    rest = stat[stat.rindex(")") + 2 :].split()
    return sum(int(rest[i]) for i in (11, 12, 13, 14))  # fields 14-17 of the full line


# --------------------------------------------------------------------------- the child
# One variant, one run, in a fresh process; prints one JSON line. Heavy imports happen inside
# the timed region: an auditor run pays for them too, as ansible's start-up is in (b).


@dataclass(frozen=True)
class Plan:
    """Everything a child needs, written to plan.json by the parent."""

    hosts: tuple[tuple[str, str, int], ...]  # (name, address, port)
    key_file: str
    known_hosts: str
    concurrency: int
    sudo: bool
    workdir: str  # the bench's temp dir: ansible config, inventory, outputs

    @classmethod
    def load(cls, path: Path) -> Plan:
        d = json.loads(path.read_text())
        return cls(
            hosts=tuple((str(n), str(a), int(p)) for n, a, p in d["hosts"]),
            key_file=d["key_file"],
            known_hosts=d["known_hosts"],
            concurrency=int(d["concurrency"]),
            sudo=bool(d["sudo"]),
            workdir=d["workdir"],
        )


def _cpu(r: resource.struct_rusage) -> tuple[float, float]:
    return r.ru_utime, r.ru_stime


def child_main(variant: str, plan: Plan) -> int:
    t0 = time.perf_counter()
    s0, c0 = (
        _cpu(resource.getrusage(resource.RUSAGE_SELF)),
        _cpu(resource.getrusage(resource.RUSAGE_CHILDREN)),
    )
    phases: dict[str, float] = {}
    if variant == ANSIBLE:
        ok, failed, errors = _run_ansible(plan)
    else:
        ok, failed, errors = _run_collect(plan, variant, t0, phases)
    wall = time.perf_counter() - t0
    s1, c1 = (
        _cpu(resource.getrusage(resource.RUSAGE_SELF)),
        _cpu(resource.getrusage(resource.RUSAGE_CHILDREN)),
    )
    user = (s1[0] - s0[0]) + (c1[0] - c0[0])
    sys_ = (s1[1] - s0[1]) + (c1[1] - c0[1])
    print(
        json.dumps(
            {
                "wall_s": wall,
                "user_s": user,
                "sys_s": sys_,
                "ok": ok,
                "failed": failed,
                "errors": errors[:10],
                "phases": phases,
            }
        )
    )
    return 0


def _run_collect(
    plan: Plan, variant: str, t0: float, phases: dict[str, float]
) -> tuple[int, int, list[str]]:
    from datetime import UTC, datetime

    from auditor.collect import collect
    from auditor.config import Config, SshSettings
    from auditor.model import Facts, Host, HostStatus, SourceKind
    from auditor.probing import probe_hosts
    from auditor.remote.paramiko_connector import ParamikoConnector
    from auditor.remote.session import RemoteSession

    settings = SshSettings(
        user="auditor",
        key_file=Path(plan.key_file),
        known_hosts=Path(plan.known_hosts),
        host_key_policy="strict",
        ports=(22,),
        concurrency=plan.concurrency,
        sudo=plan.sudo,
        use_ssh_config=False,
    )
    hosts = [
        Host(
            id=f"ip:{address}",
            addresses=(address,),
            hostnames=(name,),
            identifiers=(f"ip:{address}",),
            sources=(SourceKind.ANSIBLE,),
            status=HostStatus.MANAGED,
            status_reason="bench",
            ssh_port=port,
        )
        for name, address, port in plan.hosts
    ]
    phases["setup_s"] = time.perf_counter() - t0

    def true_probe(session: RemoteSession, host: Host) -> Facts:
        session.run("true", timeout=settings.timeout, max_output=1024)
        return Facts(collected_at=datetime.now(UTC))

    errors: list[str] = []
    failed: set[str] = set()
    with ParamikoConnector(known_hosts=(Path(plan.known_hosts),), allow_agent=False) as connector:
        if variant == PROBE:
            results = probe_hosts(Config(path=None, ssh=settings), hosts, connector=connector)
            outcomes = results.ssh
            # A probe cut by the deadline or the output cap counts as failed: partial facts.
            for host_id, facts in results.facts.items():
                why = facts.errors.get("probe") or facts.errors.get("output")
                if why:
                    failed.add(host_id)
                    errors.append(f"{host_id}: {why}")
        else:
            collected = collect(hosts, settings, true_probe, connector=connector)
            outcomes = {host_id: outcome for host_id, (outcome, _) in collected.items()}
    phases["collect_s"] = time.perf_counter() - t0 - phases["setup_s"]
    for host_id, outcome in outcomes.items():
        if outcome.state != "ok":
            failed.add(host_id)
            errors.append(f"{host_id}: {outcome.state}: {outcome.reason}")
    return len(hosts) - len(failed), len(failed), errors


def _run_ansible(plan: Plan) -> tuple[int, int, list[str]]:
    work = Path(plan.workdir)
    out, err = work / "ansible.stdout", work / "ansible.stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        status = subprocess.call(
            ansible_command(plan), stdout=stdout, stderr=stderr, env=ansible_env(plan), cwd=work
        )
    ok, failures = parse_ansible_oneline(out.read_text(errors="replace"))
    errors = [f"{name}: {why}" for name, why in failures]
    if status not in (0, 2, 4) or (ok == 0 and not failures):
        errors.append(f"ansible exited {status}: {err.read_text(errors='replace')[-300:]}")
    return ok, len(plan.hosts) - ok, errors


def parse_ansible_oneline(text: str) -> tuple[int, list[tuple[str, str]]]:
    """Successes and (host, state) failures from `ansible -o` output lines `host | STATE ...`."""
    ok, failures = 0, []
    for line in text.splitlines():
        name, sep, rest = line.partition(" | ")
        if not sep:
            continue
        state = rest.split(" ", 1)[0].rstrip("!:")
        if state in ("SUCCESS", "CHANGED"):
            ok += 1
        else:
            failures.append((name, rest[:200]))
    return ok, failures


# --------------------------------------------------------------------------- ansible setup


def ansible_binary() -> Path:
    """The venv's `ansible` (beside the running interpreter)."""
    return Path(sys.executable).parent / "ansible"


def ansible_command(plan: Plan) -> list[str]:
    cmd = [
        str(ansible_binary()),
        "all",
        "-i",
        str(Path(plan.workdir) / "hosts.ini"),
        "-m",
        "setup",
        "-o",
    ]
    return [*cmd, "--become"] if plan.sudo else cmd


def ansible_env(plan: Plan) -> dict[str, str]:
    env = dict(os.environ)
    # Our own config only: no ansible.cfg from the working directory or ~ can change the run.
    env["ANSIBLE_CONFIG"] = str(Path(plan.workdir) / "ansible.cfg")
    env["ANSIBLE_PIPELINING"] = "True"
    env["ANSIBLE_FORKS"] = str(plan.concurrency)
    env["ANSIBLE_HOME"] = str(Path(plan.workdir) / "ansible-home")
    env["ANSIBLE_LOCAL_TEMP"] = str(Path(plan.workdir) / "ansible-local")
    env["ANSIBLE_NOCOLOR"] = "1"
    return env


def ansible_cfg(plan: Plan) -> str:
    ssh_args = " ".join(
        (
            # ControlPersist off: one ad-hoc task opens one connection per host anyway, a
            # persisted master would let later rounds reuse a warm connection (auditor gets
            # none), and the detached master's CPU would escape RUSAGE_CHILDREN.
            "-o ControlMaster=no",
            "-o ControlPath=none",
            f"-o UserKnownHostsFile={plan.known_hosts}",
            "-o GlobalKnownHostsFile=/dev/null",
            "-o StrictHostKeyChecking=yes",
            "-o IdentitiesOnly=yes",
            "-o BatchMode=yes",
            "-o ConnectTimeout=10",
        )
    )  # no -C: compression costs CPU on both ends for nothing on a local link (paramiko: off)
    return f"""\
[defaults]
forks = {plan.concurrency}
host_key_checking = True
interpreter_python = /usr/bin/python3
gathering = explicit
fact_caching = memory
retry_files_enabled = False
deprecation_warnings = False
system_warnings = False
nocows = True

[ssh_connection]
pipelining = True
ssh_args = {ssh_args}
"""


def ansible_inventory(plan: Plan) -> str:
    lines = ["[lab]"]
    lines += [f"{n} ansible_host={a} ansible_port={p}" for n, a, p in plan.hosts]
    lines += [
        "",
        "[all:vars]",
        "ansible_connection=ssh",
        "ansible_user=auditor",
        f"ansible_ssh_private_key_file={plan.key_file}",
        "ansible_python_interpreter=/usr/bin/python3",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- the lab


@dataclass(frozen=True)
class LabHost:
    name: str
    address: str
    port: int
    sshd_pid: int | None  # PID 1 of the host's namespace, as seen from here


@dataclass(frozen=True)
class Lab:
    hosts: tuple[LabHost, ...]
    key_file: Path
    known_hosts: Path
    restore: tuple[list[str], ...]  # commands that put the lab back as it was found


def _lab_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "auditor.lab", *args]


def run_lab(cmd: list[str], say: Callable[[str], None]) -> bool:
    """Run a lab command quietly; its output is shown only when it fails."""
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        say(f"{' '.join(cmd[1:])} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done.returncode == 0


def _fillers(state: Any) -> list[Any]:
    return [h for h in state.hosts if h.profile == "filler"]


def ensure_lab(fillers: int, say: Callable[[str], None]) -> Lab:
    """A healthy lab with at least `fillers` filler hosts; how to put it back afterwards."""
    from auditor.lab import DEFAULT_STATE_DIR, lab_status, load_state

    state = load_state(DEFAULT_STATE_DIR)
    healthy = state is not None and lab_status(DEFAULT_STATE_DIR).healthy
    restore: tuple[list[str], ...] = ()
    if state is None or not healthy or len(_fillers(state)) < fillers:
        if os.geteuid() != 0:
            raise SystemExit(
                f"bench: the lab needs {fillers} filler hosts and bringing it up needs root "
                f"(try: sudo {sys.executable} -m auditor.lab up "
                f"--hosts {DEMO_HOST_COUNT + fillers})"
            )
        want = DEMO_HOST_COUNT + fillers
        if state is None:
            restore = (_lab_cli("down"),)
        else:
            back = ["up", "--hosts", str(len(state.hosts))]
            restore = (_lab_cli(*back, *(() if state.aws is not None else ("--no-aws",))),)
            want = max(want, len(state.hosts))
        say(f"bringing the lab up with {want} hosts ({want - DEMO_HOST_COUNT} fillers)")
        if not run_lab(_lab_cli("up", "--hosts", str(want)), say):
            raise SystemExit("bench: the lab did not come up")
        state = load_state(DEFAULT_STATE_DIR)
        assert state is not None
    chosen = _fillers(state)[:fillers]
    for h in chosen:  # network safety: nothing outside the lab's own subnet
        if IPv4Address(h.address) not in LAB_SUBNET:
            raise SystemExit(f"bench: lab host {h.name} at {h.address} is outside {LAB_SUBNET}")
    sd = Path(state.state_dir)
    return Lab(
        hosts=tuple(LabHost(h.name, h.address, h.port, h.init_pid) for h in chosen),
        key_file=sd / "id_ed25519",
        known_hosts=sd / "known_hosts",
        restore=restore,
    )


@dataclass(frozen=True)
class HostLoad:
    """What the lab hosts have done so far, summed over hosts: `cpu_ticks` of each sshd and
    everything it reaped (sshd is PID 1 of its namespace, so sessions, shells and orphans all
    end up in its cutime/cstime), and `last_pid` of each PID namespace (processes and threads
    created there). A field is None when some host could not be read."""

    cpu_ticks: int | None
    last_pid: int | None
    hosts: int

    def delta(self, later: HostLoad) -> tuple[float | None, int | None]:
        """(CPU seconds, tasks created) between this snapshot and a later one."""
        cpu = None
        if self.cpu_ticks is not None and later.cpu_ticks is not None:
            cpu = (later.cpu_ticks - self.cpu_ticks) / os.sysconf("SC_CLK_TCK")
        tasks = None
        if self.last_pid is not None and later.last_pid is not None:
            # Each reading is one `cat` in each namespace: the later one's are not the run's.
            tasks = later.last_pid - self.last_pid - later.hosts
            tasks = tasks if tasks >= 0 else None  # a PID counter wrapped
        return cpu, tasks


# ns_last_pid answers for the reader's PID namespace, so it is read from inside each one.
_LAST_PIDS = 'for p; do nsenter -t "$p" -p -- cat /proc/sys/kernel/ns_last_pid || echo -; done'


def host_load(hosts: Sequence[LabHost]) -> HostLoad:
    pids = [h.sshd_pid for h in hosts]
    if any(p is None for p in pids):
        return HostLoad(None, None, len(hosts))
    cpu: int | None = 0
    for p in pids:
        try:
            cpu = None if cpu is None else cpu + proc_cpu_ticks(Path(f"/proc/{p}/stat").read_text())
        except (OSError, ValueError):
            cpu = None
    last: int | None = None
    if os.geteuid() == 0 and shutil.which("nsenter"):
        read = subprocess.run(
            ["sh", "-c", _LAST_PIDS, "sh", *map(str, pids)],
            capture_output=True,
            text=True,
            check=False,
        )
        values = read.stdout.split()
        if len(values) == len(pids) and all(v.isdigit() for v in values):
            last = sum(map(int, values))
    return HostLoad(cpu, last, len(hosts))


def machine_busy_ticks() -> int:
    with open("/proc/stat") as f:
        return busy_jiffies(f.readline())


# --------------------------------------------------------------------------- the parent


def run_once(
    variant: str, round_index: int, plan_path: Path, lab: Lab, env: Mapping[str, str]
) -> Sample:
    tick = os.sysconf("SC_CLK_TCK")
    h0, m0 = host_load(lab.hosts), machine_busy_ticks()
    c0 = _cpu(resource.getrusage(resource.RUSAGE_CHILDREN))
    t0 = time.perf_counter()
    me = str(Path(__file__).resolve())
    proc = subprocess.run(
        [sys.executable, me, "--child", variant, "--plan", str(plan_path)],
        capture_output=True,
        text=True,
        env=dict(env),
        cwd=REPO,
    )
    process_wall = time.perf_counter() - t0
    c1 = _cpu(resource.getrusage(resource.RUSAGE_CHILDREN))
    m1 = machine_busy_ticks()
    time.sleep(0.3)  # let each sshd reap its last sessions before reading the hosts
    hosts_cpu, hosts_tasks = h0.delta(host_load(lab.hosts))
    if proc.returncode != 0 or not proc.stdout.strip():
        raise SystemExit(
            f"bench: the {variant} child failed ({proc.returncode}):\n{proc.stderr[-2000:]}"
        )
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    return Sample(
        variant=variant,
        round=round_index,
        wall_s=r["wall_s"],
        cpu_s=r["user_s"] + r["sys_s"],
        user_s=r["user_s"],
        sys_s=r["sys_s"],
        ok=r["ok"],
        failed=r["failed"],
        hosts_cpu_s=hosts_cpu,
        hosts_tasks=hosts_tasks,
        machine_cpu_s=(m1 - m0) / tick,
        process_wall_s=process_wall,
        process_cpu_s=(c1[0] - c0[0]) + (c1[1] - c0[1]),
        phases=r["phases"],
        errors=tuple(r["errors"]),
    )


@dataclass(frozen=True)
class FactCost:
    """One script on one host, median of `repeats` fresh connections."""

    case: str
    wall_s: float
    hosts_cpu_s: float | None
    hosts_tasks: float | None
    output_bytes: int
    script_bytes: int


def profile_facts(lab: Lab, repeats: int, sudo: bool) -> list[FactCost]:
    """What each fact's snippet costs on one host: the probe built from that fact alone
    (plus the skeleton every script has), next to `true` and the whole probe. The software
    fact and the whole probe are timed cold (no known versions) and warm (every version run
    the host answered in an untimed first run handed back as known, as the cache does)."""
    from auditor.config import SshSettings
    from auditor.probe import ProbeOptions, build_script, split_output
    from auditor.probe.facts import ALL_FACTS, SoftwareFact
    from auditor.probe.facts.software import version_runs
    from auditor.probing import MAX_PROBE_OUTPUT
    from auditor.remote.paramiko_connector import ParamikoConnector

    host = lab.hosts[0]
    settings = SshSettings(
        user="auditor",
        key_file=lab.key_file,
        known_hosts=lab.known_hosts,
        ports=(host.port,),
        concurrency=1,
        sudo=sudo,
        use_ssh_config=False,
    )
    known: list[tuple[str, str]] = []  # the software cache's view of the host, learnt below

    def script_of(facts: Sequence[Any], warm: bool = False) -> Callable[[], str]:
        def make() -> str:
            extra = {"known_versions": tuple(known)} if warm else {}
            return build_script(ProbeOptions.from_settings(settings, **extra), facts)

        return make

    cases: list[tuple[str, Callable[[], str]]] = [("connect + true", lambda: "true")]
    cases.append(("skeleton (no fact)", script_of(())))
    cases += [(f"+ {f.name}", script_of((f,))) for f in ALL_FACTS]
    cases.append(("+ software, warm", script_of((SoftwareFact(),), warm=True)))
    cases.append(("whole probe", script_of(ALL_FACTS)))
    cases.append(("whole probe, warm", script_of(ALL_FACTS, warm=True)))
    out: list[FactCost] = []
    with ParamikoConnector(known_hosts=(lab.known_hosts,), allow_agent=False) as connector:
        # One untimed connection first: the key file and known_hosts are read once per run,
        # and the software fact's version runs tell what a warm cache would know.
        with connector.connect(host.address, host.port, settings, host.name) as session:
            session.run("true", timeout=30, max_output=1024)
            options = ProbeOptions.from_settings(settings)
            learnt = session.run(
                build_script(options, (SoftwareFact(),)), timeout=90, max_output=MAX_PROBE_OUTPUT
            )
        section = split_output(learnt.stdout_text(), options.nonce).section("software")
        known.extend((run.path, run.identity) for run in version_runs(section))
        for name, make in cases:
            walls: list[float] = []
            cpus: list[float] = []
            tasks: list[float] = []
            size = script_size = 0
            for _ in range(repeats):
                script = make()
                before = host_load((host,))
                t0 = time.perf_counter()
                with connector.connect(host.address, host.port, settings, host.name) as session:
                    result = session.run(script, timeout=90, max_output=MAX_PROBE_OUTPUT)
                walls.append(time.perf_counter() - t0)
                time.sleep(0.2)
                cpu, n = before.delta(host_load((host,)))
                if cpu is not None:
                    cpus.append(cpu)
                if n is not None:
                    tasks.append(n)
                size, script_size = len(result.stdout), len(script)
            out.append(
                FactCost(
                    case=name,
                    wall_s=statistics.median(walls),
                    hosts_cpu_s=statistics.median(cpus) if cpus else None,
                    hosts_tasks=statistics.median(tasks) if tasks else None,
                    output_bytes=size,
                    script_bytes=script_size,
                )
            )
    return out


def print_fact_costs(costs: Sequence[FactCost], host: LabHost) -> None:
    print(
        f"\nper-fact cost on {host.name} ({host.address}), one connection at a time, medians; "
        "'+ fact' = the skeleton plus that fact alone"
    )
    print(f"{'script':<22} {'wall':>7} {'host CPU':>9} {'tasks':>6} {'script':>7} {'output':>7}")
    for c in costs:
        cpu = "-" if c.hosts_cpu_s is None else f"{c.hosts_cpu_s * 1000:.0f}ms"
        tasks = "-" if c.hosts_tasks is None else f"{c.hosts_tasks:.0f}"
        print(
            f"{c.case:<22} {c.wall_s * 1000:>5.0f}ms {cpu:>9} {tasks:>6} "
            f"{c.script_bytes:>7} {c.output_bytes:>7}"
        )


def _fmt(value: float | None, unit: str = "s") -> str:
    return "-" if value is None else f"{value:.2f}{unit}"


def report(samples: Sequence[Sample], args: argparse.Namespace, lab: Lab) -> dict[str, Any]:
    meds = medians(samples)
    targets = evaluate(meds)
    spread = per_round_ratios(samples)
    cpus = os.cpu_count() or 1
    print(
        f"\n{len(lab.hosts)} lab hosts, concurrency {args.concurrency}, {args.rounds} rounds"
        f"{', sudo/become' if args.sudo else ''}, software version cache "
        f"{'cold' if args.cold else 'warm'}, {cpus} CPUs: medians"
    )
    print(
        f"{'variant':<44} {'wall':>7} {'CPU':>7} {'hosts':>7} {'tasks':>6} {'busy':>5} "
        f"{'floor':>7}   wall per round"
    )
    for v in VARIANTS:
        if v not in meds:
            continue
        m = meds[v]
        walls = " ".join(f"{s.wall_s:.2f}" for s in samples if s.variant == v)
        busy = ratio(m["machine_cpu_s"], None if m["wall_s"] is None else m["wall_s"] * cpus)
        tasks = "-" if m["hosts_tasks"] is None else f"{m['hosts_tasks']:.0f}"
        floor = None
        if m["cpu_s"] is not None and m["hosts_cpu_s"] is not None:
            floor = (m["cpu_s"] + m["hosts_cpu_s"]) / cpus
        print(
            f"({LETTERS[v]}) {TITLES[v]:<40} {_fmt(m['wall_s']):>7} {_fmt(m['cpu_s']):>7} "
            f"{_fmt(m['hosts_cpu_s']):>7} {tasks:>6} {'-' if busy is None else f'{busy:.0%}':>5}"
            f" {_fmt(floor):>7}   {walls}"
        )
    print(
        "CPU: the controller's user+sys, children included. hosts: CPU caused on the lab hosts"
        " (each sshd and all below it);\ntasks: processes and threads started there. busy: the"
        " machine's CPU use during the run. floor: (CPU + hosts) / CPUs,\nthe least wall time"
        " this machine needs for that much work (the hosts share its CPUs).\n"
    )
    for t in targets:
        verdict = {True: "PASS", False: "FAIL", None: "n/a"}[t.passed]
        rounds = " ".join(f"{x:.2f}" for x in spread[t.name])
        shown = "-" if t.ratio is None else f"{t.ratio:.2f}"
        print(
            f"{t.name:<9} {shown:>6}  target {t.op} {t.threshold:<3g} {verdict:<4}  "
            f"{t.text}   (per round: {rounds})"
        )
    for s in samples:
        if s.failed or s.errors:
            print(
                f"warning: round {s.round + 1} ({LETTERS[s.variant]}) {s.variant}: "
                f"{s.failed} hosts failed: {'; '.join(s.errors[:3])}"
            )
    return {
        "command": " ".join(["python", "bench/probe.py", *sys.argv[1:]]),
        "hosts": len(lab.hosts),
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "warmup": args.warmup,
        "sudo": args.sudo,
        "software_cache": "cold" if args.cold else "warm",
        "cpus": cpus,
        "medians": meds,
        "ratios": {t.name: t.ratio for t in targets},
        "targets": [asdict(t) for t in targets],
        "per_round_ratios": spread,
        "samples": [asdict(s) for s in samples],
    }


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench/probe.py",
        description="auditor's probe vs ansible -m setup vs connect+true on the lab fleet",
    )
    add = p.add_argument
    add("--hosts", type=int, default=50, metavar="N", help="filler hosts to probe (default 50)")
    add("--rounds", type=int, default=5, metavar="R", help="measured rounds (default 5)")
    add(
        "--concurrency", type=int, default=16, metavar="C",
        help="hosts at once for auditor, forks for ansible (default 16)",
    )  # fmt: skip
    add("--json", type=Path, metavar="FILE", help="write every number to FILE")
    add("--sudo", action="store_true", help="auditor with sudo = true, ansible with --become")
    add("--warmup", type=int, default=1, metavar="W", help="discarded rounds first (default 1)")
    add(
        "--variants", default=",".join(VARIANTS),
        help=f"comma-separated subset of {','.join(VARIANTS)} (default: all)",
    )  # fmt: skip
    add(
        "--per-fact", action="store_true",
        help="also time each fact's snippet alone on one host (host CPU, tasks, wall)",
    )  # fmt: skip
    add("--repeats", type=int, default=5, metavar="K", help="runs per --per-fact case (default 5)")
    add(
        "--cold", action="store_true",
        help="every run starts with an empty software version cache (default: warm, filled "
        "by the warm-up round)",
    )  # fmt: skip
    add("--keep-lab", action="store_true", help="leave the lab as the bench needed it")
    add("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    add("--plan", type=Path, help=argparse.SUPPRESS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.child:
        return child_main(args.child, Plan.load(args.plan))
    variants = tuple(v for v in VARIANTS if v in args.variants.split(","))
    if min(args.hosts, args.rounds, args.concurrency, args.repeats) < 1 or args.warmup < 0:
        print(
            "bench: --hosts, --rounds, --concurrency, --repeats must be positive", file=sys.stderr
        )
        return 2
    if not variants:
        print(f"bench: --variants: choose from {','.join(VARIANTS)}", file=sys.stderr)
        return 2
    if not ansible_binary().exists() and ANSIBLE in variants:
        print(f"bench: {ansible_binary()} not found (pip install ansible-core)", file=sys.stderr)
        return 2

    def say(msg: str) -> None:
        print(f"bench: {msg}", file=sys.stderr, flush=True)

    lab = ensure_lab(args.hosts, say)
    work = Path(tempfile.mkdtemp(prefix="auditor-bench-"))
    try:
        plan = Plan(
            hosts=tuple((h.name, h.address, h.port) for h in lab.hosts),
            key_file=str(lab.key_file),
            known_hosts=str(lab.known_hosts),
            concurrency=args.concurrency,
            sudo=args.sudo,
            workdir=str(work),
        )
        plan_path = work / "plan.json"
        plan_path.write_text(json.dumps(asdict(plan)))
        (work / "ansible.cfg").write_text(ansible_cfg(plan))
        (work / "hosts.ini").write_text(ansible_inventory(plan))
        env = dict(os.environ)
        # Bytecode caches in our temp dir: after the warm-up every variant imports compiled
        # modules (this machine sets PYTHONDONTWRITEBYTECODE, which would make each child
        # recompile auditor's sources), and the source tree gets no __pycache__.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        # The software version cache in our temp dir too, never the user's ~/.cache: shared
        # by every run (warm after the warm-up round), or a fresh one per run with --cold.
        env["XDG_CACHE_HOME"] = str(work / "cache")
        samples: list[Sample] = []
        for i in range(args.warmup + args.rounds):
            measured = i >= args.warmup
            label = f"round {i - args.warmup + 1}/{args.rounds}" if measured else "warm-up"
            for v in rotation(i, variants):
                run_env = env
                if args.cold:
                    run_env = {**env, "XDG_CACHE_HOME": str(work / f"cache-{i}-{v}")}
                s = run_once(v, i - args.warmup, plan_path, lab, run_env)
                say(
                    f"{label} ({LETTERS[v]}) {v:<8} wall {s.wall_s:6.2f}s cpu {s.cpu_s:6.2f}s "
                    f"hosts {_fmt(s.hosts_cpu_s)} ok {s.ok}/{len(lab.hosts)}"
                )
                if measured:
                    samples.append(s)
        data = report(samples, args, lab)
        if args.per_fact:
            say(f"per-fact profile on {lab.hosts[0].name}")
            costs = profile_facts(lab, args.repeats, args.sudo)
            print_fact_costs(costs, lab.hosts[0])
            data["per_fact"] = {"host": lab.hosts[0].name, "costs": [asdict(c) for c in costs]}
        if args.json:
            args.json.write_text(json.dumps(data, indent=2) + "\n")
            say(f"wrote {args.json}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not args.keep_lab:
            for cmd in lab.restore:
                say("putting the lab back: " + " ".join(cmd[3:]))
                run_lab(cmd, say)
    return 0


if __name__ == "__main__":
    sys.exit(main())
