"""Ansible inventories, read with `ansible-inventory --list` (ansible-core).

Anything ansible-inventory accepts works (INI, YAML, folders with host_vars/group_vars,
scripts, plugins). Each inventory path is read on its own (all at once, a few at a time) so a
broken one is an error that names it while the others still count. Names resolve to addresses
(with a timeout) so they can be matched against sweeps; a name that doesn't resolve is
reported, never dropped.

An inventory is a file someone else wrote, and ansible-inventory runs its scripts and
plugins: it is run in its own process group with a memory limit (a YAML alias bomb dies
there instead of eating the machine), killed as a group at the timeout, its output goes to a
private temporary folder that is removed afterwards, whatever happened. ansible-runner used
to do this and could do none of it: it left a `/tmp/.ansible-runner-*` folder per read.
Host variables we use that make no sense (`ansible_port=notaport`) are warnings naming the
inventory and the host.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from auditor.config import AnsibleConfig
from auditor.errors import SourceError
from auditor.model import ID_DNS, ID_IP, ID_NAME, Observation, SourceKind, SourceResult, ident
from auditor.parallel import parallel_map
from auditor.targets import is_address, is_host_name

Resolver = Callable[[str], tuple[str, ...]]

TIMEOUT = 120  # seconds for one inventory, scripts and plugins included
MEMORY_LIMIT = 2 * 1024**3  # bytes of address space for ansible-inventory
MAX_OUTPUT = 256 * 1024**2  # bytes of JSON we are prepared to read back
INVENTORY_POOL = 4  # inventories read at once
# One child spawned at a time: with preexec_fn, Popen forks (no vfork), and until the exec the
# child is a copy of the whole auditor; two forked at once count three auditors in RSS.
# Popen returns once the child has exec'd, so the lock is held for milliseconds.
_SPAWNING = threading.Lock()


def _ansible_inventory() -> str:
    # From a venv that is not activated, its bin/ is not on PATH: look there too (after
    # PATH, so a user's own ansible still wins).
    found = shutil.which("ansible-inventory")
    venv_copy = Path(sys.executable).parent / "ansible-inventory"
    if found is None and venv_copy.exists():
        found = str(venv_copy)
    if found is None:
        raise SourceError("ansible-inventory not found: install ansible-core in auditor's venv")
    return found


def _ansible_env(private: Path) -> dict[str, str]:
    return {
        **os.environ,
        # Without these ansible-inventory only warns about a file it can't parse.
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
        "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "True",
        "ANSIBLE_NOCOLOR": "True",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
        "ANSIBLE_LOCAL_TEMP": str(private / "tmp"),  # its own temp files go with ours
        "ANSIBLE_INVENTORY_CACHE": "False",
        "PYTHONWARNINGS": "ignore",  # a library's deprecation warning is not the error
        # glibc reserves 64 MB of address space per thread arena: without this cap a plugin
        # using threads on a many-core machine could reach RLIMIT_AS with little in use.
        "MALLOC_ARENA_MAX": "2",
    }


def _limit_memory(limit: int) -> Callable[[], None]:
    def apply() -> None:  # runs in the child, between fork and exec
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def get_inventory(
    path: Path, timeout: float = TIMEOUT, memory_limit: int = MEMORY_LIMIT
) -> dict[str, Any]:
    """Run ansible-inventory --list on one inventory; raise SourceError naming the file.
    Past `timeout` seconds its whole process group is killed; it may use `memory_limit`
    bytes of address space; nothing it or we wrote outlives the call."""
    if not path.exists():
        raise SourceError(f"{path}: inventory not found")
    command = [_ansible_inventory(), "--list", "-i", str(path.absolute())]
    with tempfile.TemporaryDirectory(prefix="auditor-ansible-") as folder:
        private = Path(folder)
        stdout_path, stderr_path = private / "inventory.json", private / "stderr"
        with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
            try:
                process = _spawn(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=stdout,
                    stderr=stderr,
                    cwd=private,
                    env=_ansible_env(private),
                    start_new_session=True,  # its own process group: killed as one
                    preexec_fn=_limit_memory(memory_limit),
                )
            except OSError as exc:
                raise SourceError(f"{path}: cannot run ansible-inventory: {exc}") from exc
            timed_out = not _exited(process, timeout)
            code, peak_rss = _kill_group(process)
        errors = stderr_path.read_bytes()[-65536:].decode("utf-8", errors="replace")
        if timed_out:
            raise SourceError(
                f"{path}: ansible-inventory took longer than {timeout:g}s; stopped "
                "(its process group was killed)"
            )
        # A MemoryError inside a plugin is reported by ansible as "Unexpected AnsibleError":
        # what tells is the child's own peak, near its limit.
        if code != 0 and peak_rss > memory_limit // 2:
            raise SourceError(
                f"{path}: ansible-inventory failed after using {peak_rss // 1024**2} MB of its "
                f"{memory_limit // 1024**2} MB memory limit (a YAML alias bomb, or a script "
                "gone wrong?)"
            )
        size = stdout_path.stat().st_size
        if size > MAX_OUTPUT:
            raise SourceError(
                f"{path}: ansible-inventory wrote {size} bytes, more than the "
                f"{MAX_OUTPUT} we read; refused"
            )
        output = stdout_path.read_bytes()
    if code != 0:
        raise SourceError(f"{path}: inventory could not be parsed: {_first_error_line(errors)}")
    try:
        inventory = json.loads(output)
    except ValueError as exc:
        raise SourceError(f"{path}: ansible-inventory printed no JSON ({exc})") from exc
    if not isinstance(inventory, dict) or "_meta" not in inventory:
        raise SourceError(f"{path}: inventory could not be parsed: {_first_error_line(errors)}")
    return inventory


def _spawn(command: list[str], **options: Any) -> subprocess.Popen[bytes]:
    with _SPAWNING:
        return subprocess.Popen(command, **options)


def _exited(process: subprocess.Popen[bytes], timeout: float) -> bool:
    """Whether the child exited within `timeout`, without reaping it: while it is a zombie
    its pid, and so its process group id, cannot be handed to anyone else."""
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        if os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, 0.1)


def _kill_group(process: subprocess.Popen[bytes]) -> tuple[int, int]:
    """SIGKILL the child's process group (whatever it started and left running), then reap
    the child (called before reaping, so the group id is still ours). Returns the child's
    exit code and its peak resident memory in bytes."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_maxrss * 1024


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


