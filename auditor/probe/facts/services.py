"""The listening services, deeper: process tree, start time, open files, the package that
owns the binary, and how the service is started. Used by `auditor inspect` only.

Runs in the root half after `SocketsFact`, whose `$PIDS` (the listening processes) it
reads. Per process, from /proc only: `stat` (parent, start time in clock ticks since boot),
`loginuid` (set when a login session or cron started it), `cgroup` (the systemd unit or
session scope), the targets of its open file descriptors, and its ancestors' command lines
up to PID 1. Children are counted in one awk pass over /proc/[0-9]*/stat.

Package owner of each program, best first: `dpkg -S` (retried without /usr for merged-/usr
systems), `apk info --who-owns`, `rpm -qf` (not BusyBox's rpm applet: it has no -qf). For
an interpreter (python, perl, java ...) the program is the script it runs, or the process
title it set. How it is started: besides the cgroup and the ancestors, one `grep -F` for
the program's path and name over the places a service can be
started from (init scripts, rc.local, inittab, systemd unit files, supervisor, monit,
runit, cron tables); the parser decides which lines count.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from auditor.probe.interface import FactUpdate, ParseContext, part_failure
from auditor.probe.options import ProbeOptions
from auditor.probe.parsers.clock import from_epoch
from auditor.probe.sections import Section
from auditor.probe.shell import fill, quote

MAX_FDS = 200  # open files listed per process
MAX_START_HITS = 600  # lines of the start-places grep
MAX_CHILDREN = 20  # children named per process (all are counted)

# Programs that run another file: the service's own program is then the first absolute path
# among its arguments (`python3 /opt/app/server.py`), or its process title when it set one.
INTERPRETERS = (
    "python*", "perl*", "ruby*", "node", "nodejs", "php*", "java", "bash", "sh", "dash", "ash",
)  # fmt: skip

START_PLACES = (
    "/etc/rc.local", "/etc/rc.d/rc.local", "/etc/inittab", "/etc/init.d/*", "/etc/rc.d/init.d/*",
    "/etc/supervisord.conf", "/etc/supervisor/supervisord.conf", "/etc/supervisor/conf.d/*",
    "/etc/supervisord.d/*", "/etc/systemd/system/*.service", "/etc/systemd/system/*/*.service",
    "/lib/systemd/system/*.service", "/usr/lib/systemd/system/*.service", "/etc/crontab",
    "/etc/cron.d/*", "/var/spool/cron/*", "/var/spool/cron/crontabs/*", "/etc/crontabs/*",
    "/etc/monitrc", "/etc/monit/conf.d/*", "/etc/monit.d/*", "/etc/sv/*/run",
    "/etc/service/*/run",
)  # fmt: skip

# Children of the listening processes: `K <parent> <pid> <comm>` (the first MAX_CHILDREN
# of each) and `KN <parent> <count>`. The comm sits between the first " (" and the last
# ")"; everything after that is space-separated numbers, the parent being the second.
AWK_CHILDREN = r"""
{ s = $0; i = index(s, " ("); if (i == 0) next
  pid = substr(s, 1, i - 1); c = substr(s, i + 2); sub(/[)] [^)]*$/, "", c)
  sub(/.*[)] /, "", s); split(s, a, " "); q = a[2]
  if (index(w, " " q " ") > 0) { n[q]++; if (n[q] <= max) print "K", q, pid, c } }
