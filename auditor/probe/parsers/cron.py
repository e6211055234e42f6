"""Cron tables: `<file>\t<line>` lines (the probe's `read` loop over /etc/crontab,
/etc/cron.d and the spool directories); comments and blank lines are already gone."""

from __future__ import annotations

import re

# NAME=value lines set the environment of the jobs below them; they are not jobs.
_ASSIGNMENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*=")


def parse_cron_lines(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """-> (entries as "file: line", complaints such as unreadable files)."""
    entries, complaints = [], []
    for line in text.split("\n"):
        path, tab, entry = line.partition("\t")
        if tab and path.startswith("/"):
            entry = entry.strip()
            if entry and not entry.startswith("#") and not _ASSIGNMENT_RE.match(entry):
                entries.append(f"{path}: {entry}")
        elif line.strip():
            complaints.append(line.strip())
    return tuple(entries), tuple(complaints)
