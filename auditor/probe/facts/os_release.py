"""OS identity: the raw release files are shipped, `auditor.eol.identify_os` reads them."""

from __future__ import annotations

from dataclasses import dataclass

from auditor.eol.releases import RELEASE_FILE_PATHS, identify_os
from auditor.probe.interface import FactUpdate, ParseContext
from auditor.probe.options import ProbeOptions
from auditor.probe.sections import Section
from auditor.probe.shell import fill

# Each file that exists becomes a part named after its path (they are a few lines each),
# its first 60 lines read by the shell's own `read`: no process at all.
_SNIPPET = r"""
for f in @FILES@; do
  [ -f "$f" ] || continue
  if [ -r "$f" ]; then
    O= n=0 l=
    while [ $n -lt 60 ] && { IFS= read -r l || [ -n "$l" ]; }; do
      O="$O$l$NL" n=$((n + 1)) l=
    done <"$f"
    _o "os/$f" 0 "$O"
  else
    _o "os/$f" 1 "$f: not readable"
  fi
done
"""


@dataclass(frozen=True)
class OsReleaseFact:
    name: str = "os"
    fields: tuple[str, ...] = ("os",)
    privileged: bool = False

    def snippet(self, options: ProbeOptions) -> str:
        return fill(_SNIPPET, FILES=" ".join(RELEASE_FILE_PATHS))

    def parse(self, section: Section, context: ParseContext) -> FactUpdate:
        files = {p.name: p.body + "\n" for p in section.parts if p.ok and p.name.startswith("/")}
        if not files:
            return FactUpdate({"os": None}, {"os": "none of the release files exist: " + _names()})
        identity = identify_os(files)
        if identity is None:
            return FactUpdate(
                {"os": None},
                {"os": "release files found but none identified the OS: " + ", ".join(files)},
            )
        return FactUpdate({"os": identity})


def _names() -> str:
    return ", ".join(RELEASE_FILE_PATHS)
