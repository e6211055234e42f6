"""Build the one POSIX sh script the probe sends to a host (`sh -s`, script on stdin).

Shape of the script:

    {                                   # parsed whole before anything runs, so no command
      N=<nonce>; common helpers          # can read the rest of the script from stdin, and
      privilege check, meta part         # a script cut in transit runs nothing at all
      unprivileged facts                 # system, os, logins, software
      { N=..; W=..; P } | [sudo -n] sh -s    # privileged facts in one root shell
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
from auditor.probe.shell import COMMON, fill, quote

_PRIVILEGE = r"""
U=$(id -u 2>/dev/null)
if [ "$U" = 0 ]; then W=root; else W=user; fi
S= SU=@SUDO@ SM=
if [ "$SU" = on ]; then
  if [ "$W" = root ]; then SU=not-needed
  elif _has sudo; then
    if SM=$(_t @CT@ sudo -n true 2>&1); then S='sudo -n'; SU=ok; else SU=denied; fi
  else SU=absent; fi
fi
_o meta/privilege 0 "uid=$U
user=$(id -un 2>/dev/null)
sudo=$SU
sudo_message=$(printf '%s\n' "$SM" | sed -n 1p)
timeout=${T:-none}
now=$(date +%s 2>/dev/null)"
"""

_RUN_PRIVILEGED = r"""
P=@PRIVILEGED@
if [ -n "$S" ]; then PW=sudo; else PW=$W; fi
{ printf 'N=%s W=%s\n' "$N" "$PW"; printf '%s\n' "$P"; } | _t @PT@ $S sh -s
_o meta/privileged $? "$PW"
printf '\n@@AUDITOR %s DONE@@\n' "$N"
"""


def build_script(options: ProbeOptions, facts: Sequence[ProbeFact] = ALL_FACTS) -> str:
    """The whole probe script for one run; parse its output with `options.nonce`."""
    common = fill(COMMON, PATH=":".join(options.search_path))
    unprivileged = "\n".join(f.snippet(options) for f in facts if not f.privileged)
    privileged = "\n".join(f.snippet(options) for f in facts if f.privileged)
    # The root half re-creates the helpers in its own shell; N and W come first on its
    # stdin. Its body is one brace group too, with stdin from /dev/null for its children.
    privileged_script = common + "{\n" + privileged + "\n} </dev/null\n"
    body = (
        f"N={options.nonce}\n"
        + common
        + fill(_PRIVILEGE, SUDO="on" if options.sudo else "off", CT=options.command_timeout)
        + unprivileged
        + fill(
            _RUN_PRIVILEGED,
            PRIVILEGED=quote(privileged_script),
            PT=options.privileged_timeout,
        )
    )
    return "{\n" + body + "} </dev/null\n"
