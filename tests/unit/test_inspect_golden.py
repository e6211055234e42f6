"""Golden files of the inspect parsers: `tests/fixtures/inspect/<parser>/<case>.txt` (or
`.http`) is real output (or an old format written exactly as the tool prints it, see the
fixtures' README), `<case>.json` holds `{"args": {...}, "expected": ...}`. One generic test;
`AUDITOR_REGEN_GOLDEN=1 pytest tests/unit/test_inspect_golden.py` rewrites "expected"
(review the diff).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from auditor.config import Config, OwnerRule
from auditor.inspect.http import parse_http_response
from auditor.inspect.probe import parse_inspect_output
from auditor.probe.facts.auth_log import parse_accepted
from auditor.probe.facts.services import parse_package_owner, parse_proc_stat
from tests.builders import to_jsonable

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "inspect"
REGENERATE = os.environ.get("AUDITOR_REGEN_GOLDEN") == "1"
INPUTS = (".txt", ".http")
OWNERS = Config(path=None, owners=(OwnerRule("10.20.0.0/16", "team-payments"),))


def _probe_output(raw: bytes, args: dict[str, Any]) -> Any:
    return parse_inspect_output(
        raw.decode("utf-8"),
        args["nonce"],
        collected_at=datetime.fromisoformat(args["collected_at"]),
        log_days=args["log_days"],
        owner_of=lambda a: OWNERS.owner_of(a),
    )


def _package_owner(raw: bytes, args: dict[str, Any]) -> Any:
    return parse_package_owner(args["tool"], args["status"], raw.decode("utf-8"), args["path"])


def _proc_stat(raw: bytes, args: dict[str, Any]) -> Any:
    return [parse_proc_stat(line) for line in raw.decode("utf-8").split("\n") if line]


def _auth_log(raw: bytes, args: dict[str, Any]) -> Any:
    return parse_accepted(raw.decode("utf-8"), datetime.fromisoformat(args["now"]))


def _http(raw: bytes, args: dict[str, Any]) -> Any:
    return parse_http_response(args.get("url", "http://10.0.0.5/"), raw)


ADAPTERS: dict[str, Callable[[bytes, dict[str, Any]], Any]] = {
    "probe_output": _probe_output,
    "package_owner": _package_owner,
    "proc_stat": _proc_stat,
    "auth_log": _auth_log,
    "http": _http,
}


def cases() -> list[Any]:
    found = []
    for parser in sorted(ADAPTERS):
        for path in sorted((FIXTURES / parser).iterdir()):
            if path.suffix in INPUTS:
                found.append(pytest.param(parser, path, id=f"{parser}/{path.stem}"))
    return found


@pytest.mark.parametrize(("parser", "path"), cases())
def test_golden(parser: str, path: Path) -> None:
    expected_file = path.with_suffix(".json")
    spec = json.loads(expected_file.read_text()) if expected_file.exists() else {}
    result = to_jsonable(ADAPTERS[parser](path.read_bytes(), spec.get("args", {})))
    if REGENERATE:
        spec["expected"] = result
        expected_file.write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n")
        return
    assert "expected" in spec, f"run with AUDITOR_REGEN_GOLDEN=1 to create {expected_file}"
    assert result == spec["expected"]


def test_every_parser_has_cases() -> None:
    for parser in ADAPTERS:
        assert any(p.suffix in INPUTS for p in (FIXTURES / parser).iterdir()), parser
