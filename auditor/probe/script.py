"""Build the one POSIX sh script the probe sends to a host (`sh -s`, script on stdin).

Shape of the script:

    {                                   # parsed whole before anything runs, so no command
      N=<nonce>; common helpers          # can read the rest of the script from stdin, and
      timeout lookup + clock, privilege  # a script cut in transit runs nothing at all
      unprivileged facts                 # system, os, logins, software
      privileged facts                   # sockets, logs, cron, web logs: inline when sudo
                                         # is off; with sudo on, `{ N=..; W=..; T=..;
                                         # P } | sudo -n sh -s`, or `eval "$P"` if refused
      DONE marker
    } </dev/null

Nothing is written on the host: no temp files (no here-documents: bash 3.2 writes them to
/tmp), no history (HISTFILE unset; `sh -s` is not interactive anyway), results go to stdout.
The privileged half is fed to its shell through a pipe, so the nonce never appears in argv.
With sudo on and a non-root login, it runs under one `sudo -n sh -s` (one auth-log line);
when sudo is refused it runs as the login user and the meta part says why. With sudo =
"commands" it runs as the login user, and only the fixed command lines of
`auditor.probe.privileged_commands` go through `sudo -n`. Every process
counts: on a CPU-bound host a fork + exec is ~1 ms, as much as a dozen facts read by the
shell's own `read`, so the skeleton starts one (`date`) and the facts as few as they can.
"""

from __future__ import annotations

from collections.abc import Sequence

from auditor.probe.facts import ALL_FACTS
from auditor.probe.interface import ProbeFact
from auditor.probe.options import ProbeOptions
from auditor.probe.privileged_commands import SUDO_COMMANDS_REPORT, sudo_commands_shell
from auditor.probe.shell import COMMON, TIMEOUT_LOOKUP, fill, quote

# Who we are, without a process: the effective uid from the shell's own /proc/self/status,
# the name from $LOGNAME (sshd sets it to the account it authenticated), else /etc/passwd;
# `id` only where /proc is not mounted. The first line of sudo's complaint without a `sed`
# unless it has more than one. `T` comes from TIMEOUT_LOOKUP.
_PRIVILEGE = r"""
U= UN=
[ -r /proc/self/status ] &&
  while read -r k _ e _; do [ "$k" = Uid: ] && { U=$e; break; }; done </proc/self/status
case $U in
  ''|*[!0-9]*)
    I=$(id 2>/dev/null); I=${I%% gid=*}; U=${I#uid=}; U=${U%%(*}
    case $I in *'('*) UN=${I#*(}; UN=${UN%)} ;; esac ;;
  *)
    UN=${LOGNAME:-$USER}
    [ -z "$UN" ] && [ -r /etc/passwd ] && while IFS=: read -r n _ u _; do
      [ "$u" = "$U" ] && { UN=$n; break; }
    done </etc/passwd ;;
esac
case $U in ''|*[!0-9]*) U= ;; esac
if [ "$U" = 0 ]; then W=root; else W=user; fi
S= SU=@SUDO@ SM=
if [ "$SU" = on ]; then
  if [ "$W" = root ]; then SU=not-needed
  elif _has sudo; then
    _tt @CT@
    if SM=$($TT sudo -n true 2>&1); then S='sudo -n'; SU=ok; else SU=denied; fi
  else SU=absent; fi
elif [ "$SU" = commands ]; then
  if [ "$W" = root ]; then SU=not-needed
  elif _has sudo; then @SUDO_COMMANDS@
  else SU=absent; fi
fi
case $SM in *"$NL"*) SM=$(printf '%s\n' "$SM" | sed -n 1p) ;; esac
_o meta/privilege 0 "uid=$U
user=$UN
sudo=$SU
sudo_message=$SM
timeout=${T:-none}"
"""

# With sudo granted, the privileged half runs in one `sudo -n sh -s`, its first line setting
# what it is not to work out again: the nonce, how it runs, `timeout` (one of: nothing,
# `timeout`, `timeout -t`, `?` = not asked yet) and the host's clock. Otherwise (root login,
# sudo refused or absent) the same text runs in this shell by `eval`: no second shell.
_RUN_PRIVILEGED_SUDO = r"""
P=@PRIVILEGED@
if [ -n "$S" ]; then
  _fl; _tt @PT@; _as=meta/privileged
  { printf "N=%s W=sudo T='%s'\n" "$N" "$T"; printf '%s\n' "$P"; } |
    $TT $S sh -s
  _o meta/privileged $? sudo
else
  eval "$P"
  _o meta/privileged 0 "$W"
fi
"""

# With sudo off the privileged facts are simply the rest of the script. With sudo =
# "commands" too: their fixed command lines go through sudo one by one (`_sc`), and which
# did, or were refused, is reported after them.
_RUN_PRIVILEGED_INLINE = r"""
{
@PRIVILEGED@
} </dev/null
_o meta/privileged 0 "$W"
"""

_DONE = r"""_fl; printf '\n@@AUDITOR %s DONE@@\n' "$N"
"""


def _step(fact: ProbeFact, options: ProbeOptions) -> str:
    """A fact's snippet, announced as the current step (named if the script is stopped)."""
    return f"_sf {fact.name}\n" + fact.snippet(options)


def build_script(options: ProbeOptions, facts: Sequence[ProbeFact] = ALL_FACTS) -> str:
    """The whole probe script for one run; parse its output with `options.nonce`."""
    common = fill(COMMON, PATH=":".join(options.search_path))
    # The unprivileged half's parts leave in one write (`_fl`) when it is done, the
    # privileged half's at the end (or at a streamed part): a few SSH packets per host, and
    # a deadline in the privileged half still finds the first half's facts delivered.
    unprivileged = "".join(_step(f, options) for f in facts if not f.privileged) + "_fl\n"
    # An empty brace group is a syntax error in sh: `:` stands in for no privileged fact.
    privileged = "".join(_step(f, options) for f in facts if f.privileged) or ":"
    if options.sudo:
        # The root half re-creates the helpers in its own shell; N, W and T come first
        # on its stdin. Its body is one brace group, with stdin from /dev/null.
        privileged_script = common + "{\n" + privileged + "\n} </dev/null\n"
        run_privileged = fill(
            _RUN_PRIVILEGED_SUDO, PRIVILEGED=quote(privileged_script), PT=options.privileged_timeout
        )
    else:
        run_privileged = fill(_RUN_PRIVILEGED_INLINE, PRIVILEGED=privileged)
        if options.sudo_commands:
            run_privileged += '[ "$SU" = commands ] &&' + SUDO_COMMANDS_REPORT
    sudo = "on" if options.sudo else "commands" if options.sudo_commands else "off"
    # `_sc` redefined in the login shell, where the privileged facts then run.
    commands_shell = sudo_commands_shell(options.command_timeout) if options.sudo_commands else ":"
    body = (
        f"N={options.nonce}\n"
        + common
        + TIMEOUT_LOOKUP
        + fill(_PRIVILEGE, SUDO=sudo, CT=options.command_timeout, SUDO_COMMANDS=commands_shell)
        + unprivileged
        + run_privileged
        + _DONE
    )
    return "{\n" + body + "} </dev/null\n"
