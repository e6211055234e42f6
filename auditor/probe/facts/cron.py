"""Cron entries: /etc/crontab, /etc/cron.d, the per-user spool tables (CentOS
/var/spool/cron, Debian .../crontabs, SUSE .../tabs, BusyBox /etc/crontabs) and the names of
the run-parts scripts in /etc/cron.{hourly,daily,weekly,monthly}.

Reading the spool is what `crontab -l -u USER` does for every user, in one process; it
needs root (the spool directories are closed to others), and the parser says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from auditor.probe.interface import FactUpdate, ParseContext, part_failure
from auditor.probe.options import ProbeOptions
from auditor.probe.parsers.cron import parse_cron_lines
from auditor.probe.sections import Section
from auditor.probe.shell import fill

# One awk for every table (capped there, no `sed`); the run-parts names by globbing alone.
_SNIPPET = r"""
CF=
for f in /etc/crontab /etc/anacrontab /etc/cron.d/* /var/spool/cron/* \
    /var/spool/cron/crontabs/* /var/spool/cron/tabs/* /etc/crontabs/*; do
  [ -f "$f" ] && CF="$CF $f"
done
O=
[ -n "$CF" ] && O=$(awk 'NF && $1 !~ /^#/ && ++n <= @MAXL@ { print FILENAME "\t" $0 }' $CF 2>&1)
for d in /etc/cron.hourly /etc/cron.daily /etc/cron.weekly /etc/cron.monthly; do
  for f in "$d"/*; do [ -f "$f" ] && O="$O$NL$d	${f##*/}"; done
done
for d in /var/spool/cron /var/spool/cron/crontabs /var/spool/cron/tabs /etc/crontabs; do
  [ -d "$d" ] && [ ! -r "$d" ] && O="$O
unreadable: $d"
done
_o cron/tables 0 "$O"
"""


@dataclass(frozen=True)
class CronFact:
    name: str = "cron"
    fields: tuple[str, ...] = ("cron",)
    privileged: bool = True

    def snippet(self, options: ProbeOptions) -> str:
        return fill(_SNIPPET, MAXL=2000)

    def parse(self, section: Section, context: ParseContext) -> FactUpdate:
        part = section.get("tables")
        if part is None or not part.complete:
            return FactUpdate({"cron": None}, {"cron": part_failure(part, "cron tables")})
        entries, complaints = parse_cron_lines(part.body)
        errors: dict[str, str] = {}
        unreadable = [c.split(":", 1)[1].strip() for c in complaints if c.startswith("unreadable:")]
        if unreadable:
            what = "user crontabs in " + ", ".join(unreadable)
            errors["cron.users"] = context.privilege.needs_root(what)
        others = [c for c in complaints if not c.startswith("unreadable:")]
        if others:
            errors["cron.read"] = "; ".join(others[:3])
        return FactUpdate({"cron": entries}, errors)
