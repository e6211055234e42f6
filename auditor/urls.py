"""URLs a config may name, checked at load, and how messages show them (pure).

Used for Terraform's http backend state addresses (auditor.sources.tfhttp): credentials never
sit in a URL, and messages never show user info, a query string or a fragment.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

SCHEMES = ("https://", "http://")
# The names Terraform's own http backend reads its credentials from.
USERNAME_ENV = "TF_HTTP_USERNAME"
PASSWORD_ENV = "TF_HTTP_PASSWORD"


def is_http_state(location: str) -> bool:
    return location.startswith(SCHEMES)


def shown(url: str) -> str:
    """The URL as messages show it: no user info, no query, no fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:  # a bad port: check_url says so; the message still shows the rest
        port = None
    if port is not None:
        netloc += f":{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def check_url(url: str) -> str | None:
    """Why this state URL is refused, or None. Pure (config load calls it)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "expected http(s)://host/path"
    if parts.username is not None or parts.password is not None:
        return (
            f"credentials in the URL; give them as ${USERNAME_ENV} and ${PASSWORD_ENV} "
            "instead (they would end up in logs and reports)"
        )
    return None
