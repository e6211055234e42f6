"""index.html: one self-contained file (inline CSS, no external assets), autoescaped."""

from __future__ import annotations

from typing import Any

import jinja2

from auditor.model import AuditRun
from auditor.report.json_report import run_to_dict

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("auditor.report", "templates"),
    # Every string from a host (hostname, log line, banner) is hostile until escaped.
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_html(run: AuditRun, data: dict[str, Any] | None = None) -> str:
    report = data if data is not None else run_to_dict(run)
    return _ENV.get_template("index.html.j2").render(report=report)
