"""Ansible inventories, read with ansible-runner's `ansible-inventory --list`.

Anything ansible-inventory accepts works (INI, YAML, folders with host_vars/group_vars,
scripts, plugins). Each inventory path is read on its own so a broken one is an error that
names it while the others still count. Names resolve to addresses (with a timeout) so they
can be matched against sweeps; a name that doesn't resolve is reported, never dropped.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime
from pathlib import Path
from typing import Any

from auditor.config import AnsibleConfig
from auditor.errors import SourceError
from auditor.model import ID_DNS, ID_IP, ID_NAME, Observation, SourceKind, SourceResult, ident
from auditor.targets import is_address

Resolver = Callable[[str], tuple[str, ...]]


def _ansible_env() -> dict[str, str]:
    # ansible-runner looks up `ansible-inventory` with shutil.which on this process's PATH.
    # When auditor runs from a venv that is not activated, its bin/ is not on PATH: add it
    # (once, at the end, so a user's own ansible still wins).
    venv_bin = str(Path(sys.executable).parent)
    if (
        shutil.which("ansible-inventory") is None
        and (Path(venv_bin) / "ansible-inventory").exists()
    ):
        os.environ["PATH"] = os.environ.get("PATH", "") + os.pathsep + venv_bin
    return {
        "PATH": os.environ.get("PATH", ""),
        # Without these ansible-inventory only warns about a file it can't parse.
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
        "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "True",
        "ANSIBLE_NOCOLOR": "True",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
    }


def get_inventory(path: Path, timeout: int = 120) -> dict[str, Any]:
    """Run ansible-inventory --list on one inventory; raise SourceError naming the file."""
    import ansible_runner

    if not path.exists():
        raise SourceError(f"{path}: inventory not found")
    env = _ansible_env()
    if shutil.which("ansible-inventory", path=env["PATH"]) is None:
        raise SourceError("ansible-inventory not found: install ansible-core in auditor's venv")
    try:
        out, err = ansible_runner.get_inventory(
            action="list",
            inventories=[str(path)],
            response_format="json",
            quiet=True,
            envvars=env,
            timeout=timeout,
        )
    except Exception as exc:  # ansible-runner raises RuntimeError/ConfigurationError
        raise SourceError(f"{path}: ansible-inventory failed: {exc}") from exc
    if not isinstance(out, dict) or "_meta" not in out:
        message = _first_error_line(str(err or out or ""))
        raise SourceError(f"{path}: inventory could not be parsed: {message}")
    return out


def _first_error_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("ERROR", "[ERROR]")):
            return line.removeprefix("[ERROR]: ").removeprefix("ERROR! ")
    return lines[0] if lines else "no output from ansible-inventory"


def host_groups(inventory: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Map each host to every group it is in, directly or through children."""
    parents: dict[str, set[str]] = {}
    direct: dict[str, set[str]] = {}
    for group, body in inventory.items():
        if group == "_meta" or not isinstance(body, dict):
            continue
        for child in body.get("children", []):
            parents.setdefault(child, set()).add(group)
        for host in body.get("hosts", []):
            direct.setdefault(host, set()).add(group)

    def ancestors(group: str, seen: set[str]) -> set[str]:
        result = {group}
        for parent in parents.get(group, ()):
            if parent not in seen:
                result |= ancestors(parent, seen | {group})
        return result

    out: dict[str, tuple[str, ...]] = {}
    hostvars = inventory.get("_meta", {}).get("hostvars", {})
    for host in set(hostvars) | set(direct):
        groups: set[str] = set()
        for group in direct.get(host, {"ungrouped"}):
            groups |= ancestors(group, set())
        groups.discard("all")
        out[host] = tuple(sorted(groups))
    return out


