"""`update_eol_data` against a local HTTP server on 127.0.0.1 (never any other address), and
`load_eol_data`'s choice between the embedded copy and the refreshed cache."""

from __future__ import annotations

import http.server
import json
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from auditor.eol import (
    default_cache_dir,
    identify_os,
    load_eol_data,
    os_eol,
    software_eol,
    update_eol_data,
)
from auditor.eol.dataset import cache_path
from auditor.errors import EolDataError

REFRESH_DAY = date(2026, 11, 29)
AUDIT_DATE = date(2026, 11, 29)


def _release(name: str, **fields: Any) -> dict[str, Any]:
    release: dict[str, Any] = {
        "name": name,
        "codename": None,
        "label": name,
        "releaseDate": "2007-04-12",
        "isLts": False,
        "ltsFrom": None,
        "isEoas": True,
        "eoasFrom": None,
        "isEol": True,
        "eolFrom": None,
        "isEoes": None,
        "eoesFrom": None,
        "isMaintained": False,
        "latest": {"name": f"{name}.0", "date": "2014-09-30", "link": None},
        "custom": None,
    }
    release.update(fields)
    return release


def _api_product(name: str, label: str, releases: list[Any]) -> dict[str, Any]:
    return {
        "schema_version": "1.2.0",
        "generated_at": "2026-11-29T00:00:00+00:00",
        "last_modified": "2026-11-28T00:00:00+00:00",
        "result": {
            "name": name,
            "label": label,
            "aliases": [],
            "category": "os",
            "tags": ["linux-distribution"],
            "versionCommand": "cat /etc/redhat-release",
            "identifiers": [{"id": f"cpe:/o:{name}:{name}", "type": "cpe"}],
            "labels": {"eoas": "Active Support", "eol": "Security Support", "eoes": None},
            "links": {"html": f"https://example.invalid/{name}", "releasePolicy": None},
            "releases": releases,
        },
    }


CENTOS = _api_product(
    "centos",
    "CentOS",
    [
        # a changed date, so we can tell refreshed data from embedded data
        _release("5", eoasFrom="2014-01-31", eolFrom="2017-04-30", isEoas=True, isEol=True),
        _release("4", eolFrom="2012-02-29"),
    ],
)
NGINX = _api_product(
    "nginx",
    "nginx",
    [
        _release("1.18", eolFrom="2021-04-20", isEoas=None),
        _release("1.31", isEol=False, isEoas=None, releaseDate="2026-04-14"),
    ],
)


