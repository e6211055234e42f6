"""Terraform state over the `http` backend (GitLab-managed state, Terraform Cloud-compatible
proxies, any server that answers GET with the state JSON).

A `[[terraform]] state` entry that starts with `https://` (or `http://`) is fetched with one
GET. Credentials come from the environment under the names Terraform's own http backend uses,
`TF_HTTP_USERNAME` and `TF_HTTP_PASSWORD` (GitLab: a user name and an access token), so a CI job
that already runs `terraform plan` needs nothing new; they never appear in a config file, a URL,
a message or a report. Hence:
- a URL that carries credentials (`https://user:token@host/...`) is refused at config load;
- the query string is left out of every message (tokens hide there too);
- credentials are never sent over plain `http://` except to a loopback address;
- redirects are not followed: a redirect would carry the Authorization header elsewhere.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from urllib.parse import urlsplit

from auditor.errors import SourceError
from auditor.urls import PASSWORD_ENV, USERNAME_ENV, check_url, shown

TIMEOUT_S = 30.0
MAX_STATE_BYTES = 256 * 1024 * 1024  # a state larger than this is not one we should hold


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        raise urllib.error.HTTPError(req.full_url, code, f"redirect ({code})", headers, fp)


def fetch_state(url: str, env: Mapping[str, str] | None = None) -> bytes:
    """GET one state. Raises SourceError naming the URL (as `shown`) and what to do."""
    env = os.environ if env is None else env
    where = shown(url)
    problem = check_url(url)
    if problem is not None:
        raise SourceError(f"{where}: {problem}")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    username, password = env.get(USERNAME_ENV), env.get(PASSWORD_ENV)
    if username or password:
        host = urlsplit(url).hostname or ""
        if url.startswith("http://") and not _loopback(host):
            raise SourceError(
                f"{where}: refusing to send ${PASSWORD_ENV} over plain http; use https://"
            )
        token = base64.b64encode(f"{username or ''}:{password or ''}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(request, timeout=TIMEOUT_S) as response:
            if response.status == 204:
                raise SourceError(f"{where}: no state at this address (204 No Content)")
            raw: bytes = response.read(MAX_STATE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise SourceError(f"{where}: {_http_cause(exc.code)}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SourceError(f"{where}: cannot fetch: {reason}") from None
    if len(raw) > MAX_STATE_BYTES:
        raise SourceError(f"{where}: larger than {MAX_STATE_BYTES // (1024 * 1024)} MiB; refused")
    return raw


def _http_cause(code: int) -> str:
    if code in (401, 403):
        return (
            f"HTTP {code}: not allowed; set ${USERNAME_ENV} and ${PASSWORD_ENV} "
            "(GitLab: a user name and a token with read_api)"
        )
    if code == 404:
        return "HTTP 404: no state at this address (wrong project or state name?)"
    if 300 <= code < 400:
        return f"HTTP {code}: redirected; not followed (give the final address)"
    return f"HTTP {code}"
