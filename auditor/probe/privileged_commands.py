"""`[ssh] sudo = "commands"`: no root shell, only fixed read-only commands through sudo.

For sites that refuse a root shell to an auditor (`sudo sh -s` runs whatever arrives on
stdin). The probe then runs as the login user throughout, and exactly the command lines
below, with exactly these arguments, run as `sudo -n /absolute/path ARGS`; the sudoers
entry (`sudoers_entry`, printed in docs/ssh.md) allows them and nothing else. Each one only
reads: socket owners (`ss -p`, `netstat -p`), the listing of /var/log (`find -printf`, no
`-exec`), and the cron spool (`grep -r ^` prints every line of every file with its name).

Before a command runs through sudo, `sudo -n -l /abs/CMD ARGS` asks whether that exact line
is allowed (it runs nothing): a line sudo refuses runs as the login user instead, and the
`meta/sudo-commands` part lists what went through sudo and what sudo refused, so a fact
read without root says why. What no fixed command line can give stays the login user's:
the program path and working directory of other users' processes (/proc/PID/exe, cwd),
access logs whose paths come from the web servers' configs, the auth logs of `inspect`;
their parsers say "needs root" with the reason (`Privilege.why_not_root`).
"""

from __future__ import annotations

from auditor.probe.shell import fill

# (program, args...) exactly as the snippets run them through `_sc` (a test checks each
# `_sc` call of a snippet is one of these, and the lab test runs them under this sudoers).
PRIVILEGED_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("ss", "-tuanpe"),
    ("netstat", "-tuanpW"),
    ("netstat", "-tuanp"),
    ("find", "/var/log", "-xdev", "-type", "f", "-printf", "%T@ %s %p\\n"),
    ("grep", "-r", "^", "/var/spool/cron"),
    ("grep", "-r", "^", "/var/spool/cron/crontabs"),
    ("grep", "-r", "^", "/var/spool/cron/tabs"),
    ("grep", "-r", "^", "/etc/crontabs"),
)

# Where the programs live across merged-/usr and older layouts (sudo matches a listed path
# that does not exist on a host against nothing).
PROGRAM_DIRS = ("/usr/bin", "/bin", "/usr/sbin", "/sbin")

# Redefines the script's `_sc` (auditor.probe.shell) in the login shell: `sudo -n -l`
# answers whether this exact command line is allowed without running it; `command -v` gives
# the absolute path sudoers matches. SXL collects `sudo LINE` / `refused LINE` for the
# meta part. Under `timeout` where there is one: sudo's NSS lookups can hang on a dead
# LDAP server.
SUDO_COMMANDS_SHELL = r"""
SXL=
_sc() { C=$1 H=$W; _sp=$(command -v "$1" 2>/dev/null) || return 0
  case $_sp in /*) ;; *) return 0 ;; esac
  shift; _tt @CT@
  if $TT sudo -n -l "$_sp" "$@" >/dev/null 2>&1; then
    C="sudo -n $_sp" H=sudo; SXL="$SXL${NL}sudo $_sp $*"
  else SXL="$SXL${NL}refused $_sp $*"; fi; }
"""

# After the privileged facts: which lines ran through sudo and which sudo refused.
SUDO_COMMANDS_REPORT = r"""
_o meta/sudo-commands 0 "${SXL#"$NL"}"
"""


def sudo_commands_shell(command_timeout: int) -> str:
    return fill(SUDO_COMMANDS_SHELL, CT=command_timeout)


def _sudoers_word(arg: str) -> str:
    """One argument as sudoers reads it. Arguments holding a backslash (or `?*[]`) are
    matched as an fnmatch pattern, where `\\n` means `n`: so those are escaped for fnmatch
    first, then every backslash and special character for the sudoers parser (find's
    `%p\\n` is `%p\\\\n` in the file; tried with sudo 1.9 on the lab)."""
    for char in "\\?*[]":
        arg = arg.replace(char, "\\" + char)
    for char in '\\,:=()!"':
        arg = arg.replace(char, "\\" + char)
    return arg


def command_lines() -> list[str]:
    """Every allowed command line, for every program directory, as sudoers lists it."""
    return [
        " ".join((f"{folder}/{program}", *map(_sudoers_word, args)))
        for program, *args in PRIVILEGED_COMMANDS
        for folder in PROGRAM_DIRS
    ]


def sudoers_entry(user: str = "auditor") -> str:
    """The sudoers file for `[ssh] sudo = "commands"` (docs/ssh.md prints it)."""
    lines = command_lines()
    body = ", \\\n    ".join(lines)
    return (
        f'# auditor: [ssh] sudo = "commands": these read-only command lines, nothing else\n'
        f"Defaults:{user} !requiretty, !lecture\n"
        f"Cmnd_Alias AUDITOR_READ = \\\n    {body}\n"
        f"{user} ALL=(root) NOPASSWD: AUDITOR_READ\n"
    )
