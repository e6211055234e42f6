"""Files under /var/log with size and last write.

Three listings, by what the host has: GNU `find -printf '%T@ %s %p'` (every GNU system,
CentOS 5 included), `find -exec stat -c '%Y %s %n' {} +` (BusyBox), or `ls -lnR` (anything).
For the first two the probe's awk keeps the newest N files, in no particular order (the
parser sorts), then appends `# files N errors M`; `! message` lines are find's complaints
(unreadable directories).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from auditor.model import LogFile
from auditor.probe.parsers.clock import MONTHS, from_epoch, place_in_year


@dataclass(frozen=True)
class LogListing:
    files: tuple[LogFile, ...]  # newest first
    total: int | None  # files found before the cut (None: not said)
    errors: tuple[str, ...] = ()

    @property
    def truncated(self) -> bool:
        return self.total is not None and self.total > len(self.files)


_STAT_RE = re.compile(r"^(\d+(?:\.\d+)?) (\d+) (/.*)$")
_TOTAL_RE = re.compile(r"^# files (\d+) errors (\d+)$")


def parse_stat_listing(text: str, *, raw: bool = False, limit: int | None = None) -> LogListing:
    """`<mtime epoch> <size> <path>` lines (find -printf or stat -c), in any order; the
    files come out newest first, equal times by path, at most `limit` of them. The probe's
    awk adds `! ` complaint lines and a `# files N errors E` trailer; `raw` is find's own
    output instead, whose other lines are its complaints (the first 20 are kept)."""
    files: list[LogFile] = []
    errors: list[str] = []
    total = None
    for line in text.split("\n"):
        match = _STAT_RE.match(line)
        if match:
            mtime = from_epoch(match[1])
            if mtime is not None:
                files.append(LogFile(path=match[3], size=int(match[2]), mtime=mtime))
            continue
        if raw:
            if line.strip() and len(errors) < 20:
                errors.append(line.strip())
            continue
        summary = _TOTAL_RE.match(line.strip())
        if summary:
            total = int(summary[1])
        elif line.startswith("! "):
            errors.append(line[2:].strip())
    files.sort(key=lambda f: f.path)
    files.sort(key=lambda f: f.mtime, reverse=True)
    if raw:
        total = len(files)
    if limit is not None:
        files = files[:limit]
    return LogListing(tuple(files), total, tuple(errors))


# -rw-r-----    1 0        4            12345 Nov 28 10:15 syslog      (BusyBox, recent)
# -rw-r--r-- 1 0 0 606 Jun 24  2025 fontconfig.log                     (coreutils, older)
_LS_RE = re.compile(
    r"^-\S*\s+\d+\s+\S+\s+\S+\s+(\d+)\s+"
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+(\d{1,2})\s+(?:(\d\d):(\d\d)|(\d{4}))\s(.+)$"
)


def parse_ls_listing(text: str, now: datetime, limit: int | None = None) -> LogListing:
    """`ls -lnR /var/log`: regular files only; minute precision at best (`ls` prints the
    year instead of the time for files older than six months: those get midnight)."""
    files = []
    directory = ""
    for line in text.split("\n"):
        if line.startswith("/") and line.endswith(":"):
            directory = line[:-1].rstrip("/")
            continue
        match = _LS_RE.match(line)
        if match is None or not directory:
            continue
        month, day = MONTHS[match[2]], int(match[3])
        if match[6]:
            try:
                mtime = datetime(int(match[6]), month, day, tzinfo=now.tzinfo)
            except ValueError:
                continue
        else:
            placed = place_in_year(month, day, int(match[4]), int(match[5]), 0, now)
            if placed is None:
                continue
            mtime = placed
        files.append(LogFile(path=f"{directory}/{match[7]}", size=int(match[1]), mtime=mtime))
    files.sort(key=lambda f: f.mtime, reverse=True)
    total = len(files)
    if limit is not None:
        files = files[:limit]
    return LogListing(tuple(files), total)
