"""Listening TCP/UDP sockets with their processes, and established inbound connections.

Tools, best first: `ss -tuanpe` (iproute2, old or new), `netstat -tuanpW` / `-tuanp`
(net-tools, or a BusyBox built with -p), then /proc/net/{tcp,tcp6,udp,udp6} joined with one
walk of /proc/*/fd. One run of the tool lists every socket, listening and connected, and one
awk (AWK_SOCKETS) cuts it on the host: the listening rows (what `ss -tulpne` or
`netstat -tulpn` would print), the first established row per (listening port, peer address)
(peers are what we want, and a busy server's thousands of connections stay off the wire),
the pids whose details are read next, and /etc/passwd's names, read by the same awk.

Socket owners need root: as another user, ss and netstat show no process for other users'
sockets and /proc/PID/fd and exe are closed. The socket's uid (ss -e, /proc/net) still
names the user.

/proc/net stays the last resort even without root, where `ss -p` names no other user's
process: reading /proc/net/tcp (and tcp6) walks the kernel's whole established-socket hash
table, restarted for every page read, and on a host with much memory (a big table) that is
~5 ms of kernel time per file, measured on the lab (24 GiB): more than `ss` (netlink) and
its awk together.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from auditor.model import Connection, Listener
from auditor.probe.interface import FactUpdate, ParseContext, Privilege, part_failure
from auditor.probe.options import ProbeOptions
from auditor.probe.owners import AWK_OWNERS, over_counts, owner_vars, peer_groups
from auditor.probe.parsers.processes import (
    ProcessInfo,
    parse_passwd,
    parse_process_details,
)
from auditor.probe.parsers.sockets import (
    ESTAB,
    LISTEN,
    SocketRow,
    parse_fd_owners,
    parse_netstat,
    parse_proc_net,
    parse_ss,
)
from auditor.probe.sections import Part, Section
from auditor.probe.shell import fill, quote

# /proc/net rows: listening ones as they are; established ones at the END, once a row
# per (local port, remote address) whose local port listens, at most `max`.
AWK_PROC_NET = r"""
FNR == 1 { f = FILENAME; next }
{ st = $4; split($2, a, ":"); port = a[2] }
f ~ /tcp/ && st == "0A" { lp[port] = 1; keep[f] = keep[f] $0 "\n"; next }
f ~ /udp/ && st == "07" { keep[f] = keep[f] $0 "\n"; next }
f ~ /tcp/ && st == "01" {
  n++; er[n] = $0; ef[n] = f; ep[n] = port; split($3, b, ":"); ek[n] = port " " b[1]
}
END {
  for (i = 1; i <= n; i++) if ((ep[i] in lp) && !(ek[i] in seen)) {
    seen[ek[i]] = 1; if (++m <= max) keep[ef[i]] = keep[ef[i]] er[i] "\n"
  }
  for (f in keep) { print "# " f; printf "%s", keep[f] }
  if (m > max) print "# truncated " m
}
"""

# `ls -l /proc/[0-9]*/fd` -> `F <pid> <inode>` for the sockets in `w` (space-separated).
AWK_FD_WALK = r"""
BEGIN { n = split(w, a, " "); for (i = 1; i <= n; i++) want["socket:[" a[i] "]"] = 1 }
/^\/proc\/[0-9]+\/fd:$/ { split($0, q, "/"); pid = q[3]; next }
($NF in want) { i = $NF; gsub(/[^0-9]/, "", i); print "F", pid, i }
"""

# One pass over `ss -tuanpe` or `netstat -tuanp[W]` on stdin (`-`; ss rows have a Netid
# column and a state word second, netstat rows a number), then /etc/passwd (the second file:
# NR > FNR; stdin is never empty, the shell's status line ends it). Prints, for the shell to
# split (every line from the tool that starts with `@@` is dropped, so these are the only
# ones that do):
#   1. the tool's exit status, from the shell's `@@ STATUS` line (the last one: it comes
#      after everything the tool printed)
#   2. every process id on a listening socket (ss `pid=N` (iproute2 >= 3) or `("name",N,fd)`
#      (2.6.x), netstat `N/name`, the fd walk's `F N inode` with -v fd=1), in order: $PIDS,
#      which later snippets read
#   3. the lowest pid per listening socket: the one whose details the parser uses (a
#      pre-fork server's children share the parent's socket), so only those are read
#   4. `@@L`, then the header and every line that is no socket row (warnings, or why the tool
#      failed), and the listening rows: LISTEN/UNCONN for ss (the states `ss -l` shows),
#      netstat rows without a peer port (what `netstat -l` shows)
#   5. `@@E`, then the first ESTAB tcp row per (listening local port, peer address), cut to
#      its first six columns (`ss -tn` / `netstat -tn` rows with the Netid/Proto column), at
#      most `max`, and `# truncated N` when there were N > max such pairs; then the pairs
#      beyond `max`, counted per port and team (the longest [owners] network, -v rules p4
#      p6, auditor.probe.owners) or /24 or /64: `# over PORT T TEAM-INDEX N` and
#      `# over PORT N NETWORK N` (loopback peers left out), so a busy database's clients
#      are all counted though only `max` of them are listed
#   6. `@@U`, then `name:uid` for the first 5000 entries of /etc/passwd
# `@@W` (netstat refused -W and runs again without it) forgets the text before it.
AWK_SOCKETS = (
    AWK_OWNERS
    + r"""
