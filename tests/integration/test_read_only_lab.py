"""The read-only promise, on the whole lab: a full audit and an inspect change nothing on
any host.

Every lab host writes only into its own upper dirs (the overlays of /etc, /var, /usr), its
/root, its logs and its private tmpfs (/tmp, /run, /dev/shm, seen through the host's
/proc/PID/root). All of it is snapshotted (type, mode, owner, size, content hash or link
target, mtime: a file created and deleted again still changes its folder) before and after
`auditor audit` + `auditor inspect`, and the two must be equal, but for what the hosts
themselves write when we use them, each named:

- sudo's own timestamp records (`/run/sudo/ts/...`, `/var/lib/sudo/...`): `sudo -n` is how
  the probe gets root;
- the web servers' access logs, which `inspect`'s front-page fetch appends to, like any
  visitor: only appended, and only lines from our own address.

(The strace test, tests/unit/test_probe_script.py, shows the same for one run of the probe
script from the inside: no write, no unlink, no rename of any file.)
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from auditor.commands.inspect import inspect
from auditor.config import load_config
from auditor.lab import LabState
from auditor.pipeline import execute
from auditor.probing import probe_hosts

pytestmark = [pytest.mark.lab, pytest.mark.hostile]
CONFIG = Path(__file__).parents[2] / "inventories" / "lab" / "audit.toml"
OUR_ADDRESS = "10.250.77.1"  # the lab bridge: where our SSH and HTTP come from
HOST_DIRS = ("etc.upper", "var.upper", "usr.upper", "home/root", "varlog")
PRIVATE_MOUNTS = ("tmp", "run", "dev/shm")
SUDO_RECORDS = ("run/sudo/", "var/lib/sudo/", "varlog/sudo/")
ACCESS_LOGS = ("access_log", "access.log")

Entry = tuple[object, ...]


def _entry(path: Path) -> Entry:
    st = path.lstat()
    kind = stat.S_IFMT(st.st_mode)
    base: Entry = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns)
    if stat.S_ISLNK(st.st_mode):
        return (*base, os.readlink(path))
    if stat.S_ISREG(st.st_mode):
        return (*base, st.st_size, hashlib.sha256(path.read_bytes()).hexdigest())
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        return (*base, st.st_rdev)
    return base


def _walk(root: Path, label: str, into: dict[str, Entry], skip: Path | None = None) -> None:
    if not root.exists():
        return
    into[label] = _entry(root)
    for folder, dirs, files in os.walk(root):
        if skip is not None:
            dirs[:] = [d for d in dirs if Path(folder) / d != skip]
        for name in (*dirs, *files):
            path = Path(folder) / name
            try:
                into[f"{label}/{path.relative_to(root)}"] = _entry(path)
            except FileNotFoundError:
                continue


def snapshot(lab: LabState) -> dict[str, dict[str, Entry]]:
    """host name -> path -> what it is, for every place a lab host can write."""
    shots: dict[str, dict[str, Entry]] = {}
    for host in lab.hosts:
        shot: dict[str, Entry] = {}
        for name in HOST_DIRS:
            _walk(Path(host.host_dir) / name, name, shot)
        if host.init_pid:
            inside = Path(f"/proc/{host.init_pid}/root")
            # The lab's state dir is bound into the host's /run: it is the lab's, not the
            # host's (its upper dirs are walked above).
            state = inside / str(lab.state_dir).lstrip("/")
            for name in PRIVATE_MOUNTS:
                _walk(inside / name, name, shot, skip=state)
        shots[host.name] = shot
    return shots


def _appended_by_our_visits(host_dir: Path, path: str, before: Entry) -> bool:
    """An access log that only grew, by lines from our own address."""
    if not path.endswith(ACCESS_LOGS) or not path.startswith(("var.upper/", "varlog/")):
        return False
    text = (host_dir / path).read_bytes()
    old_size = int(str(before[5])) if len(before) > 5 else 0
    grown = text[old_size:].decode("utf-8", "replace")
    return all(line.startswith(OUR_ADDRESS + " ") for line in grown.splitlines() if line)


def _is_sudo_record(path: str) -> bool:
    return any(path.startswith(p) or path == p.rstrip("/") for p in SUDO_RECORDS)


def test_a_full_audit_and_an_inspect_change_nothing_on_any_host(
    lab: LabState, aws_env: None, tmp_path: Path
) -> None:
    before = snapshot(lab)
    assert sum(len(s) for s in before.values()) > 100  # it does look at the hosts' files

    config = load_config(CONFIG)
    config = replace(config, audit=replace(config.audit, store=tmp_path / "history.sqlite"))
    outcome = execute(config, out_dir=tmp_path / "reports", prober=probe_hosts)
    probed = [h for h, o in outcome.run.ssh.items() if o.state == "ok"]
    assert len(probed) >= 5  # the fleet really was probed, with sudo
    result = CliRunner().invoke(
        inspect,
        ["10.250.77.10", "--config", str(CONFIG), "--json", str(tmp_path / "d.json"), "-q"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output

    after = snapshot(lab)
    changed, allowed = _compare(lab, before, after)
    assert changed == [], "\n".join(changed)
    # The comparison sees what it should: inspect's visit was logged, and a file written
    # on a host now would be caught.
    assert any("access" in a for a in allowed), allowed
    host = next(h for h in lab.hosts if h.init_pid)
    probe_file = Path(f"/proc/{host.init_pid}/root/tmp/written-by-the-test")
    probe_file.write_text("x")
    try:
        caught, _ = _compare(lab, after, snapshot(lab))
    finally:
        probe_file.unlink()
    assert f"{host.name}: tmp/written-by-the-test" in caught


def _compare(
    lab: LabState, before: dict[str, dict[str, Entry]], after: dict[str, dict[str, Entry]]
) -> tuple[list[str], list[str]]:
    """(changes nobody may make, changes the hosts themselves make, each named)."""
    changed: list[str] = []
    allowed: list[str] = []
    for host in lab.hosts:
        old, new = before[host.name], after[host.name]
        for path in sorted(set(old) | set(new)):
            if old.get(path) == new.get(path):
                continue
            where = f"{host.name}: {path}"
            if _is_sudo_record(path) or _only_sudo_below(path, old, new):
                allowed.append(f"sudo's own record: {where}")
            elif (
                path in old
                and path in new
                and _appended_by_our_visits(Path(host.host_dir), path, old[path])
            ):
                allowed.append(f"access log of our visit: {where}")
            else:
                changed.append(where)
    return changed, allowed


def _only_sudo_below(folder: str, old: dict[str, Entry], new: dict[str, Entry]) -> bool:
    """A folder that changed only because sudo's records below it did."""
    below = {
        p for p in set(old) | set(new) if p.startswith(folder + "/") and old.get(p) != new.get(p)
    }
    return bool(below) and all(_is_sudo_record(p) for p in below)
