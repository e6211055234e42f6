"""The webhook: retried with backoff, kept pending when it cannot be delivered and sent by
the next run, its URL from the environment if wanted, and never written to a lock file, a
log, a message or the store. Against a real HTTP server on 127.0.0.1 that fails N times,
then accepts.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from auditor.notify import deliver
from auditor.storedb import StoreLocation, connect
from tests.postgres import store_text

SCANS = Path(__file__).parents[2] / "fixtures" / "nmap"
SECRET = "T0000/B0000/s3cr3t-t0ken"


class WebhookServer:
    """A webhook on 127.0.0.1: answers `failure` (an HTTP status, or "drop" to close the
    connection unanswered) to the first `fail_first` posts, then 200."""

    def __init__(self, fail_first: int, failure: int | str = 503) -> None:
        self.fail_first = fail_first
        self.failure = failure
        self.attempts = 0
        self.accepted: list[dict[str, Any]] = []
        outer = self

        class Hook(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.attempts += 1
                if outer.attempts <= outer.fail_first:
                    if outer.failure == "drop":
                        self.close_connection = True
                        self.connection.close()
                        return
                    self.send_response(int(outer.failure))
                    self.end_headers()
                    return
                outer.accepted.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/services/{SECRET}"

    def __enter__(self) -> WebhookServer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[WebhookServer]:
    with WebhookServer(fail_first=0) as server:
        yield server


def test_a_failing_webhook_is_retried_with_backoff_until_it_accepts() -> None:
    pauses: list[float] = []
    with WebhookServer(fail_first=2) as server:
        delivery = deliver(server.url, {"text": "x"}, 5, sleep=pauses.append)
    assert delivery.delivered and delivery.attempts == 3 and server.attempts == 3
    assert pauses == [1.0, 2.0]  # doubling


def test_a_dropped_connection_is_retried_and_a_4xx_is_not() -> None:
    with WebhookServer(fail_first=1, failure="drop") as server:
        assert deliver(server.url, {"text": "x"}, 5, sleep=lambda s: None).delivered
    with WebhookServer(fail_first=5, failure=404) as server:
        gone = deliver(server.url, {"text": "x"}, 5, sleep=lambda s: None)
    assert not gone.delivered and gone.attempts == 1 and server.attempts == 1  # not retried
    assert gone.error is not None and "404" in gone.error and SECRET not in gone.error


def _config(
    tmp_path: Path, scans: list[str], url: str | None = None, store: str | None = None
) -> Path:
    config = tmp_path / "audit.toml"
    notify = f'notify = "{url}"\n' if url else ""
    store = store or str(tmp_path / "history.db")
    config.write_text(
        f'[audit]\nstore = "{store}"\nfail_on = "critical"\n{notify}'
        f"[[network]]\nnmap_xml = {json.dumps([str(SCANS / s) for s in scans])}\n"
    )
    return config


def _discover(
    tmp_path: Path, config: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auditor", "discover", "-c", str(config),
         "-o", str(tmp_path / "out"), *args],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {}), "AUDITOR_DEBUG": "1"},
    )  # fmt: skip


def _pending(store: StoreLocation) -> list[tuple[object, ...]]:
    db = connect(store)
    try:
        return [tuple(row) for row in db.execute("SELECT * FROM pending_alerts")]
    finally:
        db.close()


def test_an_undelivered_alert_is_kept_and_the_next_run_sends_it(
    tmp_path: Path, store_at: StoreLocation
) -> None:
    """On both history stores (SQLite, PostgreSQL)."""
    down = WebhookServer(fail_first=100)
    with down:
        config = _config(tmp_path, ["loopback2-syn.xml"], store=store_text(store_at))
        first = _discover(tmp_path, config, "--notify", down.url)
    assert first.returncode == 0, first.stderr  # a lost alert is a warning, not a failure
    assert down.attempts == 3  # retried
    assert "kept for the next run" in first.stderr and SECRET not in first.stderr
    assert "http://127.0.0.1:" in first.stderr  # which webhook: scheme and host only
    pending = _pending(store_at)
    assert len(pending) == 1 and SECRET not in repr(pending)

    # The next run finds nothing new, and the webhook is back (its URL from the
    # environment now): the kept alert goes out, marked as delayed.
    with WebhookServer(fail_first=1) as back:
        second = _discover(tmp_path, config, env={"AUDITOR_NOTIFY_URL": back.url})
    assert second.returncode == 0, second.stderr
    assert len(back.accepted) == 1 and back.accepted[0]["delayed_from"]
    assert back.accepted[0]["new_findings"][0]["host"] == "ip:127.0.0.2"
    assert _pending(store_at) == []
    for name in os.listdir(tmp_path):  # lock files, store, reports: the URL is nowhere
        path = tmp_path / name
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), name


def test_the_url_is_not_echoed_by_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "audit.toml"
    config.write_text(f'[audit]\nnotify = "hooks.example.com/services/{SECRET}"\n')
    result = _discover(tmp_path, config)
    assert result.returncode == 2 and "notify" in result.stderr
    assert SECRET not in result.stderr
