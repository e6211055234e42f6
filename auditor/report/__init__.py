"""Reporters: turn an AuditRun into files people and tools read. Writes are atomic.

Every format is rendered from the report.json data (`run_to_dict`), so a run kept in the
history store renders again exactly (`write_report_data`, `auditor report --run ID`).

| file | renderer | for |
|---|---|---|
| report.json | `json_report.render_json` | tools; schema `auditor/report@1` |
| index.html | `html_report.render_html_data` | people: one self-contained file |
| hosts.csv | `csv_report.render_csv` | spreadsheets (formula-injection safe) |
| summary.md | `markdown_report.render_markdown` | a ticket or a chat message |
| (terminal) | `terminal.render_terminal_summary` | the console after a run |
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from auditor import fileio
from auditor.model import AuditRun
from auditor.report.html_report import render_html, render_html_data
from auditor.report.json_report import load_schema, render_json, run_to_dict, validate_report

REPORT_FILES = {
    "json": "report.json",
    "html": "index.html",
    "csv": "hosts.csv",
    "md": "summary.md",
}


def write_atomic(path: Path, text: str) -> None:
    """Write a report file atomically: an interrupted run leaves the previous one in place."""
    fileio.write_atomic(path, text)


def render_all(data: Mapping[str, Any]) -> dict[str, str]:
    """Every file format's text from report.json data: format -> text."""
    from auditor.report.csv_report import render_csv
    from auditor.report.markdown_report import render_markdown

    return {
        "json": json.dumps(data, indent=2) + "\n",
        "html": render_html_data(data),
        "csv": render_csv(data),
        "md": render_markdown(data),
    }


def write_report_data(data: Mapping[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write every format from report.json data; returns format -> path. Everything is
    rendered before anything is written, so a rendering error leaves the old reports."""
    texts = render_all(data)
    written = {kind: out_dir / REPORT_FILES[kind] for kind in texts}
    for kind, text in texts.items():
        write_atomic(written[kind], text)
    return written


def write_reports(run: AuditRun, out_dir: Path) -> dict[str, Path]:
    """Write every report format into out_dir; returns format -> path."""
    return write_report_data(run_to_dict(run), out_dir)


__all__ = [
    "REPORT_FILES",
    "load_schema",
    "render_all",
    "render_html",
    "render_json",
    "run_to_dict",
    "validate_report",
    "write_atomic",
    "write_report_data",
    "write_reports",
]
