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
# (how to call `timeout`, see TIMEOUT_AND_CLOCK) are set before these run.
#   NL                         a newline, for `case` patterns and expansions
#   _o NAME STATUS TEXT [HOW]  print one part
#   _b NAME / _e NAME STATUS   open and close a part around streamed output
#   _t SECS cmd...             run under `timeout` when the host has one (GNU, or BusyBox's
#                              old `timeout -t SECS`; CentOS 5 has none: the session's
#                              deadline is then the only guard). Only for what can hang (DNS,
#                              network tools, wtmp, programs we do not know, slow disks):
#                              every `timeout` is one more fork + exec on the host.
#   _tt SECS                   set TT to the same prefix (`timeout SECS`, or nothing): in a
#                              command substitution or pipeline, `$($TT cmd)` execs `timeout`
#                              straight away, where `$(_t SECS cmd)` forks once more first
#   _r NAME SECS cmd...        run under `timeout`, capture stdout+stderr, print as a part
#   _rl PATH                   readlink, with an `ls -l` fallback
COMMON = r"""
LC_ALL=C LANG=C TZ=UTC; export LC_ALL LANG TZ
unset HISTFILE
PATH=@PATH@:$PATH; export PATH
NL='
'
_b() { printf '\n@@AUDITOR %s BEGIN %s@@\n' "$N" "$1"; }
_e() { printf '\n@@AUDITOR %s END %s %s %s@@\n' "$N" "$1" "$2" "${3:-$W}"; }
_o() { _b "$1"; printf '%s\n' "$3"; _e "$1" "$2" "$4"; }
_has() { command -v "$1" >/dev/null 2>&1; }
_t() { _ts=$1; shift; if [ -n "$T" ]; then $T "$_ts" "$@"; else "$@"; fi; }
_tt() { TT=; if [ -n "$T" ]; then TT="$T $1"; fi; }
_r() { _rn=$1; _tt "$2"; shift 2; O=$($TT "$@" 2>&1); R=$?; _o "$_rn" "$R" "$O"; }
_rl() { readlink "$1" 2>/dev/null ||
  { _l=$(ls -l "$1" 2>/dev/null) && printf '%s\n' "${_l#* -> }"; }; }
"""

# Which `timeout` the host has, checked once, in the login shell, with the run that reads
# the host's clock (`date +%s`) as the test program; the privileged half is handed both
# (`T=... NOW=...` on its first line) instead of working them out again.
TIMEOUT_AND_CLOCK = r"""
T= NOW=
if _has timeout; then
  if NOW=$(timeout 5 date +%s 2>/dev/null); then T=timeout
  elif NOW=$(timeout -t 5 date +%s 2>/dev/null); then T='timeout -t'; fi
fi
[ -n "$T" ] || NOW=$(date +%s 2>/dev/null)
case $NOW in *[!0-9]*) NOW= ;; esac
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
