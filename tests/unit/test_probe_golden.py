"""Golden files of the probe's parsers (habit 6): adapters, and one generic test over all.

A case is `tests/fixtures/probe/<parser>/<case>.txt` (or `.log`): real output of a tool,
or of one of the probe's own awk programs, and `<case>.json`: `{"args": {...}, "expected":
...}`. The adapter for `<parser>` turns (text, args, case) into the parser's result; the
result, made JSON-able, must equal "expected". `AUDITOR_REGEN_GOLDEN=1 pytest ...` rewrites
the expected values (review the diff before committing).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from auditor.config import Config, OwnerRule
from auditor.probe import parse_probe_output
from auditor.probe.facts.software import AWK_APK
from auditor.probe.facts.web_logs import clients_pipeline, summary_pipeline
from auditor.probe.options import ProbeOptions
from auditor.probe.owners import ClientOwners
from auditor.probe.parsers.cron import parse_cron_lines
from auditor.probe.parsers.logfiles import parse_ls_listing, parse_stat_listing
from auditor.probe.parsers.logins import parse_last, parse_who
from auditor.probe.parsers.packages import (
    parse_apk_owners,
    parse_dpkg_lists,
    parse_dpkg_versions,
    parse_rpm_answers,
)
from auditor.probe.parsers.processes import parse_passwd, parse_process_details
from auditor.probe.parsers.sockets import parse_netstat, parse_proc_net, parse_ss
from auditor.probe.parsers.software import parse_version
from auditor.probe.parsers.weblog import parse_weblog_report
from tests.builders import to_jsonable

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "probe"
INPUT_SUFFIXES = (".txt", ".log")
REGENERATE = os.environ.get("AUDITOR_REGEN_GOLDEN") == "1"

# The clock the fixtures were captured against (year-less dates are placed before it).
DEFAULT_NOW = "2026-11-29T00:00:00+00:00"

OWNERS = Config(
    path=None,
    owners=(OwnerRule("10.20.0.0/16", "payments"), OwnerRule("10.30.0.0/16", "data")),
)


CLIENT_OWNERS = ClientOwners.from_rules(OWNERS.owners)


def owner_of(address: str) -> str | None:
    return OWNERS.owner_of(address)


def _now(args: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(args.get("now", DEFAULT_NOW))


# ------------------------------------------------------------------------ web log awk


def available_awks() -> list[list[str]]:
    """Every awk on this machine the probe's awk programs must agree across: mawk, gawk
    (also in --posix mode), the one true awk, BusyBox awk; each binary once."""
    found: list[list[str]] = []
    seen: set[str] = set()
    for name in ("mawk", "gawk", "original-awk", "nawk", "awk"):
        path = shutil.which(name) or _extracted(name)
        if path is None:
            continue
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        found.append([path])
        if name == "gawk":
            found.append([path, "--posix"])
    busybox = shutil.which("busybox")
    if busybox:
        found.append([busybox, "awk"])
    return found


def _extracted(name: str) -> str | None:
    # Developers may unpack extra awks (apt-get download; dpkg -x) under /tmp/awks.
    candidate = Path("/tmp/awks/usr/bin") / name
    return str(candidate) if candidate.exists() else None


def summarise_log(path: Path, args: dict[str, Any], awk: list[str]) -> str:
    """Run the probe's own per-log pipeline (see web_logs.summary_pipeline) on one file, then
    the clients' totals (web_logs.clients_pipeline)."""
    options = ProbeOptions(
        log_days=args.get("days", 7),
        top_n=args.get("top", 20),
        top_clients=args.get("topc", 50),
        client_owners=CLIENT_OWNERS,
    )
    command = " ".join(shlex.quote(a) for a in awk)
    pipeline = f"{{ {summary_pipeline(options, command)}; }} | {clients_pipeline(options, command)}"
    env = {
        "LC_ALL": "C",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "WNOW": str(int(_now(args).timestamp())),
    }
    result = subprocess.run(
        ["/bin/sh", "-c", f"WNOW=$WNOW; {pipeline}"],
        input=path.read_bytes(), capture_output=True, env=env, check=True, timeout=60,
    )  # fmt: skip
    header = f"F {path.stat().st_size} 0 /var/log/test/{path.name}\n"
    return header + result.stdout.decode("utf-8", errors="replace")


def _weblog(text: str, args: dict[str, Any], case: Path) -> Any:
    awks = available_awks()
    reports = [
        parse_weblog_report(summarise_log(case, args, awk), owner_of, CLIENT_OWNERS)
        for awk in awks
    ]
    for awk, report in zip(awks, reports, strict=True):
        assert report == reports[0], f"{' '.join(awk)} disagrees with {' '.join(awks[0])}"
    return reports[0]


