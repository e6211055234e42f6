"""Terraform state over the http backend (GitLab-managed state), from a real HTTP server on
127.0.0.1 that answers like GitLab's `/api/v4/projects/:id/terraform/state/:name`: basic auth
(user name + token), 404 for an unknown state, 204 for an empty one."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from auditor.config import TerraformConfig, load_config
from auditor.errors import ConfigError
from auditor.sources import tfhttp
from auditor.sources.terraform import TerraformStateSource

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "terraform"
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
TOKEN = "glpat-s3cr3t-t0ken"
STATE = "/api/v4/projects/42/terraform/state/production"


class GitLabStateAPI(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization")
        GitLabStateAPI.seen.append((self.path, auth))
        if auth != "Basic " + base64.b64encode(f"deploy:{TOKEN}".encode()).decode():
            self._answer(401, b'{"message":"401 Unauthorized"}')
        elif self.path.split("?")[0] == STATE:
            self._answer(200, (FIXTURES / "prod" / "terraform.tfstate").read_bytes())
        elif self.path == "/api/v4/projects/42/terraform/state/empty":
            self._answer(204, b"")
        elif self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.end_headers()
        else:
            self._answer(404, b'{"message":"404 Not Found"}')

    def _answer(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def gitlab() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), GitLabStateAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    GitLabStateAPI.seen.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def collect(*urls: str) -> tuple[bool, list[str], dict[str, object], int]:
    result = TerraformStateSource(TerraformConfig(name="gitlab", state=urls)).collect(NOW)
    return result.ok, list(result.errors), dict(result.details), len(result.observations)


def test_state_from_the_http_backend_with_terraforms_credentials(
    gitlab: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TF_HTTP_USERNAME", "deploy")
    monkeypatch.setenv("TF_HTTP_PASSWORD", TOKEN)
    ok, errors, details, count = collect(f"{gitlab}{STATE}?ref=main")
    assert ok, errors
    assert count == 7  # the same state as from a file
    [state_file] = details["state_files"]  # type: ignore[misc]
    assert state_file["location"] == f"{gitlab}{STATE}"  # the query string is not kept
    assert TOKEN not in repr(details)


def test_failures_name_the_address_never_the_token(
    gitlab: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TF_HTTP_USERNAME", "deploy")
    monkeypatch.setenv("TF_HTTP_PASSWORD", "wrong-" + TOKEN)
    ok, errors, _, _ = collect(f"{gitlab}{STATE}")
    assert not ok and "HTTP 401" in errors[0] and "TF_HTTP_PASSWORD" in errors[0]
    monkeypatch.setenv("TF_HTTP_PASSWORD", TOKEN)
    _, errors, _, _ = collect(
        f"{gitlab}/api/v4/projects/42/terraform/state/nope",
        f"{gitlab}/api/v4/projects/42/terraform/state/empty",
        f"{gitlab}/moved",
    )
    assert "HTTP 404" in errors[0] and "204" in errors[1] and "not followed" in errors[2]
    assert not any(TOKEN in e for e in errors)
    assert [p for p, _ in GitLabStateAPI.seen if p == "/elsewhere"] == []


def test_credentials_never_go_over_plain_http_to_another_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TF_HTTP_PASSWORD", TOKEN)

    def no_connection(*_: object) -> None:
        raise AssertionError("a connection was about to be opened")

    # Refused before any connection (the guard makes sure: network safety in this test too).
    monkeypatch.setattr(tfhttp.urllib.request, "build_opener", no_connection)
    ok, errors, _, _ = collect("http://192.0.2.1/state")
    assert not ok and "plain http" in errors[0]


def test_a_url_with_credentials_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "audit.toml"
    config.write_text(
        '[[terraform]]\nstate = ["https://deploy:' + TOKEN + '@gitlab.example.com/state"]\n'
    )
    with pytest.raises(ConfigError) as raised:
        load_config(config)
    assert "TF_HTTP_PASSWORD" in str(raised.value) and TOKEN not in str(raised.value)
    config.write_text('[[terraform]]\nstate = ["https://gitlab.example.com/api/state"]\n')
    assert load_config(config).terraform[0].state == ("https://gitlab.example.com/api/state",)
