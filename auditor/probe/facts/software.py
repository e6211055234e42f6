"""Versions of key server software: httpd/apache2, nginx, java, php, mysqld/mariadbd,
postgres, python, openssl, OpenSSH.

Candidates: the names on PATH, the usual places off PATH (/usr/local/apache/bin/httpd,
/usr/libexec/mysqld, /usr/lib/postgresql/*/bin/postgres, /usr/pgsql-*/bin/postgres,
/usr/lib/jvm/*/bin/java ...) and the absolute program paths in `ps` output (a server running
from /opt). Each runs with its version flag, from /, with a timeout, in the login user's
shell (never through the probe's sudo), and only when root owns the file and nobody else
may write it: the probe never executes a file a user could have planted. BusyBox and Toybox
applets are never run (BusyBox's `httpd -v` is no version query: it starts a web server).
Nothing is written: Java runs with -XX:-UsePerfData (else HotSpot creates
/tmp/hsperfdata_USER/PID). Raw version lines are kept as evidence.
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

# Root-owned and not group/other-writable, after following symlinks.
AWK_SAFE = r"""$3 != 0 || substr($1, 6, 1) == "w" || substr($1, 9, 1) == "w" { exit 1 }"""

_SNIPPET = r"""
SW=
for b in @NAMES@; do
  x=$(command -v "$b" 2>/dev/null) && case $x in /*) SW="$SW $x" ;; esac
done
for x in @OFF_PATH@; do [ -f "$x" ] && SW="$SW $x"; done
SW="$SW $(ps -e -o args= 2>/dev/null | awk @AWK_PS@)"
SEEN=
for x in $SW; do
  [ -x "$x" ] || continue
  y=$(readlink -f "$x" 2>/dev/null) || y=$(_rl "$x") || y=$x
  case " $SEEN " in *" $x "*|*" $y "*) continue ;; esac
  SEEN="$SEEN $x $y"
  # A BusyBox/Toybox applet is not the program: BusyBox `httpd -v` starts a web server.
  case ${y##*/} in busybox*|toybox*) continue ;; esac
  if ! ls -lnL "$x" 2>/dev/null | awk @AWK_SAFE@; then
    _o "software/${x##*/}" 126 "$x
not run: not owned by root, or writable by others"
    continue
  fi
  case ${x##*/} in
    java*) a='-XX:-UsePerfData -version' ;; ssh) a=-V ;; openssl) a=version ;;
    mysqld*|mariadbd*|postgres*|postmaster*|python*) a=--version ;; *) a=-v ;;
  esac
  O=$(cd / && _t @CT@ "$x" $a 2>&1); R=$?
  # HotSpot writes /tmp/hsperfdata_USER/PID unless told not to; gcj's java knows no -XX.
  [ "$R" != 0 ] && [ "$a" != "${a#-XX}" ] && { O=$(cd / && _t @CT@ "$x" -version 2>&1); R=$?; }
  _o "software/${x##*/}" "$R" "$x
$(printf '%s\n' "$O" | sed -n '1,6p')"
done
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
            AWK_SAFE=quote(AWK_SAFE),
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