# ---------------------------------------------------------------------- package owners


def apk_owners(text: str, want: list[str], awk: list[str]) -> str:
    """The software snippet's awk over an apk `installed` database, as the host runs it."""
    result = subprocess.run(
        [*awk, "-v", f"want= {' '.join(want)} ", AWK_APK],
        input=text.encode(), capture_output=True, env={"LC_ALL": "C"}, check=True, timeout=60,
    )  # fmt: skip
    return result.stdout.decode()


def _packages(text: str, args: dict[str, Any], case: Path) -> Any:
    kind = case.stem.split("_", 2)[:2]
    if kind == ["dpkg", "lists"]:
        return parse_dpkg_lists(text)
    if kind == ["dpkg", "query"]:
        return parse_dpkg_versions(text)
    if kind == ["rpm", "qf"]:
        return parse_rpm_answers(args["resolved"], text)
    assert kind == ["apk", "installed"], case
    answers = [parse_apk_owners(apk_owners(text, args["want"], awk)) for awk in available_awks()]
    for awk, answer in zip(available_awks(), answers, strict=True):
        assert answer == answers[0], f"{' '.join(awk)} disagrees"
    return answers[0]


# ---------------------------------------------------------------------------- adapters


def _probe_output(text: str, args: dict[str, Any], case: Path) -> Any:
    return parse_probe_output(
        text,
        args["nonce"],
        collected_at=datetime.fromisoformat(args["collected_at"]),
        log_days=args.get("log_days", 7),
        owner_of=owner_of,
        client_owners=CLIENT_OWNERS,
    )


Adapter = Callable[[str, dict[str, Any], Path], Any]

ADAPTERS: dict[str, Adapter] = {
    "ss": lambda text, args, case: parse_ss(text),
    "netstat": lambda text, args, case: parse_netstat(text),
    "proc_net": lambda text, args, case: parse_proc_net(
        text, args.get("proto") or ("udp" if "udp" in case.stem else "tcp")
    ),
    "processes": lambda text, args, case: (
        parse_passwd(text) if case.stem == "passwd" else parse_process_details(text)
    ),
    "last": lambda text, args, case: parse_last(text, _now(args)),
    "who": lambda text, args, case: parse_who(text, _now(args)),
    "logfiles": lambda text, args, case: (
        parse_ls_listing(text, _now(args), args.get("limit"))
        if "_ls_" in case.stem
        # find's own output, shipped whole: its complaints are plain lines
        else parse_stat_listing(text, raw="_raw_" in case.stem, limit=args.get("limit"))
    ),
    "software": lambda text, args, case: parse_version(args["name"], text),
    "cron": lambda text, args, case: parse_cron_lines(text),
    "weblog": _weblog,
    "packages": _packages,
    "probe_output": _probe_output,
}


def cases() -> list[Path]:
    return sorted(p for p in FIXTURES.glob("*/*") if p.suffix in INPUT_SUFFIXES and p.is_file())


def run_case(case: Path) -> tuple[Any, Any]:
    """(actual, expected) for one fixture; writes the expected file when regenerating."""
    adapter = ADAPTERS[case.parent.name]
    golden = case.with_suffix(".json")
    stored = json.loads(golden.read_text()) if golden.exists() else {}
    args = stored.get("args", {})
    text = case.read_bytes().decode("utf-8", errors="replace")
    actual = to_jsonable(adapter(text, args, case))
    if REGENERATE:
        document = {"args": args, "expected": actual} if args else {"expected": actual}
        golden.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        return actual, actual
    if "expected" not in stored:
        raise AssertionError(f"{golden} has no expected value (run with AUDITOR_REGEN_GOLDEN=1)")
    return actual, stored["expected"]


# ------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("case", cases(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_golden(case: Path) -> None:
    actual, expected = run_case(case)
    assert actual == expected


def test_every_fixture_directory_has_an_adapter() -> None:
    directories = {p.name for p in FIXTURES.iterdir() if p.is_dir()}
    assert directories <= set(ADAPTERS), directories - set(ADAPTERS)
    assert all(any(True for _ in (FIXTURES / d).glob("*.json")) for d in directories)


def test_every_expected_file_has_its_input() -> None:
    for golden in FIXTURES.glob("*/*.json"):
        assert any(golden.with_suffix(s).exists() for s in (".txt", ".log")), golden
