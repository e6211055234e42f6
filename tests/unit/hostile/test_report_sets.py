"""Report sets are consistent: a run killed at any moment while writing leaves the previous
set or the new one, never report.json of one run beside index.html of another; what a
crashed run left behind is cleaned up; old sets are bounded; two audits never write one
report folder at once; and a lock file never holds the command line's secrets.
"""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.locking import holder_line
from auditor.report import CURRENT, KEEP_SETS, REPORT_FILES, SETS, write_report_data

FIXTURES = Path(__file__).parents[2] / "fixtures"

# Writes report sets for runs run-0, run-1 ... into a folder, as fast as it can, with a
# fleet big enough that each set takes a while: the test kills it at random moments.
WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from auditor.report import run_to_dict, write_report_data
    from tests.unit.test_report_fleet import fleet_with_changes

    data = run_to_dict(fleet_with_changes())
    out, start = Path(sys.argv[1]), int(sys.argv[2])
    write_report_data(data, out.parent / "warm-up")  # templates loaded: kills land in sets
    print("ready", flush=True)
    for n in range(start, start + 1000):
        data["run"]["id"] = f"run-{n}"
        write_report_data(data, out)
    """
)


def _run_ids(out: Path) -> dict[str, str | None]:
    """Which run each of the folder's four files belongs to."""
    report = json.loads((out / "report.json").read_text())
    wanted = report["run"]["id"]
    found: dict[str, str | None] = {"report.json": wanted}
    for name in ("index.html", "hosts.csv", "summary.md"):
        text = (out / name).read_text()
        found[name] = wanted if wanted in text or name == "hosts.csv" else None
    return found


def test_a_run_killed_while_writing_never_leaves_a_mixed_set(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    rng = random.Random(13)
    seen_runs: set[str] = set()
    root = Path(__file__).parents[3]
    for trial in range(12):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(out), str(trial * 1000)],
            stdout=subprocess.PIPE,
            cwd=root,
        )
        assert writer.stdout is not None and writer.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.05, 0.4))
        writer.send_signal(signal.SIGKILL)  # a crash: no cleanup of any kind runs
        writer.wait()
        if not (out / "report.json").exists():
            continue  # killed before its first set was switched in
        ids = _run_ids(out)
        run = ids["report.json"]
        assert all(v == run for v in ids.values()), ids  # one run's set, whole
        assert run is not None
        seen_runs.add(run)
        # The four files are the current set's, through one switch.
        target = os.readlink(out / CURRENT)
        assert all(
            os.readlink(out / name) == f"{CURRENT}/{name}" for name in REPORT_FILES.values()
        )
        assert json.loads((out / target / "report.json").read_text())["run"]["id"] == run
    assert len(seen_runs) >= 3  # the kills really landed in different runs


def test_what_a_crashed_run_left_is_cleaned_and_old_sets_are_bounded(tmp_path: Path) -> None:
    from auditor.report import run_to_dict
    from tests.unit.test_report import sample_run

    out = tmp_path / "reports"
    data = run_to_dict(sample_run())
    write_report_data(data, out)
    # What a run killed mid-write leaves: a half set and our temp files.
    half = out / SETS / "run-x.partial"
    half.mkdir()
    (half / "report.json").write_text('{"half": ')
    stale = [out / ".index.html.abc123.tmp", out / ".current.4242.link-tmp"]
    for path in stale:
        path.write_text("stale")
    for n in range(KEEP_SETS + 3):
        data["run"]["id"] = f"run-{n}"
        write_report_data(data, out)
    assert not half.exists() and not any(p.exists() for p in stale)
    sets = sorted(p.name for p in (out / SETS).iterdir())
    assert len(sets) == KEEP_SETS and f"run-{KEEP_SETS + 2}" in sets
    assert os.readlink(out / CURRENT) == f"{SETS}/run-{KEEP_SETS + 2}"


