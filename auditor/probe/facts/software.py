"""Versions of key server software: httpd/apache2, nginx, java, php, mysqld/mariadbd,
postgres, python, openssl, OpenSSH.

Candidates: the names on PATH, the usual places off PATH (/usr/local/apache/bin/httpd,
/usr/libexec/mysqld, /usr/lib/postgresql/*/bin/postgres, /usr/pgsql-*/bin/postgres,
/usr/lib/jvm/*/bin/java ...) and the absolute program paths on running servers' command
lines (a server running from /opt). Each runs with its version flag, from /, with a timeout,
in the login user's shell (never through the probe's sudo), and only when root owns the file
and nobody else may write it: the probe never executes a file a user could have planted.
BusyBox and Toybox applets are never run (BusyBox's `httpd -v` is no version query: it
starts a web server).

A JVM is not run at all when its home has a `release` file (JDK 9+ and most 8 builds:
`JAVA_VERSION="17.0.15"`), owned by root and not writable by others like the binary: its
lines are shipped instead of `java -version`'s (~50 ms of CPU and ~17 threads per JVM).
Where there is none, java runs with -XX:-UsePerfData (else HotSpot creates
/tmp/hsperfdata_USER/PID). Nothing is written. Raw version lines are kept as evidence.

Nor is a program run again that has not changed since the controller last saw its output
(`ProbeOptions.known_versions`, kept by `auditor.software_cache`): a run's part carries the
program's identity, `dev ino size mtime ctime` as `stat -L` gives it, and when the same
identity is handed back next time the script prints a `software/cache/hit` part instead of
running it; the parser reads the kept output again. An upgrade, a rebuild or a `touch`
changes the identity (a new inode, size, mtime or at least ctime, which nobody can set).

Cost on the host: the candidates are found by shell builtins alone (a walk of $PATH, no
`command -v` subshell per name; running servers by the shell's `read` of /proc/PID/comm,
then one `tr` over /proc/PID/cmdline for at most the 3 lowest pids of each server name,
`ps -e -o args= | awk` only where /proc has no comm files: kernels before 2.6.33); one
`readlink -f` resolves them all (GNU coreutils >= 8.16 takes many operands; older ones and
BusyBox get one call per file); one `stat -L -c` gives every candidate's and release file's
owner, mode and identity (a `find -L` owner check where `stat -c` is missing); then the
programs actually run, one after the other in one `sh` under one GNU `timeout` (N + 2
processes, not a `timeout` and the program each; one at a time, each under its own
`timeout`, for what it did not finish and where `timeout` is BusyBox's or missing), their
output cut to 6 lines by the shell (a `sed` only for the rare longer one). With every
program known and unchanged: `stat`, and no `timeout` at all.

Which package installed each program run (for end of life: a distribution's package is
maintained by the distribution) is asked once per host, for all of them together: one `grep`
over dpkg's file lists plus one `awk` over its status file (`dpkg-query -W` where dpkg left
journal entries), or one `rpm -qf`, or one `awk` over Alpine's
apk database (auditor.probe.parsers.packages; docs/probe.md "Package owners"). The answer is
kept in the version cache with the output, so a warm run asks nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

from auditor.model import NOT_ASKED, Software
from auditor.probe.interface import FactUpdate, ParseContext
from auditor.probe.options import ProbeOptions
from auditor.probe.parsers.packages import PART_PREFIX as PACKAGE_PARTS
from auditor.probe.parsers.packages import PackageAnswer, package_answers
from auditor.probe.parsers.software import VersionRun, parse_version, program_name
from auditor.probe.sections import Part, Section
from auditor.probe.shell import fill, quote

NAMES_ON_PATH = (
    "httpd", "apache2", "nginx", "java", "php", "php-fpm", "mysqld", "mariadbd", "postgres",
    "python3", "python", "python2", "openssl", "ssh",
)  # fmt: skip
OFF_PATH = (
    "/usr/local/apache/bin/httpd", "/usr/local/apache2/bin/httpd", "/usr/local/nginx/sbin/nginx",
    "/usr/libexec/mysqld", "/usr/sbin/mysqld", "/usr/lib/postgresql/*/bin/postgres",
    "/usr/pgsql-*/bin/postgres", "/usr/lib/jvm/*/bin/java", "/usr/sbin/php-fpm*",
)  # fmt: skip

# Absolute program paths among the first words of each process's command line.
AWK_PS_PROGRAMS = r"""
{ for (i = 1; i <= NF && i <= 4; i++) if ($i ~ /^\//) {
    b = $i; sub(/.*\//, "", b)
    if (b ~ /^(httpd|apache2|nginx|java|php[0-9.]*|php-fpm[0-9.]*|mysqld|mariadbd)$/ ||
        b == "postgres" || b == "postmaster")
      print $i
  } }
"""

# `stat -L -c` format for every candidate program and release file, in one process: the
# identity the version cache keys on (`dev ino size mtime ctime`), then owner, octal mode
# and the name as given. GNU coreutils (CentOS 5's 5.97 too) and BusyBox know it.
STAT_FORMAT = "%d %i %s %Y %Z %u %a %n"

# Where `stat -c` is missing or says nothing usable: `find` arguments printing which of
# @FILES@ root owns and nobody else may write, after following symlinks (no identities:
# every program then runs, as no cache could vouch for it).
FIND_SAFE = "-L @FILES@ -type f -user 0 ! -perm -020 ! -perm -002"

# The part that stands for a version run the controller already has: `PATH<TAB>identity`.
# A run's part is named after the program's file name, which never holds a "/", and only
# the script prints markers (they carry the run's nonce): program output cannot forge it.
CACHE_HIT = "cache/hit"

# `rpm -qf` answers one line per package owning each file asked, in order (or "file X is not
# owned by any package"): auditor.probe.parsers.packages lines them up.
RPM_FORMAT = r"%{NAME}\t%{VERSION}-%{RELEASE}\t%{ARCH}\n"

# dpkg's status file, a stanza per package and architecture: `dpkg-query -W -f '${Package}
# ${Version} ${Architecture}\n' NAME...`'s lines for the packages in `want` (" NAME
# NAME:ARCH ... ", as dpkg's .list files name them), in the file's order (dpkg's: by name).
AWK_DPKG = r"""
function out() {
  if (p != "" && (index(want, " " p " ") || index(want, " " p ":" a " ")))
    print p " " v " " a
  p = ""; v = ""; a = ""
}
/^Package:/ { p = $2 }
/^Version:/ { v = $2 }
/^Architecture:/ { a = $2 }
/^$/ { out() }
END { out() }
"""

# Alpine's package database, /lib/apk/db/installed: a record per package (P: name,
# V: version), each file an `R:` line under its folder's `F:` line. Prints
# `NAME<TAB>VERSION<TAB>PATH` for the files in `want` (" PATH PATH ... ").
AWK_APK = r"""
/^P:/ { p = substr($0, 3) }
/^V:/ { v = substr($0, 3) }
/^F:/ { d = "/" substr($0, 3) }
/^R:/ { f = d "/" substr($0, 3); if (d == "/") f = d substr($0, 3)
        if (index(want, " " f " ")) print p "\t" v "\t" f }
/^$/ { p = ""; v = ""; d = "" }
"""

# The version runs' shell (`sh -c BATCH sh PATH FLAGS PATH FLAGS ...`): each program's
# output between two lines that carry the nonce, which comes in its environment (never in
# argv) and is not handed on to the programs.
BATCH = r"""n=$N; unset N
while [ $# -gt 1 ]; do
  x=$1 a=$2; shift 2
  O=$(cd / && "$x" $a 2>&1); R=$?
  [ "$R" != 0 ] && [ "$a" != "${a#-XX}" ] && { O=$(cd / && "$x" -version 2>&1); R=$?; }
  printf '\n@%s<%s>\n%s\n@%s>%s\n' "$n" "$x" "$O" "$n" "$R"
done
"""

# What a JVM's `release` file says that matters (JAVA_VERSION is the version).
RELEASE_KEYS = ("JAVA_VERSION", "JAVA_RUNTIME_VERSION", "IMPLEMENTOR", "IMPLEMENTOR_VERSION")

_SNIPPET = r"""
SW= C= Y= K= J= RF= SEEN= PQ= PY= TB='@TAB@' KC=@KNOWN@
set -f; _i=$IFS; IFS=:; set -- $PATH; IFS=$_i; set +f
for b in @NAMES@; do
  for d; do
    case $d in /*) [ -f "$d/$b" ] && [ -x "$d/$b" ] && { SW="$SW $d/$b"; break; } ;; esac
  done
done
for x in @OFF_PATH@; do [ -f "$x" ] && SW="$SW $x"; done
if [ -f /proc/self/comm ]; then
  # Servers by process name, read by the shell itself; then the command lines of each
  # name's 3 lowest pids only (a pre-fork server's parent, not its 150 children).
  SPA= SPB= SPC= SPD= SPE= SPF= SPG= SPH= SPI= SPJ=
  { for d in /proc/[0-9]*; do
    c=; read -r c <"$d/comm" || continue
    case $c in
      httpd) k=A ;; apache2) k=B ;; nginx) k=C ;; java) k=D ;; mysqld) k=E ;;
      mariadbd) k=F ;; postgres) k=G ;; postmaster) k=H ;;
      php-fpm*) case ${c#php-fpm} in *[!0-9.]*) continue ;; esac; k=I ;;
      php*) case ${c#php} in *[!0-9.]*) continue ;; esac; k=J ;;
      *) continue ;;
    esac
    p=${d#/proc/}; eval "v=\$SP$k"; set -- $v
    if [ $# -ge 3 ]; then
      m=$1; for q; do [ "$q" -gt "$m" ] && m=$q; done
      [ "$p" -lt "$m" ] || continue
      v=; for q; do if [ "$q" = "$m" ]; then m=; else v="$v $q"; fi; done
    fi
    eval "SP$k=\"\$v \$p\""
  done; } 2>/dev/null
  set -f
  for p in $SPA $SPB $SPC $SPD $SPE $SPF $SPG $SPH $SPI $SPJ; do
    l=$(tr '\000' ' ' 2>/dev/null <"/proc/$p/cmdline") || continue
    n=0; set -- $l
    for f; do
      n=$((n + 1)); [ $n -le 4 ] || break
      case $f in /*) ;; *) continue ;; esac
      b=${f##*/}
      case $b in
        httpd|apache2|nginx|java|mysqld|mariadbd|postgres|postmaster) ;;
        php-fpm*) case ${b#php-fpm} in *[!0-9.]*) continue ;; esac ;;
        php*) case ${b#php} in *[!0-9.]*) continue ;; esac ;;
        *) continue ;;
      esac
      SW="$SW $f"
    done
  done
  set +f
