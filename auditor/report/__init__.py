"""Reporters: turn an AuditRun into files people and tools read. Writes are atomic."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from auditor.model import AuditRun


def write_atomic(path: Path, text: str) -> None:
    """Write via a temp file in the same folder + rename: readers never see half a file,
    and an interrupted run leaves the previous report in place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_reports(run: AuditRun, out_dir: Path) -> dict[str, Path]:
    """Write every report format into out_dir; returns format -> path."""
    from auditor.report.html_report import render_html
    from auditor.report.json_report import render_json, run_to_dict

    data = run_to_dict(run)
    written = {
        "json": out_dir / "report.json",
        "html": out_dir / "index.html",
    }
    write_atomic(written["json"], render_json(run))
    write_atomic(written["html"], render_html(run, data))
    return written
