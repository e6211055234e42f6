"""`last` (util-linux, sysvinit, BusyBox) and `who` (coreutils, BusyBox)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from auditor.model import Login
from auditor.probe.parsers.clock import MONTHS, WEEKDAYS, place_in_year

_ISO_RE = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d))?(?:([+-]\d\d):?(\d\d)|Z)?")
_CTIME_RE = re.compile(
    r"(?:(Mon|Tue|Wed|Thu|Fri|Sat|Sun) +)?"
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(\d{1,2}) +(\d\d):(\d\d)(?::(\d\d))?"
    r"(?: (\d{4})\b)?"
)
# Pseudo-users `last` prints for system events, not logins.
_NOT_LOGINS = frozenset({"reboot", "shutdown", "runlevel", "LOGIN", "USER"})


def parse_last(text: str, now: datetime) -> tuple[Login, ...]:
    """Logins from `last` output, newest first. `now` places year-less dates."""
    logins = []
    for line in text.split("\n"):
        found = _find_time(line, now)
        if found is None:
            continue
        at, start, _ = found
        head = line[:start].split()
        if len(head) < 2 or head[0] in _NOT_LOGINS or line.startswith("wtmp begins"):
            continue
        user, tty = head[0], head[1]
        host = " ".join(head[2:]) or None
        logins.append(Login(user=user, source=host or tty, at=at))
    return _newest_first(logins)


def parse_who(text: str, now: datetime) -> tuple[Login, ...]:
    """Current sessions from `who`: the host in parentheses (coreutils) or last (BusyBox)."""
    sessions = []
    for line in text.split("\n"):
        found = _find_time(line, now)
        if found is None:
            continue
        at, start, end = found
        head = line[:start].split()
        if len(head) < 2 or head[0] in _NOT_LOGINS:
            continue
        user, tty = head[0], head[1]
        tail = line[end:].strip()
        if tail.startswith("(") and ")" in tail:
            host = tail[1 : tail.index(")")]
        else:
            words = tail.split()
            host = words[-1] if words else ""
        sessions.append(Login(user=user, source=host or tty, at=at))
    return _newest_first(sessions)


def _find_time(line: str, now: datetime) -> tuple[datetime | None, int, int] | None:
    """The first timestamp in the line: (moment, start, end); None when there is none."""
    iso = _ISO_RE.search(line)
    ctime = _CTIME_RE.search(line)
    if iso and (ctime is None or iso.start() <= ctime.start()):
        return _iso(iso), iso.start(), iso.end()
    if ctime:
        weekday = WEEKDAYS[ctime[1]] if ctime[1] else None
        month, day = MONTHS[ctime[2]], int(ctime[3])
        hour, minute, second = int(ctime[4]), int(ctime[5]), int(ctime[6] or 0)
        if ctime[7]:
            try:
                at = datetime(int(ctime[7]), month, day, hour, minute, second, tzinfo=now.tzinfo)
            except ValueError:
                return None
        else:
            placed = place_in_year(month, day, hour, minute, second, now, weekday)
            if placed is None:
                return None
            at = placed
        return at, ctime.start(), ctime.end()
    return None


def _iso(match: re.Match[str]) -> datetime | None:
    text = f"{match[1]}-{match[2]}-{match[3]}T{match[4]}:{match[5]}:{match[6] or '00'}"
    text += f"{match[7]}:{match[8]}" if match[7] else "+00:00"
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return None


def _newest_first(logins: list[Login]) -> tuple[Login, ...]:
    # BusyBox's plain `last` prints oldest first; everyone else newest first.
    return tuple(sorted(logins, key=lambda lg: -lg.at.timestamp() if lg.at else 0.0))