else
  SW="$SW $(ps -e -o args= 2>/dev/null | awk @AWK_PS@)"
fi
set -f
for x in $SW; do
  [ -f "$x" ] && [ -x "$x" ] || continue
  case " $C " in *" $x "*) ;; *) C="$C $x" ;; esac
done
# `_ss LINE`: one `stat` line -> sp (path), si (`dev ino size mtime ctime`), sk (`dev:ino`),
# so=1 when root owns the file and nobody else may write it; 1 when the line is unusable.
_ss() { set -- $1; [ $# = 8 ] || return 1
  case $1$2$3$4$5$6 in *[!0-9]*) return 1 ;; esac
  case $7 in *[!0-7]*|'') return 1 ;; esac
  sp=$8 si="$1 $2 $3 $4 $5" sk=$1:$2 so=; _m=${7%?}
  [ "$6" = 0 ] || return 0
  case ${_m#"${_m%?}"}${7#"$_m"} in *[2367]*) return 0 ;; esac
  so=1; }
# Programs the controller knows, unchanged since (same identity), owner still safe: a
# cached part from this one `stat`, and no readlink, no run. The others go on below.
HK= HP=
if [ -n "$KC" ] && [ -n "$C" ]; then
  Z=$(stat -L -c @STAT_FORMAT@ $C 2>/dev/null)
  _i=$IFS; IFS=$NL
  for l in $Z; do
    IFS=$_i
    _ss "$l" && [ -n "$so" ] || continue
    case " $HK " in *" $sk "*) continue ;; esac
    case "$NL$KC$NL" in *"$NL$sp$TB$si$NL"*)
      _o software/cache/hit 0 "$sp$TB$si"; HK="$HK $sk" ;;
    esac
  done
  # Every name of a cached file (python3 and python3.11) leaves the list.
  IFS=$NL
  for l in $Z; do
    IFS=$_i
    _ss "$l" && case " $HK " in *" $sk "*) HP="$HP $sp" ;; esac
  done
  IFS=$_i
  if [ -n "$HP" ]; then
    Z=$C C=
    for x in $Z; do case " $HP " in *" $x "*) ;; *) C="$C $x" ;; esac; done
  fi
