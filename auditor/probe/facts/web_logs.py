"""Apache and nginx access logs, summarised on the host so only counts cross the wire.

Where the logs are: the running web servers' command lines (`httpd -f CONF -d ROOT`,
`nginx -c CONF`) and the usual config files, read for CustomLog / TransferLog / access_log
(ServerRoot-relative paths resolved, Include / include followed two levels, Debian's
${APACHE_LOG_DIR} expanded), plus the usual log paths. Each log's rotations (`access_log-
20261122`, `access.log.1`, `access.log.2.gz`) join it when written within the window.

What is read: the newest `max_log_bytes` of each file (`tail -c`, so the part that matters
for a recent window). One awk pass per file counts requests in the last `log_days` days,
distinct clients, per-client counts and last seen, per-path counts and admin-looking paths;
`sort` and a second awk keep the top entries. Dates like `[28/Nov/2026:10:15:32 +0100]` are
turned into epoch seconds in awk (month table, days-from-civil), zone offset applied.
"""

from __future__ import annotations

from dataclasses import dataclass

from auditor.probe.interface import FactUpdate, ParseContext, part_failure
from auditor.probe.options import ProbeOptions
from auditor.probe.owners import AWK_OWNERS
from auditor.probe.parsers.weblog import (
    admin_path_awk_regex,
    merge_clients,
    parse_weblog_report,
)
from auditor.probe.sections import Section
from auditor.probe.shell import awk_string, fill, quote

# Directives naming logs, server roots and included files (Apache: any case; nginx).
AWK_CONF = r"""
{ sub(/^[ \t]+/, ""); d = tolower($1); v = $2; gsub(/[";]/, "", v) }
d == "serverroot" && v != "" { print "R", v }
(d == "customlog" || d == "transferlog" || d == "access_log") && v != "" { print "L", v }
(d == "include" || d == "includeoptional") && v != "" { print "I", v }
"""

# One log on stdin -> S/C/P/A lines (see auditor.probe.parsers.weblog). The timestamp is the
# first field (of the first six) that starts with "[": field 4 in common/combined, field 5
# in vhost_combined, whose client is then field 2.
AWK_SUMMARY = r"""
BEGIN {
  split("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec", mn, " ")
  for (i = 1; i <= 12; i++) mon[mn[i]] = i
  since = now - days * 86400; first = 0; last = 0; adm = @ADMIN@
}
function civil(y, m, d,    a, yy, mm) {
  a = int((14 - m) / 12); yy = y + 4800 - a; mm = m + 12 * a - 3
  return (d + int((153 * mm + 2) / 5) + 365 * yy + int(yy / 4) - int(yy / 100) \
    + int(yy / 400) - 32045 - 2440588) * 86400
}
{
  lines++; t = 0
  for (i = 2; i <= 6 && i <= NF; i++) if (substr($i, 1, 1) == "[") { t = i; break }
  if (t == 0) next
  ts = $t
  if (length(ts) < 21) next
  day = substr(ts, 2, 11)
  if (!(day in dayep)) {
    mo = mon[substr(ts, 5, 3)]
    if (mo == "" || substr(ts, 4, 1) != "/") dayep[day] = -1
    else dayep[day] = civil(substr(ts, 9, 4) + 0, mo, substr(ts, 2, 2) + 0)
  }
  if (dayep[day] < 0) next
  e = dayep[day] + substr(ts, 14, 2) * 3600 + substr(ts, 17, 2) * 60 + substr(ts, 20, 2)
  z = $(t + 1)
  if (z ~ /^[+-][0-9][0-9][0-9][0-9]/) {
    o = substr(z, 2, 2) * 3600 + substr(z, 4, 2) * 60
    if (substr(z, 1, 1) == "+") e -= o; else e += o
  }
  parsed++
  if (e < since) next
  h = (t == 5) ? $2 : $1
  if (h == skip || h == "::ffff:" skip) next
  win++
  if (!(h in cc)) nc++
  cc[h]++; if (e > cl[h]) cl[h] = e
  if (first == 0 || e < first) first = e
  if (e > last) last = e
  p = "-"; r = $(t + 2)
  if (substr(r, 1, 1) == "\"" && substr(r, length(r), 1) != "\"" && NF >= t + 3) {
    p = $(t + 3); sub(/\?.*/, "", p); if (length(p) > 200) p = substr(p, 1, 200)
  }
  pc[p]++
  if (tolower(p) ~ adm) ac[p]++
}
END {
  print "S", lines + 0, parsed + 0, win + 0, nc + 0, first, last
  for (h in cc) print "C", cc[h], h, cl[h]
  for (p in pc) print "P", pc[p], p
  for (p in ac) print "A", ac[p], p
}
"""

