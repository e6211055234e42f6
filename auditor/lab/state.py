"""What a running lab is: names and PIDs recorded in `STATE/lab.json`.

The state file is written before anything is created and rewritten as things come up, so
`down` can always undo a half-finished `up` by the names and PIDs recorded here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

from auditor.errors import LabError
from auditor.fileio import write_atomic

STATE_FILE = "lab.json"
STATE_VERSION = 1


@dataclass(frozen=True)
class HostState:
    """One host as created: where it is, what runs it, where its files are."""

    name: str
    address: str
    port: int
    profile: str
    netns: str
    veth: str
    host_dir: str
    supervisor_pid: int | None = None  # `unshare`, parent of the host's PID namespace
    init_pid: int | None = None  # sshd, PID 1 inside the host (PID as seen from outside)
    web_pid: int | None = None  # the web server look-alike (httpd on centos5, nginx)
    http_port: int | None = None  # 80 where a web server runs

    @property
    def ssh_target(self) -> str:
        """`addr` or `[addr]:port`, as in known_hosts."""
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"


@dataclass(frozen=True)
class AwsInstance:
    region: str
    instance_id: str
    name: str
    private_ip: str
    vpc_id: str
    subnet_id: str
    image_id: str
    instance_type: str


@dataclass(frozen=True)
class AwsState:
    endpoint_url: str
    pid: int | None
    log_file: str
    instances: tuple[AwsInstance, ...] = ()
    vpcs: tuple[tuple[str, str, str], ...] = ()  # (region, vpc_id, cidr)
    subnets: tuple[tuple[str, str, str], ...] = ()  # (region, subnet_id, cidr)

    def instance(self, name: str) -> AwsInstance:
        for inst in self.instances:
            if inst.name == name:
                return inst
        raise KeyError(name)


@dataclass(frozen=True)
class SegmentState:
    """A walled-off segment as created: its bridge and its vantage namespace."""

    name: str
    subnet: str
    bridge: str
    gateway: str
    netns: str  # the vantage namespace: the segment's workers run here
    address: str  # the vantage namespace's address in the segment


@dataclass(frozen=True)
class UplinkState:
    """A namespace's veth to the machine: `local` is the machine's end (bind a broker
    there), `remote` the namespace's."""

    netns: str
    veth: str
    local: str
    remote: str


@dataclass(frozen=True)
class LabState:
    """A lab as it was brought up. Paths are absolute strings (JSON-friendly)."""

    state_dir: str
    subnet: str
    bridge: str
    gateway: str
    hosts: tuple[HostState, ...]
    aws: AwsState | None = None
    created_at: str = ""
    complete: bool = False  # False while `up` is still running (or if it died half-way)
    fleet_subnet: str | None = None  # the second subnet on the bridge, for large fleets
    segments: tuple[SegmentState, ...] = ()  # a segmented lab's (then `subnet` is the first's)
    uplinks: tuple[UplinkState, ...] = ()

    @property
    def subnets(self) -> tuple[IPv4Network, ...]:
        """Every subnet of the lab's hosts: the only addresses it is ever right to probe."""
        if self.segments:
            return tuple(IPv4Network(s.subnet) for s in self.segments)
        nets = (self.subnet,) if self.fleet_subnet is None else (self.subnet, self.fleet_subnet)
        return tuple(IPv4Network(n) for n in nets)

    def segment(self, name: str) -> SegmentState:
        for s in self.segments:
            if s.name == name:
                return s
        raise KeyError(name)

    def uplink(self, netns: str) -> UplinkState:
        for u in self.uplinks:
            if u.netns == netns:
                return u
        raise KeyError(netns)

    @property
    def key_file(self) -> Path:
        return Path(self.state_dir) / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return Path(self.state_dir) / "known_hosts"

    @property
    def terraform_state(self) -> Path:
        return Path(self.state_dir) / "terraform.tfstate"

    def host(self, name: str) -> HostState:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)

    def to_json(self) -> str:
        data: dict[str, Any] = {"version": STATE_VERSION, **asdict(self)}
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> LabState:
        data = json.loads(text)
        if data.get("version") != STATE_VERSION:
            raise LabError(
                f"lab state file has version {data.get('version')!r}, expected {STATE_VERSION}"
            )
        aws = data["aws"]
        return cls(
            state_dir=data["state_dir"],
            subnet=data["subnet"],
            bridge=data["bridge"],
            gateway=data["gateway"],
            hosts=tuple(HostState(**_known(HostState, h)) for h in data["hosts"]),
            aws=None
            if aws is None
            else AwsState(
                endpoint_url=aws["endpoint_url"],
                pid=aws["pid"],
                log_file=aws["log_file"],
                instances=tuple(AwsInstance(**_known(AwsInstance, i)) for i in aws["instances"]),
                vpcs=tuple((v[0], v[1], v[2]) for v in aws["vpcs"]),
                subnets=tuple((s[0], s[1], s[2]) for s in aws["subnets"]),
            ),
            created_at=data["created_at"],
            complete=data["complete"],
            fleet_subnet=data.get("fleet_subnet"),
            segments=tuple(
                SegmentState(**_known(SegmentState, s)) for s in data.get("segments", ())
            ),
            uplinks=tuple(UplinkState(**_known(UplinkState, u)) for u in data.get("uplinks", ())),
        )


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The keys `cls` has: a state file from a slightly older or newer lab still loads."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def salvage_pids(state_dir: Path) -> tuple[int, ...]:
    """PIDs recorded in a state file that no longer loads (for `down`'s last resort)."""
    try:
        data = json.loads((state_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return ()
    pids: list[int] = []
    aws = data.get("aws") if isinstance(data, dict) else None
    if isinstance(aws, dict) and isinstance(aws.get("pid"), int):
        pids.append(aws["pid"])
    return tuple(pids)


def save_state(state: LabState) -> None:
    """Write `lab.json` atomically (a crash never leaves half a file)."""
    write_atomic(Path(state.state_dir) / STATE_FILE, state.to_json())


def load_state(state_dir: Path) -> LabState | None:
    path = state_dir / STATE_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return LabState.from_json(text)
    except (ValueError, KeyError, TypeError) as exc:
        raise LabError(
            f"lab state file {path} is unreadable ({exc}); remove it and clean up "
            "with `python -m auditor.lab down`"
        ) from exc