fi
set -- $C
if [ $# -gt 0 ]; then
  Y=$(readlink -f "$@" 2>/dev/null) || Y=
  n=0; for y in $Y; do n=$((n + 1)); done
  if [ "$n" != $# ]; then
    Y=
    for x; do
      y=$(readlink -f "$x" 2>/dev/null) || y=$(_rl "$x") || y=
      Y="$Y ${y:-$x}"
    done
  fi
fi
for y in $Y; do
  x=$1; shift
  case " $SEEN " in *" $x "*|*" $y "*) continue ;; esac
  SEEN="$SEEN $x $y"
  # A BusyBox/Toybox applet is not the program: BusyBox `httpd -v` starts a web server.
  case ${y##*/} in busybox*|toybox*) continue ;; esac
  K="$K $x" PQ="$PQ$NL$x$TB$y" PY="$PY $y"
  case ${x##*/} in java*)
    h=${y%/bin/*}; r=$h/release; [ -f "$r" ] || r=${h%/jre}/release
    [ -f "$r" ] && { J="$J $x $r"; RF="$RF $r"; } ;;
  esac
done
# Owner, mode and identity of every candidate and release file, after symlinks, from one
# `stat`: root must own it and nobody else may write it. G lists the safe ones, ID their
# `dev ino size mtime ctime`. Without a `stat -c` (or a usable answer): `find`, no ID.
G= ID= ST=
if [ -n "$K" ]; then
  Z=$(stat -L -c @STAT_FORMAT@ $K $RF 2>/dev/null)
  _i=$IFS; IFS=$NL
  for l in $Z; do
    IFS=$_i
    _ss "$l" || continue
    ST=1
    [ -n "$so" ] || continue
    G="$G$NL$sp" ID="$ID$NL$sp$TB$si"
  done
  IFS=$_i
  [ -n "$ST" ] || G=$(find @FIND_SAFE@ 2>/dev/null)
fi
# `_va X`: X's version flag in `a`. `_jr X`: for a JVM whose release file passed the owner
# check, that file's lines that matter in O (r: the file); false when they hold no version.
_va() { case ${1##*/} in
    java*) a='-XX:-UsePerfData -version' ;; ssh) a=-V ;; openssl) a=version ;;
    mysqld*|mariadbd*|postgres*|postmaster*|python*) a=--version ;; *) a=-v ;;
  esac; }