END { for (q in n) print "KN", q, n[q] }
"""

# `ls -l /proc/PID/fd`: `D <pid> <mode> <target>` for targets that are paths.
AWK_FDS = r"""
NF > 2 && $NF ~ /^[/]/ { n++; if (n <= max) print "D", p, $1, $NF }
END { if (n > max) print "DN", p, n }
"""

_SNIPPET = r"""
SX=
_b services/procs
if [ -n "$PIDS" ]; then
  awk '$1 == "btime" { print "B", $2 }' /proc/stat 2>/dev/null
  printf 'T %s\n' "$(getconf CLK_TCK 2>/dev/null)"
  for p in $PIDS; do
    [ -r "/proc/$p/stat" ] || { printf 'E %s gone\n' "$p"; continue; }
    printf 'S %s %s\n' "$p" "$(cat "/proc/$p/stat" 2>/dev/null)"
    printf 'L %s %s\n' "$p" "$(cat "/proc/$p/loginuid" 2>/dev/null)"
    sed -n '1,16p' "/proc/$p/cgroup" 2>/dev/null | sed "s|^|G $p |"
    ls -l "/proc/$p/fd" 2>/dev/null | awk -v p="$p" -v max=@MAXFD@ @AWK_FDS@
    q=$p n=0
    while [ $n -lt 8 ]; do
      s=$(cat "/proc/$q/stat" 2>/dev/null) || break
      s=${s##*") "}; set -f; set -- $s; set +f; pp=${2:-}
      case $pp in ''|0|*[!0-9]*) break ;; esac
      c=$(tr '\000\n' '  ' <"/proc/$pp/cmdline" 2>/dev/null | cut -c1-300)
      printf 'A %s %s %s\n' "$p" "$pp" "$c"
      [ "$pp" = 1 ] && break
      q=$pp n=$((n + 1))
    done
    x=$(_rl "/proc/$p/exe"); printf 'X %s %s\n' "$p" "$x"; x=${x% (deleted)}
    y=
    case ${x##*/} in
      @INTERPRETERS@)
        set -f; set -- $(tr '\000' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-2000); set +f
        for a in "$@"; do
          case $a in /*) case ${a##*/} in @INTERPRETERS@) ;; *) y=$a; break ;; esac ;; esac
        done
        [ -n "$y" ] && [ -f "$y" ] && printf 'Y %s %s\n' "$p" "$y" || y= ;;
    esac
    for x in $x $y; do
      case $x in /*) ;; *) continue ;; esac
      case " $SX " in *" $x "*) ;; *) SX="$SX $x" ;; esac
    done
  done
  awk -v w=" $PIDS " -v max=@MAXK@ @AWK_CHILDREN@ /proc/[0-9]*/stat 2>/dev/null
fi
_e services/procs 0
PK=
if _has dpkg; then PK=dpkg
elif _has apk; then PK=apk
elif _has rpm; then
  # BusyBox's rpm applet only installs and lists .rpm files: no -qf.
  case $(readlink -f "$(command -v rpm)" 2>/dev/null) in *busybox*) ;; *) PK=rpm ;; esac
fi
if [ "$PK" = dpkg ] && [ -n "$SX" ]; then
  # One dpkg -S for every program (each call reads the whole file list database); merged
  # /usr systems register some files without /usr, so those spellings are asked too.
  A=
  for x in $SX; do A="$A $x"; case $x in /usr/*) A="$A ${x#/usr}" ;; esac; done
  _tt @CT@; O=$($TT dpkg -S $A 2>&1); _o services/dpkg $? "$O"
fi
for x in $SX; do
  if [ "$PK" = rpm ]; then
    _tt @CT@; O=$($TT rpm -qf "$x" 2>&1); _o "services/rpm:$x" $? "$O"
  elif [ "$PK" = apk ]; then
    _tt @CT@; O=$($TT apk info --who-owns "$x" 2>&1); _o "services/apk:$x" $? "$O"
  elif [ -z "$PK" ]; then
    _o "services/pkg:$x" 127 "no dpkg, apk or rpm on this host"
  fi
done
if [ -n "$SX" ]; then
  FL= E=
  for f in @PLACES@; do [ -f "$f" ] && FL="$FL $f"; done
  for x in $SX; do E="$E -e $x -e ${x##*/}"; done
  O=
  [ -n "$FL" ] && O=$(grep -n -s -F $E /dev/null $FL 2>/dev/null | cut -c1-300 | sed -n '1,@MAXH@p')
  _o services/start 0 "$O"
