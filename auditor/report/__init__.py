"""Reporters: turn an AuditRun into files people and tools read. A report set is switched
in whole.

Every format is rendered from the report.json data (`run_to_dict`), so a run kept in the
history store renders again exactly (`write_report_data`, `auditor report --run ID`).

A report folder `DIR` (`--out`) holds the four files as fixed symlinks into `DIR/.current`,
itself one symlink to the set in use, `DIR/.sets/<run id>/`:

    DIR/index.html  -> .current/index.html       (made once, never changed)
    DIR/.current    -> .sets/20261207T114537Z-4abad2
    DIR/.sets/20261207T114537Z-4abad2/{index.html,report.json,hosts.csv,summary.md}

A new set is written whole into `.sets/<id>.partial/`, renamed to `.sets/<id>/`, and only then
is `.current` switched, by one rename: a crash at any moment leaves the previous set or the
new one, never report.json new and index.html old. Writing takes the folder's lock
(`DIR/.lock`), so two runs never write one folder at once; with it held, what a crashed run
left (`*.partial` sets, temp files) is removed first. The newest `KEEP_SETS` sets are kept
(an open page keeps working while the next run switches), older ones removed. Where the
folder cannot hold symlinks, each file is replaced atomically on its own.

| file | renderer | for |
|---|---|---|
| report.json | `json_report.render_json` | tools; schema `auditor/report@1` |
| index.html | `html_report.render_html_data` | people: one self-contained file |
| hosts.csv | `csv_report.csv_pieces` | spreadsheets (formula-injection safe) |
| summary.md | `markdown_report.render_markdown` | a ticket or a chat message |
| (terminal) | `terminal.render_terminal_summary` | the console after a run |
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from auditor import fileio
from auditor.errors import OutputError
from auditor.locking import ExclusiveLock
from auditor.model import AuditRun
from auditor.report.html_report import html_pieces, render_html
from auditor.report.json_report import load_schema, render_json, run_to_dict, validate_report
from auditor.spool import json_chunks

REPORT_FILES = {
    "json": "report.json",
    "html": "index.html",
    "csv": "hosts.csv",
    "md": "summary.md",
}


def write_atomic(path: Path, text: fileio.Data) -> None:
    """Write a report file atomically: an interrupted run leaves the previous one in place."""
    fileio.write_atomic(path, text)


def render_all(data: Mapping[str, Any]) -> dict[str, str]:
    """Every file format's text from report.json data: format -> text."""
    return {kind: "".join(render()) for kind, render in _renderers(data).items()}


class _JsonText:
    """report.json's text as pieces, made again on each iteration (json_chunks): written
    without ever being one string."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data

    def __iter__(self) -> Iterator[str]:
        return json_chunks(self._data)


Renderer = Callable[[], str | Iterable[str]]


def _renderers(data: Mapping[str, Any]) -> dict[str, Renderer]:
    """format -> what renders it when called: one format is rendered (and written) at a
    time, so no two formats' texts and working sets are alive at once (issue 14)."""
    from auditor.report.csv_report import csv_pieces
    from auditor.report.markdown_report import render_markdown

    return {
        "json": lambda: _JsonText(data),
        "html": lambda: html_pieces(data),
        "csv": lambda: csv_pieces(data),
        "md": lambda: render_markdown(data),
    }


SETS = ".sets"
CURRENT = ".current"
KEEP_SETS = 3
_PARTIAL = ".partial"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class ReportFolderBusy(OutputError):
    """Another audit holds the report folder's lock."""


def report_folder_lock(out_dir: Path) -> ExclusiveLock:
    """The lock one run holds on its report folder while it runs and writes (reentrant:
    the writer takes it again inside the audit that holds it)."""

    def busy(holder: str) -> OutputError:
        return ReportFolderBusy(
            f"report folder {out_dir} is in use by another audit ({holder}); wait for it to "
            "finish, or write to another --out folder"
        )

    return ExclusiveLock(out_dir / ".lock", busy=busy, unavailable=OutputError, reentrant=True)


@contextmanager
def hold_report_folder(out_dir: Path) -> Iterator[None]:
    """Hold the report folder for a whole run, from before the audit starts: a second audit
    into the same folder fails at once (ReportFolderBusy), whether or not a history store
    serialises them too. A folder that cannot even be created is not an error yet: the run
    goes on (and is stored), and writing its reports says what failed."""
    lock = report_folder_lock(out_dir)
    try:
        fileio.make_folder(out_dir)
        lock.acquire()
    except ReportFolderBusy:
        raise
    except OutputError:
        yield
        return
    try:
        yield
    finally:
        lock.release()