_jr() { r= O= n=0 l=
  case " $J " in *" $1 "*) r=${J#* "$1" }; r=${r%% *} ;; esac
  case "$NL$G$NL" in *"$NL$r$NL"*) ;; *) r= ;; esac
  if [ -n "$r" ] && [ -r "$r" ]; then
    while [ $n -lt 100 ] && { IFS= read -r l || [ -n "$l" ]; }; do
      case $l in @RELEASE_KEYS@) O="$O$NL$l" ;; esac
      n=$((n + 1)) l=
    done <"$r"
  fi
  case $O in *"${NL}JAVA_VERSION="*) return 0 ;; esac
  return 1; }
# The programs to run go to one `sh` under one GNU `timeout` (which stops its whole process
# group): one process each, not a `timeout` and the program each. What that shell did not
# finish in time (a program that hangs) runs again below on its own, under its own timeout,
# as does everything where the host has no GNU `timeout` (BusyBox's stops only its child).
set --
for x in $K; do
  case "$NL$G$NL" in *"$NL$x$NL"*) ;; *) continue ;; esac
  case ${x##*/} in java*) _jr "$x" && continue ;; esac
  _va "$x"; set -- "$@" "$x" "$a"
done
V=
if [ $# -gt 2 ]; then
  _tt @CT@
  [ -n "$TG" ] && V=$(N=$N $TT sh -c @BATCH@ sh "$@" 2>/dev/null)
fi
for x in $K; do
  case "$NL$G$NL" in *"$NL$x$NL"*) ;; *)
    _o "software/${x##*/}" 126 "$x
