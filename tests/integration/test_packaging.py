"""The package as a user installs it: a wheel built from this tree, installed with its
dependencies into a fresh virtual environment (no test extras), runs.

Needs the package index (build isolation and the dependencies); pip's cache makes a second run
fast."""

from __future__ import annotations

import email
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(out)],
        check=True,
        timeout=300,
    )
    [built] = out.glob("auditor-*.whl")
    return built


def test_the_wheel_ships_what_the_package_reads_and_its_licenses(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        [metadata_name] = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(archive.read(metadata_name))
    for shipped in (
        "auditor/py.typed",
        "auditor/report/report.schema.json",
        "auditor/report/templates/index.html.j2",
        "auditor/report/templates/dossier.html.j2",  # auditor inspect
        "auditor/report/templates/migration.html.j2",  # auditor premigrate
        "auditor/eol/data/eol.json",
        "auditor/eol/data/LICENSE",
    ):
        assert shipped in names, shipped
    assert not any(n.startswith("tests/") for n in names)
    assert metadata["License-Expression"] == "MIT"
    assert set(metadata.get_all("License-File") or ()) >= {"LICENSE", "auditor/eol/data/LICENSE"}
    claimed = {c for c in metadata.get_all("Classifier") or () if "Python :: 3." in c}
    assert claimed == {f"Programming Language :: Python :: 3.{m}" for m in (11, 12, 13)}
    # A production install stays lean: the lab's AWS (moto) and jsonschema are extras.
    required = [r for r in metadata.get_all("Requires-Dist") or () if "extra ==" not in r]
    assert not any(r.startswith(("moto", "jsonschema", "pytest")) for r in required), required


def test_a_fresh_install_from_the_wheel_runs(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, str(wheel)], check=True, timeout=600)
    auditor = venv / "bin" / "auditor"
    shown = subprocess.run(
        [str(auditor), "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    assert "audit" in shown.stdout
    eol = subprocess.run(
        [str(auditor), "eol", "show", "debian"], capture_output=True, text=True, timeout=60
    )
    assert eol.returncode == 0, eol.stderr
    assert "12" in eol.stdout