# Keeps the top paths and clients of one log; every client also goes on as a `K` line, for
# AWK_CLIENTS to add up over all logs.
AWK_TOP = r"""
{ c = ++n[$1] }
$1 == "C" { print "K", $2, $3, $4 }
$1 == "S" || ($1 == "P" && c <= top) || ($1 != "P" && $1 != "S" && c <= topc)
"""

# All logs' summaries on stdin: passed on, except the `K` lines (every client of every log,
# in the window), which are added up per client over all logs (an address in two rotations
# is one client; IPv4-mapped IPv6 is the IPv4 address) and then per team (the longest
# [owners] prefix, see auditor.probe.owners) and, for clients of no team, per /24 or /64:
#   T <team index> <requests> <clients> <last seen epoch>
#   N <network> <requests> <clients> <last seen epoch>   top `topn` by requests, then one
#                                                         `N other ...` for the rest
#   U <requests> <clients>                                all clients; the last line
# Ties are broken by the network's text, so every awk picks the same top networks whatever
# order its `for (k in a)` walks in.
AWK_CLIENTS = (
    AWK_OWNERS
    + r"""
BEGIN { own_init() }
$1 != "K" { print; next }
NF == 4 {
  addr($3); c = AC
  if (!(c in rq)) { ow[c] = owner(); nw[c] = (ow[c] == "") ? net() : "" }
  rq[c] += $2; if ($4 + 0 > ls[c] + 0) ls[c] = $4
}
END {
  for (c in rq) {
    ur += rq[c]; uc++
    if (ow[c] != "") {
      t = ow[c]; tr[t] += rq[c]; tc[t]++; if (ls[c] + 0 > tl[t] + 0) tl[t] = ls[c]
    } else {
      k = nw[c]; nr[k] += rq[c]; nc[k]++; if (ls[c] + 0 > nl[k] + 0) nl[k] = ls[c]
    }
  }
  for (t in tr) print "T", t, tr[t], tc[t], tl[t]
  m = 0
  for (k in nr) {
    j = m + 1
    while (j > 1 && (nr[k] > nr[tp[j - 1]] || (nr[k] == nr[tp[j - 1]] && k < tp[j - 1]))) j--
    if (j > topn) continue
    if (m < topn) m++
    for (i = m; i > j; i--) tp[i] = tp[i - 1]
    tp[j] = k
  }
  for (i = 1; i <= m; i++) { k = tp[i]; kept[k] = 1; print "N", k, nr[k], nc[k], nl[k] }
  for (k in nr) if (!(k in kept)) {
    rest++; orq += nr[k]; ocl += nc[k]; if (nl[k] + 0 > ol + 0) ol = nl[k]
  }
  if (rest) print "N", "other", orq, ocl, ol
  print "U", ur + 0, uc + 0
}
"""
)

# One log on stdin -> its summary lines. NULs go first: logs left NUL-padded by a crash are
# common, and awks disagree on NUL inside a record.
_SUMMARY_PIPELINE = (
    "tr -d '\\000' | @AWK@ -v now=\"$WNOW\" -v days=@DAYS@ -v skip=@SKIP@ @AWK_SUMMARY@"
    " | sort -k1,1 -k2,2nr | @AWK@ -v top=@TOPN@ -v topc=@TOPC@ @AWK_TOP@"
)