not run: not owned by root, or writable by others"
    continue ;;
  esac
  _va "$x"
  # The identity goes with the part: the controller keeps what it says for next time (a
  # JVM's release lines too: a JDK upgraded in place has a new java binary).
  i=
  case "$ID$NL" in *"$NL$x$TB"*) i=${ID#*"$NL$x$TB"}; i=${i%%"$NL"*} ;; esac
  case ${x##*/} in java*) _jr "$x" && { _o "software/${x##*/}" 0 "$x${i:+$TB$i}
$r:$O"; continue; } ;; esac
  R=
  case $V in *"$NL@$N<$x>$NL"*"$NL@$N>"*)
    O=${V#*"$NL@$N<$x>$NL"}; R=${O#*"$NL@$N>"}; R=${R%%"$NL"*}; O=${O%%"$NL@$N>"*} ;;
  esac
  case $R in ''|*[!0-9]*)
    _tt @CT@
    O=$(cd / && $TT "$x" $a 2>&1); R=$?
    # HotSpot writes /tmp/hsperfdata_USER/PID unless told not to; gcj's java knows no -XX.
    [ "$R" != 0 ] && [ "$a" != "${a#-XX}" ] && { O=$(cd / && $TT "$x" -version 2>&1); R=$?; }
    ;;
  esac
  case $O in
    *"$NL"*"$NL"*"$NL"*"$NL"*"$NL"*"$NL"*) O=$(printf '%s\n' "$O" | sed -n '1,6p') ;;
  esac
  _o "software/${x##*/}" "$R" "$x${i:+$TB$i}
