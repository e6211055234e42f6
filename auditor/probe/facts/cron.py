"""Cron entries: /etc/crontab, /etc/cron.d, the per-user spool tables (CentOS
/var/spool/cron, Debian .../crontabs, SUSE .../tabs, BusyBox /etc/crontabs) and the names of
the run-parts scripts in /etc/cron.{hourly,daily,weekly,monthly}.

Reading the spool is what `crontab -l -u USER` does for every user, without a process; it
needs root (the spool directories are closed to others), and the parser says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from auditor.probe.interface import FactUpdate, ParseContext, part_failure
from auditor.probe.options import ProbeOptions
from auditor.probe.parsers.cron import parse_cron_lines
from auditor.probe.sections import Section
from auditor.probe.shell import fill

# Where the tables are: shell glob patterns, put into the script as they are (so nothing in
# them may be shell syntax but `*`).
_TABLE_RE = re.compile(r"^/[A-Za-z0-9._/*+-]+$")
CRON_TABLES = (
    "/etc/crontab", "/etc/anacrontab", "/etc/cron.d/*", "/var/spool/cron/*",
    "/var/spool/cron/crontabs/*", "/var/spool/cron/tabs/*", "/etc/crontabs/*",
)  # fmt: skip

# No process at all: cron tables are small, so the shell's own `read` goes through them and
# prints `<file>\t<line>` for every line that is not blank and does not start (after spaces
# and tabs) with `#` (what the awk that did this before printed: `NF && $1 !~ /^#/`), the
# first `max_lines` such lines over all tables; the run-parts names by globbing alone.
# Streamed between _b and _e: nothing piles up in a variable. `l=` before each `read`: a
# shell that left the variable as it was at end of file would loop forever.
_SNIPPET = r"""
_b cron/tables
CN=0
for f in @TABLES@; do
  [ -f "$f" ] || continue
  [ -r "$f" ] || { printf 'cannot read %s\n' "$f"; continue; }
  while l=; IFS= read -r l || [ -n "$l" ]; do
    b=${l%%[! 	]*}
    case ${l#"$b"} in ''|'#'*) continue ;; esac
    CN=$((CN + 1)); [ "$CN" -gt @MAXL@ ] && break 2
    printf '%s\t%s\n' "$f" "$l"
  done <"$f"
done
for d in /etc/cron.hourly /etc/cron.daily /etc/cron.weekly /etc/cron.monthly; do
  for f in "$d"/*; do [ -f "$f" ] && printf '%s\t%s\n' "$d" "${f##*/}"; done
done
for d in /var/spool/cron /var/spool/cron/crontabs /var/spool/cron/tabs /etc/crontabs; do
  [ -d "$d" ] && [ ! -r "$d" ] || continue
  _sc grep -r ^ "$d"
  [ "$H" = sudo ] || { printf 'unreadable: %s\n' "$d"; continue; }
  $C -r ^ "$d" 2>/dev/null | while l=; IFS= read -r l || [ -n "$l" ]; do
    f=${l%%:*} l=${l#*:}; b=${l%%[! 	]*}
    case ${l#"$b"} in ''|'#'*) continue ;; esac
    CN=$((CN + 1)); [ "$CN" -gt @MAXL@ ] && break
    printf '%s\t%s\n' "$f" "$l"
  done
done
_e cron/tables 0
"""


@dataclass(frozen=True)
class CronFact:
    name: str = "cron"
    fields: tuple[str, ...] = ("cron",)
    privileged: bool = True
    tables: tuple[str, ...] = CRON_TABLES
    max_lines: int = 2000

    def snippet(self, options: ProbeOptions) -> str:
        bad = [t for t in self.tables if not _TABLE_RE.match(t)]
        if bad or not self.tables:
            raise ValueError(f"cron tables must be plain absolute paths or globs, got {bad}")
        return fill(_SNIPPET, TABLES=" ".join(self.tables), MAXL=self.max_lines)

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