def write_report_data(data: Mapping[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write every format from report.json data as one set (see the module docstring);
    returns format -> path (`DIR/index.html` ...). Each format is rendered as it is written
    into the new set, which is switched in only once all are: a rendering error (or a failed
    write) removes the half-written set and leaves the old reports. A failed write raises
    OutputError naming the file."""
    renderers = _renderers(data)
    fileio.make_folder(out_dir)
    with report_folder_lock(out_dir):
        clean_stale(out_dir)
        written = {kind: out_dir / REPORT_FILES[kind] for kind in renderers}
        _write_set(out_dir, str(data.get("run", {}).get("id") or "run"), renderers)
        return written


class _NoSymlinks(Exception):
    """The report folder's filesystem cannot hold symlinks (vfat, some SMB shares)."""


def _write_set(out_dir: Path, run_id: str, renderers: Mapping[str, Renderer]) -> None:
    sets = out_dir / SETS
    fileio.make_folder(sets)
    name = _free_name(sets, _SAFE_NAME.sub("_", run_id)[:100] or "run")
    partial = sets / (name + _PARTIAL)
    fileio.make_folder(partial)
    for kind, render in renderers.items():
        path = partial / REPORT_FILES[kind]
        try:
            fileio.write_synced(path, render())
        except OSError as exc:
            shutil.rmtree(partial, ignore_errors=True)  # no half set outlives the run
            raise fileio.output_error(out_dir / REPORT_FILES[kind], exc) from exc
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)  # a rendering error: the old set stays
            raise
    final = sets / name
    try:
        os.rename(partial, final)
        _link(out_dir / CURRENT, f"{SETS}/{name}")
        for filename in REPORT_FILES.values():
            entry = out_dir / filename
            target = f"{CURRENT}/{filename}"
            if not (entry.is_symlink() and os.readlink(entry) == target):
                _link(entry, target)  # once: a plain file from an older version goes
        fileio.sync_folder(out_dir)
    except _NoSymlinks:
        _move_out(final, out_dir, [REPORT_FILES[kind] for kind in renderers])
        return
    except OSError as exc:
        raise fileio.output_error(out_dir / CURRENT, exc, "switch the report set to") from exc
    _prune(sets, keep=name)


def _move_out(final: Path, out_dir: Path, filenames: Sequence[str]) -> None:
    """Where the folder cannot hold symlinks: each file of the finished set (written and
    synced) replaces its namesake in the folder by one rename, atomically on its own."""
    for filename in filenames:
        try:
            os.replace(final / filename, out_dir / filename)
        except OSError as exc:
            shutil.rmtree(final, ignore_errors=True)
            raise fileio.output_error(out_dir / filename, exc) from exc
    shutil.rmtree(final, ignore_errors=True)
    fileio.sync_folder(out_dir)


def _link(entry: Path, target: str) -> None:
    """Make `entry` a symlink to `target` by one rename (atomic for readers)."""
    temp = entry.with_name(f"{entry.name}.{os.getpid()}.link-tmp")
    temp.unlink(missing_ok=True)
    try:
        os.symlink(target, temp)
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS):
            raise _NoSymlinks from exc
        raise
    try:
        os.replace(temp, entry)
    except OSError:
        temp.unlink(missing_ok=True)
        raise


def _free_name(sets: Path, wanted: str) -> str:
    name, n = wanted, 1
    while (sets / name).exists() or (sets / (name + _PARTIAL)).exists():
        n += 1
        name = f"{wanted}-{n}"
    return name


def clean_stale(out_dir: Path) -> list[Path]:
    """Remove what a crashed run left in a report folder: half-written sets, our temp
    files and links. Only with the folder's lock held (a running writer's are not stale)."""
    removed: list[Path] = []
    sets = out_dir / SETS
    if sets.is_dir():
        for entry in sets.iterdir():
            if entry.name.endswith(_PARTIAL):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    for entry in out_dir.iterdir():
        name = entry.name
        ours = any(name.startswith(f".{f}.") for f in REPORT_FILES.values()) and name.endswith(
            ".tmp"
        )
        if ours or name.endswith(".link-tmp"):
            with suppress(OSError):
                entry.unlink()
                removed.append(entry)
    return removed


def _prune(sets: Path, keep: str) -> None:
    """Keep the newest KEEP_SETS sets (the one just switched to always)."""
    done = [e for e in sets.iterdir() if e.is_dir() and not e.name.endswith(_PARTIAL)]
    done.sort(key=lambda e: e.stat().st_mtime, reverse=True)
    kept = 1
    for entry in done:
        if entry.name == keep:
            continue
        if kept < KEEP_SETS:
            kept += 1
            continue
        shutil.rmtree(entry, ignore_errors=True)


def write_reports(run: AuditRun, out_dir: Path) -> dict[str, Path]:
    """Write every report format into out_dir; returns format -> path."""
    return write_report_data(run_to_dict(run), out_dir)


__all__ = [
    "REPORT_FILES",
    "clean_stale",
    "hold_report_folder",
    "load_schema",
    "render_all",
    "render_html",
    "render_json",
    "report_folder_lock",
    "run_to_dict",
    "validate_report",
    "write_atomic",
    "write_report_data",
    "write_reports",
]
