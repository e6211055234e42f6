"""index.html: one self-contained file (inline CSS, inline SVG charts, one small inline
script), autoescaped everywhere.

It works offline and as a mail attachment: nothing is loaded from anywhere. The Content
Security Policy allows no source at all except inline styles, data: images and the one
script whose sha256 hash it names; an injected `<script>` (should escaping ever fail) or an
inline event handler would not run.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from auditor.model import SEVERITIES, SEVERITY_RANK, AuditRun, Changes
from auditor.report.groups import group_findings, report_groups
from auditor.report.html_data import page_data, script_json_pieces
from auditor.report.json_report import finding_change_to_dict, run_to_dict
from auditor.report.run_view import read_changes
from auditor.report.view import (
    EOL_STATUSES,
    STATUSES,
    HostRow,
    HostRows,
    change_counts,
    eol_by_os,
    eol_host_count,
    human_duration,
    listener_text,
    severity_counts,
    short_time,
    status_counts,
    uptime_histogram,
)
from auditor.visible import visible_in_html

if TYPE_CHECKING:
    import jinja2


@functools.cache
def _environment() -> jinja2.Environment:
    """The template environment, made (and jinja2 imported) on the first page rendered:
    commands that write no HTML do not pay for it."""
    import jinja2

    env = jinja2.Environment(
        finalize=visible_in_html,  # control characters show as \x1b, never act
        loader=jinja2.PackageLoader("auditor.report", "templates"),
        # Every string from a host (hostname, log line, banner) is hostile until escaped.
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["dur"] = human_duration
    env.filters["t"] = short_time
    env.filters["listener"] = listener_text
    return env


def _script() -> str:
    """templates/report.js with the severity ranks written in (auditor.model holds them)."""
    text = resources.files("auditor.report").joinpath("templates/report.js").read_text("utf-8")
    ranks = sorted(SEVERITY_RANK.items(), key=lambda item: -item[1])
    literal = "{ " + ", ".join(f"{name}: {rank}" for name, rank in ranks) + ', "": 0 }'
    marker = "/*SEVERITY_RANK*/ {};  // auditor.model.SEVERITY_RANK, written in by html_report"
    if marker not in text:
        raise RuntimeError("templates/report.js: the severity ranks' marker is missing")
    return text.replace(marker, literal + ";")


SCRIPT = _script()


def _report_style() -> str:
    template = resources.files("auditor.report").joinpath("templates/index.html.j2")
    text = template.read_text("utf-8")
    start = text.index("<style>") + len("<style>")
    return text[start : text.index("</style>", start)]


# The main report's stylesheet, read from its template: the dossier and migration pages
# use it too, so every page auditor writes looks like one product and none drifts.
REPORT_STYLE = _report_style()
SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(SCRIPT.encode("utf-8")).digest()).decode()
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    f"script-src '{SCRIPT_HASH}'; base-uri 'none'; form-action 'none'"
)


# --------------------------------------------------------------------------- charts
# Geometry is computed here (numbers only); every label is escaped by the template.


def donut(parts: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
    """Segments of a donut drawn with stroke-dasharray on a circle of circumference 100."""
    total = sum(n for _, n in parts) or 1
    out, offset = [], 25.0  # start at 12 o'clock
    for name, n in parts:
        if not n:
            continue
        share = 100.0 * n / total
        out.append({"name": name, "n": n, "dash": f"{share:.3f} {100 - share:.3f}",
                    "offset": f"{offset:.3f}", "pct": round(share)})  # fmt: skip
        offset = (offset - share) % 100
    return out


def stacked_bars(
    rows: Sequence[tuple[str, Mapping[str, int]]], keys: Sequence[str], width: float = 240.0
) -> list[dict[str, Any]]:
    biggest = max((sum(r.values()) for _, r in rows), default=0) or 1
    out = []
    for label, counts in rows:
        x, segments = 0.0, []
        for key in keys:
            n = counts.get(key, 0)
            if n:
                w = width * n / biggest
                segments.append({"key": key, "n": n, "x": f"{x:.1f}", "w": f"{max(w, 1.5):.1f}"})
                x += w
        out.append({"label": label, "total": sum(counts.values()), "segments": segments,
                    "end": f"{x + 6:.1f}"})  # fmt: skip
    return out


def histogram(buckets: Sequence[tuple[str, int]], height: float = 110.0) -> list[dict[str, Any]]:
    biggest = max((n for _, n in buckets), default=0) or 1
    out = []
    for i, (label, n) in enumerate(buckets):
        h = height * n / biggest if n else 0.0
        out.append({"label": label, "n": n, "x": i * 42 + 4, "h": f"{h:.1f}",
                    "y": f"{height - h + 14:.1f}"})  # fmt: skip
    return out


def _cards(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    summary = report.get("summary") or {}
    by_status = dict(status_counts(report))
    sev = dict(severity_counts(report))
    cards = [
        {"n": summary.get("hosts", 0), "label": "hosts", "cls": "", "key": ""},
        {"n": by_status["unmanaged"], "label": "unmanaged", "cls": "c-crit",
         "key": "status=unmanaged"},
        {"n": by_status["cloud-unmanaged"], "label": "cloud-unmanaged", "cls": "c-high",
         "key": "status=cloud-unmanaged"},
        {"n": by_status["stale"] + by_status["missing"], "label": "stale / missing",
         "cls": "c-stale", "key": ""},
        {"n": sev["critical"], "label": "critical findings", "cls": "c-crit",
         "key": "sev=critical"},
        {"n": sev["high"], "label": "high findings", "cls": "c-high", "key": "sev=high"},
        {"n": eol_host_count(report, "eol"), "label": "hosts on an end-of-life OS",
         "cls": "c-eol", "key": ""},
        {"n": eol_host_count(report, "extended-support"),
         "label": "hosts on an OS in extended support", "cls": "c-ext", "key": ""},
        {"n": f"{summary.get('probed', 0)}/{summary.get('hosts', 0)}", "label": "probed over SSH",
         "cls": "c-ok", "key": ""},
    ]  # fmt: skip
    if summary.get("partial"):
        cards.append({"n": summary["partial"], "label": "probed partially (cut short)",
                      "cls": "c-high", "key": ""})  # fmt: skip
    return cards


MAX_GROUPS = 500  # findings table rows; report.json has every group


def _group_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The findings table: one row per group, with the first host's evidence as a sample."""
    shown = report_groups(report)[:MAX_GROUPS]
    wanted = {(g["rule"], g["severity"], g["title"], g["hosts"][0] if g["hosts"] else "")
              for g in shown}  # fmt: skip
    first: dict[tuple[str, str, str, str], Mapping[str, Any]] = {}  # samples, not every finding
    for f in report.get("findings", ()):
        found = (f["rule"], f["severity"], f["title"], str(f.get("host") or ""))
        if found in wanted and found not in first:
            first[found] = f
    out = []
    for group in shown:
        host = group["hosts"][0] if group["hosts"] else ""
        sample = first.get((group["rule"], group["severity"], group["title"], host)) or {}
        out.append({**group, "evidence": list(sample.get("evidence") or ())})
    return out