def test_an_old_plain_report_folder_is_taken_over(tmp_path: Path) -> None:
    # A folder an older auditor wrote (plain files) and a file of the user's own.
    from auditor.report import run_to_dict
    from tests.unit.test_report import sample_run

    out = tmp_path / "reports"
    out.mkdir()
    for name in REPORT_FILES.values():
        (out / name).write_text("old")
    (out / "notes.txt").write_text("mine")
    written = write_report_data(run_to_dict(sample_run()), out)
    assert written["html"] == out / "index.html" and (out / "index.html").is_symlink()
    assert json.loads(written["json"].read_text())["schema"] == "auditor/report@1"
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("failing", ["csv", "html"])
def test_a_rendering_error_leaves_the_old_reports_and_no_half_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """Formats are rendered one at a time as they are written into the new set (issue 14):
    hosts.csv failing after its first line (report.json and index.html written), or the page
    failing halfway through its data block, removes the half set; the old reports stay."""
    from auditor.report import csv_report, html_report, run_to_dict
    from tests.unit.test_report import sample_run

    out = tmp_path / "reports"
    data = run_to_dict(sample_run())
    data["run"]["id"] = "run-old"
    write_report_data(data, out)
    before = {name: (out / name).read_bytes() for name in REPORT_FILES.values()}

    def broken_pieces(page: object) -> Iterator[str]:
        yield '{"v":1'
        raise RuntimeError("rendering failed")

    def broken_csv(report: object) -> Iterator[str]:
        yield "id,label\r\n"
        raise RuntimeError("rendering failed")

    if failing == "html":
        monkeypatch.setattr(html_report, "script_json_pieces", broken_pieces)
    else:
        monkeypatch.setattr(csv_report, "csv_pieces", broken_csv)
    data["run"]["id"] = "run-new"
    with pytest.raises(RuntimeError, match="rendering failed"):
        write_report_data(data, out)
    assert sorted(p.name for p in (out / SETS).iterdir()) == ["run-old"]
    assert {name: (out / name).read_bytes() for name in REPORT_FILES.values()} == before


def test_a_folder_without_symlinks_gets_each_file_replaced_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where symlinks cannot be made (vfat, some SMB shares), the finished set's files
    replace the folder's one by one, each by a rename; no set is left behind."""
    from auditor.report import render_all, run_to_dict
    from tests.unit.test_report import sample_run

    def no_symlinks(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "symlink", no_symlinks)
    out = tmp_path / "reports"
    data = run_to_dict(sample_run())
    for run_id in ("run-1", "run-2"):
        data["run"]["id"] = run_id
        written = write_report_data(data, out)
        texts = render_all(data)
        for kind, path in written.items():
            assert not path.is_symlink() and path.read_bytes() == texts[kind].encode()
        assert json.loads(written["json"].read_text())["run"]["id"] == run_id
        assert list((out / SETS).iterdir()) == [] and not (out / CURRENT).exists()


def _config(tmp_path: Path, store: bool) -> Path:
    config = tmp_path / "audit.toml"
    stored = f'store = "{tmp_path / "history.db"}"\n' if store else ""
    config.write_text(
        f'[[network]]\nnmap_xml = ["{FIXTURES / "nmap" / "loopback-syn.xml"}"]\n'
        f'[audit]\nfail_on = "critical"\n{stored}'
    )
    return config


@pytest.mark.parametrize("store", [False, True])
def test_two_audits_never_write_one_report_folder_at_once(tmp_path: Path, store: bool) -> None:
    out = tmp_path / "reports"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from auditor.report import hold_report_folder\n"
            "with hold_report_folder(Path(sys.argv[1])):\n"
            "    print('holding', flush=True); time.sleep(60)\n",
            str(out),
            "audit",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"holding\n"
        config = _config(tmp_path, store)
        second = subprocess.run(
            [sys.executable, "-m", "auditor", "discover", "-q", "-c", str(config), "-o", str(out)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 3, second.stderr
        assert f"report folder {out} is in use by another audit (pid {holder.pid}" in second.stderr
        assert not (out / "report.json").exists()  # it wrote nothing
    finally:
        holder.kill()
        holder.wait()
    again = subprocess.run(
        [sys.executable, "-m", "auditor", "discover", "-q", "-c", str(config), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0, again.stderr  # the lock died with its holder


def test_a_lock_file_never_holds_the_command_line_options(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "https://hooks.example.com/services/T000/B000/s3cr3t"
    monkeypatch.setattr(sys, "argv", ["auditor", "--debug", "audit", f"--notify={secret}"])
    line = holder_line()
    assert "'auditor audit'" in line and f"pid {os.getpid()}" in line
    assert "s3cr3t" not in line and "hooks.example.com" not in line
    monkeypatch.setattr(sys, "argv", ["auditor", "audit", "--notify", secret])
    assert "s3cr3t" not in holder_line()