def to_observations(
    inventory: Mapping[str, Any],
    *,
    inventory_path: str,
    source_name: str,
    now: datetime,
    resolved: Mapping[str, tuple[str, ...]],
) -> tuple[Observation, ...]:
    """Pure: one Observation per inventory host. `resolved` maps names to addresses."""
    hostvars = inventory.get("_meta", {}).get("hostvars", {})
    groups = host_groups(inventory)
    out = []
    for name in sorted(groups):
        hv = hostvars.get(name, {})
        target = str(hv.get("ansible_host") or name)
        ids = [ident(ID_NAME, name.lower())]
        if is_address(target):
            ids.append(ident(ID_IP, str(ipaddress.ip_address(target))))
        else:
            ids.append(ident(ID_DNS, target.lower().rstrip(".")))
            ids += [ident(ID_IP, a) for a in resolved.get(target, ())]
        port = hv.get("ansible_port")
        attributes: dict[str, Any] = {
            "inventory": inventory_path,
            "inventory_hostname": name,
            "groups": list(groups[name]),
            "ansible_host": hv.get("ansible_host"),
            "ansible_port": int(port) if str(port or "").isdigit() else None,
            "ansible_user": hv.get("ansible_user"),
        }
        out.append(
            Observation(
                SourceKind.ANSIBLE, source_name, tuple(dict.fromkeys(ids)), now, None, attributes
            )
        )
    return tuple(out)


def resolve_names(
    names: set[str], timeout: float, resolver: Resolver | None = None
) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """Resolve names in parallel, each bounded by `timeout`. Returns (resolved, problems)."""
    resolve = resolver or _getaddrinfo
    resolved: dict[str, tuple[str, ...]] = {}
    problems: list[str] = []
    if not names:
        return resolved, problems
    pool = ThreadPoolExecutor(max_workers=min(16, len(names)), thread_name_prefix="resolve")
    futures = {name: pool.submit(resolve, name) for name in sorted(names)}
    for name, future in futures.items():
        try:
            addresses = future.result(timeout=timeout)
        except FutureTimeout:
            problems.append(f"{name}: name did not resolve within {timeout:g}s")
            continue
        except OSError as exc:
            problems.append(f"{name}: name does not resolve ({exc.strerror or exc})")
            continue
        resolved[name] = addresses
    # getaddrinfo can't be cancelled; don't wait for stragglers.
    pool.shutdown(wait=False, cancel_futures=True)
    return resolved, problems


def _getaddrinfo(name: str) -> tuple[str, ...]:
    infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    return tuple(sorted({str(info[4][0]) for info in infos}))


class AnsibleInventorySource:
    kind = SourceKind.ANSIBLE

    def __init__(self, config: AnsibleConfig, *, resolver: Resolver | None = None) -> None:
        self.config = config
        self.name = config.name
        self._resolver = resolver

    def collect(self, now: datetime) -> SourceResult:
        observations: list[Observation] = []
        errors: list[str] = []
        read = 0
        for path in self.config.inventory:
            try:
                inventory = get_inventory(path)
            except SourceError as exc:
                errors.append(str(exc))
                continue
            read += 1
            hostvars = inventory.get("_meta", {}).get("hostvars", {})
            names = {
                str(hv.get("ansible_host") or host)
                for host, hv in ((h, hostvars.get(h, {})) for h in host_groups(inventory))
            }
            names = {n for n in names if not is_address(n)}
            resolved, problems = resolve_names(names, self.config.resolve_timeout, self._resolver)
            errors += [f"{path}: {p}" for p in problems]
            observations += to_observations(
                inventory,
                inventory_path=str(path),
                source_name=self.name,
                now=now,
                resolved=resolved,
            )
        failed_files = len(self.config.inventory) - read
        fatal = None if read else (errors[0] if errors else "no inventory read")
        return SourceResult(
            kind=self.kind,
            name=self.name,
            ok=failed_files == 0,
            observations=tuple(observations),
            error=fatal or (errors[0] if failed_files else None),
            errors=tuple(errors),
            details={"inventories": [str(p) for p in self.config.inventory]},
        )
