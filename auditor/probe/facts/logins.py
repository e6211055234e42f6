"""Recent logins (`last`) and current sessions (`who`).

`last` differs by system: util-linux >= 2.23 takes `-w -n N --time-format iso` (full
timestamps); older util-linux and sysvinit's `last` (CentOS 5) print `Sat Nov 28 10:15`
without a year, sysvinit without `-w`; BusyBox's `last` takes no options at all and may be
missing. The snippet tries them in that order. TZ=UTC makes every printed time UTC.
"""

from __future__ import annotations

from dataclasses import dataclass

from auditor.probe.interface import FactUpdate, ParseContext, part_failure
from auditor.probe.options import ProbeOptions
from auditor.probe.parsers.logins import parse_last, parse_who
from auditor.probe.sections import Section
from auditor.probe.shell import fill

# No `timeout`: `last` and `who` read local files (wtmp, utmp) and print the host field as
# recorded (no -d: no DNS); the controller's per-host deadline bounds the session.
_SNIPPET = r"""
if _has last; then
  O=$(last -w -n @MAX@ --time-format iso 2>&1); R=$?
  [ "$R" = 0 ] || { O=$(last -w -n @MAX@ 2>&1); R=$?; }
  [ "$R" = 0 ] || { O=$(last -n @MAX@ 2>&1); R=$?; }
  [ "$R" = 0 ] || { O=$(last 2>&1); R=$?; O=$(printf '%s\n' "$O" | sed -n '1,400p'); }
  _o logins/last "$R" "$O"
else
  _o logins/last 127 "last: command not found"
fi
if _has who; then O=$(who 2>&1); _o logins/who $? "$O"
else _o logins/who 127 "who: command not found"; fi
"""


@dataclass(frozen=True)
class LoginsFact:
    name: str = "logins"
    fields: tuple[str, ...] = ("logins", "sessions")
    privileged: bool = False

    def snippet(self, options: ProbeOptions) -> str:
        return fill(_SNIPPET, MAX=options.max_logins)

    def parse(self, section: Section, context: ParseContext) -> FactUpdate:
        now = context.host_now or context.collected_at
        values: dict[str, object] = {}
        errors: dict[str, str] = {}
        last = section.get("last")
        if last is not None and last.ok:
            values["logins"] = parse_last(last.body, now)
        else:
            values["logins"] = None
            errors["logins"] = part_failure(last, "last")
        who = section.get("who")
        if who is not None and who.ok:
            values["sessions"] = parse_who(who.body, now)
        else:
            values["sessions"] = None
            errors["sessions"] = part_failure(who, "who")
        return FactUpdate(values, errors)