def summary_pipeline(options: ProbeOptions, awk: str = "awk") -> str:
    """The shell pipeline summarising one access log (stdin) into S/C/P/A lines; it reads
    the epoch "now" from $WNOW. Tests run it with each awk they have."""
    return fill(
        _SUMMARY_PIPELINE,
        AWK=awk,
        DAYS=options.log_days,
        SKIP=quote(options.own_address or ""),
        TOPN=options.top_n,
        TOPC=options.top_clients,
        AWK_SUMMARY=quote(fill(AWK_SUMMARY, ADMIN=awk_string(admin_path_awk_regex()))),
        AWK_TOP=quote(AWK_TOP),
    )


_CLIENTS_PIPELINE = "@AWK@ -v topn=@TOPN@ -v rules=@RULES@ -v p4=@P4@ -v p6=@P6@ @AWK_CLIENTS@"

# How many /24 or /64 networks of clients of no team are named; the rest is one "other" row.
TOP_NETWORKS = 20


def clients_pipeline(options: ProbeOptions, awk: str = "awk") -> str:
    """The awk adding up the clients of every log's summary (stdin: the summaries, `K`
    lines among them) per team and network, into T and N lines."""
    rules, v4_lengths, v6_lengths = options.client_owners.awk_rules()
    return fill(
        _CLIENTS_PIPELINE,
        AWK=awk,
        TOPN=TOP_NETWORKS,
        RULES=quote(rules),
        P4=quote(v4_lengths),
        P6=quote(v6_lengths),
        AWK_CLIENTS=quote(AWK_CLIENTS),
    )


