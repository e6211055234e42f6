"""Atomic file writes: a temp file in the same folder, fsync, rename over the target.

Readers never see half a file, and an interrupted write leaves the previous file in place.
A failed write (full disk, read-only folder, permission) raises OutputError naming the file
we meant to write, never the temp file's name.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from auditor.errors import OutputError

Data = str | bytes | Iterable[str]  # an iterable of str is written piece by piece


def output_error(path: Path, exc: OSError, what: str = "write") -> OutputError:
    """`cannot write PATH: No space left on device`: the file, and the system's reason."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return OutputError(f"cannot {what} {path}: {reason}")


def make_folder(path: Path) -> None:
    """mkdir -p, as an OutputError naming the folder when it fails."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(path, exc, "create the folder") from exc


def write_atomic(path: Path, data: Data, *, mode: int = 0o644) -> None:
    make_folder(path.parent)
    try:
        _write_atomic(path, data, mode)
    except OSError as exc:
        raise output_error(path, exc) from exc


def write_synced(path: Path, data: Data, *, mode: int = 0o644) -> None:
    """Write a new file and fsync it (for a folder that is renamed into place whole)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb", buffering=1 << 20) as handle:
        _write(handle, data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(path, mode)  # whatever the umask took away


def sync_folder(path: Path) -> None:
    """fsync a folder, so renames in it survive a power cut (best effort)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write(handle: IO[bytes], data: Data) -> None:
    if isinstance(data, str | bytes):
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        return
    for chunk in data:  # a large file in pieces: never whole in memory
        handle.write(chunk.encode("utf-8"))


def _write_atomic(path: Path, data: Data, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as handle:
            _write(handle, data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
