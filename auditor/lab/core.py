"""Bring the lab up, take it down, say how it is: `lab_up`, `lab_down`, `lab_status`.

`up` records every name and PID in `STATE/lab.json` as it creates them, and removes what it
made if it fails half-way; `down` works from that file (and sweeps leftovers carrying the
lab prefix); `status` needs no root and only connects to lab addresses.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from ipaddress import IPv4Network
from pathlib import Path

from auditor.errors import LabError
from auditor.lab import aws as lab_aws
from auditor.lab import hostfs, net
from auditor.lab.spec import DEFAULT_STATE_DIR, HostSpec, LabSpec, Profile, demo_spec
from auditor.lab.state import (
    STATE_FILE,
    AwsState,
    HostState,
    LabState,
    SegmentState,
    UplinkState,
    load_state,
    salvage_pids,
    save_state,
)

Log = Callable[[str], None]

_CLEAN_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/root",
}
# Hosts booting at once (see `_boot_hosts`).
BOOT_CONCURRENCY = 32
_STATE_FILES = (
    "known_hosts",
    "id_ed25519",
    "id_ed25519.pub",
    "aws.json",
    "terraform.tfstate",
    "moto.log",
    STATE_FILE,
    f"{STATE_FILE}.tmp",
)


def _quiet(_: str) -> None:
    pass


def require_root(action: str) -> None:
    if os.geteuid() != 0:
        raise LabError(
            f"{action} needs root: the lab creates a bridge, network namespaces and veth links, "
            "and mounts overlays inside private mount namespaces, which only root may do. "
            "Run it as root (e.g. `sudo .venv/bin/python -m auditor.lab up`)."
        )


# ---------------------------------------------------------------- processes


def _read(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _pid_alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own zombie child
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"


def _owned(pid: int, *, netns: str | None = None, marker: str | None = None) -> bool:
    """Is `pid` one of ours: inside our named netns, or with our marker in its cmdline?"""
    if netns is not None:
        ino = net.netns_inode(netns)
        try:
            if ino is not None and os.stat(f"/proc/{pid}/ns/net").st_ino == ino:
                return True
        except OSError:
            pass
    return marker is not None and marker in _read(f"/proc/{pid}/cmdline")


def _kill_all(pids: Iterable[int], timeout: float = 3.0) -> None:
    """SIGTERM, wait, then SIGKILL whatever is left."""
    pending = [p for p in dict.fromkeys(pids) if p > 1 and _pid_alive(p)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in pending:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, sig)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            pending = [p for p in pending if _pid_alive(p)]
            if pending:
                time.sleep(0.05)
        if not pending:
            return
    if pending:
        raise LabError(f"processes {pending} did not die")


def _children_of(parents: Iterable[int]) -> dict[int, list[int]]:
    """Each of `parents`' child processes, from one pass over /proc."""
    wanted = set(parents)
    out: dict[int, list[int]] = {p: [] for p in wanted}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _read(f"/proc/{entry.name}/stat")
        if stat and (ppid := int(stat[stat.rindex(")") + 2 :].split()[1])) in wanted:
            out[ppid].append(int(entry.name))
    return out


def _comm(pid: int) -> str:
    return _read(f"/proc/{pid}/comm").strip()


# ---------------------------------------------------------------- readiness


def ssh_banner(
    address: str,
    port: int,
    subnets: IPv4Network | tuple[IPv4Network, ...],
    timeout: float = 1.0,
) -> str | None:
    """The SSH identification line of a lab host, or None. Refuses non-lab addresses."""
    if not net.in_subnet(address, subnets):
        raise LabError(f"{address} is not a lab address ({subnets}): not connecting")
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            data = sock.recv(256)
    except OSError:
        return None
    line = data.split(b"\r\n", 1)[0].decode(errors="replace")
    return line if line.startswith("SSH-") else None


