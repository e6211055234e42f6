"""The controller's software version cache: a program that has not changed since the last
audit is not run again on the host (a conditional GET for `httpd -v`, `postgres --version` ...).

The probe reports each version run with the program's identity, `dev ino size mtime ctime`
as `stat -L` gives it (`auditor.probe.facts.software.version_runs`). The cache keeps, per
SSH target (`address:port`) and program path, the identity with the exit status and raw
output, and when it was last seen. The next probe of that target hands the known
(path, identity) pairs to the script (`ProbeOptions.known_versions`); a program `stat` still
finds with the same identity is not run, the script says `software/cache/hit` instead, and
the parser reads the kept output again (so parser fixes apply to it). Any change to the file
(upgrade, rebuild, edit, `touch`) changes the identity and the program runs again.

The file, `<cache dir>/software-versions.json` (`$XDG_CACHE_HOME/auditor` or
`~/.cache/auditor`), readable by its owner only:

    {"format": 2,
     "hosts": {"10.0.0.5:22": {"/usr/sbin/nginx": {"identity": "2049 1234 1290240
                  1700000000 1700000000", "status": 0, "output": "nginx version: nginx/1.22.1",
                  "package": {"manager": "dpkg", "name": "nginx", "version": "1.22.1-9"},
                  "seen": "2026-11-29T03:00:00+00:00"}}}}

The package answer the same run's query gave (`auditor.probe.parsers.packages`) is kept with
the output: a package upgrade, install or removal replaces the file, so its identity changes
and the program is asked about again. A run whose package query failed is not kept (it runs,
and is asked, again next time). Format 1 files (no package answers) are started afresh.

It is loaded once per run, updated from `collect`'s worker threads under one lock, and
saved once at the end (merged with what another run may have saved meanwhile: per entry,
the one seen last wins), written atomically. Entries not seen for 30 days are dropped at
save. Only what `ProbeOptions` accepts is kept (plain absolute paths, five numbers), at most
64 programs per target and 8 KiB of output each: the file is written from what hosts said.
A missing file is an empty cache; a corrupt or unreadable one is ignored with a warning,
and a failed save is a warning too: the cache never fails an audit.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from auditor.fileio import write_atomic
from auditor.model import NOT_ASKED, Package, UnknownPackage
from auditor.probe.options import is_known_version
from auditor.probe.parsers.packages import NO_PACKAGE_MANAGER
from auditor.probe.parsers.software import VersionRun

log = logging.getLogger(__name__)

CACHE_FILE_NAME = "software-versions.json"
FORMAT = 2
_OLDER_FORMATS = (1,)  # format 1 kept no package answers
MAX_AGE = timedelta(days=30)
MAX_PROGRAMS_PER_HOST = 64
MAX_OUTPUT_CHARS = 8 * 1024

# Statuses not worth keeping: the next run should try again. 124 timed out, 126 not run
# (not trusted, or not executable), 127 not found; 128+ killed by a signal.
_RETRY_STATUSES = frozenset({124, 126, 127})


@dataclass(frozen=True)
class CachedVersion:
    """One kept version run and when a probe last reported it (run, or found unchanged)."""

    run: VersionRun
    seen: datetime  # aware, UTC


def default_cache_file() -> Path:
    """`<cache dir>/software-versions.json`, the cache dir as `auditor eol update` uses it."""
    from auditor.eol.dataset import default_cache_dir

    return default_cache_dir() / CACHE_FILE_NAME


def host_key(address: str, port: int | None) -> str:
    """The SSH target an entry belongs to: `10.0.0.5:22`, `[fd00::5]:22`."""
    shown = f"[{address}]" if ":" in address else address
    return f"{shown}:{port if port is not None else 22}"


def cacheable(run: VersionRun) -> bool:
    """Whether a fresh run is worth keeping: a real answer, small, of a plain path, with a
    package answer that will not change while the file does not (a package, hand-installed,
    or no package manager on the host; not a query that failed or was not asked)."""
    return (
        is_known_version(run.path, run.identity)
        and 0 <= run.status < 128
        and run.status not in _RETRY_STATUSES
        and len(run.output) <= MAX_OUTPUT_CHARS
        and (not isinstance(run.package, UnknownPackage) or run.package == NO_PACKAGE_MANAGER)
    )


class SoftwareCache:
    """The cache of one run (see module docstring). Thread-safe: one lock guards the
    entries; `known` hands out copies."""

    def __init__(
        self,
        path: Path,
        entries: Mapping[str, Mapping[str, CachedVersion]] | None = None,
    ) -> None:
        self.path = path
        self._entries: dict[str, dict[str, CachedVersion]] = {
            host: dict(programs) for host, programs in (entries or {}).items()
        }
        self._lock = threading.Lock()
        self._dirty = False

    @classmethod
    def load(cls, path: Path | None = None) -> SoftwareCache:
        """The cache kept at `path` (default: `default_cache_file()`). Never raises: a
        missing file gives an empty cache, a corrupt or unreadable one too, with a warning."""
        path = path if path is not None else default_cache_file()
        return cls(path, _read(path, warn=True))

    def known(self, host: str) -> dict[str, VersionRun]:
        """The kept runs for one target, by program path (what the script is told)."""
        with self._lock:
            programs = self._entries.get(host, {})
            return {path: entry.run for path, entry in programs.items()}

    def entries(self) -> dict[str, dict[str, CachedVersion]]:
        """A copy of every entry, by target and path."""
        with self._lock:
            return {host: dict(programs) for host, programs in self._entries.items()}

    def update(
        self,
        host: str,
        runs: Iterable[VersionRun],
        hits: Iterable[tuple[str, str]] = (),
        *,
        now: datetime | None = None,
    ) -> None:
        """Record one probe of `host`: its fresh version `runs` (kept when `cacheable`; a
        run that is not replaces nothing and drops the entry, so it runs again next time)
        and the (path, identity) `hits` it found unchanged (their `seen` moves on)."""
        seen = _utc(now)
        with self._lock:
            programs = self._entries.setdefault(host, {})
            for run in runs:
                if cacheable(run):
                    programs[run.path] = CachedVersion(run, seen)
                else:
                    programs.pop(run.path, None)
            for path, identity in hits:
                entry = programs.get(path)
                if entry is not None and entry.run.identity == identity:
                    programs[path] = CachedVersion(entry.run, seen)
            if len(programs) > MAX_PROGRAMS_PER_HOST:
                newest = sorted(programs.items(), key=lambda item: item[1].seen, reverse=True)
                programs.clear()
                programs.update(newest[:MAX_PROGRAMS_PER_HOST])
            if not programs:
                del self._entries[host]
            self._dirty = True

    def save(self, *, now: datetime | None = None) -> bool:
        """Write the cache (merged with the file as it is now, entries older than MAX_AGE
        dropped) when this run changed anything. Never raises: False, with a warning, when
        it could not be written."""
        with self._lock:
            if not self._dirty:
                return True
            merged = _merge(_read(self.path, warn=False), self._entries)
            kept = prune(merged, now=now)
            data = json.dumps(_to_json(kept), indent=1, sort_keys=True) + "\n"
            try:
                write_atomic(self.path, data, mode=0o600)
            except OSError as exc:
                log.warning("software version cache %s not saved: %s", self.path, exc)
                return False
            self._entries = kept
            self._dirty = False
            return True


def prune(
    entries: Mapping[str, Mapping[str, CachedVersion]], *, now: datetime | None = None
) -> dict[str, dict[str, CachedVersion]]:
    """Entries seen within MAX_AGE of `now`; targets left without any are dropped."""
    oldest = _utc(now) - MAX_AGE
    kept: dict[str, dict[str, CachedVersion]] = {}
    for host, programs in entries.items():
        fresh = {path: e for path, e in programs.items() if e.seen >= oldest}
        if fresh:
            kept[host] = fresh
    return kept


# --------------------------------------------------------------------------- internals


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


def _merge(
    older: Mapping[str, Mapping[str, CachedVersion]],
    newer: Mapping[str, Mapping[str, CachedVersion]],
) -> dict[str, dict[str, CachedVersion]]:
    """Both sets of entries; where both have a (target, path), the one seen last."""
    merged = {host: dict(programs) for host, programs in older.items()}
    for host, programs in newer.items():
        into = merged.setdefault(host, {})
        for path, entry in programs.items():
            other = into.get(path)
            if other is None or entry.seen >= other.seen:
                into[path] = entry
    return merged


def _to_json(entries: Mapping[str, Mapping[str, CachedVersion]]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "hosts": {
            host: {
                path: {
                    "identity": e.run.identity,
                    "status": e.run.status,
                    "output": e.run.output,
                    "package": _package_to_json(e.run.package),
                    "seen": e.seen.isoformat(),
                }
                for path, e in programs.items()
            }
            for host, programs in entries.items()
        },
    }


def _read(path: Path, *, warn: bool) -> dict[str, dict[str, CachedVersion]]:
    """The entries in `path`; {} when it is missing, unreadable or not a cache file (with a
    warning when `warn`). Entries that do not check out are skipped one by one."""
    say = log.warning if warn else log.debug
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        say("software version cache %s ignored: cannot read it: %s", path, exc)
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        say("software version cache %s ignored: not JSON: %s", path, exc)
        return {}
    hosts = data.get("hosts") if isinstance(data, dict) else None
    if isinstance(data, dict) and data.get("format") in _OLDER_FORMATS:
        # Kept no package answers: its programs run once more, and it is rewritten.
        log.debug("software version cache %s: format %s, starting afresh", path, data["format"])
        return {}
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(hosts, dict):
        say("software version cache %s ignored: not a format %d cache file", path, FORMAT)
        return {}
    entries: dict[str, dict[str, CachedVersion]] = {}
    skipped = 0
    for host, programs in hosts.items():
        if not isinstance(programs, dict):
            skipped += 1
            continue
        for program, raw in programs.items():
            entry = _entry(program, raw)
            if entry is None:
                skipped += 1
            else:
                entries.setdefault(str(host), {})[program] = entry
    if skipped:
        say("software version cache %s: %d malformed entries ignored", path, skipped)
    return entries


def _entry(path: object, raw: object) -> CachedVersion | None:
    if not isinstance(raw, dict):
        return None
    identity, status, output, seen = (raw.get(k) for k in ("identity", "status", "output", "seen"))
    package = _package_from_json(raw.get("package", NOT_ASKED))
    if (
        not isinstance(path, str)
        or not isinstance(identity, str)
        or not isinstance(status, int)
        or isinstance(status, bool)
        or not isinstance(output, str)
        or not isinstance(seen, str)
    ):
        return None
    try:
        when = datetime.fromisoformat(seen)
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    run = VersionRun(path=path, identity=identity, status=status, output=output, package=package)
    return CachedVersion(run, when.astimezone(UTC)) if cacheable(run) else None


def _package_to_json(package: Package | UnknownPackage | None) -> dict[str, Any] | None:
    """A package as report.json spells it: {manager, name, version}, null (hand-installed)
    or {unknown: why}."""
    if package is None:
        return None
    if isinstance(package, UnknownPackage):
        return {"unknown": package.unknown}
    return {"manager": package.manager, "name": package.name, "version": package.version}


def _package_from_json(raw: object) -> Package | UnknownPackage | None:
    """The inverse of `_package_to_json`; NOT_ASKED (never kept) for anything else."""
    if raw is None:
        return None
    if isinstance(raw, dict) and isinstance(raw.get("unknown"), str):
        return UnknownPackage(raw["unknown"])
    if isinstance(raw, dict):
        manager, name, version = (raw.get(k) for k in ("manager", "name", "version"))
        if (
            isinstance(manager, str)
            and isinstance(name, str)
            and (version is None or isinstance(version, str))
        ):
            return Package(manager, name, version)
    return NOT_ASKED
