"""summary.md: short enough to paste in a ticket or a chat message (at most `MAX_CHARS`).

Host strings are escaped so a hostname cannot bold, link or break the message, and each
line is cut at `MAX_ITEM` characters; the full story is in index.html.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from auditor.model import SshState
from auditor.report.groups import (
    acceptance_note,
    group_findings,
    group_text,
    group_views,
    report_groups,
    split_accepted,
)
from auditor.report.json_report import finding_change_to_dict
from auditor.report.run_view import read_report
from auditor.report.view import labels, severity_counts, short_time, status_counts
from auditor.visible import visible, visible_data

MAX_CHARS = 3500  # below Slack's 4000-character message limit, with room for a link
MAX_ITEM = 160
TOP_FINDINGS = 8
TOP_CHANGES = 6

# Every line we write starts with our own text ("- **HIGH** ..."), so only characters that
# act mid-line need escaping: emphasis, code, links, HTML, tables, strike-through, entities.
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")


def md_escape(text: Any, limit: int = MAX_ITEM) -> str:
    flat = visible(" ".join(str(text).split()))  # one item stays one line, controls shown
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return _SPECIAL.sub(r"\\\1", flat)


def _code(text: Any) -> str:
    """Inside a code span nothing is markup, but a backtick would end it."""
    return visible(" ".join(str(text).replace("`", "'").split()))[:MAX_ITEM]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def render_markdown(report: Mapping[str, Any], max_chars: int = MAX_CHARS) -> str:
    report = visible_data(report)  # host strings print as text, controls escaped
    view = read_report(report)
    run, summary = view.run, view.summary
    names = labels(report)
    severities = ", ".join(f"{n} {s}" for s, n in severity_counts(report) if n)
    lines = [
        f"### auditor: {_plural(int(summary.get('hosts', 0)), 'host')}, "
        f"{_plural(len(view.findings), 'finding')}" + (f" ({severities})" if severities else ""),
        "",
        f"Run `{_code(run.id)}` at {short_time(run.started_at)} UTC. "
        + " · ".join(f"{s} **{n}**" for s, n in status_counts(report) if n),
    ]
    if view.interrupted:
        lines.append("Interrupted: only hosts probed before Ctrl-C have facts.")
    partial = [h.label for h in view.hosts if h.ssh.state == SshState.PARTIAL]
    if partial:
        shown = ", ".join(md_escape(label, 60) for label in partial[:TOP_CHANGES])
        more = f" and {len(partial) - TOP_CHANGES} more" if len(partial) > TOP_CHANGES else ""
        lines.append(f"Probed partially (cut short, facts kept as far as they came): {shown}{more}")
    failed = [s for s in run.sources if not s.ok]
    if failed:
        lines.append(
            "Sources failed: "
            + ", ".join(f"{md_escape(s.kind)} '{md_escape(s.name)}'" for s in failed)
        )
    groups, accepted = split_accepted(group_views(report_groups(report)))
    if groups:
        lines += ["", "**Top findings**"]
        for g in groups[:TOP_FINDINGS]:
            note = acceptance_note(g)  # only an expired acceptance is left among these
            lines.append(
                f"- **{g.severity.value.upper()}** {group_text(g, names, md_escape)}"
                + (f" ({md_escape(note)})" if note else "")
            )
        if len(groups) > TOP_FINDINGS:
            lines.append(f"- … and {len(groups) - TOP_FINDINGS} more in index.html")
    if accepted:
        n = sum(g.count for g in accepted)
        lines += ["", f"Accepted (`[[accept]]`, not counted): {_plural(n, 'finding')} in "
                      f"{_plural(len(accepted), 'group')}"]  # fmt: skip
    changes = view.changes
    if changes is not None and changes.previous_run:
        counts = changes.counts()
        parts = [
            _plural(counts["new_hosts"], "new host"),
            f"{counts['gone_hosts']} gone",
            _plural(counts["status_changed"], "status change"),
            _plural(counts["fact_changes"], "fact change"),
            f"{counts['new_findings']} new / {counts['resolved_findings']} resolved findings",
        ]
        lines += ["", f"**Since run `{_code(changes.previous_run)}`**: " + ", ".join(parts)]
        items: list[str] = []
        items += [f"- new: {md_escape(h.label)} ({h.status})" for h in changes.new_hosts]
        items += [f"- gone: {md_escape(h.label)}" for h in changes.gone_hosts]
        items += [
            f"- {md_escape(c.label or names.get(c.host, c.host))}: {c.before} → {c.after}"
            for c in changes.status_changed
        ]
        items += [
            f"- new finding: **{g.severity.value.upper()}** {group_text(g, names, md_escape)}"
            for g in group_views(
                group_findings(finding_change_to_dict(f) for f in changes.new_findings)
            )
        ]
        lines += items[:TOP_CHANGES]
        if len(items) > TOP_CHANGES:
            lines.append(f"- … and {len(items) - TOP_CHANGES} more")
    elif changes is not None:
        lines += ["", "First run in this history: the next run will show what changed."]
    text = "\n".join(lines) + "\n"
    while len(text) > max_chars and len(lines) > 3:  # never cut a line in half
        lines = [*lines[:-2], "- …"]
        text = "\n".join(lines) + "\n"
    return text
