"""The probe's output format: parts between nonce-carrying markers.

Every snippet prints its results as parts:

    @@AUDITOR <nonce> BEGIN <fact>/<part>@@
    ...whatever the commands printed...
    @@AUDITOR <nonce> END <fact>/<part> <exit status> <root|sudo|user>@@

and the script ends with `@@AUDITOR <nonce> DONE@@`. A script stopped by the controller
(deadline) prints `@@AUDITOR <nonce> STOP <step>@@`, the fact or part it was in, after the
parts it still held. The nonce is random per run and never
appears in a process's argv on the host, so text the host controls (a log line, a process
title, a cron entry) cannot open or close a part: a marker with another nonce is plain text.
Lines are split on "\\n" only; "\\r" and other separators stay inside a line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

MARKER_PREFIX = "@@AUDITOR"

_MARKER_RE = re.compile(
    r"^@@AUDITOR (?P<nonce>[A-Za-z0-9]+) "
    r"(?:(?P<begin>BEGIN) (?P<bname>\S+)"
    r"|(?P<end>END) (?P<ename>\S+) (?P<status>-?\d+) (?P<how>[a-z]+)"
    r"|(?P<stop>STOP) (?P<step>\S+)"
    r"|(?P<done>DONE))@@$"
)


@dataclass(frozen=True)
class Part:
    """One command's (or one step's) output, with how it ran.

    `status` is the exit status the snippet recorded; None when the END marker never came
    (the output was cut off or the shell was killed). `how` says whether it ran as root
    (logged in as root), through sudo, or as the unprivileged login user.
    """

    name: str  # e.g. "ss", "/etc/os-release", "httpd"
    body: str
    status: int | None = 0
    how: str = "root"

    @property
    def complete(self) -> bool:
        return self.status is not None

    @property
    def ok(self) -> bool:
        return self.status == 0

    @property
    def lines(self) -> list[str]:
        return self.body.split("\n") if self.body else []

    def first_line(self) -> str:
        for line in self.lines:
            if line.strip():
                return line.strip()
        return ""


@dataclass(frozen=True)
class Section:
    """All parts one fact printed, in output order (a name may repeat)."""

    fact: str
    parts: tuple[Part, ...] = ()

    def get(self, name: str) -> Part | None:
        """The last part with this name (a retry replaces the attempt before it)."""
        found = None
        for part in self.parts:
            if part.name == name:
                found = part
        return found

    def all(self, name: str) -> tuple[Part, ...]:
        return tuple(p for p in self.parts if p.name == name)

    def names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.name for p in self.parts))


@dataclass(frozen=True)
class ProbeOutput:
    """The parsed stream: sections by fact name, whether the script reached its end, and
    the step it was in when it was stopped (the first STOP marker), if it was."""

    sections: Mapping[str, Section]
    finished: bool
    stopped_in: str | None = None

    def section(self, fact: str) -> Section | None:
        return self.sections.get(fact)


def split_output(stdout: str, nonce: str) -> ProbeOutput:
    """Cut the script's stdout into sections. Never raises: junk lines are ignored."""
    parts: dict[str, list[Part]] = {}
    finished = False
    stopped_in: str | None = None
    current: tuple[str, str] | None = None  # (fact, part)
    body: list[str] = []

    def close(status: int | None, how: str) -> None:
        assert current is not None
        fact, name = current
        while body and body[-1] == "":
            body.pop()  # the newline each marker starts with
        parts.setdefault(fact, []).append(Part(name, "\n".join(body), status, how))

    for line in _lines(stdout):
        match = _MARKER_RE.match(line) if line.startswith(MARKER_PREFIX) else None
        if match is None or match["nonce"] != nonce:
            if current is not None:
                body.append(line)
            continue
        if match["begin"]:
            if current is not None:
                close(None, "user")  # a BEGIN without END: cut short
            current, body = _split_name(match["bname"]), []
        elif match["end"]:
            if current is not None and current == _split_name(match["ename"]):
                close(int(match["status"]), match["how"])
            current, body = None, []
        elif match["stop"]:
            # The root half's STOP comes before the outer shell's: the first is the deepest.
            if current is not None:
                close(None, "user")
            current, body = None, []
            stopped_in = stopped_in or match["step"]
        else:
            if current is not None:
                close(None, "user")
            current, body, finished = None, [], True
    if current is not None:
        close(None, "user")
    return ProbeOutput({f: Section(f, tuple(p)) for f, p in parts.items()}, finished, stopped_in)


def _split_name(name: str) -> tuple[str, str]:
    fact, _, part = name.partition("/")
    return fact, part


def _lines(text: str) -> Iterator[str]:
    # Not str.splitlines: that also splits on \r, \x1c, \u2028 ... which log lines may hold.
    yield from text.split("\n")