fi
"""


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class OpenFile:
    path: str
    mode: str  # "r", "w" or "rw": how the descriptor was opened (from `ls -l` of /proc/PID/fd)


@dataclass(frozen=True)
class Ancestor:
    pid: int
    cmdline: str


@dataclass(frozen=True)
class PackageOwner:
    """Which package owns a binary. `package` None: none does, or it could not be asked."""

    tool: str  # dpkg | rpm | apk | none
    package: str | None
    note: str | None = None  # "not owned by any package", or the tool's complaint
    raw: str | None = None  # what the tool printed (evidence)


@dataclass(frozen=True)
class StartedBy:
    kind: str  # systemd | init-script | rc.local | inittab | supervisor | runit | monit | cron
    # | login-session | container | init | unknown
    detail: str
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceProcess:
    """One listening process, as deep as /proc lets us look."""

    pid: int
    name: str | None
    parent_pid: int | None
    started_at: datetime | None
    login_uid: int | None  # None: not started from a login session (or cron)
    cgroups: tuple[str, ...]
    ancestors: tuple[Ancestor, ...]  # parent first, up to PID 1
    children: int
    child_names: tuple[str, ...]
    open_files: tuple[OpenFile, ...]
    exe: str | None = None
    exe_deleted: bool = False  # the binary was replaced or removed since the process started
    program: str | None = None  # the script an interpreter runs (or its title), else the exe
    package: PackageOwner | None = None
    started_by: StartedBy | None = None
    start_hits: tuple[str, ...] = ()  # `file:line:text` of the places that name the binary


@dataclass
class _Collected:
    stat: dict[int, str] = field(default_factory=dict)
    login: dict[int, str] = field(default_factory=dict)
    cgroups: dict[int, list[str]] = field(default_factory=dict)
    files: dict[int, list[OpenFile]] = field(default_factory=dict)
    exe: dict[int, str] = field(default_factory=dict)
    program: dict[int, str] = field(default_factory=dict)
    ancestors: dict[int, list[Ancestor]] = field(default_factory=dict)
    children: dict[int, list[str]] = field(default_factory=dict)
    child_count: dict[int, int] = field(default_factory=dict)
    gone: set[int] = field(default_factory=set)
    btime: int | None = None
    clock_ticks: int | None = None


NO_LOGIN_UID = 4294967295  # (uid_t)-1: the kernel's "no login session"


def parse_procs(text: str) -> _Collected:
    """The `services/procs` part: B, T, S, X, Y, L, G, D, A, K and KN lines."""
    found = _Collected()
    for line in text.split("\n"):
        kind, _, rest = line.partition(" ")
        if kind == "B" and rest.strip().isdigit():
            found.btime = int(rest.strip())
            continue
        if kind == "T":
            found.clock_ticks = int(rest.strip()) if rest.strip().isdigit() else None
            continue
        pid_text, _, value = rest.partition(" ")
        if not pid_text.isdigit():
            continue
        pid = int(pid_text)
        if kind == "S":
            found.stat[pid] = value
        elif kind == "X":
            found.exe[pid] = value.strip()
        elif kind == "Y":
            found.program[pid] = value.strip()
        elif kind == "L":
            found.login[pid] = value.strip()
        elif kind == "G":
            found.cgroups.setdefault(pid, []).append(value.strip())
        elif kind == "D":
            mode_text, _, path = value.partition(" ")
            found.files.setdefault(pid, []).append(OpenFile(path.strip(), _fd_mode(mode_text)))
        elif kind == "A":
            parent_text, _, cmdline = value.partition(" ")
            if parent_text.isdigit():
                found.ancestors.setdefault(pid, []).append(
                    Ancestor(int(parent_text), cmdline.strip())
                )
        elif kind == "K":
            _child, _, comm = value.partition(" ")
            found.children.setdefault(pid, []).append(comm.strip())
        elif kind == "KN" and value.strip().isdigit():
            found.child_count[pid] = int(value.strip())
        elif kind == "E":
            found.gone.add(pid)
    return found


def _fd_mode(text: str) -> str:
    # `l-wx------`: the owner's r and w bits say how the descriptor was opened.
    read, write = text[1:2] == "r", text[2:3] == "w"
    return "rw" if read and write else ("w" if write else "r")


@dataclass(frozen=True)
class ProcStat:
    name: str
    parent_pid: int | None
    start_ticks: int | None


def parse_proc_stat(text: str) -> ProcStat | None:
    """`/proc/PID/stat`: `pid (comm) state ppid ... starttime(22) ...`. The comm may hold
    spaces and parentheses: it ends at the last ")"."""
    open_at, close_at = text.find(" ("), text.rfind(")")
    if open_at < 0 or close_at < open_at:
        return None
    name = text[open_at + 2 : close_at]
    fields = text[close_at + 1 :].split()
    # fields[0] is the state (field 3); ppid is field 4, starttime field 22.
    parent = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None
    start = int(fields[19]) if len(fields) > 19 and fields[19].isdigit() else None
    return ProcStat(name, parent, start)


def start_time(
    btime: int | None, start_ticks: int | None, clock_ticks: int | None
) -> datetime | None:
    """Boot time + start ticks / CLK_TCK (100 on every Linux we meet, when getconf is absent)."""
    boot = from_epoch(btime) if btime is not None else None
    if boot is None or start_ticks is None:
        return None
    return boot + timedelta(seconds=start_ticks / (clock_ticks or 100))


# --------------------------------------------------------------------------- packages

_RPM_NOT_OWNED_RE = re.compile(r"^file (?P<path>.+) is not owned by any package$")
_RPM_NOT_INSTALLED_RE = re.compile(r"^package (?P<path>/.+) is not installed$")
_RPM_ARCHES = (
    "x86_64", "i386", "i486", "i586", "i686", "noarch", "aarch64", "ppc64", "ppc64le", "s390x",
    "armv7hl", "ia64",
)  # fmt: skip
_APK_OWNED_RE = re.compile(r"^(?P<path>\S+) is owned by (?P<package>\S+)$")


def parse_package_owner(tool: str, status: int | None, text: str, path: str) -> PackageOwner:
    """What `dpkg -S PATH`, `rpm -qf PATH` or `apk info --who-owns PATH` said.

    rpm (CentOS 5: `httpd-2.2.3-91.el5.centos`; later: `...el7.x86_64`; several lines when
    several packages own the file), dpkg (`nginx-core: /usr/sbin/nginx`, `pkg:amd64, other:
    /path`, `diversion by ...` lines), apk (`/usr/sbin/nginx is owned by nginx-1.24.0-r7`).
    """
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    raw = "\n".join(lines)[:500] or None
    if tool == "pkg" or status == 127:
        return PackageOwner("none", None, lines[0] if lines else "no package tool", raw)
    if status is None:
        return PackageOwner(tool, None, f"{tool} was cut off (deadline)", raw)
    if status == 124:
        return PackageOwner(tool, None, f"{tool} timed out", raw)
    if tool == "rpm":
        return _rpm_owner(status, lines, raw)
    if tool == "dpkg":
        return _dpkg_owner(status, lines, path, raw)
    if tool == "apk":
        for line in lines:
            match = _APK_OWNED_RE.match(line)
            if match:
                return PackageOwner("apk", match["package"], None, raw)
        return PackageOwner("apk", None, _not_owned_note(lines), raw)
    return PackageOwner(tool, None, f"unknown package tool {tool}", raw)


def _rpm_owner(status: int, lines: list[str], raw: str | None) -> PackageOwner:
    packages = []
    for line in lines:
        # rpm 4.x -qf: "file /x is not owned by any package"; some builds (and rpm -q given
        # a path) answer "package /x is not installed": the path is in no package either.
        if _RPM_NOT_OWNED_RE.match(line) or _RPM_NOT_INSTALLED_RE.match(line):
            return PackageOwner("rpm", None, "not owned by any package", raw)
        if line.startswith(("error:", "warning:", "rpmdb:", "package ")) or " " in line:
            continue
        packages.append(line)
    if status == 0 and packages:
        return PackageOwner("rpm", ", ".join(dict.fromkeys(packages)), None, raw)
    return PackageOwner("rpm", None, _not_owned_note(lines), raw)


def _dpkg_owner(status: int, lines: list[str], path: str, raw: str | None) -> PackageOwner:
    """`dpkg -S` output for one or several paths: the lines about `path` (or its spelling
    without /usr) count; `pkg1, pkg2: /path` lines name its packages."""
    spellings = {path, path.removeprefix("/usr")} if path.startswith("/usr/") else {path}
    packages: list[str] = []
    missing: list[str] = []
    for line in lines:
        if line.startswith(("dpkg-query:", "dpkg:")):
            if any(line.endswith(" " + spelling) for spelling in spellings):
                missing.append(line)
            continue
        if line.startswith("diversion by"):
            continue
        names, sep, owned = line.rpartition(": ")
        if not sep or owned not in spellings:
            continue
        packages += [name.strip() for name in names.split(",") if name.strip()]
    if packages:
        return PackageOwner("dpkg", ", ".join(dict.fromkeys(packages)), None, _about(raw, path))
    if missing or status == 1:
        return PackageOwner("dpkg", None, "not owned by any package", _about(raw, path))
    return PackageOwner("dpkg", None, _not_owned_note(lines), raw)


def _about(raw: str | None, path: str) -> str | None:
    """The lines of a several-path answer that concern `path`."""
    if raw is None:
        return None
    short = path.removeprefix("/usr")
    kept = [line for line in raw.split("\n") if line.endswith((" " + path, " " + short))]
    return "\n".join(kept) or raw


def _not_owned_note(lines: list[str]) -> str:
    text = " ".join(lines).lower()
    if any(
        words in text
        for words in ("not owned by any package", "no path found", "could not find owner")
    ):
        return "not owned by any package"
    return lines[0][:200] if lines else "no answer"


def package_name(package: str) -> str:
    """`httpd-2.2.3-91.el5.centos` or `...el7.x86_64` -> `httpd`; dpkg names as they are."""
    text = package.split(",")[0].strip()
    head, dot, arch = text.rpartition(".")
    if dot and arch in _RPM_ARCHES:
        text = head
    parts = text.rsplit("-", 2)
    if len(parts) == 3 and parts[1][:1].isdigit():
        return parts[0]
    return text.split(":")[0]


# --------------------------------------------------------------------------- how started

# Supervisors and shells, by the ancestor's program name.
_SUPERVISORS = (
    ("supervisord", "supervisor"), ("runsv", "runit"), ("runsvdir", "runit"),
    ("s6-supervise", "s6"), ("monit", "monit"), ("crond", "cron"), ("cron", "cron"),
    ("anacron", "cron"), ("atd", "at"), ("containerd-shim", "container"),
    ("containerd-shim-runc-v2", "container"), ("conmon", "container"), ("pm2", "pm2"),
    ("forever", "forever"),
)  # fmt: skip
_TERMINALS = ("screen", "SCREEN", "tmux", "tmux: server", "nohup")
_SHELLS = ("sh", "bash", "dash", "ash", "ksh", "zsh", "csh", "tcsh", "-bash", "-sh")
_INIT_NAMES = ("init", "systemd", "/sbin/init", "/usr/lib/systemd/systemd", "/lib/systemd/systemd")


def classify_start(process: ServiceProcess, exe: str | None) -> StartedBy:
    """How this process was started, with the evidence. Pure; best evidence first:
    PID 1 itself, the systemd unit in its cgroup, a supervisor or shell among its
    ancestors, a login session, then the files that name its binary."""
    if process.pid == 1:
        return StartedBy("init", "it is PID 1 (the first process of this system)")
    unit = _systemd_unit(process.cgroups)
    if unit is not None:
        kind, detail = unit
        return StartedBy(kind, detail, tuple(process.cgroups[:2]))
    for ancestor in process.ancestors:
        program = _program(ancestor.cmdline)
        for name, kind in _SUPERVISORS:
            if program == name:
                return StartedBy(
                    kind, f"child of {program} (pid {ancestor.pid})", (ancestor.cmdline,)
                )
        if program in _TERMINALS or ancestor.cmdline.startswith(("tmux", "SCREEN", "screen")):
            return StartedBy(
                "by-hand",
                f"started by hand inside {program} (pid {ancestor.pid})",
                (ancestor.cmdline,),
            )
    shell = _shell_under_sshd(process.ancestors)
    if shell is not None:
        return StartedBy("by-hand", f"started by hand from a shell (pid {shell.pid})", ())
    hits = _start_hits(process.start_hits, exe)
    if hits:
        return hits
    if process.login_uid is not None:
        return StartedBy(
            "login-session",
            f"started from a login session of uid {process.login_uid} (by hand, or by cron)",
        )
    parent = process.ancestors[0] if process.ancestors else None
    if parent is not None and parent.pid == 1:
        init = parent.cmdline or "unknown"
        return StartedBy(
            "unknown",
            f"daemon whose parent is PID 1 ({init[:120]}); no init script, systemd unit, "
            f"rc.local, inittab, supervisor or cron entry names {exe or 'its binary'}",
            (f"parent: pid 1 {init[:200]}",),
        )
    return StartedBy("unknown", "nothing we can read says how it was started")


def _systemd_unit(cgroups: tuple[str, ...]) -> tuple[str, str] | None:
    for line in cgroups:
        _, _, path = line.rpartition(":")
        parts = [p for p in path.split("/") if p]
        for part in reversed(parts):
            if part.endswith(".service") and not part.startswith(("user@", "session-")):
                return "systemd", f"systemd unit {part}"
            if part.startswith("session-") and part.endswith(".scope"):
                user = next(
                    (p for p in parts if p.startswith("user-") and p.endswith(".slice")), ""
                )
                uid = user[5:-6] if user else "?"
                return "login-session", f"started by hand in login {part[:-6]} (uid {uid})"
            if part.startswith("docker-") or part == "docker" or part.startswith("lxc"):
                return "container", f"runs in a container ({path})"
    return None


def _program(cmdline: str) -> str:
    first = cmdline.split(" ", 1)[0] if cmdline else ""
    if first.endswith(":"):  # "sshd:", "nginx:" process titles
        first = first[:-1]
    return first.rsplit("/", 1)[-1]


def _shell_under_sshd(ancestors: tuple[Ancestor, ...]) -> Ancestor | None:
    for i, ancestor in enumerate(ancestors):
        if _program(ancestor.cmdline) in _SHELLS and any(
            _program(a.cmdline) in ("sshd", "login", "su", "sudo") for a in ancestors[i + 1 :]
        ):
            return ancestor
    return None


def _binary_word(exe: str) -> re.Pattern[str]:
    base = exe.rsplit("/", 1)[-1]
    return re.compile(r"(?<![\w./-])" + re.escape(base) + r"(?![\w.-])")


def _split_hit(line: str) -> tuple[str, str, str]:
    """`file:line:text` (grep -n over several files) -> (file, line number, text)."""
    path, _, rest = line.partition(":")
    number, _, text = rest.partition(":")
    return path, number, text


def start_places_naming(exe: str | None, lines: tuple[str, ...]) -> tuple[str, ...]:
    """The grep hits whose text names the binary: its full path, or its file name as a
    word (`httpd` but not `httpd.conf` or `/usr/sbin/httpd2`); comments left out."""
    if not exe:
        return ()
    word = _binary_word(exe)
    out = []
    for line in lines:
        _, number, text = _split_hit(line)
        if not number.isdigit() or text.lstrip().startswith("#"):
            continue
        if exe in text or word.search(text):
            out.append(line)
    return tuple(dict.fromkeys(out))


def _start_hits(lines: tuple[str, ...], exe: str | None) -> StartedBy | None:
    """The start places that name the binary, by how sure they are."""
    if not exe:
        return None
    base = exe.rsplit("/", 1)[-1]
    ranked: list[tuple[int, StartedBy]] = []
    for line in start_places_naming(exe, lines):
        path, number, text = _split_hit(line)
        names_exe = exe in text
        evidence = (f"{path}:{number}: {text.strip()[:200]}",)
        file_name = path.rsplit("/", 1)[-1]
        if path.endswith(".service") and names_exe and "Exec" in text:
            ranked.append((1, StartedBy("systemd", f"systemd unit file {path}", evidence)))
        elif "/init.d/" in path and (file_name == base or names_exe):
            ranked.append((2, StartedBy("init-script", f"init script {path}", evidence)))
        elif path.endswith("rc.local"):
            ranked.append((3, StartedBy("rc.local", f"{path} line {number}", evidence)))
        elif path.endswith("inittab"):
            ranked.append((3, StartedBy("inittab", f"{path} line {number}", evidence)))
        elif "supervisor" in path and names_exe:
            ranked.append((4, StartedBy("supervisor", f"supervisor config {path}", evidence)))
        elif "monit" in path and names_exe:
            ranked.append((4, StartedBy("monit", f"monit config {path}", evidence)))
        elif path.endswith("/run") and names_exe:
            ranked.append((4, StartedBy("runit", f"runit service {path}", evidence)))
        elif "cron" in path and names_exe and "@reboot" in text:
            ranked.append((5, StartedBy("cron", f"cron @reboot in {path}", evidence)))
    if not ranked:
        return None
    ranked.sort(key=lambda item: item[0])
    best = ranked[0][1]
    more = tuple(e for _, s in ranked[1:4] for e in s.evidence)
    return StartedBy(best.kind, best.detail, best.evidence + more)


# --------------------------------------------------------------------------- the fact


def parse_services(section: Section, context: ParseContext) -> FactUpdate:
    procs_part = section.get("procs")
    if procs_part is None or not procs_part.complete:
        reason = part_failure(procs_part, "service details")
        return FactUpdate({"services": None}, {"services": reason})
    found = parse_procs(procs_part.body)
    programs = {
        found.program.get(pid) or exe.removesuffix(" (deleted)") for pid, exe in found.exe.items()
    }
    packages = _packages(section, programs)
    start_part = section.get("start")
    start_lines = tuple(
        line for line in (start_part.lines if start_part else ()) if line and ":" in line
    )
    errors: dict[str, str] = {}
    services = []
    for pid in sorted(found.stat):
        stat = parse_proc_stat(found.stat[pid])
        if stat is None:
            continue
        login_text = found.login.get(pid, "")
        login_uid = int(login_text) if login_text.isdigit() else None
        if login_uid == NO_LOGIN_UID:
            login_uid = None
        exe_text = found.exe.get(pid) or ""
        deleted = exe_text.endswith(" (deleted)")
        exe = exe_text.removesuffix(" (deleted)") or None
        program = found.program.get(pid) or exe
        process = ServiceProcess(
            pid=pid,
            name=stat.name,
            parent_pid=stat.parent_pid,
            started_at=start_time(found.btime, stat.start_ticks, found.clock_ticks),
            login_uid=login_uid,
            cgroups=tuple(found.cgroups.get(pid, ())),
            ancestors=tuple(found.ancestors.get(pid, ())),
            children=found.child_count.get(pid, 0),
            child_names=tuple(found.children.get(pid, ())),
            open_files=tuple(found.files.get(pid, ())),
            exe=exe,
            exe_deleted=deleted,
            program=program,
            package=packages.get(program) if program else None,
            start_hits=start_places_naming(program, start_lines),
        )
        services.append(_with_start(process))
    if not context.privilege.root and (not services or not any(s.open_files for s in services)):
        errors["services.files"] = context.privilege.needs_root(
            "open files, binaries and ancestors of other users' processes"
        )
    return FactUpdate({"services": tuple(services)}, errors)


def _with_start(process: ServiceProcess) -> ServiceProcess:
    return replace(process, started_by=classify_start(process, process.program))


def _packages(section: Section, programs: Iterable[str]) -> dict[str, PackageOwner]:
    owners: dict[str, PackageOwner] = {}
    combined = section.get("dpkg")
    if combined is not None:
        for path in programs:
            owners[path] = parse_package_owner("dpkg", combined.status, combined.body, path)
    for part in section.parts:
        tool, sep, path = part.name.partition(":")
        if sep and tool in ("dpkg", "rpm", "apk", "pkg") and path.startswith("/"):
            owners[path] = parse_package_owner(tool, part.status, part.body, path)
    return owners


@dataclass(frozen=True)
class ServicesFact:
    name: str = "services"
    fields: tuple[str, ...] = ("services",)
    privileged: bool = True

    def snippet(self, options: ProbeOptions) -> str:
        return fill(
            _SNIPPET,
            CT=options.command_timeout,
            MAXFD=MAX_FDS,
            MAXK=MAX_CHILDREN,
            MAXH=MAX_START_HITS,
            AWK_CHILDREN=quote(AWK_CHILDREN),
            AWK_FDS=quote(AWK_FDS),
            PLACES=" ".join(START_PLACES),
            INTERPRETERS="|".join(INTERPRETERS),
        )

    def parse(self, section: Section, context: ParseContext) -> FactUpdate:
        return parse_services(section, context)
