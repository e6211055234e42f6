"""End to end through the CLI: hostile names from a Terraform state and an nmap import
reach every output a person reads only as visible escapes; report.json keeps them exactly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.unit.hostile.scans import host_xml, port_xml, scan_xml

FIXTURES = Path(__file__).parents[2] / "fixtures"
# OSC 52 (clipboard write), clear screen, BEL, a C1 CSI, CR, a right-to-left override.
EVIL_TAG = "bastion\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\x9b31m\rok\u202egnp.exe"
EVIL_PTR = "web\u202egnp.exe\u2066x"  # what XML can carry (no ESC in XML 1.0)
RAW = ("\x1b", "\x07", "\x9b", "\r", "\u202e", "\u2066")


def _auditor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "auditor", *args], capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def _state(folder: Path, name: str) -> Path:
    state = json.loads((FIXTURES / "terraform" / "prod" / "terraform.tfstate").read_text())
    instance = next(r for r in state["resources"] if r["type"] == "aws_instance")
    instance["instances"] = instance["instances"][:1]
    instance["instances"][0]["attributes"]["tags"]["Name"] = name
    state["resources"] = [instance]
    path = folder / "terraform.tfstate"
    path.write_text(json.dumps(state))
    return path


def _scan(folder: Path) -> Path:
    path = folder / "scan.xml"
    ssh = port_xml('protocol="tcp" portid="22"')
    path.write_text(scan_xml(host_xml("127.0.0.9", names=(EVIL_PTR,), ports=ssh)), "utf-8")
    return path


def _assert_inert(where: str, text: str) -> None:
    for char in RAW:
        assert char not in text, f"raw {char!r} in {where}"


def test_every_human_facing_output_shows_escapes(tmp_path: Path) -> None:
    config = tmp_path / "audit.toml"
    out = tmp_path / "out"

    def discover(*, with_state: bool) -> subprocess.CompletedProcess[str]:
        state = f"[[terraform]]\nstate = ['{_state(tmp_path, EVIL_TAG)}']\n"
        config.write_text(
            "[audit]\nstore = 'history.sqlite'\nfail_on = 'critical'\n"
            f"[[network]]\nnmap_xml = ['{_scan(tmp_path)}']\n" + (state if with_state else "")
        )
        return _auditor("discover", "-c", str(config), "-o", str(out))

    first = discover(with_state=False)
    assert first.returncode == 0, first.stderr
    second = discover(with_state=True)  # the state's host is new: its name is shown
    assert second.returncode == 0, second.stderr
    _assert_inert("the terminal", second.stdout + second.stderr)
    assert "- new: bastion\\\\x1b\\]52" in (out / "summary.md").read_text()  # md-escaped
    for name in ("summary.md", "hosts.csv", "index.html"):
        _assert_inert(name, (out / name).read_text().replace("\r\n", "\n"))
    assert "\\u202e" in (out / "hosts.csv").read_text()
    report = json.loads((out / "report.json").read_text())
    names = {n for h in report["hosts"] for n in h["hostnames"]}
    assert EVIL_TAG in names and EVIL_PTR in names  # JSON keeps the exact strings
    run_ids = [r["id"] for r in json.loads(_auditor("history", "-c", str(config), "--json").stdout)]
    diff = _auditor("diff", run_ids[1], run_ids[0], "-c", str(config))
    assert diff.returncode == 0, diff.stderr
    _assert_inert("auditor diff", diff.stdout + diff.stderr)
    assert "new host" in diff.stdout and "bastion\\x1b]52" in diff.stdout
    shown = _auditor(
        "report", "-c", str(config), "--run", run_ids[0], "-o", str(tmp_path / "again")
    )
    assert shown.returncode == 0, shown.stderr
    _assert_inert("auditor report", shown.stdout + shown.stderr)