@dataclass
class FakeApi:
    """A tiny endoflife.date-shaped API on 127.0.0.1: path -> (status, body)."""

    routes: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    base_url: str = ""

    def serve_json(self, slug: str, payload: Any) -> None:
        self.routes[f"/api/v1/products/{slug}/"] = (200, json.dumps(payload).encode())

    def serve_raw(self, slug: str, status: int, body: bytes) -> None:
        self.routes[f"/api/v1/products/{slug}/"] = (status, body)


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApi]:
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)  # loopback must not go through a proxy
    api = FakeApi()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            api.requests.append(self.path)
            status, body = api.routes.get(self.path, (404, b'{"message": "not found"}'))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    api.base_url = f"http://127.0.0.1:{server.server_address[1]}/api/v1"
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def closed_port_url() -> str:
    """An http URL on 127.0.0.1 whose port nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/v1"


def _refresh_good(api: FakeApi, cache_dir: Path) -> None:
    api.serve_json("centos", CENTOS)
    api.serve_json("nginx", NGINX)
    update_eol_data(api.base_url, cache_dir, ["centos", "nginx"], fetched_on=REFRESH_DAY, timeout=5)


# --------------------------------------------------------------------------- success


def test_update_writes_cache_atomically_and_it_is_then_preferred(
    fake_api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_api.serve_json("centos", CENTOS)
    fake_api.serve_json("nginx", NGINX)
    replaced: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy_replace(src: Any, dst: Any) -> None:
        replaced.append((str(src), str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy_replace)
    before = load_eol_data(tmp_path)
    assert before.label == "embedded 2026-08-22"

    result = update_eol_data(
        fake_api.base_url, tmp_path, ["nginx", "centos"], fetched_on=REFRESH_DAY, timeout=5
    )

    assert sorted(fake_api.requests) == ["/api/v1/products/centos/", "/api/v1/products/nginx/"]
    target = tmp_path / "eol.json"
    assert result.path == target
    assert result.products == ("centos", "nginx")
    assert result.cycles == 4
    assert result.replaced == "embedded 2026-08-22"
    assert result.refreshed == REFRESH_DAY
    # written to a temporary file in the same folder, then renamed over the target
    assert len(replaced) == 1
    temp, final = replaced[0]
    assert final == str(target)
    assert Path(temp).parent == tmp_path and temp != final
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eol.json"]  # no temp left behind

    data = load_eol_data(tmp_path)
    assert data.origin == "refreshed"
    assert data.label == "refreshed 2026-11-29"
    assert data.warnings == ()
    centos5 = data.products["centos"].find_cycle("5")
    assert centos5 is not None and centos5.eol == date(2017, 4, 30)
    assert centos5.support == date(2014, 1, 31)
    assert centos5.latest == "5.0" and centos5.latest_release == date(2014, 9, 30)
    assert data.products["centos"].column_labels["eol"] == "Security Support"
    # products not fetched stay, with their own provenance
    assert data.products["ubuntu"].provenance == "embedded 2026-08-22"

    identity = identify_os({"/etc/redhat-release": "CentOS release 5.11 (Final)\n"})
    assert identity is not None
    status = os_eol(identity, AUDIT_DATE, data)
    assert (status.date, status.source) == ("2017-04-30", "refreshed 2026-11-29")
    nginx = software_eol("nginx", "nginx version: nginx/1.31.0", AUDIT_DATE, data)
    assert (nginx.cycle, nginx.status, nginx.source) == (
        "1.31",
        "supported",
        "refreshed 2026-11-29",
    )
    ubuntu = identify_os({"/etc/lsb-release": "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=14.04\n"})
    assert ubuntu is not None
    assert os_eol(ubuntu, AUDIT_DATE, data).source == "embedded 2026-08-22"


def test_second_update_keeps_earlier_refreshed_products(fake_api: FakeApi, tmp_path: Path) -> None:
    _refresh_good(fake_api, tmp_path)
    update_eol_data(fake_api.base_url, tmp_path, ["nginx"], fetched_on=date(2026, 12, 1), timeout=5)
    data = load_eol_data(tmp_path)
    assert data.label == "refreshed 2026-12-01"
    assert data.products["nginx"].provenance == "refreshed 2026-12-01"
    assert data.products["centos"].provenance == "refreshed 2026-11-29"


# --------------------------------------------------------------------------- failures


def test_unreachable_api_is_a_clear_error_and_keeps_the_old_cache(
    fake_api: FakeApi, tmp_path: Path, closed_port_url: str
) -> None:
    _refresh_good(fake_api, tmp_path)
    before = cache_path(tmp_path).read_bytes()

    with pytest.raises(EolDataError) as caught:
        update_eol_data(
            closed_port_url, tmp_path, ["centos"], fetched_on=date(2026, 12, 5), timeout=5
        )

    message = str(caught.value)
    assert f"cannot reach {closed_port_url}/products/centos/" in message
    assert "refreshed 2026-11-29 data stays in use" in message
    assert cache_path(tmp_path).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eol.json"]
    assert load_eol_data(tmp_path).label == "refreshed 2026-11-29"


def test_unreachable_api_without_a_cache_writes_nothing(
    tmp_path: Path, closed_port_url: str
) -> None:
    with pytest.raises(EolDataError, match="embedded 2026-08-22 data stays in use"):
        update_eol_data(closed_port_url, tmp_path / "cache", ["centos"], timeout=5)
    assert not (tmp_path / "cache").exists()


def test_malformed_json_is_an_error_naming_the_url_and_keeps_the_old_cache(
    fake_api: FakeApi, tmp_path: Path
) -> None:
    _refresh_good(fake_api, tmp_path)
    before = cache_path(tmp_path).read_bytes()
    fake_api.serve_raw("nginx", 200, b'{"result": {"name": "nginx", "releases": [')

    with pytest.raises(EolDataError) as caught:
        update_eol_data(
            fake_api.base_url, tmp_path, ["centos", "nginx"], fetched_on=date(2026, 12, 5)
        )

    assert f"{fake_api.base_url}/products/nginx/: not valid JSON" in str(caught.value)
    assert cache_path(tmp_path).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eol.json"]


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        ({"message": "no result"}, "expected an object with a 'result' object"),
        (
            {"result": {"name": "centos", "releases": []}},
            "result.releases must be a non-empty list",
        ),
        (
            _api_product("centos", "CentOS", [_release("5", eolFrom="2017-13-45")]),
            "expected a date YYYY-MM-DD, true, false or null, got '2017-13-45'",
        ),
        (
            _api_product("centos", "CentOS", [_release("5", releaseDate="31/03/2017")]),
            "expected a date YYYY-MM-DD or null, got '31/03/2017'",
        ),
        (_api_product("centos", "CentOS", [_release("")]), "cycle: expected a non-empty string"),
        (_api_product("centos", "CentOS", ["5"]), "expected an object"),
    ],
)
def test_bad_api_shapes_are_rejected_before_writing(
    fake_api: FakeApi, tmp_path: Path, payload: Any, complaint: str
) -> None:
    fake_api.serve_json("centos", payload)
    with pytest.raises(EolDataError) as caught:
        update_eol_data(fake_api.base_url, tmp_path, ["centos"], fetched_on=REFRESH_DAY)
    assert complaint in str(caught.value)
    assert f"{fake_api.base_url}/products/centos/" in str(caught.value)
    assert not cache_path(tmp_path).exists()


def test_http_error_status_is_reported(fake_api: FakeApi, tmp_path: Path) -> None:
    with pytest.raises(EolDataError, match=r"/products/centos/: HTTP 404"):
        update_eol_data(fake_api.base_url, tmp_path, ["centos"], fetched_on=REFRESH_DAY)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/api", "file:///etc/passwd", "127.0.0.1:8080"])
def test_only_http_urls_are_accepted(tmp_path: Path, url: str) -> None:
    with pytest.raises(EolDataError, match="must be http"):
        update_eol_data(url, tmp_path, ["centos"])


# --------------------------------------------------------------------------- loading


def test_corrupt_cache_falls_back_to_embedded_with_a_warning(tmp_path: Path) -> None:
    cache_path(tmp_path).write_text("{ not json")
    data = load_eol_data(tmp_path)
    assert data.label == "embedded 2026-08-22"
    assert len(data.warnings) == 1 and "not valid JSON" in data.warnings[0]


def test_cache_not_newer_than_embedded_is_passed_over(fake_api: FakeApi, tmp_path: Path) -> None:
    fake_api.serve_json("nginx", NGINX)
    update_eol_data(fake_api.base_url, tmp_path, ["nginx"], fetched_on=date(2026, 8, 1))
    data = load_eol_data(tmp_path)
    assert data.label == "embedded 2026-08-22"
    assert "not newer than the embedded data" in data.warnings[0]


def test_cache_with_a_bad_date_is_passed_over(fake_api: FakeApi, tmp_path: Path) -> None:
    _refresh_good(fake_api, tmp_path)
    document = json.loads(cache_path(tmp_path).read_text())
    document["products"]["centos"]["cycles"][0]["eol"] = "soon"
    cache_path(tmp_path).write_text(json.dumps(document))
    data = load_eol_data(tmp_path)
    assert data.origin == "embedded"
    assert "products.centos.cycles[0] (cycle 5).eol" in data.warnings[0]


def test_default_cache_dir() -> None:
    assert default_cache_dir({"XDG_CACHE_HOME": "/var/cache/me", "HOME": "/home/me"}) == Path(
        "/var/cache/me/auditor"
    )
    assert default_cache_dir({"HOME": "/home/me"}) == Path("/home/me/.cache/auditor")
    # a relative XDG_CACHE_HOME is invalid per the spec and ignored
    assert default_cache_dir({"XDG_CACHE_HOME": "rel", "HOME": "/home/me"}) == Path(
        "/home/me/.cache/auditor"
    )
