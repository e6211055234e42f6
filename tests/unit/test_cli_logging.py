"""-v/--verbose and --debug: stage logs on stderr with UTC timestamps, from one configure point;
libraries' loggers stay quiet (botocore's DEBUG carries session tokens)."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.cli import configure_logging

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    ours = logging.getLogger("auditor")
    level, handlers = ours.level, list(ours.handlers)
    yield
    ours.setLevel(level)
    ours.handlers[:] = handlers


def _discover(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "hosts.ini").write_text("[web]\nweb1 ansible_host=10.250.77.11\n")
    config = tmp_path / "audit.toml"
    config.write_text(
        f'[audit]\nreports = "{tmp_path / "reports"}"\nstore = "{tmp_path / "h.sqlite"}"\n'
        '[[ansible]]\nname = "inv"\ninventory = ["hosts.ini"]\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "AUDITOR_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "auditor", *flags, "discover", "-c", str(config)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


def test_verbose_logs_the_stages_with_timestamps(tmp_path: Path) -> None:
    done = _discover(tmp_path, "-v")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if re.match(STAMP, line)]
    text = "\n".join(lines)
    assert re.search(
        rf"^{STAMP} INFO auditor\.pipeline: source ansible 'inv': reading$", text, re.M
    )
    assert re.search(r"source ansible 'inv': 1 sightings in \d+\.\ds", text)
    assert "reconcile: 1 hosts (1 unverified)" in text
    assert re.search(r"history: run \S+ recorded in ", text)
    assert "reports written: " in text and "report.json" in text
    assert not any(" DEBUG " in line for line in lines)


def test_quiet_by_default_and_v_anywhere_on_the_line(tmp_path: Path) -> None:
    assert not re.search(STAMP, _discover(tmp_path).stderr)
    # After the command name too, like --debug, and -vv for detail.
    (tmp_path / "reports").rename(tmp_path / "old")
    done = subprocess.run(
        [sys.executable, "-m", "auditor", "discover", "-vv", "-c", str(tmp_path / "audit.toml")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "reconcile: 1 hosts" in done.stderr


def test_debug_sets_debug_for_ours_only() -> None:
    configure_logging(0, debug=True)
    assert logging.getLogger("auditor").getEffectiveLevel() == logging.DEBUG
    assert logging.getLogger("auditor.collect").isEnabledFor(logging.DEBUG)
    for library in ("botocore", "boto3", "paramiko", "urllib3"):
        assert not logging.getLogger(library).isEnabledFor(logging.DEBUG), library
    configure_logging(1)
    assert logging.getLogger("auditor").getEffectiveLevel() == logging.INFO
    configure_logging(0)
    assert logging.getLogger("auditor").getEffectiveLevel() == logging.WARNING
    assert len(logging.getLogger("auditor").handlers) == 1  # configured again, not stacked


def test_a_hostile_log_message_stays_inert(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(1)
    logging.getLogger("auditor.collect").info("probe %s: ok", "evil\x1b]52;c;aGk=\x07\rhost")
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\r" not in err and "\\x1b]52" in err