$O"
done
# Which package installed each program: one question per host for all of them, and none
# when every program was known (the version cache keeps the answer with the output).
if [ -n "$PY" ]; then
  _o software/package/query 0 "$PQ"
  D=
  if [ -d /var/lib/dpkg/info ]; then
    # dpkg's file lists read by one grep (a third of `dpkg -S`'s time), then the owners'
    # versions from one dpkg-query. A package built before usrmerge lists /bin/x. Only a
    # dpkg database that lists dpkg itself is this system's (not a dpkg from EPEL on a
    # RHEL box); a grep that failed still says so, as dpkg's answer.
    E=" -e /usr/bin/dpkg"
    for y in $PY; do
      E="$E -e $y"
      case $y in /usr/bin/*|/usr/sbin/*|/usr/lib/*|/usr/lib64/*) E="$E -e ${y#/usr}" ;; esac
    done
    O=$(cd /var/lib/dpkg/info || exit 2; set +f; set -- *.list; set -f
      exec grep -F -x $E -- "$@" 2>/dev/null); R=$?
    case $R in
      0|1) case "$NL$O$NL" in *"${NL}dpkg.list:/usr/bin/dpkg$NL"*) D=1 ;; esac ;;
      *) D=1 ;;
    esac
  fi
  if [ -n "$D" ]; then
    _o software/package/dpkg "$R" "$O"
    P=
    for l in $O; do
      case $l in dpkg.list:/usr/bin/dpkg) continue ;; esac
      l=${l%%.list:/*}; case " $P " in *" $l "*) ;; *) P="$P $l" ;; esac
    done
    if [ -n "$P" ]; then
      # Their versions from dpkg's status file, read by one awk: a quarter of the CPU of
      # `dpkg-query -W`, which loads the whole database. dpkg-query where dpkg left journal
      # entries not yet folded into that file (updates/), or where the awk failed.
      set +f; set -- /var/lib/dpkg/updates/[0-9]*; set -f
      R=1
      if [ ! -e "$1" ] && [ -r /var/lib/dpkg/status ]; then
        O=$(awk -v want=" $P " @AWK_DPKG@ /var/lib/dpkg/status 2>/dev/null); R=$?
      fi
      if [ "$R" != 0 ]; then
        O=$(dpkg-query -W -f='${Package} ${Version} ${Architecture}\n' $P 2>/dev/null); R=$?
      fi
      _o software/package/dpkg-query "$R" "$O"
    fi
  elif [ -d /var/lib/rpm ] && _has rpm; then
    _tt @CT@
    O=$($TT rpm -qf --qf @RPM_FORMAT@ $PY 2>/dev/null); R=$?
    _o software/package/rpm "$R" "$O"
  elif [ -r /lib/apk/db/installed ]; then
    O=$(awk -v want=" $PY " @AWK_APK@ /lib/apk/db/installed 2>/dev/null); R=$?
    _o software/package/apk "$R" "$O"
  else
    _o software/package/none 0 ""
  fi
fi
set +f
"""


@dataclass(frozen=True)
class SoftwareFact:
    name: str = "software"
    fields: tuple[str, ...] = ("software",)
    privileged: bool = False

    def snippet(self, options: ProbeOptions) -> str:
        return fill(
            _SNIPPET,
            NAMES=" ".join(NAMES_ON_PATH),
            OFF_PATH=" ".join(OFF_PATH),
            AWK_PS=quote(AWK_PS_PROGRAMS),
            AWK_APK=quote(AWK_APK),
            AWK_DPKG=quote(AWK_DPKG),
            BATCH=quote(BATCH),
            RPM_FORMAT=quote(RPM_FORMAT),
            FIND_SAFE=FIND_SAFE.replace("@FILES@", "$K $RF"),
            RELEASE_KEYS="|".join(f"{key}=*" for key in RELEASE_KEYS),
            CT=options.command_timeout,
            STAT_FORMAT=quote(STAT_FORMAT),
            TAB="\t",
            # Validated by ProbeOptions: plain paths and digits, no shell syntax.
            KNOWN=quote(
                "\n".join(f"{path}\t{identity}" for path, identity in options.known_versions)
            ),
        )

    def parse(self, section: Section, context: ParseContext) -> FactUpdate:
        found: dict[tuple[str, str, str | None, PackageAnswer], Software] = {}
        errors: dict[str, str] = {}
        for run in _runs(section, context.cached_versions, errors):
            path, status, output = run.path, run.status, run.output
            name = program_name(path)
            if name is None:
                continue
            software = parse_version(name, output)
            if software is not None:
                software = replace(software, path=path, package=run.package)
                key = (software.name, software.version, software.raw, run.package)
                found.setdefault(key, software)
            elif status == 126:
                errors[f"software:{path}"] = output.strip()
            elif status is not None:
                why = "timed out" if status == 124 else f"exit status {status}"
                first = output.strip().split("\n", 1)[0]
                errors[f"software:{path}"] = f"no version in its output ({why}): {first}"
        ranked = tuple(sorted(found.values(), key=lambda s: (s.name, s.version)))
        return FactUpdate({"software": ranked}, errors)


def _head(part: Part) -> tuple[str, str, str]:
    """A software part's path, identity ("" when the script had none) and output."""
    head, _, output = part.body.partition("\n")
    path, _, identity = head.partition("\t")
    return path, identity, output


@dataclass(frozen=True)
class _Run:
    path: str
    status: int | None  # None: cut off
    output: str
    package: PackageAnswer


def _runs(
    section: Section, cached: Mapping[str, VersionRun], errors: dict[str, str]
) -> Iterator[_Run]:
    """Every program's path, exit status, output and package, a cache hit standing for
    the output and package the controller kept (parsed again: parser fixes apply)."""
    packages = package_answers(section.parts)
    for part in section.parts:
        if part.name.startswith(PACKAGE_PARTS):
            continue
        path, identity, output = _head(part)
        if part.name != CACHE_HIT:
            yield _Run(path, part.status, output, packages.get(path, NOT_ASKED))
            continue
        known = cached.get(path)
        if known is None or known.identity != identity:
            errors[f"software:{path}"] = (
                "reported unchanged since the last audit, but the version cache has no "
                "output for it"
            )
            continue
        yield _Run(path, known.status, known.output, known.package)


def version_runs(section: Section | None) -> tuple[VersionRun, ...]:
    """The programs this run executed, with the identity `stat -L` gave them: what the
    controller's version cache keeps. Runs without an identity (no `stat -c` on the host)
    and runs cut off are left out."""
    runs = []
    packages = package_answers(section.parts) if section is not None else {}
    for part in section.parts if section is not None else ():
        if part.name == CACHE_HIT or part.name.startswith(PACKAGE_PARTS) or part.status is None:
            continue
        path, identity, output = _head(part)
        if identity and program_name(path) is not None:
            package = packages.get(path, NOT_ASKED)
            runs.append(VersionRun(path, identity, part.status, output, package))
    return tuple(runs)


def cache_hits(section: Section | None) -> tuple[tuple[str, str], ...]:
    """(path, identity) of the programs the script found unchanged and did not run."""
    hits = []
    for part in section.all(CACHE_HIT) if section is not None else ():
        if part.complete:
            path, identity, _ = _head(part)
            hits.append((path, identity))
    return tuple(hits)