def _tcp_open(address: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def _tail(path: Path, chars: int = 1200) -> str:
    try:
        return path.read_text(errors="replace")[-chars:].strip()
    except OSError:
        return ""


def _await_host(
    spec: LabSpec, host: HostSpec, proc: subprocess.Popen[bytes], deadline: float
) -> None:
    """Poll one host's sshd (and web server) until each answers."""
    addr = str(host.address)
    hdir = spec.state_dir / "hosts" / host.name
    http = spec.http_port(host)
    for kind, port in (("ssh", host.port), *((("http", http),) if http is not None else ())):
        while True:
            if proc.poll() is not None:
                raise LabError(
                    f"lab host {host.name} stopped during boot (exit {proc.returncode}):\n"
                    f"{_tail(hdir / 'boot.log')}\n{_tail(hdir / 'sshd.log')}"
                )
            if kind == "ssh":
                ok = ssh_banner(addr, port, spec.subnets, 0.2) is not None
            else:
                ok = _tcp_open(addr, port, 0.2)
            if ok:
                break
            if time.monotonic() > deadline:
                raise LabError(
                    f"lab host {host.name} ({kind}) not answering after "
                    f"{spec.ready_timeout:.0f} s\n{host.name} boot.log: {_tail(hdir / 'boot.log')}"
                    f"\n{host.name} sshd.log: {_tail(hdir / 'sshd.log')}"
                )
            time.sleep(0.05)


def _boot_hosts(spec: LabSpec, log: Log) -> dict[str, subprocess.Popen[bytes]]:
    """Start every host and wait until it answers, BOOT_CONCURRENCY at a time.

    Bounded so that 1,000 boot scripts (a dozen mounts each, then sshd) do not all fight
    for two cores at once; a host counts as booted when its sshd sends its banner.
    """
    procs: dict[str, subprocess.Popen[bytes]] = {}
    deadline = time.monotonic() + spec.ready_timeout
    failed = threading.Event()

    def boot(host: HostSpec) -> None:
        if failed.is_set():
            return
        proc = _start_host(spec, spec.state_dir / "hosts" / host.name, spec.netns(host))
        procs[host.name] = proc
        try:
            _await_host(spec, host, proc, deadline)
        except BaseException:
            failed.set()
            raise

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=BOOT_CONCURRENCY) as pool:
        futures = [pool.submit(boot, h) for h in spec.hosts]
    for future in futures:
        future.result()  # the first failure, after the pool has wound down
    log(f"{len(spec.hosts)} sshd answering in {time.monotonic() - started:.1f} s")
    return procs


# ---------------------------------------------------------------- up


def _start_host(spec: LabSpec, hdir: Path, netns: str) -> subprocess.Popen[bytes]:
    cmd = [
        "ip",
        "netns",
        "exec",
        netns,
        "unshare",
        "--uts",
        "--mount",
        "--propagation",
        "private",
        "--pid",
        "--fork",
        "--mount-proc",
        "--kill-child",
        "--",
        "/bin/sh",
        str(hdir / "boot.sh"),
    ]
    with (hdir / "boot.log").open("ab") as out:
        return subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=_CLEAN_ENV,
            start_new_session=True,
            cwd="/",
        )


def known_hosts_lines(hosts: Iterable[HostState]) -> list[str]:
    """One line per host key: `name,addr` on port 22, `[name]:port,[addr]:port` otherwise."""
    lines: list[str] = []
    for h in hosts:
        if h.port == 22:
            names = f"{h.name},{h.address}"
        else:
            names = f"[{h.name}]:{h.port},[{h.address}]:{h.port}"
        ssh = Path(h.host_dir) / "etc.upper" / "ssh"
        for kind in ("ed25519", "ecdsa"):
            key_type, key_b64 = (ssh / f"ssh_host_{kind}_key.pub").read_text().split()[:2]
            lines.append(f"{names} {key_type} {key_b64}")
    return lines


def _matches(state: LabState, spec: LabSpec) -> bool:
    want = [(h.name, str(h.address), h.port, h.profile.value) for h in spec.hosts]
    have = [(h.name, h.address, h.port, h.profile) for h in state.hosts]
    return (
        want == have
        and state.segments == _segment_states(spec)
        and state.uplinks == _uplink_states(spec)
        and state.subnet == str(spec.subnet)
        and state.fleet_subnet == (None if spec.fleet_subnet is None else str(spec.fleet_subnet))
        and (state.aws is None) == (spec.moto_port is None)
    )


