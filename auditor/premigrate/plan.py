"""The migration plan: which hosts are to move, where to, and which are already done.

Two forms:

* an Ansible inventory of the new platform (anything `ansible-inventory` reads): each
  inventory host is an entry; `ansible_host` is where it lives now (its new address or
  name); a host variable `migrated: true` (or `migration: done`) marks it done by hand;
* a text file, one entry per line, `#` starts a comment:

      # old name or address    [new address or name]    [migrated]
      web01                                             # planned, nowhere new yet
      web02      10.40.0.12                             # migrated once 10.40.0.12 answers
      db01    -> db01.new.example.com   migrated        # marked done
      10.250.77.14

`parse_plan_list` and `plan_from_inventory` are pure; `load_plan` reads the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.errors import ConfigError

MIGRATED_WORDS = frozenset({"migrated", "done", "moved"})
PENDING_WORDS = frozenset({"pending", "planned", "todo", "->", "=>"})
TRUE_WORDS = frozenset({"true", "yes", "1", "done", "migrated"})
INVENTORY_SUFFIXES = (".ini", ".yml", ".yaml", ".json", ".cfg")


@dataclass(frozen=True)
class PlanEntry:
    name: str  # as the plan writes it: a host name or an address (lower case)
    target: str | None  # where the host lives now: new address or name; None: not said
    marked_migrated: bool
    origin: str  # "plan.txt:3", "new/hosts.ini"
    port: int | None = None  # ansible_port, when the inventory gives one


@dataclass(frozen=True)
class Plan:
    path: str
    kind: str  # list | ansible
    entries: tuple[PlanEntry, ...]
    problems: tuple[str, ...] = ()


def parse_plan_list(text: str, path: str = "plan") -> Plan:
    """A text plan (see module docstring). Lines it cannot read are problems, not errors."""
    entries: list[PlanEntry] = []
    problems: list[str] = []
    seen: set[str] = set()
    for number, raw in enumerate(text.split("\n"), 1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        name = words[0].lower().rstrip(".")
        target: str | None = None
        migrated = False
        for word in words[1:]:
            lowered = word.lower()
            if lowered in MIGRATED_WORDS:
                migrated = True
            elif lowered in PENDING_WORDS:
                continue
            elif target is None:
                target = lowered.rstrip(".")
            else:
                problems.append(f"{path}:{number}: ignored extra word {word!r}")
        if name in seen:
            problems.append(f"{path}:{number}: {name} is listed twice; the first entry counts")
            continue
        seen.add(name)
        entries.append(PlanEntry(name, target, migrated, f"{path}:{number}"))
    return Plan(path, "list", tuple(entries), tuple(problems))


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in TRUE_WORDS


def plan_from_inventory(inventory: Mapping[str, Any], path: str) -> Plan:
    """Entries from `ansible-inventory --list` output of the new platform's inventory."""
    from auditor.sources.ansible import host_groups

    hostvars = inventory.get("_meta", {}).get("hostvars", {})
    entries = []
    for name in sorted(host_groups(inventory)):
        variables = hostvars.get(name, {})
        target = variables.get("ansible_host")
        port = variables.get("ansible_port")
        migrated = _truthy(variables.get("migrated", False)) or _truthy(
            variables.get("migration", False)
        )
        entries.append(
            PlanEntry(
                name=name.lower(),
                target=str(target).lower() if target else None,
                marked_migrated=migrated,
                origin=path,
                port=int(port) if str(port or "").isdigit() else None,
            )
        )
    return Plan(path, "ansible", tuple(entries))


def plan_kind(path: Path, text: str | None) -> str:
    """`ansible` for a folder, an inventory suffix or INI group headers; else `list`."""
    if path.is_dir() or path.suffix.lower() in INVENTORY_SUFFIXES:
        return "ansible"
    for line in (text or "").split("\n"):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        return "ansible" if stripped.startswith("[") else "list"
    return "list"


def load_plan(path: Path, kind: str = "auto") -> Plan:
    """Read a plan file (kind: auto | list | ansible). Raises ConfigError naming the file."""
    if not path.exists():
        raise ConfigError(f"--plan {path}: no such file or folder")
    text = None
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--plan {path}: cannot read: {exc}") from exc
    chosen = plan_kind(path, text) if kind == "auto" else kind
    if chosen == "list":
        if text is None:
            raise ConfigError(f"--plan {path}: a list plan must be a file")
        return parse_plan_list(text, str(path))
    from auditor.errors import SourceError
    from auditor.sources.ansible import get_inventory

    try:
        inventory = get_inventory(path)
    except SourceError as exc:
        raise ConfigError(f"--plan: {exc}") from exc
    return plan_from_inventory(inventory, str(path))