def _port(value: Any) -> int | None:
    text = str(value).strip()
    return int(text) if text.isdigit() and 1 <= int(text) <= 65535 else None


def target_of(name: str, hostvars: Mapping[str, Any]) -> str:
    """What ansible would connect to: `ansible_host`, else the inventory name."""
    return str(hostvars.get("ansible_host") or name)


def host_var_problems(inventory: Mapping[str, Any]) -> list[str]:
    """Pure: one warning per host variable we use that makes no sense, naming the host."""
    hostvars = inventory.get("_meta", {}).get("hostvars", {})
    problems = []
    for name in sorted(host_groups(inventory)):
        hv = hostvars.get(name, {})
        if not isinstance(hv, Mapping):
            problems.append(f"host {name!r}: its variables are not a mapping; ignored")
            continue
        port = hv.get("ansible_port")
        if port is not None and _port(port) is None:
            problems.append(
                f"host {name!r}: ansible_port {port!r} is not a TCP port (1-65535); ignored"
            )
        target = target_of(name, hv)
        if not (is_address(target) or is_host_name(target)):
            key = "ansible_host" if hv.get("ansible_host") else "its name"
            problems.append(
                f"host {name!r}: {key} {target!r} is not a host name or address; "
                "not resolved, not connected to"
            )
        user = hv.get("ansible_user")
        if user is not None and not isinstance(user, str):
            problems.append(f"host {name!r}: ansible_user {user!r} is not a string; ignored")
    return problems


def to_observations(
    inventory: Mapping[str, Any],
    *,
    inventory_path: str,
    source_name: str,
    now: datetime,
    resolved: Mapping[str, tuple[str, ...]],
) -> tuple[Observation, ...]:
    """Pure: one Observation per inventory host. `resolved` maps names to addresses.
    Values `host_var_problems` warns about are left out (None), never guessed."""
    hostvars = inventory.get("_meta", {}).get("hostvars", {})
    groups = host_groups(inventory)
    out = []
    for name in sorted(groups):
        hv = hostvars.get(name, {})
        hv = hv if isinstance(hv, Mapping) else {}
        target = target_of(name, hv)
        ids = [ident(ID_NAME, name.lower())]
        if is_address(target):
            ids.append(ident(ID_IP, str(ipaddress.ip_address(target))))
        elif is_host_name(target):
            ids.append(ident(ID_DNS, target.lower().rstrip(".")))
            ids += [ident(ID_IP, a) for a in resolved.get(target, ())]
        user = hv.get("ansible_user")
        attributes: dict[str, Any] = {
            "inventory": inventory_path,
            "inventory_hostname": name,
            "groups": list(groups[name]),
            "ansible_host": hv.get("ansible_host"),
            "ansible_port": _port(hv["ansible_port"]) if "ansible_port" in hv else None,
            "ansible_user": user if isinstance(user, str) else None,
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
    """Resolve names in parallel, each bounded by `timeout`. Returns (resolved, problems).
    Only host names are looked up: anything else is a problem, never a DNS query."""
    resolve = resolver or _getaddrinfo
    resolved: dict[str, tuple[str, ...]] = {}
    problems = [
        f"{n!r}: not a host name; not resolved" for n in sorted(names) if not is_host_name(n)
    ]
    names = {n for n in names if is_host_name(n)}
    if not names:
        return resolved, problems
    answers = parallel_map(resolve, sorted(names), timeout=timeout, name="resolve")
    for name, answer in answers.items():
        if isinstance(answer, TimeoutError):
            problems.append(f"{name}: name did not resolve within {timeout:g}s")
        elif isinstance(answer, OSError):
            problems.append(f"{name}: name does not resolve ({answer.strerror or answer})")
        elif isinstance(answer, Exception):
            raise answer
        else:
            resolved[name] = answer
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
        paths = self.config.inventory
        # Each ansible-inventory is a Python start-up of ~1 s waiting mostly on imports: the
        # files are read at once (issue 14), each still on its own (an error names its file)
        # and taken in the config's order, so the result is the one read one by one gives.
        inventories = parallel_map(
            lambda n: get_inventory(paths[n]),
            range(len(paths)),
            timeout=None,
            name="auditor-inventory",
            workers=INVENTORY_POOL,
        )
        for n, path in enumerate(paths):
            inventory = inventories[n]
            if isinstance(inventory, SourceError):
                errors.append(str(inventory))
                continue
            if isinstance(inventory, Exception):
                raise inventory
            read += 1
            hostvars = inventory.get("_meta", {}).get("hostvars", {})
            errors += [f"{path}: {p}" for p in host_var_problems(inventory)]
            names = {
                target_of(host, hv if isinstance(hv, Mapping) else {})
                for host, hv in ((h, hostvars.get(h, {})) for h in host_groups(inventory))
            }
            names = {n for n in names if is_host_name(n) and not is_address(n)}
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
