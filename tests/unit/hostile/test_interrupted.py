"""An interrupted run is stored as interrupted and is never a baseline.

The real thing: `auditor audit` probing a loopback sshd whose probe hangs, interrupted with
SIGINT (Ctrl-C) while it hangs; a history store and a webhook on 127.0.0.1 around it. The
interrupted run is stored (marked), sends no alert, leaves nothing running on the host, and
the next run's changes and alert are against the last complete run. Needs root (sshd).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from auditor.storedb import StoreLocation
from tests.integration import test_remote_loopback as loopback
from tests.integration.test_remote_loopback import SSHD, Sshd
from tests.postgres import store_text
from tests.unit.hostile.test_nothing_lost import (
    STEP,
    WRAPPER,
    _eventually_none,
    _processes_with,
    _sessions_left,
)
from tests.unit.hostile.test_webhook import WebhookServer

user_key, make_sshd, known_hosts = loopback.user_key, loopback.make_sshd, loopback.known_hosts

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="a real sshd needs root (privilege separation)"),
    pytest.mark.skipif(not Path(SSHD).exists(), reason="OpenSSH server is not installed"),
    pytest.mark.timeout(180),
]

SCANS = Path(__file__).parents[2] / "fixtures" / "nmap"


@pytest.fixture
def webhook() -> Iterator[WebhookServer]:
    with WebhookServer(fail_first=0) as server:
        yield server


def _config(
    tmp_path: Path,
    scans: list[str],
    server: Sshd | None = None,
    key: Path | None = None,
    store: str | None = None,
) -> Path:
    config = tmp_path / "audit.toml"
    text = (
        f'[audit]\nstore = "{store or tmp_path / "history.db"}"\nfail_on = "critical"\n'
        f"[[network]]\nnmap_xml = {json.dumps([str(SCANS / s) for s in scans])}\n"
    )
    if server is not None:
        known = tmp_path / "known_hosts"
        known.write_text(server.known_hosts_line())
        text += (
            f'[ssh]\nuser = "root"\nkey_file = "{key}"\nknown_hosts = "{known}"\n'
            f"ports = [{server.port}]\nuse_ssh_config = false\nsoftware_cache = false\n"
            # The Ctrl-C wait grows with the connect timeout: room for a loaded machine.
            "deadline = 60\ntimeout = 20\n"
        )
    config.write_text(text)
    return config


def _auditor(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "auditor", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # our SIGINT goes to it alone
    )


def _history(config: Path) -> list[dict[str, object]]:
    listed = subprocess.run(
        [sys.executable, "-m", "auditor", "history", "-c", str(config), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    rows: list[dict[str, object]] = json.loads(listed.stdout)
    return rows


def test_an_interrupted_run_is_stored_marked_and_never_the_baseline(
    tmp_path: Path,
    make_sshd: Callable[..., Sshd],
    user_key: Path,
    webhook: WebhookServer,
    store_at: StoreLocation,
) -> None:
    """On both history stores (SQLite, PostgreSQL)."""
    out = tmp_path / "reports"
    store = store_text(store_at)
    # A: a complete run that knows 127.0.0.2 only.
    first = _auditor(
        "discover", "-q", "-c", str(_config(tmp_path, ["loopback2-syn.xml"], store=store)), "-o", str(out),
        "--notify", webhook.url,
    )  # fmt: skip
    assert first.wait(timeout=60) == 0, first.communicate()
    assert len(webhook.accepted) == 1  # its findings were new

    # B: 127.0.0.1 appears, and its probe hangs; Ctrl-C while it hangs. The host is slow to
    # start the stop (4 s, longer than the fixed grace Ctrl-C once had): it is waited for.
    wrapper = tmp_path / "hostile-shell"
    hang = ["sleep", f"43{os.getpid()}"]  # a command line no other test has
    sessions = tmp_path / "sessions"
    wrapper.write_text(
        WRAPPER.format(step=STEP, action=" ".join(hang), stop_delay=4, sessions=sessions)
    )
    wrapper.chmod(0o755)
    server = make_sshd(extra=f"ForceCommand {wrapper}")
    both = ["loopback-syn.xml", "loopback2-syn.xml"]
    config = _config(tmp_path, both, server, user_key, store=store)
    second = _auditor("audit", "-q", "-c", str(config), "-o", str(out), "--notify", webhook.url)
    until = time.monotonic() + 60
    while not _processes_with(hang) and time.monotonic() < until:
        time.sleep(0.1)
    assert _processes_with(hang), "the probe never reached the hanging step"
    second.send_signal(signal.SIGINT)
    _, said = second.communicate(timeout=90)
    assert second.returncode == 130, said
    assert "Ctrl-C: stopping 1 probe on their hosts (waiting up to " in said
    assert "left unstopped" not in said
    assert len(webhook.accepted) == 1  # an interrupted run alerts nobody
    assert _eventually_none(hang) == []  # and leaves nothing running on the host
    assert _sessions_left(sessions) == []
    report = json.loads((out / "report.json").read_text())
    assert report["interrupted"] is True
    ssh = {(f["rule"], f["host"]) for f in report["findings"] if f["rule"].startswith("ssh-")}
    assert ("ssh-unreachable", "ip:127.0.0.1") not in ssh  # we stopped: it did nothing wrong

    # C: a complete run with the same hosts: compared with A, not with B.
    third = _auditor(
        "discover", "-q", "-c", str(_config(tmp_path, both, store=store)), "-o", str(out),
        "--notify", webhook.url,
    )  # fmt: skip
    assert third.wait(timeout=60) == 0, third.communicate()
    runs = _history(config)
    assert [r["interrupted"] for r in runs] == [False, True, False]
    report = json.loads((out / "report.json").read_text())
    assert report["changes"]["previous_run"] == runs[2]["id"]  # A, the last complete run
    assert [h["host"] for h in report["changes"]["new_hosts"]] == ["ip:127.0.0.1"]
    assert len(webhook.accepted) == 2  # 127.0.0.1 is new against A: alerted now


def test_a_second_ctrl_c_leaves_the_stop_and_keeps_the_report(
    tmp_path: Path, make_sshd: Callable[..., Sshd], user_key: Path
) -> None:
    """The host never runs the stop (it starts 60 s late): the first Ctrl-C waits for it, the
    second leaves it at once, names the host, and the report is still written."""
    wrapper = tmp_path / "hostile-shell"
    hang = ["sleep", f"44{os.getpid()}"]
    late = ["sleep", f"60.{os.getpid()}"]  # the host's 60 s before it runs the stop
    wrapper.write_text(WRAPPER.format(
        step=STEP, action=" ".join(hang), stop_delay=late[1], sessions=tmp_path / "sessions"
    ))  # fmt: skip
    wrapper.chmod(0o755)
    server = make_sshd(extra=f"ForceCommand {wrapper}")
    out = tmp_path / "reports"
    config = _config(tmp_path, ["loopback-syn.xml"], server, user_key)
    running = _auditor("audit", "-q", "-c", str(config), "-o", str(out))
    try:
        until = time.monotonic() + 60
        while not _processes_with(hang) and time.monotonic() < until:
            time.sleep(0.1)
        assert _processes_with(hang), "the probe never reached the hanging step"
        running.send_signal(signal.SIGINT)
        time.sleep(1.0)  # the stop is on its way, and will not come
        left_at = time.monotonic()
        running.send_signal(signal.SIGINT)
        _, said = running.communicate(timeout=60)
        assert running.returncode == 130, said
        assert time.monotonic() - left_at < 30  # not the stated wait (timeout 20 s + 3 s)
        assert "Ctrl-C: stopping 1 probe on their hosts" in said
        assert "probes left unstopped; these hosts may still run something: " in said
        report = json.loads((out / "report.json").read_text())
        assert report["interrupted"] is True
        (host,) = [h for h in report["hosts"] if h["id"] == "ip:127.0.0.1"]
        assert host["ssh"]["kind"] == "interrupted"
        assert "something may still run on the host" in host["ssh"]["reason"]
        assert _processes_with(hang)  # left, as the user asked
    finally:
        if running.poll() is None:
            running.kill()
            running.wait()
        for pid in _processes_with(hang) + _processes_with(late):  # what we left, ended here
            os.kill(pid, signal.SIGKILL)
