"""notify_if_new against a real HTTP server on 127.0.0.1 (a thread). No other address."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from auditor.model import AuditRun, Finding, Host, HostStatus, Severity, SourceKind
from auditor.notify import notify_if_new
from auditor.report.run_view import read_finding

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


class Hook:
    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                hook.posts.append({
                    "path": self.path,
                    "type": self.headers["Content-Type"],
                    "body": json.loads(self.rfile.read(length)),
                })
                self.send_response(hook.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/T000/SECRET"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Hook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib honours *_proxy variables: the posts must go straight to 127.0.0.1."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                 "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "*")


@pytest.fixture
def hook() -> Iterator[Hook]:
    with Hook() as h:
        yield h


def finding(host: str, sev: Severity = Severity.HIGH, title: str | None = None) -> Finding:
    return Finding("unmanaged-host", sev, host, title or f"Unmanaged host {host}", ("seen",))


def run(*findings: Finding) -> AuditRun:
    hosts = tuple(Host(f.host or "", (), ("<b>x</b>",), (), (SourceKind.NETWORK,),
                       HostStatus.UNMANAGED, "r") for f in findings)
    return AuditRun("20261128T120000Z-abcdef", NOW, NOW, None, (), hosts, findings=findings)


def test_posts_once_for_new_findings_and_not_when_nothing_is_new(hook: Hook) -> None:
    old = finding("ip:10.0.0.1")
    new = finding("ip:10.0.0.2", Severity.CRITICAL, "Unmanaged host <!channel> & co")
    result = notify_if_new(hook.url, run(old, new), [old], timeout=5)
    assert result.sent and result.status == 200 and result.new_findings == 1
    assert len(hook.posts) == 1
    post = hook.posts[0]
    assert post["path"] == "/hooks/T000/SECRET" and post["type"] == "application/json"
    body = post["body"]
    assert body["run"] == "20261128T120000Z-abcdef" and body["findings"] == 2
    assert [f["host"] for f in body["new_findings"]] == ["ip:10.0.0.2"]
    assert body["by_severity"] == {"high": 1, "critical": 1}
    assert "1 new finding" in body["text"] and "[CRITICAL]" in body["text"]
    assert "<!channel>" not in body["text"] and "&lt;!channel&gt; &amp; co" in body["text"]

    same = notify_if_new(hook.url, run(old, new), [old, new], timeout=5)
    assert not same.sent and same.new_findings == 0
    fewer = notify_if_new(hook.url, run(old), [old, new], timeout=5)  # one resolved: quiet
    assert not fewer.sent
    assert len(hook.posts) == 1


def test_worse_severity_counts_as_new(hook: Hook) -> None:
    before = finding("ip:10.0.0.1", Severity.HIGH)
    after = finding("ip:10.0.0.1", Severity.CRITICAL)
    assert notify_if_new(hook.url, run(after), [before], timeout=5).sent
    assert not notify_if_new(hook.url, run(before), [after], timeout=5).sent
    assert len(hook.posts) == 1


def test_first_run_notifies_and_accepts_stored_findings(hook: Hook) -> None:
    f = finding("ip:10.0.0.1")
    assert notify_if_new(hook.url, run(f), None, timeout=5).sent
    stored = [read_finding({"rule": f.rule, "severity": "high", "host": f.host, "title": f.title})]
    assert not notify_if_new(hook.url, run(f), stored, timeout=5).sent
    assert len(hook.posts) == 1


def test_http_error_is_a_warning(hook: Hook) -> None:
    hook.status = 500
    pauses: list[float] = []
    result = notify_if_new(hook.url, run(finding("ip:10.0.0.1")), [], timeout=5,
                           sleep=pauses.append)
    assert not result.sent and result.status == 500
    assert pauses == [1.0, 2.0]  # a 5xx is retried, with backoff
    assert result.warning and "HTTP 500" in result.warning and "SECRET" not in result.warning


def test_unreachable_url_is_a_warning_not_an_error() -> None:
    with socket.socket() as s:  # a loopback port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = notify_if_new(f"http://127.0.0.1:{port}/x", run(finding("ip:10.0.0.1")), [],
                           timeout=2, sleep=lambda seconds: None)
    assert not result.sent and result.warning and "not reached" in result.warning


def test_no_url_or_non_http_url_sends_nothing() -> None:
    assert not notify_if_new(None, run(finding("ip:10.0.0.1")), []).sent
    result = notify_if_new("file:///etc/passwd", run(finding("ip:10.0.0.1")), [])
    assert not result.sent and result.warning and "http(s)" in result.warning
