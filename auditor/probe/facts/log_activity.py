"""Files under /var/log: size and last write, newest first, and the newest write overall."""

from __future__ import annotations

from dataclasses import dataclass

from auditor.model import LogActivity
from auditor.probe.interface import FactUpdate, ParseContext
from auditor.probe.options import MAX_LOG_FILES, ProbeOptions
from auditor.probe.parsers.logfiles import LogListing, parse_ls_listing, parse_stat_listing
from auditor.probe.sections import Section
from auditor.probe.shell import fill, quote

# Rows are `<mtime> <size> <path>`; anything else is a complaint of find (an unreadable
# directory) and becomes a `!` line, the first 20 of them. Out come the newest `max` rows,
# in the order find gave them (the parser sorts), then the complaints and `# files N errors
# M` (N: every row seen). No `sort` process, and only a few times `max` rows held: whenever
# 4 * max rows are held, `keep` finds the max-th newest mtime `fl` among them by quickselect
# (`kth`: random pivot, three-way partition, so a run of equal mtimes is one step; O(held)
# expected) and keeps the rows newer than `fl` plus the first rows at `fl` (ties go to the
# row found first), `max` in all. From then on a row no newer than `fl` cannot make the cut
# and costs one comparison: O(n) in all, where `sort -rn` was n log n and one more process.
AWK_CAP = r"""
/^[0-9]/ { n++; x = $1 + 0; if (cut && x <= fl) next
  m++; r[m] = $0; t[m] = x; if (m >= 4 * max) keep(); next }
NF { e++; if (e <= 20) c[e] = "! " $0 }
END {
  if (m > max) keep()
  for (i = 1; i <= m; i++) print r[i]
  for (i = 1; i <= e && i <= 20; i++) print c[i]
  printf "# files %d errors %d\n", n, e
}
function keep(   i, j, g) {
  for (i = 1; i <= m; i++) a[i] = t[i]
  fl = kth(a, m, max); cut = 1; g = 0
  for (i = 1; i <= m; i++) if (t[i] > fl) g++
  g = max - g; j = 0
  for (i = 1; i <= m; i++)
    if (t[i] > fl || (t[i] == fl && g-- > 0)) { j++; r[j] = r[i]; t[j] = t[i] }
  m = j
}
# The k-th largest of a[1..n], 1 <= k <= n (reorders a): each round splits [lo, hi] into
# > p, == p and < p around a random pivot p and goes on in the piece holding position k.
function kth(a, n, k,   lo, hi, p, lt, gt, i, x) {
  if (!seeded) { srand(); seeded = 1 }
  lo = 1; hi = n
  while (lo < hi) {
    p = a[lo + int(rand() * (hi - lo + 1))]; lt = lo; i = lo; gt = hi
    while (i <= gt) {
      x = a[i]
      if (x > p) { a[i] = a[lt]; a[lt] = x; lt++; i++ }
      else if (x < p) { a[i] = a[gt]; a[gt] = x; gt-- }
      else i++
    }
    if (k < lt) hi = lt - 1
    else if (k > gt) lo = gt + 1
    else return p
  }
  return a[lo]
}
"""

# -xdev: stay on /var/log's filesystem. GNU find first (one process for the whole walk; an
# awk only for a listing too big to ship whole), then BusyBox find + stat, then plain ls.
# GNU find is not asked beforehand whether it knows -printf (one more process on every
# host): when it listed nothing and complained about -printf (BusyBox: "find: unrecognized:
# -printf"), the next way is tried. No `timeout` around find (one more fork + exec): with
# -xdev it stays on /var/log's own (local) filesystem and enters no mount below it, so it
# does not touch the network, and a find stuck on a dead disk sleeps uninterruptibly, where
# no signal of `timeout` would reach it either; the controller's per-host deadline bounds
# the session. `ls -lnR` (the last resort, which has no -xdev and may walk into an NFS
# mount under /var/log) keeps its `timeout`.

# Up to this size find's own output is the part (~800 files); beyond, the awk cuts it.
RAW_LISTING_BYTES = 64 * 1024

_SNIPPET = r"""
_sc find /var/log -xdev -type f -printf '%T@ %s %p\n'
O=$($C /var/log -xdev -type f -printf '%T@ %s %p\n' 2>&1); R=$?
case "$NL$O" in
  *"$NL"[0-9]*) ;;
  *printf*) R= ;;
esac
if [ -n "$R" ]; then
  # A listing that fits @RAW@ bytes goes as find printed it (the controller sorts it);
  # only a bigger one pays for an awk that keeps the newest @MAXF@.
  if [ ${#O} -le @RAW@ ]; then _o logs/find-raw "$R" "$O" "$H"
  else
    O=$(printf '%s\n' "$O" | awk -v max=@MAXF@ @AWK_CAP@); _o logs/find $? "$O" "$H"
  fi
elif stat -c %Y / >/dev/null 2>&1; then
  O=$(find /var/log -xdev -type f -exec stat -c '%Y %s %n' {} + 2>&1 |
    awk -v max=@MAXF@ @AWK_CAP@)
  _o logs/stat $? "$O"
else
  _tt @LT@; O=$($TT ls -lnR /var/log 2>&1 | sed -n '1,20000p'); _o logs/ls $? "$O"
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
            RAW=RAW_LISTING_BYTES,
            AWK_CAP=quote(AWK_CAP),
        )

    def parse(self, section: Section, context: ParseContext) -> FactUpdate:
        listing: LogListing | None = None
        for name in ("find", "stat", "find-raw"):
            part = section.get(name)
            if part is not None and part.complete:
                raw = name == "find-raw"
                listing = parse_stat_listing(part.body, raw=raw, limit=MAX_LOG_FILES)
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
