"""Build the one POSIX sh script the probe sends to a host (`sh -s`, script on stdin).

Shape of the script:

    {                                   # parsed whole before anything runs, so no command
      N=<nonce>; common helpers          # can read the rest of the script from stdin, and
      timeout check + clock, privilege   # a script cut in transit runs nothing at all
      unprivileged facts                 # system, os, logins, software
      { N=..; W=..; T=..; NOW=..; P } | [sudo -n] sh -s   # privileged facts, one root shell
      DONE marker
    } </dev/null

Nothing is written on the host: no temp files (no here-documents: bash 3.2 writes them to
/tmp), no history (HISTFILE unset; `sh -s` is not interactive anyway), results go to stdout.
The privileged half is fed to its shell through a pipe, so the nonce never appears in argv.
With sudo on and a non-root login, it runs under one `sudo -n sh -s` (one auth-log line);
when sudo is refused it runs as the login user and the meta part says why.
"""

from __future__ import annotations

from collections.abc import Sequence

from auditor.probe.facts import ALL_FACTS
from auditor.probe.interface import ProbeFact
from auditor.probe.options import ProbeOptions
from auditor.probe.shell import COMMON, TIMEOUT_AND_CLOCK, fill, quote

# Who we are: one `id` (its `uid=N(name)` word) instead of `id -u` + `id -un`; the first
# line of sudo's complaint without a `sed` unless it has more than one. `T` and `NOW` come
# from TIMEOUT_AND_CLOCK.
_PRIVILEGE = r"""
I=$(id 2>/dev/null); I=${I%% gid=*}; U=${I#uid=}; U=${U%%(*}
case $I in *'('*) UN=${I#*(}; UN=${UN%)} ;; *) UN= ;; esac
case $U in ''|*[!0-9]*) U= ;; esac
if [ "$U" = 0 ]; then W=root; else W=user; fi
S= SU=@SUDO@ SM=
if [ "$SU" = on ]; then
  if [ "$W" = root ]; then SU=not-needed
  elif _has sudo; then
    _tt @CT@
    if SM=$($TT sudo -n true 2>&1); then S='sudo -n'; SU=ok; else SU=denied; fi
  else SU=absent; fi
fi
case $SM in *"$NL"*) SM=$(printf '%s\n' "$SM" | sed -n 1p) ;; esac
_o meta/privilege 0 "uid=$U
user=$UN
sudo=$SU
sudo_message=$SM
timeout=${T:-none}
now=$NOW"
"""

# The privileged half's first line sets what it is not to work out again: the nonce, how it
# runs, `timeout` (one of: nothing, `timeout`, `timeout -t`) and the host's clock.
_RUN_PRIVILEGED = r"""
P=@PRIVILEGED@
if [ -n "$S" ]; then PW=sudo; else PW=$W; fi
_tt @PT@
{ printf "N=%s W=%s T='%s' NOW=%s\n" "$N" "$PW" "$T" "$NOW"; printf '%s\n' "$P"; } |
  $TT $S sh -s
_o meta/privileged $? "$PW"
printf '\n@@AUDITOR %s DONE@@\n' "$N"
"""


def build_script(options: ProbeOptions, facts: Sequence[ProbeFact] = ALL_FACTS) -> str:
    """The whole probe script for one run; parse its output with `options.nonce`."""
    common = fill(COMMON, PATH=":".join(options.search_path))
    unprivileged = "\n".join(f.snippet(options) for f in facts if not f.privileged)
    # An empty brace group is a syntax error in sh: `:` stands in for no privileged fact.
    privileged = "\n".join(f.snippet(options) for f in facts if f.privileged) or ":"
    # The root half re-creates the helpers in its own shell; N, W, T and NOW come first on
    # its stdin. Its body is one brace group too, with stdin from /dev/null for its children.
    privileged_script = common + "{\n" + privileged + "\n} </dev/null\n"
    body = (
        f"N={options.nonce}\n"
        + common
        + TIMEOUT_AND_CLOCK
        + fill(_PRIVILEGE, SUDO="on" if options.sudo else "off", CT=options.command_timeout)
        + unprivileged
        + fill(
            _RUN_PRIVILEGED,
            PRIVILEGED=quote(privileged_script),
            PT=options.privileged_timeout,
        )
    )
    return "{\n" + body + "} </dev/null\n"
