"""Versions of key server software: httpd/apache2, nginx, java, php, mysqld/mariadbd,
postgres, python, openssl, OpenSSH.

Candidates: the names on PATH, the usual places off PATH (/usr/local/apache/bin/httpd,
/usr/libexec/mysqld, /usr/lib/postgresql/*/bin/postgres, /usr/pgsql-*/bin/postgres,
/usr/lib/jvm/*/bin/java ...) and the absolute program paths in `ps` output (a server running
from /opt). Each runs with its version flag, from /, with a timeout, in the login user's
shell (never through the probe's sudo), and only when root owns the file and nobody else
may write it: the probe never executes a file a user could have planted. BusyBox and Toybox
applets are never run (BusyBox's `httpd -v` is no version query: it starts a web server).

A JVM is not run at all when its home has a `release` file (JDK 9+ and most 8 builds:
`JAVA_VERSION="17.0.15"`), owned by root and not writable by others like the binary: its
lines are shipped instead of `java -version`'s (~50 ms of CPU and ~17 threads per JVM).
Where there is none, java runs with -XX:-UsePerfData (else HotSpot creates
/tmp/hsperfdata_USER/PID). Nothing is written. Raw version lines are kept as evidence.

Cost on the host: the candidates are found by shell builtins alone (a walk of $PATH, no
`command -v` subshell per name); one `readlink -f` resolves them all (GNU coreutils >= 8.16
takes many operands; older ones and BusyBox get one call per file); one `find -L` checks
every candidate's and release file's owner and mode; then one command substitution and one
`timeout` per program actually run, whose output is cut to 6 lines by the shell (a `sed`
only for the rare longer one).
"""

from __future__ import annotations

from dataclasses import dataclass

from auditor.model import Software
from auditor.probe.interface import FactUpdate, ParseContext
from auditor.probe.options import ProbeOptions
from auditor.probe.parsers.software import parse_version, program_name
from auditor.probe.sections import Section
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

# `find` arguments printing which of @FILES@ root owns and nobody else may write, after
# following symlinks: one process checks every candidate program and release file.
FIND_SAFE = "-L @FILES@ -type f -user 0 ! -perm -020 ! -perm -002"

# What a JVM's `release` file says that matters (JAVA_VERSION is the version).
RELEASE_KEYS = ("JAVA_VERSION", "JAVA_RUNTIME_VERSION", "IMPLEMENTOR", "IMPLEMENTOR_VERSION")

_SNIPPET = r"""
SW= C= Y= K= J= RF= SEEN=
set -f; _i=$IFS; IFS=:; set -- $PATH; IFS=$_i; set +f
for b in @NAMES@; do
  for d; do
    case $d in /*) [ -f "$d/$b" ] && [ -x "$d/$b" ] && { SW="$SW $d/$b"; break; } ;; esac
  done
done
for x in @OFF_PATH@; do [ -f "$x" ] && SW="$SW $x"; done
SW="$SW $(ps -e -o args= 2>/dev/null | awk @AWK_PS@)"
set -f
for x in $SW; do
  [ -x "$x" ] || continue
  case " $C " in *" $x "*) ;; *) C="$C $x" ;; esac
done
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
  K="$K $x"
  case ${x##*/} in java*)
    h=${y%/bin/*}; r=$h/release; [ -f "$r" ] || r=${h%/jre}/release
    [ -f "$r" ] && { J="$J $x $r"; RF="$RF $r"; } ;;
  esac
done
G=; _tt @CT@
[ -n "$K" ] && G=$(find @FIND_SAFE@ 2>/dev/null)
for x in $K; do
  case "$NL$G$NL" in *"$NL$x$NL"*) ;; *)
    _o "software/${x##*/}" 126 "$x
not run: not owned by root, or writable by others"
    continue ;;
  esac
  case ${x##*/} in
    java*) a='-XX:-UsePerfData -version' ;; ssh) a=-V ;; openssl) a=version ;;
    mysqld*|mariadbd*|postgres*|postmaster*|python*) a=--version ;; *) a=-v ;;
  esac
  r=
  case " $J " in *" $x "*) r=${J#* "$x" }; r=${r%% *} ;; esac
  case "$NL$G$NL" in *"$NL$r$NL"*) ;; *) r= ;; esac
  O= n=0 l=
  if [ -n "$r" ] && [ -r "$r" ]; then
    while [ $n -lt 100 ] && { IFS= read -r l || [ -n "$l" ]; }; do
      case $l in @RELEASE_KEYS@) O="$O$NL$l" ;; esac
      n=$((n + 1)) l=
    done <"$r"
  fi
  case $O in
    *"${NL}JAVA_VERSION="*) _o "software/${x##*/}" 0 "$x
$r:$O"; continue ;;
  esac
  O=$(cd / && $TT "$x" $a 2>&1); R=$?
  # HotSpot writes /tmp/hsperfdata_USER/PID unless told not to; gcj's java knows no -XX.
  [ "$R" != 0 ] && [ "$a" != "${a#-XX}" ] && { O=$(cd / && $TT "$x" -version 2>&1); R=$?; }
  case $O in
    *"$NL"*"$NL"*"$NL"*"$NL"*"$NL"*"$NL"*) O=$(printf '%s\n' "$O" | sed -n '1,6p') ;;
  esac
  _o "software/${x##*/}" "$R" "$x
$O"
done
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
            FIND_SAFE=FIND_SAFE.replace("@FILES@", "$K $RF"),
            RELEASE_KEYS="|".join(f"{key}=*" for key in RELEASE_KEYS),
            CT=options.command_timeout,
        )

    def parse(self, section: Section, context: ParseContext) -> FactUpdate:
        found: dict[tuple[str, str, str | None], Software] = {}
        errors: dict[str, str] = {}
        for part in section.parts:
            path, _, output = part.body.partition("\n")
            name = program_name(path)
            if name is None:
                continue
            software = parse_version(name, output)
            if software is not None:
                found.setdefault((software.name, software.version, software.raw), software)
            elif part.status == 126:
                errors[f"software:{path}"] = output.strip()
            elif part.complete:
                status = "timed out" if part.status == 124 else f"exit status {part.status}"
                first = output.strip().split("\n", 1)[0]
                errors[f"software:{path}"] = f"no version in its output ({status}): {first}"
        ranked = tuple(sorted(found.values(), key=lambda s: (s.name, s.version)))
        return FactUpdate({"software": ranked}, errors)