def build_view(report: Mapping[str, Any]) -> dict[str, Any]:
    changes = read_changes(report.get("changes"))
    eol_rows = eol_by_os(report)[:8]
    rows = HostRows(report)
    statuses = status_counts(report)
    groups = _group_rows(report)
    data = page_data(rows, [g["hosts"] for g in groups], changes)
    # New and resolved findings since the last run, grouped like the findings table.
    new_groups = group_findings(
        finding_change_to_dict(f) for f in (changes.new_findings if changes else ())
    )
    resolved_groups = group_findings(
        finding_change_to_dict(f) for f in (changes.resolved_findings if changes else ())
    )
    anchors, names = _links(rows, [*groups, *new_groups, *resolved_groups], changes)
    return {
        "groups": groups,
        "new_groups": new_groups,
        "resolved_groups": resolved_groups,
        "groups_total": len(report_groups(report)),
        # The page's JSON block, host by host (escaped for a script element piece by piece):
        # written into the file as it is made, never one string (issue 14).
        "data_json": _Pieces(data),
        "csp": CSP,
        "script": Markup(SCRIPT),  # our own file, hashed into the CSP
        "cards": _cards(report),
        "status_donut": donut(statuses),
        "statuses": [s for s, n in statuses if n],
        "all_statuses": STATUSES,
        "severities": SEVERITIES,
        "severity_counts": severity_counts(report),
        "eol_statuses": EOL_STATUSES,
        "eol_bars": stacked_bars(eol_rows, EOL_STATUSES),
        "eol_height": 22 * len(eol_rows) + 8,
        "uptime": histogram(uptime_histogram(report)),
        "host_count": len(report.get("hosts", ())),
        "anchors": anchors,
        "labels": names,
        "changes": changes,
        "change_counts": change_counts(changes),
        "sqrt": math.sqrt,
    }


def _links(
    rows: Iterable[HostRow], groups: Sequence[Mapping[str, Any]], changes: Changes | None
) -> tuple[dict[str, str], dict[str, str]]:
    """(id -> anchor, id -> label) of the hosts the page may link to by name: each group's
    first host and every host the changes name, not a pair of entries per host of the fleet
    (issue 14)."""
    wanted = {str(g["hosts"][0]) for g in groups if g["hosts"]}
    if changes is not None:
        for named in (changes.new_hosts, changes.returned_hosts, changes.status_changed,
                      changes.fact_changes):  # fmt: skip
            wanted.update(x.host for x in named)
    anchors: dict[str, str] = {}
    names: dict[str, str] = {}
    if wanted:
        for row in rows:
            if row.id in wanted:
                anchors[row.id], names[row.id] = row.anchor, row.label
    return anchors, names


class _Pieces:
    """The page's data block as `Markup` pieces (`script_json_pieces`), made again on each
    iteration."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data

    def __iter__(self) -> Iterator[Markup]:
        for piece in script_json_pieces(self._data):
            yield Markup(piece)  # escaped for a script element by script_json_pieces


def html_pieces(report: Mapping[str, Any]) -> Iterator[str]:
    """index.html from report.json data, in the pieces jinja makes it in (`generate`): the
    page is written into its file as made, never held whole (issue 14)."""
    template = _environment().get_template("index.html.j2")
    return template.generate(report=report, view=build_view(report))


def render_html_data(report: Mapping[str, Any]) -> str:
    """index.html from report.json data (a fresh run or a stored one)."""
    return "".join(html_pieces(report))


def render_html(run: AuditRun, data: dict[str, Any] | None = None) -> str:
    return render_html_data(data if data is not None else run_to_dict(run))
