"""Failures are named: a report folder that cannot be written (read-only, full disk,
permission) ends the run with one clear line and exit 3, never a traceback and exit 1 (1
means "findings" to cron), and the run is still in the history store. An exception nobody
translated is exit 3 and one line too; its traceback only with `--debug`.

Real folders: as root a read-only tmpfs and a full one (mounted here, unmounted after); as
another user a chmod'ed folder (root ignores file modes).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parents[2] / "fixtures"
SCAN = FIXTURES / "nmap" / "loopback-syn.xml"
ROOT = os.geteuid() == 0


def auditor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auditor", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "audit.toml"
    config.write_text(
        f'[[network]]\nnmap_xml = ["{SCAN}"]\n'
        f'[audit]\nfail_on = "critical"\nstore = "{tmp_path / "history.db"}"\n'
    )
    return config


def _mount_tmpfs(folder: Path, options: str) -> None:
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "auditor-test", str(folder)], check=True)


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "read-only"
    folder.mkdir()
    if ROOT:
        if shutil.which("mount") is None:
            pytest.skip("mount is not installed")
        _mount_tmpfs(folder, "ro,size=1m")
        try:
            yield folder
        finally:
            subprocess.run(["umount", str(folder)], check=True)
    else:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)


@pytest.fixture
def full_folder(tmp_path: Path) -> Iterator[Path]:
    if not ROOT:
        pytest.skip("a full filesystem needs root (a tiny tmpfs)")
    folder = tmp_path / "full"
    folder.mkdir()
    _mount_tmpfs(folder, "size=256k")
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:  # fill it to the last block
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def _history_runs(config: Path) -> int:
    listed = auditor("history", "-c", str(config))
    assert listed.returncode == 0, listed.stderr
    return sum(1 for line in listed.stdout.splitlines() if line[:8].isdigit())


def _assert_named_failure(result: subprocess.CompletedProcess[str], folder: Path) -> None:
    assert result.returncode == 3, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("auditor: error: cannot "), lines
    assert str(folder) in lines[0]
    assert ".tmp" not in lines[0]  # the file we meant to write, not our temp file


def test_a_read_only_report_folder_is_exit_3_with_one_line_and_the_run_is_stored(
    tmp_path: Path, read_only_folder: Path
) -> None:
    config = _config(tmp_path)
    result = auditor("discover", "-q", "-c", str(config), "-o", str(read_only_folder / "reports"))
    _assert_named_failure(result, read_only_folder)
    expected = "Read-only file system" if ROOT else "Permission denied"
    assert expected in result.stderr
    assert _history_runs(config) == 1


def test_a_full_disk_is_exit_3_with_one_line_and_the_run_is_stored(
    tmp_path: Path, full_folder: Path
) -> None:
    config = _config(tmp_path)
    result = auditor("discover", "-q", "-c", str(config), "-o", str(full_folder))
    _assert_named_failure(result, full_folder)
    assert "No space left on device" in result.stderr
    assert _history_runs(config) == 1
    left = [p.name for p in full_folder.rglob("*") if p.is_file() and p.name != ".lock"]
    assert left == ["filler"]  # no temp file, no half-written set outlives the run


BOOM = (
    "import sys; import auditor.pipeline as p\n"
    "def boom(*a, **k): raise RuntimeError('a bug nobody mapped')\n"
    "p.audit = boom\n"
    "from auditor.cli import main; sys.argv[0] = 'auditor'; main()\n"
)


@pytest.mark.parametrize(
    ("args", "traceback"),
    [
        ((), False),
        (("--debug",), True),  # after the command, where people type it
        (("--debug-first",), True),  # `auditor --debug discover`
    ],
)
def test_an_unexpected_exception_is_exit_3_and_one_line(
    tmp_path: Path, args: tuple[str, ...], traceback: bool
) -> None:
    command = ["discover", "-q", "-c", str(_config(tmp_path)), "-o", str(tmp_path / "out")]
    if args == ("--debug-first",):
        command = ["--debug", *command]
    else:
        command += args
    result = subprocess.run(
        [sys.executable, "-c", BOOM, *command], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 3, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("auditor: error: unexpected RuntimeError: a bug nobody mapped")
    assert ("Traceback" in result.stderr) is traceback
    if not traceback:
        assert len(result.stderr.strip().splitlines()) == 1 and "--debug" in last
