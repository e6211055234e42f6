"""The extension axis of the probe: a fact is a shell snippet plus a pure parser.

`ProbeFact.snippet(options)` returns POSIX sh that prints parts named `<fact>/<part>` (see
`auditor.probe.sections`); `ProbeFact.parse(section, context)` turns those parts into values
for some `Facts` fields, and reasons for the fields it could not fill. Snippets either run in
the login user's shell or, when `privileged`, in the root half of the script (root login, or
one `sudo -n sh -s`, else the login user with a stated reason).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from auditor.probe.options import ProbeOptions
from auditor.probe.owners import ClientOwners
from auditor.probe.parsers.software import VersionRun
from auditor.probe.sections import Part, Section

OwnerOf = Callable[[str], "str | None"]


@dataclass(frozen=True)
class Privilege:
    """Who the script ran as, and what became of sudo (from the `meta/privilege` part)."""

    uid: int | None = None
    user: str | None = None
    # off | ok | denied | absent | unknown | commands; "ok" means the root half ran via sudo,
    # "commands" that the script ran as the login user with sudo for fixed command lines
    sudo: str = "off"
    sudo_message: str | None = None
    has_timeout: bool = True
    # sudo = "commands": the command lines that went through sudo, and those sudo refused
    sudo_ran: tuple[str, ...] = ()
    sudo_refused: tuple[str, ...] = ()

    @property
    def root(self) -> bool:
        return self.uid == 0 or self.sudo == "ok"

    def why_not_root(self) -> str:
        """Why the script had no root, for "needs root" explanations."""
        who = f"logged in as {self.user or 'uid ' + str(self.uid)}"
        if self.sudo == "off":
            return f"{who} and sudo is off ([ssh] sudo = false)"
        if self.sudo == "denied":
            said = f": {self.sudo_message}" if self.sudo_message else ""
            return f"{who} and `sudo -n` was refused{said}"
        if self.sudo == "absent":
            return f"{who} and sudo is not installed"
        if self.sudo == "commands":
            why = f'{who}; [ssh] sudo = "commands" runs only fixed read-only commands as root'
            if self.sudo_refused:
                why += f" (and sudo refused {self.sudo_refused[0]})"
            return why
        return f"{who} without root"

    def needs_root(self, what: str) -> str:
        return f"{what}: needs root ({self.why_not_root()})"


@dataclass(frozen=True)
class ParseContext:
    """What every parser may use besides its own section."""

    collected_at: datetime  # aware, UTC: when the controller collected the output
    log_days: int
    owner_of: OwnerOf
    privilege: Privilege = field(default_factory=Privilege)
    host_now: datetime | None = None  # the host's own clock (`date +%s`), when it said
    # The version runs the controller handed to the script as known (by program path): what
    # a `software/cache/hit` part stands for.
    cached_versions: Mapping[str, VersionRun] = field(default_factory=dict)
    # The teams the script's client totals name by index (`ProbeOptions.client_owners`).
    client_owners: ClientOwners = field(default_factory=ClientOwners)


@dataclass(frozen=True)
class FactUpdate:
    """Values for `Facts` fields (by name) and reasons for fields left None.

    `errors` keys are Facts field names for a missing fact, or `field.aspect` for a fact
    that was read but is incomplete (e.g. `listeners.process`).
    """

    values: Mapping[str, Any] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)


class ProbeFact(Protocol):
    """One fact: its snippet and its parser. Implementations are named `<Thing>Fact`."""

    @property
    def name(self) -> str:
        """The `<fact>` prefix of the parts the snippet prints."""
        ...

    @property
    def fields(self) -> tuple[str, ...]:
        """The `Facts` fields the parser fills (set to None, with a reason, on failure)."""
        ...

    @property
    def privileged(self) -> bool:
        """True: runs in the root half of the script (sockets' owners, logs, spool)."""
        ...

    def snippet(self, options: ProbeOptions) -> str: ...

    def parse(self, section: Section, context: ParseContext) -> FactUpdate: ...


def part_failure(part: Part | None, what: str) -> str:
    """A one-line reason a part gave nothing: missing, cut off, or failed with its message."""
    if part is None:
        return f"{what}: no output"
    if part.status is None:
        return f"{what}: output cut off (deadline or output cap)"
    message = part.first_line()
    if part.status == 127:
        return f"{what}: command not found"
    if part.status == 124:
        return f"{what}: timed out"
    return f"{what}: exit status {part.status}" + (f": {message}" if message else "")


def missing_section(fields: tuple[str, ...], fact: str, finished: bool) -> FactUpdate:
    """Every field None: the fact printed nothing at all."""
    reason = (
        f"no output from the {fact} snippet"
        if finished
        else f"the probe stopped before the {fact} snippet ran (deadline or output cap)"
    )
    return FactUpdate({f: None for f in fields}, {f: reason for f in fields})
