"""Builders the tests share: a host, its facts, a run, a reader of HTML pages, and for the
SSH fan-out its settings, a probe, a poll and a Ctrl-C; golden files' `to_jsonable`.

Hosts are numbered: host `n` is `ip:10.0.0.n`, named `host<n>`, seen by a network sweep
("lan") unless `network=False`. Each test file sets its own clock (`at=`); T0 is the default.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib.util
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType
from typing import Any

from auditor.config import SshSettings
from auditor.errors import ProbeError
from auditor.model import (
    AuditRun,
    ClientUse,
    Facts,
    Finding,
    Host,
    HostStatus,
    Observation,
    OsIdentity,
    SourceKind,
    SshOutcome,
)
from auditor.remote import RemoteSession

T0 = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)


def mkhost(
    n: int = 5,
    status: HostStatus = HostStatus.MANAGED,
    *,
    at: datetime = T0,
    alive: bool = True,
    reason: str = "why",
    ports: tuple[int, ...] | None = None,
    groups: tuple[str, ...] = (),
    network: bool = True,
    ssh_port: int | None = None,
) -> Host:
    """Host `n` (10.0.0.n). `ports` are the sweep's open ports (None: the sweep said nothing
    about ports); `groups` add an Ansible inventory sighting with those groups."""
    ip = f"10.0.0.{n}"
    ident = f"ip:{ip}"
    observations = []
    if network:
        attributes: dict[str, Any] = {}
        if ports is not None:
            attributes["open_ports"] = [{"port": p, "proto": "tcp"} for p in ports]
        observations.append(Observation(SourceKind.NETWORK, "lan", (ident,), at, alive, attributes))
    if groups:
        observations.append(
            Observation(SourceKind.ANSIBLE, "inv", (ident,), at, None, {"groups": list(groups)})
        )
    return Host(
        id=ident,
        addresses=(ip,),
        hostnames=(f"host{n}",),
        identifiers=(ident,),
        sources=(SourceKind.NETWORK,),
        status=status,
        status_reason=reason,
        observations=tuple(observations),
        open_ports=ports or (),
        ssh_port=ssh_port,
    )


def mkfacts(
    at: datetime = T0,
    *,
    boot: datetime | None = None,
    os: str | OsIdentity | None = None,
    teams: tuple[str, ...] = (),
    **fields: Any,
) -> Facts:
    """Facts collected at `at`; `boot` sets boot time and uptime, `os` an OsIdentity or the
    pretty name of an Ubuntu 22.04, `teams` one client address per team; anything else is a Facts field."""
    if boot is not None:
        fields.update(boot_time=boot, uptime_seconds=(at - boot).total_seconds())
    if isinstance(os, str):
        os = OsIdentity("ubuntu", "22.04", "Ubuntu", os, "/etc/os-release")
    if os is not None:
        fields["os"] = os
    if teams:
        fields["clients"] = tuple(ClientUse(f"10.9.0.{i}", 5, at, t) for i, t in enumerate(teams))
    return Facts(collected_at=at, **fields)


def mkrun(
    at: datetime,
    hosts: Iterable[Host],
    *,
    facts: Mapping[str, Facts] | None = None,
    findings: tuple[Finding, ...] = (),
    run_id: str | None = None,
    config_path: str | None = None,
    seconds: float = 5,
) -> AuditRun:
    """A run started at `at` over `hosts`; every host with facts was probed ("ok")."""
    facts = dict(facts or {})
    hosts = tuple(hosts)
    ssh = {h.id: SshOutcome("ok") for h in hosts if h.id in facts}
    return AuditRun(
        run_id or at.strftime("%Y%m%dT%H%M%SZ"),
        at,
        at + timedelta(seconds=seconds),
        config_path,
        (),
        hosts,
        ssh,
        facts,
        findings,
    )


DATA_TYPE = "application/json"


class Page(HTMLParser):
    """Reading an HTML page in tests: the tags and attributes it has, the executable scripts
    (ours, hashed into the CSP), the one JSON data block the report draws hosts from, and the
    text a reader sees."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[str] = []  # attribute names
        self.attributes: list[tuple[str, str | None]] = []  # (name, value)
        self.text: list[str] = []
        self.scripts: list[str] = []  # executable: run by the browser
        self.script_tags: list[dict[str, str | None]] = []  # every <script>'s attributes
        self.data_blocks: list[str] = []  # <script type="application/json">: never run
        self._in: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [name for name, _ in attrs]
        self.attributes += attrs
        if tag == "script":
            self.script_tags.append(dict(attrs))
            self._in = self.data_blocks if dict(attrs).get("type") == DATA_TYPE else self.scripts

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        (self._in if self._in is not None else self.text).append(data)

    def data(self) -> dict[str, Any]:
        assert len(self.data_blocks) == 1, self.data_blocks
        decoded: dict[str, Any] = json.loads(self.data_blocks[0])
        return decoded

    def data_strings(self) -> list[str]:
        """Every string value in the data block, decoded."""
        out: list[str] = []

        def walk(value: Any) -> None:
            if isinstance(value, str):
                out.append(value)
            elif isinstance(value, dict):
                for v in value.values():
                    walk(v)
            elif isinstance(value, list):
                for v in value:
                    walk(v)

        walk(self.data()["values"])
        return out


def load_bench(name: str) -> ModuleType:
    """bench/<name>.py as module `bench_<name>` (the bench scripts are not a package)."""
    path = Path(__file__).resolve().parents[1] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[f"bench_{name}"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- the SSH fan-out

SSH_SETTINGS = SshSettings(ports=(22,), concurrency=4, timeout=2.0, deadline=5.0)
"""[ssh] for `collect` over the ScriptedConnector (no network): short timeouts."""


def hostname_probe(session: RemoteSession, host: Host) -> Facts:
    """The smallest probe: the scripted reply's stdout is the host's name."""
    result = session.run("uname -n", timeout=10, max_output=1024)
    if result.timed_out:
        raise ProbeError("probe timed out")
    return Facts(collected_at=T0, hostname=result.stdout_text().strip())


def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    """Whether `condition` came true within `seconds` (polled)."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        if condition():
            return True
        time.sleep(0.01)
    return False


def ctrl_c(*after: float) -> threading.Thread:
    """Press Ctrl-C (SIGINT to this process) `after` seconds from now, once for each; join
    the thread returned before the test ends."""

    def press() -> None:
        started = time.monotonic()
        for at in after:
            time.sleep(max(0.0, started + at - time.monotonic()))
            os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press, daemon=True)
    presser.start()
    return presser


# --------------------------------------------------------------------------- golden files


def to_jsonable(value: Any) -> Any:
    """A parser's result as the golden files store it: dataclasses as objects of their
    fields, enums as their values, datetimes in ISO form."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value
