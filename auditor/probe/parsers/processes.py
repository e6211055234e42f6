"""Per-process details the probe read from /proc/PID for the listening processes.

The snippet prints `P <pid> <key> <value>` lines: `exe` and `cwd` (readlink), `cmd` (the
command line, NULs and newlines turned to spaces), `Name:` and `Uid:` (from status) and
`own` (`ls -ld /proc/PID`, whose owner column names the user through NSS).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    name: str | None = None  # comm, at most 15 characters
    exe: str | None = None  # may end in " (deleted)": the binary was replaced since start
    cwd: str | None = None
    cmdline: str | None = None
    uid: int | None = None  # real uid
    user: str | None = None


def parse_process_details(text: str) -> dict[int, ProcessInfo]:
    fields: dict[int, dict[str, str]] = {}
    for line in text.split("\n"):
        tokens = line.split(" ", 3)
        if len(tokens) < 3 or tokens[0] != "P" or not tokens[1].isdigit():
            continue
        value = tokens[3].strip() if len(tokens) > 3 else ""
        fields.setdefault(int(tokens[1]), {})[tokens[2]] = value
    return {pid: _info(pid, values) for pid, values in fields.items()}


def _info(pid: int, values: dict[str, str]) -> ProcessInfo:
    uid_fields = values.get("Uid:", "").split()
    owner = values.get("own", "").split()
    return ProcessInfo(
        pid=pid,
        name=values.get("Name:") or None,
        exe=values.get("exe") or None,
        cwd=values.get("cwd") or None,
        cmdline=values.get("cmd", "").strip() or None,
        uid=int(uid_fields[0]) if uid_fields and uid_fields[0].isdigit() else None,
        # `dr-xr-xr-x 9 apache apache 0 Nov 28 10:00 /proc/123`: the third column
        user=owner[2] if len(owner) > 2 else None,
    )


def parse_passwd(text: str) -> dict[int, str]:
    """`name:uid` lines (the probe's cut of /etc/passwd) -> uid -> first name with it."""
    users: dict[int, str] = {}
    for line in text.split("\n"):
        name, sep, uid = line.strip().partition(":")
        if sep and name and uid.isdigit():
            users.setdefault(int(uid), name)
    return users