BEGIN { own_init() }
function over(port, r,   t) {
  gsub(/[][]/, "", r); addr(r)
  if ((AF == 4 && int(AG[1] / 256) == 127) || (AF == 6 && AC == "0:0:0:0:0:0:0:1")) return
  t = owner(); ov[port " " (t != "" ? "T " t : "N " net())]++ }
function add(p) { p = p + 0; if (p <= 0) return
  if (!(p in seen)) { seen[p] = 1; all = all p " " }
  if (low == 0 || p < low) low = p }
function head(  i, j, m, p, k) {
  for (j = 1; j <= nf; j++) { p = fl[fo[j]]; if (!(p in lw)) { lw[p] = 1; lows = lows p " " } }
  print st; print all; print lows; print "@@L"
  for (i = 1; i <= nt; i++) print tx[i]
  print "@@E"
  for (i = 1; i <= n; i++) if (ep[i] in lp) {
    if (++m <= max) print er[i]; else over(ep[i], epr[i]) }
  if (m > max) { print "# truncated " m; for (k in ov) print "# over " k " " ov[k] }
  print "@@U"; hd = 1 }
NR > FNR { if (!hd) head()
  if (split($0, q, ":") > 2) { if (++np > 5000) exit; print q[1] ":" q[3] }
  next }
NF == 0 { next }
$1 == "@@" { st = $2; next }
$0 == "@@W" { nt = 0; next }
fd && $1 == "F" { add($2)
  if (!($3 in fl)) { nf++; fo[nf] = $3; fl[$3] = $2 + 0 } else if ($2 + 0 < fl[$3]) fl[$3] = $2 + 0
  next }
$1 !~ /^(tcp|udp)/ { if (substr($0, 1, 2) != "@@") tx[++nt] = $0; next }
{ if ($2 ~ /^[0-9]/) { ns = 1; s = $6; l = $4; r = $5; on = ($5 ~ /:\*$/) }
  else { ns = 0; s = $2; l = $5; r = $6; on = (s == "LISTEN" || s == "UNCONN") } }
