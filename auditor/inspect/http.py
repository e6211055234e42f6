"""The front page of a host's HTTP services, fetched from the auditor's side.

Only ever the inspected host's own address and one of its listening ports: `http_targets`
(pure) picks them from the probed listeners, `fetch_front_page` sends one `GET /` over
HTTP/1.0 (no chunked encoding, the server closes) with a hard deadline and a byte cap, and
follows no redirect. HTTPS is fetched without certificate checks: the page's title and
Server header are what we want, not trust. Parsing (`parse_http_response`,
`extract_title`) is pure.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import time
from dataclasses import dataclass
from html.parser import HTMLParser

from auditor.inspect.model import HttpFront
from auditor.model import Listener

WEB_PROCESSES = frozenset(
    {"httpd", "apache", "apache2", "nginx", "lighttpd", "caddy", "traefik", "haproxy",
     "varnishd", "tomcat", "jetty", "gunicorn", "uwsgi", "puma", "unicorn", "php-fpm"}
)  # fmt: skip
HTTP_PORTS = frozenset({80, 81, 591, 3000, 5000, 8000, 8008, 8080, 8081, 8088, 8888, 9090})
HTTPS_PORTS = frozenset({443, 4443, 8443, 9443})
MAX_BYTES = 64 * 1024
TIMEOUT = 5.0
USER_AGENT = "auditor-inspect (front page check)"
MAX_TITLE = 200


@dataclass(frozen=True)
class HttpTarget:
    port: int
    scheme: str  # http | https
    why: str


def http_targets(
    listeners: tuple[Listener, ...], host_address: str
) -> tuple[list[HttpTarget], list[tuple[int, str]]]:
    """Which listening TCP ports to ask for a front page, at `host_address` only; and the
    web-looking ports left out with why (bound to loopback, or to another address)."""
    targets: dict[int, HttpTarget] = {}
    skipped: dict[int, str] = {}
    for listener in listeners:
        if listener.proto != "tcp":
            continue
        name = (listener.process or "").lower()
        web_process = name in WEB_PROCESSES or name.startswith(("httpd", "apache", "nginx"))
        if not (web_process or listener.port in HTTP_PORTS or listener.port in HTTPS_PORTS):
            continue
        if not _reachable_at(listener.address, host_address):
            if listener.port not in targets:
                skipped[listener.port] = (
                    f"listens on {listener.address} only"
                    if not _is_loopback(listener.address)
                    else "listens on loopback only: reachable from the host itself"
                )
            continue
        skipped.pop(listener.port, None)
        scheme = "https" if listener.port in HTTPS_PORTS else "http"
        why = f"{listener.process} listens there" if web_process else "a web port"
        targets.setdefault(listener.port, HttpTarget(listener.port, scheme, why))
    return sorted(targets.values(), key=lambda t: t.port), sorted(skipped.items())


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


def _reachable_at(bound: str, host_address: str) -> bool:
    if bound in ("*", "0.0.0.0", "::", host_address):
        return True
    try:
        bound_ip, host_ip = ipaddress.ip_address(bound), ipaddress.ip_address(host_address)
    except ValueError:
        return False
    if isinstance(bound_ip, ipaddress.IPv6Address) and bound_ip.ipv4_mapped is not None:
        return bound_ip.ipv4_mapped == host_ip
    return bound_ip == host_ip


def url_for(address: str, port: int, scheme: str) -> str:
    host = f"[{address}]" if ":" in address else address
    default = (scheme == "http" and port == 80) or (scheme == "https" and port == 443)
    return f"{scheme}://{host}/" if default else f"{scheme}://{host}:{port}/"


def fetch_front_page(
    address: str,
    port: int,
    scheme: str = "http",
    *,
    timeout: float = TIMEOUT,
    max_bytes: int = MAX_BYTES,
) -> HttpFront:
    """`GET /` at address:port; whatever happens, an HttpFront (with `error` on failure).
    The whole exchange is bounded by `timeout` seconds and `max_bytes` read."""
    url = url_for(address, port, scheme)
    deadline = time.monotonic() + timeout
    host_header = f"[{address}]" if ":" in address else address
    if port not in (80, 443):
        host_header += f":{port}"
    request = (
        f"GET / HTTP/1.0\r\nHost: {host_header}\r\nUser-Agent: {USER_AGENT}\r\n"
        "Accept: text/html,*/*;q=0.5\r\nConnection: close\r\n\r\n"
    ).encode("ascii")
    chunks: list[bytes] = []
    size = 0
    try:
        raw_socket = socket.create_connection((address, port), timeout=timeout)
        with raw_socket:
            conn: socket.socket = raw_socket
            if scheme == "https":
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                conn = context.wrap_socket(raw_socket, server_hostname=None)
            conn.settimeout(max(0.1, deadline - time.monotonic()))
            conn.sendall(request)
            while size < max_bytes:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                conn.settimeout(left)
                data = conn.recv(min(16384, max_bytes - size))
                if not data:
                    break
                chunks.append(data)
                size += len(data)
    except TimeoutError:
        if not chunks:
            return HttpFront(url, error=f"no answer within {timeout:g}s")
    except ssl.SSLError as exc:
        return HttpFront(url, error=f"TLS failed: {exc.reason or exc}")
    except OSError as exc:
        if not chunks:
            return HttpFront(url, error=f"cannot connect: {exc.strerror or exc}")
    return parse_http_response(url, b"".join(chunks))


@dataclass(frozen=True)
class _Head:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes


_STATUS_RE = re.compile(rb"^HTTP/(\d)\.(\d) +(\d{3})(?: +([^\r\n]*))?$")


def _split_head(raw: bytes) -> _Head | None:
    end = raw.find(b"\r\n\r\n")
    separator = 4
    if end < 0:
        end, separator = raw.find(b"\n\n"), 2
    head = raw if end < 0 else raw[:end]
    body = b"" if end < 0 else raw[end + separator :]
    lines = head.replace(b"\r\n", b"\n").split(b"\n")
    match = _STATUS_RE.match(lines[0].strip()) if lines else None
    if match is None:
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if sep and name.strip():
            key = name.strip().decode("latin-1").lower()
            text = value.strip().decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
    reason = (match.group(4) or b"").decode("latin-1").strip()
    return _Head(int(match.group(3)), reason, headers, body)


def parse_http_response(url: str, raw: bytes) -> HttpFront:
    """Status, Server header, redirect target and page title from raw response bytes
    (possibly cut at the byte cap). Not HTTP at all: `error` says so."""
    if not raw:
        return HttpFront(url, error="the connection closed without an answer")
    head = _split_head(raw)
    if head is None:
        preview = raw[:40].decode("latin-1", errors="replace")
        return HttpFront(url, bytes_read=len(raw), error=f"not an HTTP answer: {preview!r}")
    content_type = head.headers.get("content-type")
    title = None
    if content_type is None or "html" in content_type.lower() or head.body.lstrip()[:1] == b"<":
        title = extract_title(head.body, _charset(content_type))
    return HttpFront(
        url=url,
        status=head.status,
        reason=head.reason or None,
        server=_clean(head.headers.get("server")),
        title=title,
        location=_clean(head.headers.get("location")),
        content_type=_clean(content_type),
        bytes_read=len(raw),
    )


def _charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = re.search(r"charset=[\"']?([A-Za-z0-9._:-]+)", content_type, re.IGNORECASE)
    return match.group(1) if match else None


_META_CHARSET_RE = re.compile(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9._:-]+)", re.IGNORECASE)


def extract_title(body: bytes, charset: str | None = None) -> str | None:
    """The text of the first <title>, entities decoded, white space collapsed, at most
    MAX_TITLE characters; None without a title."""
    if charset is None:
        meta = _META_CHARSET_RE.search(body[:4096])
        charset = meta.group(1).decode("ascii") if meta else None
    try:
        text = body.decode(charset or "utf-8", errors="replace")
    except LookupError:
        text = body.decode("utf-8", errors="replace")
    parser = _TitleParser()
    try:
        parser.feed(text)
        parser.close()
    except Exception:  # html.parser is lenient; anything else is a page without a title
        pass
    if parser.title is None:
        return None
    title = " ".join(parser.title.split())
    return _clean(title[:MAX_TITLE]) or None


def _clean(text: str | None) -> str | None:
    """Printable text only: control characters from a hostile server are dropped."""
    if text is None:
        return None
    cleaned = "".join(ch for ch in text if ch.isprintable())
    return cleaned[:500]


class _TitleParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title: str | None = None
        self._parts: list[str] = []
        self._inside = False
        self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title" and not self._done:
            self._inside = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._inside:
            self._inside = False
            self._done = True
            self.title = "".join(self._parts)

    def handle_data(self, data: str) -> None:
        if self._inside:
            self._parts.append(data)

    def close(self) -> None:
        super().close()
        if self._inside and self.title is None:  # cut at the byte cap inside the title
            self.title = "".join(self._parts)
