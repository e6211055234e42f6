"""Rewrite docs/architecture.md's "Modules, by layer" and import-graph sections from the code:

    .venv/bin/python tools/architecture_modules.py

Each module's line is the first sentence of its docstring (edit the docstring, not the page);
the layers are tests/unit/test_layering.py's LAYERS (place a new module there first). The
rest of the page is left as it is. Review the diff.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
START, END = "## Modules, by layer", "## Decisions worth knowing"

INTRO = """\
Lowest layer first. A module imports only from its own layer and the layers listed before it;
`tests/unit/test_layering.py` reads every import with `ast` (inside functions too) and fails on
an upward import, a cycle, or a module placed in no layer (and on a module missing here).
This section and the graph are written by `tools/architecture_modules.py` from docstrings.
"""
GRAPH_INTRO = """\
Each unit (a top-level module or a subpackage of `auditor`) and the units it imports, lowest
layer first. There are no cycles.
"""


def first_sentence(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    match = re.match(r"(.+?\.)(\s|$)", paragraph)
    text = (match.group(1) if match else paragraph).rstrip(".")
    if len(text) > 150:
        text = text[:150].rsplit(" ", 1)[0] + " …"
    return text.replace("|", "\\|")


def sections() -> str:
    sys.path.insert(0, str(ROOT))
    from tests.unit.test_layering import LAYERS, PACKAGE, import_graph, unit_of_file

    files: dict[str, list[Path]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        files.setdefault(unit_of_file(path), []).append(path)
    out = [START, "", INTRO]
    for name, units in LAYERS:
        out += [f"### {name}", "", "| module | owns |", "|---|---|"]
        for unit in sorted(units):
            for path in files.get(unit, []):
                if path != PACKAGE / "__init__.py":
                    shown = path.relative_to(PACKAGE.parent).as_posix()
                    out.append(f"| `{shown}` | {first_sentence(path)} |")
        out.append("")
    graph = import_graph()
    out += ["## Package-level import graph", "", GRAPH_INTRO, "```"]
    for _, units in LAYERS:
        for unit in sorted(u for u in units if u in graph):
            out.append(f"{unit:<16} -> {', '.join(sorted(graph[unit])) or '(nothing of auditor)'}")
    out.append("```")
    return "\n".join(out)


def main() -> None:
    text = DOC.read_text(encoding="utf-8")
    begin, end = text.index(START), text.index(END)
    DOC.write_text(text[:begin] + sections().rstrip() + "\n\n" + text[end:], encoding="utf-8")
    print(f"rewrote the module list and import graph in {DOC}")


if __name__ == "__main__":
    main()
