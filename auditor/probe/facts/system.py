"""Hostname, FQDN, kernel, architecture, uptime and boot time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from auditor.probe.interface import FactUpdate, ParseContext, part_failure
from auditor.probe.options import ProbeOptions
from auditor.probe.parsers.clock import from_epoch
from auditor.probe.sections import Section
from auditor.probe.shell import fill

# Node name, release and machine come from /proc/sys/kernel (the shell's own `read`, no
# process; `arch` is there since Linux 6.1) in `uname -n -r -m`'s shape; `uname` runs where
# they are not all there, `hostname` only when uname fails too.
# The FQDN is what `hostname -f` prints: the resolver's canonical name for the node name.
# /etc/hosts answers first on nearly every system (`hosts: files ...`), and there the
# canonical name is the first name on the line that lists the node name: the shell reads it
# so. Only when no line lists it does `hostname -f` run (it may wait on DNS: under a
# timeout). A line with a qualified alias `<node>.<domain>` goes along for the parser, which
# uses it when the resolver's answer is no usable name.
# /proc/uptime is read with the shell's own `read` (no process); it is preferred over
# /proc/stat's btime: containers under LXCFS (and the lab's CentOS 5 host) see their own
# uptime there, while btime is the machine's. btime is read only when /proc/uptime could not.
_SNIPPET = r"""
O= R=1 K=/proc/sys/kernel
if [ -r $K/hostname ] && [ -r $K/osrelease ] && [ -r $K/arch ]; then
  read -r a <$K/hostname; read -r b <$K/osrelease; read -r c <$K/arch
  [ -n "$a" ] && [ -n "$b" ] && [ -n "$c" ] && { O="$a $b $c"; R=0; }
fi
[ "$R" = 0 ] || { O=$(uname -n -r -m 2>&1); R=$?; }
_o system/uname "$R" "$O"
if [ "$R" = 0 ]; then H=${O% * *}
else _r system/hostname @CT@ hostname; H=; [ "$R" = 0 ] && H=${O%%"$NL"*}; fi
FQ= HL=
if [ -n "$H" ] && [ -r /etc/hosts ]; then
  set -f
  while read -r ip names; do
    case $ip in ''|'#'*) continue ;; esac
    names=${names%%#*}
    for n in $names; do
      case $n in
        "$H") set -- $names; FQ=$1; HL="$ip $names"; break 2 ;;
        "$H".*) [ -n "$HL" ] || HL="$ip $names" ;;
      esac
    done
  done </etc/hosts
  set +f
fi
if [ -n "$FQ" ]; then _o system/fqdn 0 "$FQ"; else _r system/fqdn @CT@ hostname -f; fi
[ -n "$HL" ] && _o system/hosts 0 "$HL"
UP=
[ -r /proc/uptime ] && read -r UP _ </proc/uptime
case $UP in
  [0-9]*) _o system/uptime 0 "$UP" ;;
  *)
    _o system/uptime 1 "/proc/uptime is not readable"
    O=$(awk '$1 == "btime" { print $2 }' /proc/stat 2>&1); R=$?
    _o system/btime "$R" "$O
$(date +%s 2>/dev/null)" ;;
esac
"""

FIELDS = ("hostname", "fqdn", "kernel", "arch", "uptime_seconds", "boot_time")


@dataclass(frozen=True)
class SystemFact:
    name: str = "system"
    fields: tuple[str, ...] = FIELDS
    privileged: bool = False

    def snippet(self, options: ProbeOptions) -> str:
        return fill(_SNIPPET, CT=options.command_timeout)

    def parse(self, section: Section, context: ParseContext) -> FactUpdate:
        values: dict[str, object] = {}
        errors: dict[str, str] = {}

        # `node release machine`: release and machine never hold a space, a node name may.
        uname = section.get("uname")
        uname_words = uname.first_line().rsplit(" ", 2) if uname and uname.ok else []
        if len(uname_words) != 3 or not all(w.strip() for w in uname_words[1:]):
            uname_words = []
            reason = part_failure(uname, "uname -n -r -m")
            errors["kernel"] = errors["arch"] = reason

        hostname_part = section.get("hostname")
        hostname = hostname_part.first_line() if hostname_part and hostname_part.ok else ""
        if not hostname and uname_words:
            hostname = uname_words[0].strip()  # the kernel's node name, as `hostname` says
        values["hostname"] = hostname or None
        if not hostname:
            errors["hostname"] = part_failure(hostname_part, "hostname")
        values["kernel"] = uname_words[1] if uname_words else None
        values["arch"] = uname_words[2] if uname_words else None

        values["fqdn"], fqdn_error = _fqdn(section, hostname)
        if fqdn_error:
            errors["fqdn"] = fqdn_error

        uptime, boot, uptime_error = _uptime(section, context)
        values["uptime_seconds"], values["boot_time"] = uptime, boot
        if uptime_error:
            errors["uptime_seconds"] = errors["boot_time"] = uptime_error
        return FactUpdate(values, errors)


def _fqdn(section: Section, hostname: str) -> tuple[str | None, str | None]:
    """`hostname -f`, else a qualified name for the host in /etc/hosts."""
    part = section.get("fqdn")
    name = part.first_line() if part and part.ok else ""
    if name and " " not in name and name not in ("localhost", "localhost.localdomain"):
        return name, None
    hosts = section.get("hosts")
    for line in hosts.lines if hosts else []:
        for alias in line.split()[1:]:
            if hostname and alias.startswith(hostname + ".") and not alias.endswith("."):
                return alias, None
    failed = part_failure(part, "hostname -f") if not name else f"hostname -f said {name!r}"
    return None, f"{failed}; /etc/hosts names no qualified alias for {hostname or 'the host'}"


def _uptime(
    section: Section, context: ParseContext
) -> tuple[float | None, datetime | None, str | None]:
    part = section.get("uptime")
    if part and part.ok:
        try:
            seconds = float(part.first_line())
        except ValueError:
            seconds = -1.0
        if seconds >= 0:
            return seconds, context.collected_at - timedelta(seconds=seconds), None
    # No /proc/uptime: the kernel's boot time against the host's own clock (the part's
    # second line, `date +%s`; older scripts gave the clock in meta/privilege).
    btime_part = section.get("btime")
    lines = [line.strip() for line in btime_part.lines] if btime_part and btime_part.ok else []
    boot = from_epoch(lines[0]) if lines else None
    host_now = from_epoch(lines[1]) if len(lines) > 1 else None
    host_now = host_now or context.host_now
    if boot is not None and host_now is not None and host_now >= boot:
        seconds = (host_now - boot).total_seconds()
        return seconds, context.collected_at - timedelta(seconds=seconds), None
    return None, None, part_failure(part, "/proc/uptime") + "; no usable btime in /proc/stat"