_SNIPPET = r"""
_wsum() { @PIPELINE@; }
_wcli() { @CLIENTS@; }
_wscan() { awk @AWK_CONF@ "$@" 2>/dev/null; }
# _wk KIND TEXT: the values of TEXT's `KIND value` lines (from _wscan), space-separated, in WK
_wk() { WK= _ws=$NL$2
  while :; do
    case $_ws in *"$NL$1 "*) _ws=${_ws#*"$NL$1 "}; WK="$WK ${_ws%%"$NL"*}" ;; *) return 0 ;; esac
  done; }
_weblogs() {
  WNOW= WCF= WL= WSEEN= WA= WD= WP=
  for p in $PIDS; do
    [ -r "/proc/$p/cmdline" ] || continue
    c= q=
    { read -r _ c; while read -r k v; do [ "$k" = PPid: ] && { q=$v; break; }; done; } \
      2>/dev/null <"/proc/$p/status"
    # A pre-fork worker shares its parent's socket and name: its command line is the
    # parent's, which is read anyway (Apache's 150 children, nginx's workers).
    if [ -n "$q" ] && [ -n "$c" ]; then
      case " $PIDS " in *" $q "*)
        v=; read -r _ v 2>/dev/null <"/proc/$q/status"; [ "$v" = "$c" ] && continue ;;
      esac
    fi
    set -f; set -- $(tr '\000' ' ' <"/proc/$p/cmdline" 2>/dev/null); set +f
    [ $# -gt 0 ] || continue
    case "$c ${1##*/}" in *httpd*|*apache*|*nginx*) ;; *) continue ;; esac
    printf 'G server %s %s\n' "$p" "$*"
    case $1 in
      */bin/*) r=${1%/bin/*}; [ -f "$r/conf/httpd.conf" ] && WCF="$WCF $r/conf/httpd.conf" ;;
    esac
    r=
    while [ $# -gt 0 ]; do
      case $1 in
        -f|-c) [ $# -gt 1 ] && {
          case $2 in /*) WCF="$WCF $2" ;; *) [ -n "$r" ] && WCF="$WCF $r/$2" ;; esac
          shift; } ;;
        -d|-p) [ $# -gt 1 ] && { r=${2%/}; shift; } ;;
      esac
      shift
    done
  done
  for cf in $WCF @CONFIGS@; do
    [ -f "$cf" ] || continue
    cf=$(cd "${cf%/*}" 2>/dev/null && pwd -P)/${cf##*/}
    case " $WSEEN " in *" $cf "*) continue ;; esac
    WSEEN="$WSEEN $cf"
    d=${cf%/*}; case $d in */conf) r=${d%/conf} ;; *) r=$d ;; esac
    O=$(_wscan "$cf")
    _wk R "$O"; v=${WK# }; v=${v%% *}; [ -n "$v" ] && r=${v%/}
    printf 'G config %s\n' "$cf"
    D=$O lv=0
    while [ $lv -lt 2 ]; do
      _wk I "$D"
      [ -n "$WK" ] || break
      FS2=
      for i in $WK; do
        case $i in /*) ;; *) i="$r/$i" ;; esac
        for g in $i; do
          if [ -d "$g" ]; then for h in "$g"/*; do [ -f "$h" ] && FS2="$FS2 $h"; done
          elif [ -f "$g" ]; then FS2="$FS2 $g"; fi
        done
      done
      [ -n "$FS2" ] || break
      D=$(_wscan $FS2); O="$O
$D"; lv=$((lv + 1))
    done
    set -f
    _wk L "$O"
    for v in $WK; do
      case $v in
        \|*|syslog:*|off) printf 'G piped %s\n' "$v"; continue ;;
        *'${APACHE_LOG_DIR}'*) v="/var/log/apache2${v#*\}}" ;;
      esac
      case $v in /*) ;; *) v="$r/$v" ;; esac
      printf 'G log %s\n' "$v"
      WL="$WL $v"
    done
    set +f
  done
  for v in @LOGS@; do [ -f "$v" ] && WL="$WL $v"; done
  for v in $WL; do
    for g in "$v"*; do
      [ -f "$g" ] || continue
      d=${g%/*}; [ "$d" = "$WD" ] || { WD=$d; WP=$(cd "$d" 2>/dev/null && pwd -P); }
      g=$WP/${g##*/}
      case " $WA " in *" $g "*) continue ;; esac
      WA="$WA $g"
    done
  done
  for d in /var/log/httpd /var/log/apache2 /var/log/apache /var/log/nginx; do
    [ -d "$d" ] && { [ -r "$d" ] && [ -x "$d" ] || printf 'X unreadable %s\n' "$d"; }
  done
  [ -n "$WA" ] || return 0
  # Written within the window: one find for all; then newest first, with sizes: one ls.
  set -f
  WR=$(find $WA -prune -type f -mtime -@WINDOW@ 2>/dev/null)
  [ -n "$WR" ] || { set +f; return 0; }
  # The host's clock, for the windows: only now that there is a log to count.
  [ -n "$WNOW" ] || WNOW=$(date +%s 2>/dev/null)
  set -- $(ls -lnLtd $WR 2>/dev/null | awk '{ print $5, $NF }')
  set +f
  WN=0
  while [ $# -gt 1 ]; do
    s=$1 f=$2; shift 2
    case $s in ''|*[!0-9]*) s=0 ;; esac
    [ -r "$f" ] || { printf 'X unreadable %s\n' "$f"; continue; }
    WN=$((WN + 1))
    if [ $WN -gt @MAXW@ ]; then printf 'X cap %s\n' "$f"; continue; fi
    case $f in
      *.gz)
        if ! _has gzip; then printf 'X no-gzip %s\n' "$f"; continue; fi
        if [ "$s" -gt @MAXGZ@ ]; then printf 'X gz-too-big %s\n' "$f"; continue; fi
        printf 'F %s 0 %s\n' "$s" "$f"
        gzip -dc "$f" 2>/dev/null | tail -c @MAXB@ | _wsum ;;
      *.bz2|*.xz|*.zst|*.lz4|*.Z) printf 'X compressed %s\n' "$f" ;;
      *)
        c=0; [ "$s" -gt @MAXB@ ] && c=1
        printf 'F %s %s %s\n' "$s" "$c" "$f"
        tail -c @MAXB@ "$f" | _wsum ;;
    esac
  done | _wcli
}
_b weblogs/report; _weblogs 2>&1; _e weblogs/report $?
"""

