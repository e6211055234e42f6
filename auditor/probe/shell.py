"""Shell building blocks shared by every snippet, and template filling.

Snippets are POSIX sh for dash, bash 3.2 (CentOS 5) and BusyBox ash; awk programs are
POSIX awk for mawk, gawk 3.1 and BusyBox awk (no regex intervals, no character classes, no
`length(array)`, no `delete array`). Placeholders are `@NAME@` and all must be filled.
"""

from __future__ import annotations

import re
import shlex

_PLACEHOLDER_RE = re.compile(r"@[A-Z][A-Z0-9_]*@")

# Helpers both halves of the script define. `N` (the nonce), `W` (root|sudo|user) and `T`
# (how to call `timeout`, see TIMEOUT_LOOKUP) are set before these run.
#   NL                         a newline, for `case` patterns and expansions
#   _o NAME STATUS TEXT [HOW]  one part, kept in B until the next flush: in the shell
#                              itself only, never in `$(...)` or a pipeline
#   _fl                        flush: print what B holds (after the unprivileged half, at
#                              the end, and before a streamed part)
#   _b NAME / _e NAME STATUS   open and close a part around streamed output (_b flushes)
# Parts are buffered because every write that reaches sshd on its own becomes one SSH packet:
# one encrypt + send there, one receive + decrypt + wake-up of two threads in paramiko (a
# few hundred microseconds of the controller's CPU each): a handful of writes per host.
#   _tt SECS                   set TT to the `timeout SECS` prefix (GNU, or BusyBox's old
#                              `timeout -t SECS`), or to nothing where the host has none
#                              (CentOS 5: the session's deadline is then the only guard);
#                              `$($TT cmd)`. Call it in the shell itself, not in `$(...)`:
#                              the syntax check's answer must outlive the call. Only for
#                              what can hang on the network or on programs we do not know
#                              (DNS, sudo's NSS, version runs): every `timeout` is one more
#                              fork + exec on the host, and a process stuck on a dead disk
#                              sleeps uninterruptibly, where no signal of `timeout` reaches
#                              it. `_tc` answers the syntax question the first time, and
#                              sets TG=1 for GNU's (it stops the whole process group of
#                              what it runs; BusyBox's stops only its child).
#   _r NAME SECS cmd...        run under `timeout`, capture stdout+stderr, print as a part
#   _rl PATH                   readlink, with an `ls -l` fallback
#   _sc CMD ARGS...            how to run `CMD ARGS`: sets C to the command word(s) to
#                              use in its place (`$C ARGS`, unquoted) and H to who runs
#                              it (the part's `how`). Here: CMD itself, as the script runs.
#                              With [ssh] sudo = "commands" the script redefines it
#                              (auditor.probe.privileged_commands): `sudo -n /abs/CMD` when
#                              sudo allows exactly that command line.
#   _sf FACT                   the fact starting now (`_as`, the step, is the fact or the
#                              part `_r`/`_b` runs): a TERM (the controller gave up at the
#                              deadline and stops the script, see remote.session) flushes
#                              the parts held in B and names the step in a STOP marker, so
#                              the report keeps every finished part and says what hung
COMMON = r"""
LC_ALL=C LANG=C TZ=UTC; export LC_ALL LANG TZ
unset HISTFILE
PATH=@PATH@:$PATH; export PATH
NL='
'
B=
_fl() { [ -z "$B" ] || { printf '%s' "$B"; B=; }; }
_b() { _fl; _as=$1; printf '\n@@AUDITOR %s BEGIN %s@@\n' "$N" "$1"; }
_e() { printf '\n@@AUDITOR %s END %s %s %s@@\n' "$N" "$1" "$2" "${3:-$W}"; _as=$_af; }
_o() { B="$B$NL@@AUDITOR $N BEGIN $1@@$NL$3$NL$NL@@AUDITOR $N END $1 $2 ${4:-$W}@@$NL"; }
_has() { command -v "$1" >/dev/null 2>&1; }
_tc() { T=; case $(timeout --help 2>&1) in
  *'-t SECS'*) T='timeout -t' ;; *DURATION*) T=timeout TG=1 ;; *SECS*) T=timeout ;; esac; }
_tt() { [ "$T" = '?' ] && _tc; TT=; if [ -n "$T" ]; then TT="$T $1"; fi; }
_r() { _rn=$1; _as=$1; _tt "$2"; shift 2; O=$($TT "$@" 2>&1); R=$?; _o "$_rn" "$R" "$O"; _as=$_af; }
_sf() { _af=$1; _as=$1; }
_sc() { C=$1 H=$W; }
_af=meta _as=meta
trap '_fl; printf "\n@@AUDITOR %s STOP %s@@\n" "$N" "$_as"; exit 143' TERM
_rl() { readlink "$1" 2>/dev/null ||
  { _l=$(ls -l "$1" 2>/dev/null) && printf '%s\n' "${_l#* -> }"; }; }
"""

# Whether the host has `timeout` is known from PATH alone (`T='?'`); which syntax it takes
# (GNU's `timeout SECS`, old BusyBox's `timeout -t SECS`) is asked of its usage text by
# `_tc`, only when a command first needs it: most runs time nothing (the version cache
# spares the version runs, /etc/hosts answers for `hostname -f`), and then no process is
# spent on it. A sudo half is handed `T` on its first line. The host's clock is not read up
# front (a `date` is ~2 ms of CPU on every host): parsers date what they read by the
# controller's collection time; the web-log snippet and the btime fallback for the uptime,
# which need the host's own clock, run `date` themselves.
TIMEOUT_LOOKUP = r"""
T= TG=; _has timeout && T='?'
"""


def fill(template: str, **values: object) -> str:
    """Replace `@NAME@` placeholders; every placeholder must get a value."""

    def replace(match: re.Match[str]) -> str:
        key = match.group(0)[1:-1]
        if key not in values:
            raise KeyError(f"no value for placeholder {match.group(0)}")
        return str(values[key])

    return _PLACEHOLDER_RE.sub(replace, template)


def quote(text: str) -> str:
    """A single shell word holding `text` exactly."""
    return shlex.quote(text)


def awk_string(text: str) -> str:
    """An awk string literal (for text we control: no newlines)."""
    if "\n" in text:
        raise ValueError("awk string literal cannot span lines")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
