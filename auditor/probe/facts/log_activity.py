"""Files under /var/log: size and last write, newest first, and the newest write overall."""

from __future__ import annotations

from dataclasses import dataclass

from auditor.model import LogActivity
from auditor.probe.interface import FactUpdate, ParseContext
from auditor.probe.options import ProbeOptions
from auditor.probe.parsers.logfiles import LogListing, parse_ls_listing, parse_stat_listing
from auditor.probe.sections import Section
from auditor.probe.shell import fill, quote

# Complaints (unreadable directories) sort after the numbered lines and become `!` lines.
AWK_CAP = r"""
/^[0-9]/ { n++; if (n <= max) print; next }
NF { e++; if (e <= 20) print "! " $0 }
END { printf "# files %d errors %d\n", n, e }
"""

# -xdev: stay on /var/log's filesystem. GNU find first (one process for the whole walk),
# then BusyBox find + stat, then plain ls. GNU find is not asked beforehand whether it knows
# -printf (one more process on every host): when it listed nothing and complained about
# -printf (BusyBox: "find: unrecognized: -printf"), the next way is tried.
_SNIPPET = r"""
_tt @LT@
O=$($TT find /var/log -xdev -type f -printf '%T@ %s %p\n' 2>&1 |
  sort -rn | awk -v max=@MAXF@ @AWK_CAP@); R=$?
case $O in
  "! "*printf*"# files 0 errors "*) ;;
  *) _o logs/find "$R" "$O"; O= ;;
esac
if [ -z "$O" ]; then :
elif stat -c %Y / >/dev/null 2>&1; then
  O=$($TT find /var/log -xdev -type f -exec stat -c '%Y %s %n' {} + 2>&1 |
    sort -rn | awk -v max=@MAXF@ @AWK_CAP@)
  _o logs/stat $? "$O"
else
  O=$($TT ls -lnR /var/log 2>&1 | sed -n '1,20000p'); _o logs/ls $? "$O"
fi
"""


@dataclass(frozen=True)
class LogActivityFact:
    name: str = "logs"
    fields: tuple[str, ...] = ("log_activity",)
    privileged: bool = True

    def snippet(self, options: ProbeOptions) -> str:
        return fill(
            _SNIPPET,
            LT=max(options.command_timeout, 30),
            MAXF=options.max_log_files,
            AWK_CAP=quote(AWK_CAP),
        )

    def parse(self, section: Section, context: ParseContext) -> FactUpdate:
        listing: LogListing | None = None
        for name in ("find", "stat"):
            part = section.get(name)
            if part is not None and part.complete:
                listing = parse_stat_listing(part.body)
        ls_part = section.get("ls")
        if ls_part is not None and ls_part.complete:
            listing = parse_ls_listing(ls_part.body, context.collected_at)
        if listing is None:
            return FactUpdate(
                {"log_activity": None}, {"log_activity": "no /var/log listing (output cut off)"}
            )
        errors: dict[str, str] = {}
        if not listing.files:
            reason = "; ".join(listing.errors) or "no files under /var/log"
            return FactUpdate({"log_activity": None}, {"log_activity": reason})
        if listing.errors:
            denied = f"{len(listing.errors)} unreadable places under /var/log"
            denied += f" (first: {listing.errors[0]})"
            errors["log_activity.unreadable"] = (
                denied if context.privilege.root else context.privilege.needs_root(denied)
            )
        if listing.truncated:
            errors["log_activity.truncated"] = (
                f"{listing.total} files under /var/log; the newest {len(listing.files)} are listed"
            )
        activity = LogActivity(latest_write=listing.files[0].mtime, files=listing.files)
        return FactUpdate({"log_activity": activity}, errors)
