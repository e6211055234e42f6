"""Print a pip constraints file pinning each runtime dependency to its declared floor.

`make test-min` installs the package with these constraints and runs the unit tests, so the
floors in pyproject.toml stay true: a floor that no longer works fails CI, not a user.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

# Extras that are runtime code paths (not tooling): their floors are pinned and tested too.
RUNTIME_EXTRAS = ("postgres",)
FLOOR = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)(?P<extras>\[[^\]]*\])?\s*>=\s*(?P<version>[^,;\s]+)")


def lowest_pins(pyproject: Path) -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    pins = []
    extras = project.get("optional-dependencies", {})
    runtime = [r for name in RUNTIME_EXTRAS for r in extras.get(name, ())]
    for requirement in [*project["dependencies"], *runtime]:
        match = FLOOR.match(requirement)
        if match is None:
            raise SystemExit(f"{pyproject}: dependency {requirement!r} declares no >= floor")
        pins.append(f"{match['name']}=={match['version']}")
    return pins


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("pyproject.toml")
    print("\n".join(lowest_pins(path)))