def _segment_states(spec: LabSpec) -> tuple[SegmentState, ...]:
    return tuple(
        SegmentState(
            s.name, str(s.subnet), s.bridge, str(s.gateway), s.netns, str(s.vantage_address)
        )
        for s in spec.segments
    )


def _uplink_states(spec: LabSpec) -> tuple[UplinkState, ...]:
    return tuple(UplinkState(u.netns, u.veth, str(u.local), str(u.remote)) for u in spec.uplinks)


def _initial_state(spec: LabSpec, now: datetime) -> LabState:
    hosts = tuple(
        HostState(
            name=h.name,
            address=str(h.address),
            port=h.port,
            profile=h.profile.value,
            netns=spec.netns(h),
            veth=spec.veth(h),
            host_dir=str(spec.state_dir / "hosts" / h.name),
            http_port=spec.http_port(h),
        )
        for h in spec.hosts
    )
    return LabState(
        state_dir=str(spec.state_dir),
        subnet=str(spec.subnet),
        bridge=spec.bridge,
        gateway=str(spec.gateway),
        hosts=hosts,
        created_at=now.isoformat(),
        complete=False,
        fleet_subnet=None if spec.fleet_subnet is None else str(spec.fleet_subnet),
        segments=_segment_states(spec),
        uplinks=_uplink_states(spec),
    )


def lab_up(spec: LabSpec | None = None, *, log: Log = _quiet) -> LabState:
    """Bring the lab up (idempotent: a healthy lab of the same shape is left as it is)."""
    spec = spec or demo_spec()
    require_root("bringing the lab up")
    net.require_tools()
    existing = load_state(spec.state_dir)
    if existing is not None:
        if existing.complete and _matches(existing, spec):
            if lab_status(spec.state_dir).healthy:
                log(f"lab already up and healthy ({len(existing.hosts)} hosts)")
                return existing
            log("lab is up but not healthy: rebuilding it")
        else:
            log("a different or unfinished lab is recorded: replacing it")
        lab_down(spec.state_dir, log=log)
    leftovers = net.lab_netns() + net.lab_links()
    if leftovers:
        log(f"removing leftovers of an earlier lab: {', '.join(leftovers)}")
        _sweep(log)
    # NETWORK SAFETY: a subnet any route or address uses is refused
    for subnet in spec.claimed_subnets:
        net.check_subnet_free(subnet)

    started = time.monotonic()
    now = datetime.now().astimezone()
    spec.state_dir.mkdir(parents=True, exist_ok=True)
    spec.state_dir.chmod(0o755)
    state = _initial_state(spec, now)
    save_state(state)
    try:
        state = _build(spec, state, now, log)
    except BaseException:
        log("bring-up failed: removing what was created")
        with contextlib.suppress(Exception):
            lab_down(spec.state_dir)
        raise
    log(f"lab up in {time.monotonic() - started:.1f} s")
    return state