DEFAULT_CONFIGS = (
    "/etc/httpd/conf/httpd.conf", "/etc/apache2/apache2.conf", "/etc/apache2/httpd.conf",
    "/etc/apache/httpd.conf", "/usr/local/apache/conf/httpd.conf",
    "/usr/local/apache2/conf/httpd.conf", "/etc/nginx/nginx.conf",
    "/usr/local/nginx/conf/nginx.conf", "/opt/nginx/conf/nginx.conf",
)  # fmt: skip

DEFAULT_LOGS = (
    "/var/log/httpd/*access_log", "/var/log/apache2/*access.log", "/var/log/apache/*access.log",
    "/var/log/nginx/*access.log", "/usr/local/apache/logs/*access_log",
    "/usr/local/apache2/logs/*access_log", "/usr/local/nginx/logs/*access.log",
)  # fmt: skip


@dataclass(frozen=True)
class WebLogsFact:
    name: str = "weblogs"
    fields: tuple[str, ...] = ("web_logs", "clients", "client_teams", "client_networks")
    privileged: bool = True

    def snippet(self, options: ProbeOptions) -> str:
        return fill(
            _SNIPPET,
            PIPELINE=summary_pipeline(options),
            CLIENTS=clients_pipeline(options),
            WINDOW=options.log_days + 1,
            MAXW=options.max_web_logs,
            MAXB=options.max_log_bytes,
            MAXGZ=max(options.max_log_bytes // 4, 1),
            CONFIGS=" ".join(DEFAULT_CONFIGS),
            LOGS=" ".join(DEFAULT_LOGS),
            AWK_CONF=quote(AWK_CONF),
        )

    def parse(self, section: Section, context: ParseContext) -> FactUpdate:
        part = section.get("report")
        if part is None:
            reason = part_failure(part, "access-log summary")
            return FactUpdate(dict.fromkeys(self.fields), dict.fromkeys(self.fields, reason))
        report = parse_weblog_report(part.body, context.owner_of, context.client_owners)
        errors: dict[str, str] = {}
        if not part.complete:
            errors["web_logs.cut"] = "access-log summary cut off (deadline): later logs missing"
        for summary in report.summaries:
            notes = []
            if summary.partial:
                notes.append("only the newest part was read: counts are a lower bound")
            if summary.lines and not summary.parsed:
                notes.append(f"none of {summary.lines} lines looked like common/combined format")
            if notes:
                errors[f"web_logs:{summary.log.path}"] = "; ".join(notes)
        for path in report.incomplete:
            errors[f"web_logs:{path}"] = "summary cut off before it finished: not counted"
        for path, reason in report.skipped:
            if reason == "unreadable" and not context.privilege.root:
                errors[f"web_logs:{path}"] = context.privilege.needs_root(f"reading {path}")
            else:
                errors[f"web_logs:{path}"] = _SKIP_REASONS.get(reason, reason)
        unreadable = [e for e in report.evidence if e.startswith("piped ")]
        if unreadable:
            errors["web_logs.piped"] = "logs written through a pipe cannot be read: " + ", ".join(
                e.split(" ", 1)[1] for e in unreadable
            )
        teams, networks = report.teams, report.networks
        if teams is None and part.complete and not report.summaries:
            teams, networks = (), ()  # no access log read: nobody to count
        elif teams is None:
            missing = (
                "client totals missing: the summary ended without them"
                if part.complete
                else "client totals cut off (deadline): not counted"
            )
            errors.update(client_teams=missing, client_networks=missing)
        logs = tuple(s.log for s in report.summaries)
        return FactUpdate(
            {
                "web_logs": logs,
                "clients": merge_clients(logs),
                "client_teams": teams,
                "client_networks": networks,
            },
            errors,
        )


_SKIP_REASONS = {
    "cap": "skipped: more access logs than max_web_logs",
    "no-gzip": "skipped: compressed and the host has no gzip",
    "gz-too-big": "skipped: compressed file too large to expand on the host",
    "compressed": "skipped: compressed with bzip2/xz/zstd/lz4",
    "unreadable": "skipped: not readable even as root",
}
