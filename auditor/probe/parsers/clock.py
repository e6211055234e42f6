"""Dates that tools print without a year (`Nov 28 10:15`), placed on the calendar.

The probe exports TZ=UTC, so every time a tool prints is UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, 1)}
WEEKDAYS = {d: i for i, d in enumerate(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"))}


def place_in_year(
    month: int,
    day: int,
    hour: int,
    minute: int,
    second: int,
    now: datetime,
    weekday: int | None = None,
) -> datetime | None:
    """The latest such moment not after `now` (+1 day of clock slack); when the tool also
    printed the weekday, the latest such moment on that weekday within ten years."""
    limit = now + timedelta(days=1)
    fallback = None
    for year in range(limit.year, limit.year - 11, -1):
        try:
            candidate = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError:  # Feb 29 in a common year
            continue
        if candidate > limit:
            continue
        if fallback is None:
            fallback = candidate
        if weekday is None or candidate.weekday() == weekday:
            return candidate
    return fallback


def from_epoch(value: str | float | int) -> datetime | None:
    """Seconds since the epoch (possibly fractional text) -> aware UTC datetime."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    if not 0 <= seconds < 1e11:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC)
