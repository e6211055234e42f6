"""Accepted SSH logins from the auth logs (`sshd[..]: Accepted publickey for USER from ADDR
port N`). Used by `auditor inspect` only: `last` (wtmp) misses sessions without a terminal
(scp, rsync, automation) and boxes whose wtmp was rotated away; the auth log has them.

Where, best first: /var/log/secure and its dated rotations (RHEL/CentOS), /var/log/auth.log
and auth.log.1 (Debian/Ubuntu), /var/log/messages (Alpine and BusyBox syslogd), then the
journal (`journalctl _COMM=sshd`) when none of those files exists. Only files written within
the window are read, each through `tail -c` (the newest part) and one `grep`; at most
`max_logins` lines per file cross the wire. Syslog times are the host's local time: the
snippet ships the host's UTC offset (`date +%z` with the probe's TZ=UTC unset).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from auditor.model import Login
from auditor.probe.interface import FactUpdate, ParseContext, part_failure
from auditor.probe.options import ProbeOptions
from auditor.probe.parsers.addresses import normalise_address
from auditor.probe.parsers.clock import MONTHS, place_in_year
from auditor.probe.sections import Section
from auditor.probe.shell import fill

AUTH_LOGS = (
    "/var/log/secure", "/var/log/secure-*", "/var/log/secure.1", "/var/log/auth.log",
    "/var/log/auth.log.1", "/var/log/messages",
)  # fmt: skip
MAX_LOG_BYTES = 8 * 1024 * 1024  # newest bytes read of each auth log
# Words before `sshd[PID]:` in a syslog line: "Nov 28 10:15:32 host auth.info" at most.
MAX_HEADER_WORDS = 5

_SNIPPET = r"""
_b authlog/accepted
printf 'Z %s\n' "$(unset TZ; date +%z 2>/dev/null)"
AF=0
for f in @LOGS@; do
  [ -f "$f" ] || continue
  [ -n "$(find "$f" -prune -mtime -@WINDOW@ 2>/dev/null)" ] || continue
  AF=1
  if [ ! -r "$f" ]; then printf 'X unreadable %s\n' "$f"; continue; fi
  printf 'F %s\n' "$f"
  tail -c @MAXB@ "$f" 2>/dev/null | tr -d '\000' | grep 'sshd.*: Accepted ' | tail -n @MAXL@
done
if [ "$AF" = 0 ] && _has journalctl; then
  printf 'F journal\n'
  _tt @CT@
  $TT journalctl -q --no-pager -o short-iso _COMM=sshd -n 20000 2>/dev/null |
    grep ': Accepted ' | tail -n @MAXL@
