"""The package's layers (docs/architecture.md): a lower layer never imports a higher one, and
the package-level import graph has no cycle. Imports are read with ast, every one of them:
inside functions and under TYPE_CHECKING too (an import moved into a function to dodge a
cycle is still the cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "auditor"

# Lowest first. A unit is a top-level module or a subpackage of auditor.
LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("foundation", frozenset({
        "errors", "fileio", "locking", "visible", "bounds", "urls", "targets", "model",
        "launchers", "parallel", "storedb", "spool",
    })),
    ("configuration and reference data", frozenset({
        "config", "starter", "eol", "host_owner",
    })),
    ("reading the world", frozenset({
        "sources", "remote", "probe", "software_cache", "recheck", "reconcile", "collect",
    })),
    ("judging and keeping", frozenset({
        "rules", "acceptance", "report", "history", "notify", "store", "metrics", "terminal",
        "facts_view",
    })),
    ("drift", frozenset({"drift"})),
    ("orchestration", frozenset({"pipeline", "probing", "dryrun", "engine"})),
    ("features", frozenset({"inspect", "premigrate"})),
    ("entry points and the lab", frozenset({
        "cli", "commands", "exitcodes", "lab", "__main__", "__init__",
    })),
)  # fmt: skip
LAYER_OF = {unit: rank for rank, (_, units) in enumerate(LAYERS) for unit in units}


def unit_of_module(module: str) -> str:
    """auditor.drift.policy -> drift; auditor.config -> config; auditor -> __init__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def unit_of_file(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imported_units(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == "auditor":
            names = [f"auditor.{alias.name}" for alias in node.names]  # from auditor import fileio
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {unit_of_module(n) for n in names if n == "auditor" or n.startswith("auditor.")}
    return found


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        unit = unit_of_file(path)
        graph.setdefault(unit, set()).update(imported_units(path) - {unit})
    return graph


def test_every_unit_has_a_layer() -> None:
    unplaced = sorted(set(import_graph()) - set(LAYER_OF))
    assert unplaced == [], f"place these in LAYERS, then run tools/architecture_modules.py: {unplaced}"


def test_lower_layers_never_import_higher_ones() -> None:
    upward = sorted(
        f"{src} ({LAYERS[LAYER_OF[src]][0]}) imports {dst} ({LAYERS[LAYER_OF[dst]][0]})"
        for src, dsts in import_graph().items()
        for dst in dsts
        if src in LAYER_OF and dst in LAYER_OF and LAYER_OF[dst] > LAYER_OF[src]
    )
    assert upward == []


def test_the_package_graph_has_no_cycle() -> None:
    graph = import_graph()
    done: set[str] = set()

    def visit(unit: str, path: tuple[str, ...]) -> None:
        if unit in path:
            cycle = " -> ".join((*path[path.index(unit) :], unit))
            raise AssertionError(f"import cycle: {cycle}")
        if unit in done:
            return
        for dst in sorted(graph.get(unit, ())):
            visit(dst, (*path, unit))
        done.add(unit)

    for unit in sorted(graph):
        visit(unit, ())


def test_the_checks_can_fail() -> None:
    """The same reading finds an upward import and a cycle when there is one."""
    assert unit_of_module("auditor.drift.policy") == "drift"
    assert unit_of_file(PACKAGE / "drift" / "policy.py") == "drift"
    assert LAYER_OF["rules"] < LAYER_OF["drift"] and LAYER_OF["config"] < LAYER_OF["drift"]
    source = "def f():\n    from auditor.drift.policy import load_policies\n"
    assert {unit_of_module(n.module or "") for n in ast.walk(ast.parse(source))
            if isinstance(n, ast.ImportFrom)} == {"drift"}  # fmt: skip


def test_architecture_lists_every_module() -> None:
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = sorted(
        path.relative_to(PACKAGE.parent).as_posix()
        for path in PACKAGE.rglob("*.py")
        if path != PACKAGE / "__init__.py"
        and f"`{path.relative_to(PACKAGE.parent).as_posix()}`" not in text
    )
    assert missing == [], f"docs/architecture.md does not list {missing}: run tools/architecture_modules.py"