on { tx[++nt] = $0; low = 0
  t = $0; while ((i = index(t, "pid=")) > 0) { t = substr(t, i + 4); add(t) }
  if (!ns && /users:\(\("/ && !/pid=/) {
    t = $0; while ((i = index(t, "\",")) > 0) { t = substr(t, i + 2); add(t) } }
  if (ns) for (i = 6; i <= NF; i++) if ($i ~ /^[0-9]+\//) { add($i); break }
  if (low > 0 && !(low in lw)) { lw[low] = 1; lows = lows low " " }
  if ($1 ~ /^tcp/ && s == "LISTEN") { sub(/.*:/, "", l); lp[l] = 1 }
  next }
$1 ~ /^tcp/ && (s == "ESTAB" || s == "ESTABLISHED") {
  sub(/.*:/, "", l); sub(/:[^:]*$/, "", r); k = l " " r
  if (!(k in ek)) {
    ek[k] = 1; n++; ep[n] = l; epr[n] = r; er[n] = $1 " " $2 " " $3 " " $4 " " $5 " " $6 } }
END { if (!hd) head() }
"""
)

# The per-process details, from one stream: `ls -ld /proc/PID /proc/PID/exe /proc/PID/cwd`
# lines (owner; link targets) and the shell's `P PID Name:|Uid:|cmd ...` lines (the command
# line cut at 2000 bytes) -> `P <pid> exe|cwd|cmd|own|Name:|Uid: <value>`.
AWK_PROC_DETAILS = r"""
$1 == "P" { if ($3 == "cmd") { h = "P " $2 " cmd "; print h substr($0, length(h) + 1, 2000) }
  else print
  next }
{ n = index($0, " -> ")
  if (n > 0) { name = substr($0, 1, n - 1); sub(/.* /, "", name); v = substr($0, n + 4) }
  else { name = $NF; v = "" }
  k = split(name, q, "/")
  if (k == 3 && q[2] == "proc" && n == 0) print "P", q[3], "own", $0
  else if (k == 4 && q[2] == "proc" && (q[4] == "exe" || q[4] == "cwd")) print "P", q[3], q[4], v
}
"""

# One `ss -tuanpe` (or one netstat) piped into one AWK_SOCKETS, which also reads
# /etc/passwd (`[ -r ]` first: every awk gives up at a file it cannot open); `_sks` splits
# its answer into the status, $PIDS, $LPIDS, the listing, the connections and the names.
# `{ tool; echo "@@ $?"; }` hands the tool's own exit status to the awk (POSIX sh has no
# pipefail): one fork, no exec. On a host with ss: ss and awk, 2 processes where there were
# 7 (timeout + ss -tulpne, awk, timeout + ss -tn, awk, awk over /etc/passwd).
# ss and netstat run WITHOUT `timeout`: they read kernel tables (netlink, /proc/net, the
# /proc/PID/fd links) and with -n look no name up, so nothing they do can hang on the
# network; the controller's per-host deadline bounds the session anyway, and a `timeout`
# would be one more fork + exec on every host.
#
# Per listening process (the lowest pid of each socket), without a process per detail: one
# `ls -ld` for every owner and link target, the shell's `read` for Name and Uid in status,
# one `tr` per command line (NULs: no awk reads them alike), one awk to put it together.
_SNIPPET = r"""
SK= X= L= E= PL= PW= AS=@AWK_SOCKETS@
[ -r /etc/passwd ] && PW=/etc/passwd
_sks() { R=${X%%"$NL"*}; X=${X#*"$NL"}; PIDS=${X%%"$NL"*}; X=${X#*"$NL"}
  LPIDS=${X%%"$NL"*}; X=${X#*"$NL@@L"}; L=${X%%"$NL@@E"*}; L=${L#"$NL"}
  X=${X#*"$NL@@E"}; E=${X%%"$NL@@U"*}; E=${E#"$NL"}; PL=${X#*"$NL@@U"}; PL=${PL#"$NL"}
  case $R in ''|*[!0-9]*) R=1 ;; esac; }
if _has ss; then
  _sc ss -tuanpe
  X=$( { $C -tuanpe 2>&1; echo "@@ $?"; } | awk -v max=@MAXC@ @OWN@ "$AS" - $PW); _sks
  _o sockets/ss "$R" "$L" "$H"
  [ "$R" = 0 ] && SK=ss
fi
if [ -z "$SK" ] && _has netstat; then
  _sc netstat -tuanpW; C1=$C H1=$H; _sc netstat -tuanp
  X=$( { $C1 -tuanpW 2>&1 || { echo @@W; $C -tuanp 2>&1; }; echo "@@ $?"; } |
    awk -v max=@MAXC@ @OWN@ "$AS" - $PW); _sks
  [ "$H1" = "$H" ] || H=user  # only one of the two may have gone through sudo
  _o sockets/netstat "$R" "$L" "$H"
  [ "$R" = 0 ] && SK=netstat
fi
if [ -z "$SK" ]; then
  F=
  for f in /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6; do
    [ -r "$f" ] && F="$F $f"
  done
  if [ -n "$F" ]; then
    SK=proc
    L=$(awk -v max=@MAXC@ @AWK_PROC_NET@ $F 2>&1); R=$?
    IN=$(printf '%s\n' "$L" | awk '$4 == "0A" || $4 == "07" { printf "%s ", $10 }')
    FD=$(ls -l /proc/[0-9]*/fd 2>/dev/null | awk -v w="$IN" @AWK_FD_WALK@)
    _o sockets/proc "$R" "$L
$FD"
    X=$(printf '%s\n' "$FD" | awk -v fd=1 "$AS" - $PW); _sks
  else
    _o sockets/proc 127 "no ss, no netstat and no readable /proc/net/tcp"
  fi
fi
case $SK in ss|netstat) _o sockets/established 0 "$E" ;; esac
A= C=
for p in $LPIDS; do
  [ -d "/proc/$p" ] && { A="$A /proc/$p /proc/$p/exe /proc/$p/cwd"; C="$C $p"; }
done
if [ -n "$C" ]; then
  O=$( { ls -ld $A
    for p in $C; do
      while read -r k v; do
        case $k in Name:|Uid:) printf 'P %s %s %s\n' "$p" "$k" "$v" ;; esac
        [ "$k" = Uid: ] && break
      done <"/proc/$p/status"
      printf 'P %s cmd ' "$p"; tr '\000\n' '  ' <"/proc/$p/cmdline"; echo
    done; } 2>/dev/null | awk @AWK_PROC_DETAILS@)
  _o sockets/procs 0 "$O"
fi
_o sockets/passwd 0 "$PL"
"""


@dataclass(frozen=True)
class SocketsFact:
    name: str = "sockets"
    fields: tuple[str, ...] = ("listeners", "connections", "connection_teams")
    privileged: bool = True

    def snippet(self, options: ProbeOptions) -> str:
        return fill(
            _SNIPPET,
            MAXC=options.max_connections,
            OWN=owner_vars(options.client_owners),
            AWK_SOCKETS=quote(AWK_SOCKETS),
            AWK_PROC_NET=quote(AWK_PROC_NET),
            AWK_FD_WALK=quote(AWK_FD_WALK),
            AWK_PROC_DETAILS=quote(AWK_PROC_DETAILS),
        )

    def parse(self, section: Section, context: ParseContext) -> FactUpdate:
        errors: dict[str, str] = {}
        rows, connections_part, tool_error = _socket_rows(section)
        if rows is None:
            reason = tool_error or "no socket listing"
            return FactUpdate(dict.fromkeys(self.fields), dict.fromkeys(self.fields, reason))
        procs_part = section.get("procs")
        processes = parse_process_details(procs_part.body) if procs_part else {}
        passwd_part = section.get("passwd")
        users = parse_passwd(passwd_part.body) if passwd_part else {}

        listening = [
            r for r in rows if r.state == LISTEN or (r.proto == "udp" and r.state != ESTAB)
        ]
        listeners = _listeners(listening, processes, users)
        unowned = sum(1 for lst in listeners if lst.pid is None)
        if unowned:
            errors["listeners.process"] = _unowned_reason(
                unowned, len(listeners), section, context.privilege
            )

        unread = sum(1 for lst in listeners if lst.pid is not None and lst.exe is None)
        if unread and not context.privilege.root:
            # Known by pid (ss through sudo), but /proc/PID/exe and cwd of another user's
            # process open to root only: said, not left out silently.
            what = f"the program path of {unread} of {len(listeners)} listening processes"
            errors["listeners.exe"] = context.privilege.needs_root(what)
        tcp_ports = {lst.port for lst in listeners if lst.proto == "tcp"}
        established = [r for r in rows if r.state == ESTAB]
        if connections_part is not None:
            lines = _parse_connection_lines(connections_part)
            established += [r for r in lines if r.state == ESTAB]
        connections: tuple[Connection, ...] | None = _connections(established, tcp_ports)
        if connections_part is not None and not connections_part.ok:
            connections = None
            errors["connections"] = part_failure(connections_part, "established connections")
        for part in (connections_part, section.get("proc")):
            if part is not None and "# truncated" in part.body:
                errors["connections.truncated"] = (
                    "more distinct (port, peer) pairs than the probe ships; list is partial"
                )
        teams = None
        if connections is not None:
            beyond = over_counts(connections_part.body if connections_part else "")
            teams = peer_groups(connections, context.client_owners, beyond)
        else:
            errors["connection_teams"] = errors["connections"]
        return FactUpdate(
            {"listeners": listeners, "connections": connections, "connection_teams": teams}, errors
        )


def _socket_rows(section: Section) -> tuple[list[SocketRow] | None, Part | None, str | None]:
    """Rows from whichever tool worked, the connections part, or why none worked."""
    ss, netstat, proc = section.get("ss"), section.get("netstat"), section.get("proc")
    if ss is not None and ss.ok:
        return list(parse_ss(ss.body)), section.get("established"), None
    if netstat is not None and netstat.ok:
        return list(parse_netstat(netstat.body)), section.get("established"), None
    if proc is not None and proc.ok:
        return _proc_rows(proc.body), None, None
    reasons = [
        part_failure(p, n) for p, n in ((ss, "ss"), (netstat, "netstat"), (proc, "/proc/net")) if p
    ]
    return None, None, "; ".join(reasons) or "no socket tool output"


def _proc_rows(body: str) -> list[SocketRow]:
    """The probe's /proc/net dump: `# /proc/net/<file>` headers, raw rows, `F` fd lines."""
    rows: list[SocketRow] = []
    chunks: dict[str, list[str]] = {}
    current = None
    for line in body.split("\n"):
        if line.startswith("# /proc/net/"):
            current = line[len("# /proc/net/") :].strip()
            continue
        if current is not None and not line.startswith("F "):
            chunks.setdefault(current, []).append(line)
    for name, lines in chunks.items():
        proto = "udp" if name.startswith("udp") else "tcp"
        rows.extend(parse_proc_net("\n".join(lines), proto))
    owners = parse_fd_owners(body)
    return [_with_pids(r, owners.get(r.inode, ())) if r.inode is not None else r for r in rows]


def _with_pids(row: SocketRow, pids: tuple[int, ...]) -> SocketRow:
    return replace(row, pids=pids)


def _parse_connection_lines(part: Part) -> tuple[SocketRow, ...]:
    """ESTAB rows of ss or netstat (whichever tool listed the listeners): the probe's cut
    of `ss -tuanpe` / `netstat -tuanpW` rows, or older probes' `ss -tn` / `netstat -tn`."""
    rows = parse_ss(part.body)
    return rows if rows else parse_netstat(part.body)


def _listeners(
    rows: list[SocketRow], processes: dict[int, ProcessInfo], users: dict[int, str]
) -> tuple[Listener, ...]:
    found: dict[tuple[str, str, int, int | None], Listener] = {}
    for row in rows:
        # A pre-fork server's children share the parent's socket: the lowest pid is the
        # parent (the one started by root, whose command line names the config).
        pid = min(row.pids) if row.pids else None
        info = processes.get(pid) if pid is not None else None
        uid = info.uid if info and info.uid is not None else row.uid
        user = (info.user if info else None) or (users.get(uid) if uid is not None else None)
        if user is None and uid is not None:
            user = str(uid)
        listener = Listener(
            proto=row.proto,
            address=row.local_address,
            port=row.local_port,
            pid=pid,
            process=(info.name if info and info.name else row.process),
            user=user,
            exe=info.exe if info else None,
            cwd=info.cwd if info else None,
            cmdline=info.cmdline if info else None,
        )
        key = (listener.proto, listener.address, listener.port, listener.pid)
        found.setdefault(key, listener)
    return tuple(sorted(found.values(), key=lambda x: (x.proto, x.port, x.address, x.pid or 0)))


def _connections(rows: list[SocketRow], tcp_ports: set[int]) -> tuple[Connection, ...]:
    pairs = {
        (r.local_port, r.peer_address)
        for r in rows
        if r.proto == "tcp" and r.local_port in tcp_ports and r.peer_address
    }
    return tuple(Connection(port, peer) for port, peer in sorted(pairs))


def _unowned_reason(unowned: int, total: int, section: Section, privilege: Privilege) -> str:
    what = f"{unowned} of {total} listening sockets have no process"
    tool_part = section.get("ss") or section.get("netstat") or section.get("proc")
    if tool_part is not None and tool_part.how == "user" and not privilege.root:
        return privilege.needs_root(what)
    return what + " (even as root: kernel sockets, or processes in another PID namespace)"