def _build(spec: LabSpec, state: LabState, now: datetime, log: Log) -> LabState:
    moto: subprocess.Popen[bytes] | None = None
    moto_log = spec.state_dir / "moto.log"
    if spec.moto_port is not None:
        # First, since importing moto takes a couple of seconds: it boots while we work.
        moto = lab_aws.start_moto(spec.moto_port, moto_log)
        state = replace(
            state,
            aws=AwsState(
                endpoint_url=f"http://127.0.0.1:{spec.moto_port}",
                pid=moto.pid,
                log_file=str(moto_log),
            ),
        )
        save_state(state)

    client = hostfs.generate_key("ed25519", "auditor-lab")
    hostfs.write_key(spec.state_dir / "id_ed25519", client)
    applets = (
        hostfs.busybox_applets() if any(h.profile is Profile.ALPINE for h in spec.hosts) else ()
    )
    started = time.monotonic()
    authorized = client.public_line + "\n"
    # Threads: most of the work is file system calls and key generation, which release the GIL.
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda h: hostfs.prepare_host(spec, h, authorized, now, applets), spec.hosts))
    (spec.state_dir / "known_hosts").write_text("\n".join(known_hosts_lines(state.hosts)) + "\n")
    log(f"files of {len(spec.hosts)} hosts in {time.monotonic() - started:.1f} s")

    started = time.monotonic()
    net.create_bridge(spec)
    net.create_host_links(spec)
    net.create_vantage_links(spec)
    bridges = "; ".join(f"{name} {' '.join(cidrs)}" for name, _, cidrs in spec.bridges)
    log(
        f"bridge {bridges}, {len(spec.hosts)} network "
        f"namespaces in {time.monotonic() - started:.1f} s"
    )
    for segment in spec.segments:
        log(f"segment {segment.name}: vantage namespace {segment.netns}")

    procs = _boot_hosts(spec, log)
    kids = _children_of(p.pid for p in procs.values())
    web_hosts = [hs.netns for hs in state.hosts if hs.http_port is not None]
    web = {
        ns: [p for p in pids if _comm(p) in ("httpd", "nginx")]
        for ns, pids in net.pids_by_netns(web_hosts).items()
    }
    hosts: list[HostState] = []
    for hs in state.hosts:
        sshd = [p for p in kids[procs[hs.name].pid] if _comm(p) == "sshd"]
        httpd = web.get(hs.netns, [])
        hosts.append(
            replace(
                hs,
                supervisor_pid=procs[hs.name].pid,
                init_pid=sshd[0] if sshd else None,
                web_pid=httpd[0] if httpd else None,
            )
        )
    state = replace(state, hosts=tuple(hosts))
    save_state(state)

    if moto is not None and state.aws is not None:
        lab_aws.wait_moto(moto, spec.moto_port or 0, 30.0, moto_log)
        seeded = lab_aws.seed(state.aws.endpoint_url, spec.subnet)
        aws = replace(seeded, pid=moto.pid, log_file=str(moto_log))
        (spec.state_dir / "aws.json").write_text(lab_aws.aws_json(aws))
        lab_aws.write_terraform_state(state.terraform_state, aws, spec.subnet)
        # The DynamoDB story (ignore_changes hiding capacity 1) and its companions, for
        # `auditor drift` and the demo: state and .tf code under STATE/drift/.
        from auditor.lab.drift_story import seed_drift_story

        seed_drift_story(aws.endpoint_url, lab_aws.HOME_REGION, spec.state_dir / "drift")
        state = replace(state, aws=aws)
        log(f"moto on {aws.endpoint_url}: {len(aws.instances)} instances seeded")
    state = replace(state, complete=True)
    save_state(state)
    return state


# ---------------------------------------------------------------- down


def _stop_hosts(hosts: Iterable[HostState]) -> None:
    """Kill every process of these hosts at once: the recorded ones that are still ours,
    and anything else living in their namespaces (one pass over /proc for all of them)."""
    hosts = tuple(hosts)
    mine = [
        p
        for h in hosts
        for p in (h.init_pid, h.supervisor_pid, h.web_pid)
        if p is not None and _owned(p, netns=h.netns, marker=h.host_dir)
    ]
    mine += [p for pids in net.pids_by_netns(h.netns for h in hosts).values() for p in pids]
    _kill_all(mine)


def _remove_segments(state: LabState) -> list[str]:
    """A segmented lab's own namespaces (anything still running in them, e.g. a test's
    workers, is stopped first), uplinks and bridges."""
    owned = [*(s.netns for s in state.segments), *(u.netns for u in state.uplinks)]
    present = [ns for ns in dict.fromkeys(owned) if net.netns_exists(ns)]
    _kill_all(p for pids in net.pids_by_netns(present).values() for p in pids)
    net.delete_netns_all(present)
    net.delete_links_all([*(u.veth for u in state.uplinks), *(s.bridge for s in state.segments)])
    return [f"namespace {ns}" for ns in present] + [f"bridge {s.bridge}" for s in state.segments]


def _sweep(log: Log) -> list[str]:
    """Remove prefixed namespaces and links that no state file accounts for."""
    done: list[str] = []
    leftover_ns = net.lab_netns()
    if leftover_ns:
        _kill_all(p for pids in net.pids_by_netns(leftover_ns).values() for p in pids)
        net.delete_netns_all(leftover_ns)
        done += [f"netns {ns}" for ns in leftover_ns]
    links = net.lab_links()
    net.delete_links_all(links)
    done += [f"link {link}" for link in links]
    if done:
        shown = done if len(done) <= 12 else [*done[:12], f"... ({len(done)} in all)"]
        log(f"swept: {', '.join(shown)}")
    return done