fi
_e authlog/accepted 0
"""

_ACCEPTED_RE = re.compile(
    r"sshd\[\d+\]: Accepted (?P<method>\S+) for (?P<user>\S+) from (?P<address>\S+)"
    r"(?: port (?P<port>\d+))?"
)
_ISO_RE = re.compile(
    r"^(?P<date>\d{4}-\d\d-\d\d)T(?P<time>\d\d:\d\d:\d\d)(?:\.\d+)?(?P<zone>Z|[+-]\d\d:?\d\d)?"
)
_SYSLOG_RE = re.compile(
    r"^(?P<month>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(?P<day>\d{1,2}) "
    r"(?P<hour>\d\d):(?P<minute>\d\d):(?P<second>\d\d)"
)


@dataclass(frozen=True)
class AcceptedLogin:
    user: str
    address: str
    at: datetime | None
    method: str
    log: str  # the file (or "journal") that said so


def parse_zone(text: str) -> timezone | None:
    """`+0100` / `-0500` (date +%z) -> a fixed offset."""
    text = text.strip()
    if len(text) != 5 or text[0] not in "+-" or not text[1:].isdigit():
        return None
    minutes = int(text[1:3]) * 60 + int(text[3:5])
    return timezone(timedelta(minutes=minutes if text[0] == "+" else -minutes))


def line_time(line: str, now: datetime, zone: timezone | None) -> datetime | None:
    """The line's leading time: ISO 8601 (rsyslog, journal short-iso) or a year-less syslog
    stamp in the host's local zone, placed before the host's clock."""
    iso = _ISO_RE.match(line)
    if iso:
        offset = iso["zone"] or ""
        if offset and offset != "Z" and ":" not in offset:
            offset = offset[:3] + ":" + offset[3:]
        try:
            at = datetime.fromisoformat(f"{iso['date']}T{iso['time']}{offset.replace('Z', '')}")
        except ValueError:
            return None
        if at.tzinfo is None:
            at = at.replace(tzinfo=zone or UTC)
        return at.astimezone(UTC)
    stamp = _SYSLOG_RE.match(line)
    if stamp is None:
        return None
    local_now = now.astimezone(zone or UTC).replace(tzinfo=UTC)
    placed = place_in_year(
        MONTHS[stamp["month"]],
        int(stamp["day"]),
        int(stamp["hour"]),
        int(stamp["minute"]),
        int(stamp["second"]),
        local_now,
    )
    if placed is None:
        return None
    return placed.replace(tzinfo=zone or UTC).astimezone(UTC)


def parse_accepted(text: str, now: datetime) -> tuple[tuple[AcceptedLogin, ...], tuple[str, ...]]:
    """-> (accepted logins newest first, complaints such as unreadable logs)."""
    zone: timezone | None = None
    current = "?"
    logins: list[AcceptedLogin] = []
    complaints: list[str] = []
    for line in text.split("\n"):
        if line.startswith("Z "):
            zone = parse_zone(line[2:])
            continue
        if line.startswith("F "):
            current = line[2:].strip()
            continue
        if line.startswith("X "):
            complaints.append(line[2:].strip())
            continue
        match = _ACCEPTED_RE.search(line)
        # sshd must be the line's program (after the time, host and maybe a facility), not
        # words inside another program's message.
        if match is None or len(line[: match.start()].split()) > MAX_HEADER_WORDS:
            continue
        logins.append(
            AcceptedLogin(
                user=match["user"],
                address=normalise_address(match["address"]),
                at=line_time(line, now, zone),
                method=match["method"],
                log=current,
            )
        )
    logins.sort(key=lambda a: -a.at.timestamp() if a.at else 0.0)
    return tuple(logins), tuple(complaints)


def as_logins(accepted: tuple[AcceptedLogin, ...]) -> tuple[Login, ...]:
    return tuple(Login(user=a.user, source=a.address, at=a.at) for a in accepted)


@dataclass(frozen=True)
class AuthLogFact:
    name: str = "authlog"
    fields: tuple[str, ...] = ("accepted_logins",)
    privileged: bool = True

    def snippet(self, options: ProbeOptions) -> str:
        return fill(
            _SNIPPET,
            LOGS=" ".join(AUTH_LOGS),
            WINDOW=options.log_days + 1,
            MAXB=MAX_LOG_BYTES,
            MAXL=max(options.max_logins * 4, 200),
            CT=max(options.command_timeout, 20),
        )

    def parse(self, section: Section, context: ParseContext) -> FactUpdate:
        part = section.get("accepted")
        if part is None or not part.complete:
            reason = part_failure(part, "auth log")
            return FactUpdate({"accepted_logins": None}, {"accepted_logins": reason})
        accepted, complaints = parse_accepted(part.body, context.host_now or context.collected_at)
        errors: dict[str, str] = {}
        unreadable = [c.split(" ", 1)[-1] for c in complaints if c.startswith("unreadable")]
        if unreadable:
            what = "reading " + ", ".join(unreadable)
            errors["accepted_logins.unreadable"] = (
                context.privilege.needs_root(what)
                if not context.privilege.root
                else f"{what}: not readable even as root"
            )
        return FactUpdate({"accepted_logins": accepted}, errors)