def lab_down(state_dir: Path = DEFAULT_STATE_DIR, *, log: Log = _quiet) -> tuple[str, ...]:
    """Stop every lab process, delete namespaces, links and the state dir's contents.

    Returns what was removed. Safe to run twice, and on a half-built lab.
    """
    require_root("taking the lab down")
    removed: list[str] = []
    try:
        state = load_state(state_dir)
    except LabError as exc:
        log(str(exc))
        state = None
        for pid in salvage_pids(state_dir):  # the moto server: not in any namespace
            if _pid_alive(pid) and _owned(pid, marker="moto_server"):
                _kill_all([pid])
                removed.append(f"moto_server (pid {pid})")
    started = time.monotonic()
    if state is not None:
        _stop_hosts(state.hosts)
        removed.append(f"{len(state.hosts)} hosts' processes")
        if state.aws is not None and state.aws.pid is not None:
            pid = state.aws.pid
            if _pid_alive(pid) and _owned(pid, marker="moto_server"):
                _kill_all([pid])
                removed.append(f"moto_server (pid {pid})")
        present = [h.netns for h in state.hosts if net.netns_exists(h.netns)]
        net.delete_netns_all(present)
        if present:
            removed.append(f"{len(present)} network namespaces")
        net.delete_links_all(h.veth for h in state.hosts)
        removed += _remove_segments(state)
        if net.link_exists(state.bridge):
            net.delete_link(state.bridge)
            removed.append(f"bridge {state.bridge}")
    removed += _sweep(log)
    for made in (state_dir / "hosts", state_dir / "drift"):  # host files; the drift story
        if made.exists():
            shutil.rmtree(made)
            removed.append(str(made))
    for name in _STATE_FILES:
        with contextlib.suppress(FileNotFoundError):
            (state_dir / name).unlink()
    with contextlib.suppress(OSError):
        state_dir.rmdir()  # only if nothing else was put there
    took = f" in {time.monotonic() - started:.1f} s"
    log("lab down" + (f"{took}: removed {', '.join(removed)}" if removed else " (nothing was up)"))
    return tuple(removed)


# ---------------------------------------------------------------- status


@dataclass(frozen=True)
class HostHealth:
    name: str
    address: str
    port: int
    profile: str
    running: bool  # the host's PID 1 (sshd) is alive
    banner: str | None  # what sshd said, None if it did not answer

    @property
    def answers(self) -> bool:
        return self.banner is not None


@dataclass(frozen=True)
class LabStatus:
    state_dir: str
    recorded: bool  # a lab.json exists
    complete: bool
    bridge_present: bool
    hosts: tuple[HostHealth, ...]
    aws_endpoint: str | None
    aws_answers: bool | None

    @property
    def healthy(self) -> bool:
        return (
            self.recorded
            and self.complete
            and self.bridge_present
            and all(h.running and h.answers for h in self.hosts)
            and self.aws_answers is not False
        )


def lab_status(state_dir: Path = DEFAULT_STATE_DIR) -> LabStatus:
    """How the recorded lab is doing. Needs no root; connects only to lab addresses."""
    state = load_state(state_dir)
    if state is None:
        return LabStatus(str(state_dir), False, False, net.link_exists("audlab0"), (), None, None)
    subnets = state.subnets

    def check(h: HostState) -> HostHealth:
        running = h.init_pid is not None and _pid_alive(h.init_pid)
        banner = ssh_banner(h.address, h.port, subnets) if running else None
        return HostHealth(h.name, h.address, h.port, h.profile, running, banner)

    with ThreadPoolExecutor(max_workers=16) as pool:
        hosts = tuple(pool.map(check, state.hosts))
    aws_answers = None if state.aws is None else lab_aws.moto_alive(state.aws.endpoint_url)
    return LabStatus(
        state.state_dir,
        True,
        state.complete,
        net.link_exists(state.bridge),
        hosts,
        None if state.aws is None else state.aws.endpoint_url,
        aws_answers,
    )
