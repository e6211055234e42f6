"""Front-page fetch: which ports are asked, title and header parsing, and the bounds (time,
size, no redirects) against real servers on 127.0.0.1."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from auditor.inspect.http import (
    extract_title,
    fetch_front_page,
    http_targets,
    parse_http_response,
    url_for,
)
from auditor.model import Listener

# ------------------------------------------------------------------------ which ports


def test_web_processes_and_web_ports_are_asked_at_the_host_address_only() -> None:
    listeners = (
        Listener("tcp", "0.0.0.0", 80, 26, "httpd"),
        Listener("tcp", "::", 80, 26, "httpd"),
        Listener("tcp", "10.0.0.5", 8080, 40, "java"),
        Listener("tcp", "0.0.0.0", 9999, 41, "nginx"),
        Listener("tcp", "0.0.0.0", 22, 1, "sshd"),
        Listener("tcp", "0.0.0.0", 5432, 7, "postgres"),
        Listener("tcp", "127.0.0.1", 8443, 9, "caddy"),
        Listener("tcp", "10.9.9.9", 3000, 10, "node"),
        Listener("udp", "0.0.0.0", 80, 11, "httpd"),
        Listener("tcp", "0.0.0.0", 443, 12, "nginx"),
    )
    targets, skipped = http_targets(listeners, "10.0.0.5")
    assert [(t.port, t.scheme) for t in targets] == [
        (80, "http"), (443, "https"), (8080, "http"), (9999, "http"),
    ]  # fmt: skip
    assert dict(skipped) == {
        8443: "listens on loopback only: reachable from the host itself",
        3000: "listens on 10.9.9.9 only",
    }


def test_ipv4_mapped_binding_counts_as_the_host_address() -> None:
    targets, _ = http_targets((Listener("tcp", "::ffff:10.0.0.5", 80, 1, "nginx"),), "10.0.0.5")
    assert [t.port for t in targets] == [80]


def test_urls() -> None:
    assert url_for("10.0.0.5", 80, "http") == "http://10.0.0.5/"
    assert url_for("10.0.0.5", 8443, "https") == "https://10.0.0.5:8443/"
    assert url_for("fd00::5", 443, "https") == "https://[fd00::5]/"


# ------------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    ("body", "charset", "title"),
    [
        (b"<html><head><title>ACME Billing</title></head></html>", None, "ACME Billing"),
        (b"<TITLE>\n  Two\n   lines  </TITLE>", None, "Two lines"),
        (b"<title>Caf\xe9</title>", "iso-8859-1", "Café"),
        (b'<meta charset="windows-1252"><title>\x93quoted\x94</title>', None, "“quoted”"),
        (b"<title>A &amp; B &#8212; C</title>", None, "A & B — C"),
        (b"<svg><title>icon</title></svg><title>second</title>", None, "icon"),
        (b"<html><body>no title</body></html>", None, None),
        (b"<title></title>", None, None),
        (b"<title>x\x00y\x1b[31mz</title>", None, "xy[31mz"),
        (b"<title>" + b"x" * 500 + b"</title>", None, "x" * 200),
        (b"<title>unknown charset</title>", "no-such-charset", "unknown charset"),
    ],
)
def test_extract_title(body: bytes, charset: str | None, title: str | None) -> None:
    assert extract_title(body, charset) == title


def test_response_without_body_and_truncated_headers() -> None:
    front = parse_http_response("http://h/", b"HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n")
    assert (front.status, front.server, front.title) == (204, "x", None)
    cut = parse_http_response("http://h/", b"HTTP/1.0 200 OK\r\nServer: half")
    assert cut.status == 200 and cut.server == "half"
    assert parse_http_response("http://h/", b"").error == "the connection closed without an answer"


def test_repeated_headers_are_joined() -> None:
    raw = b"HTTP/1.1 200 OK\r\nServer: a\r\nserver: b\r\nContent-Type: text/plain\r\n\r\n<x>"
    front = parse_http_response("http://h/", raw)
    assert front.server == "a, b" and front.title is None


# ------------------------------------------------------------------------ fetching


@contextmanager
def serve(
    handler: Callable[[socket.socket], None], wrap: ssl.SSLContext | None = None
) -> Iterator[int]:
    """A one-connection-at-a-time TCP server on 127.0.0.1 running `handler` per client."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                if wrap is not None:
                    conn = wrap.wrap_socket(conn, server_side=True)
                handler(conn)
            except OSError:
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    conn.settimeout(5)
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_fetches_one_get_with_our_host_header() -> None:
    seen: list[bytes] = []

    def handler(conn: socket.socket) -> None:
        seen.append(_read_request(conn))
        conn.sendall(b"HTTP/1.1 302 Found\r\nServer: test/1\r\nLocation: /login\r\n\r\n")

    with serve(handler) as port:
        front = fetch_front_page("127.0.0.1", port)
    assert front.status == 302 and front.location == "/login" and front.server == "test/1"
    assert len(seen) == 1  # the redirect was not followed
    assert seen[0].startswith(b"GET / HTTP/1.0\r\n")
    assert f"Host: 127.0.0.1:{port}".encode() in seen[0]


def test_a_slow_drip_is_cut_at_the_deadline() -> None:
    def handler(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nServer: slow\r\n\r\n<title>slow")
        for _ in range(100):
            time.sleep(0.1)
            conn.sendall(b"x")

    with serve(handler) as port:
        started = time.monotonic()
        front = fetch_front_page("127.0.0.1", port, timeout=1.0)
        elapsed = time.monotonic() - started
    assert elapsed < 3
    assert front.status == 200 and front.server == "slow"
    assert (front.title or "").startswith("slowx")


def test_a_huge_body_is_cut_at_the_byte_cap() -> None:
    def handler(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\n\r\n<title>big</title>")
        try:
            for _ in range(1000):
                conn.sendall(b"y" * 65536)
        except OSError:
            pass

    with serve(handler) as port:
        front = fetch_front_page("127.0.0.1", port, max_bytes=10_000)
    assert front.title == "big" and front.bytes_read == 10_000


def test_not_http_refused_and_silent() -> None:
    def banner(conn: socket.socket) -> None:
        conn.sendall(b"SSH-2.0-OpenSSH_4.3\r\n")

    with serve(banner) as port:
        assert (fetch_front_page("127.0.0.1", port).error or "").startswith("not an HTTP answer")

    free = socket.create_server(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    assert "cannot connect" in (fetch_front_page("127.0.0.1", port).error or "")

    def silent(conn: socket.socket) -> None:
        time.sleep(2)

    with serve(silent) as port:
        front = fetch_front_page("127.0.0.1", port, timeout=0.5)
    assert front.error == "no answer within 0.5s"


def _self_signed(tmp: Path) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "legacy.example")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    return context


def test_https_with_a_self_signed_certificate(tmp_path: Path) -> None:
    def handler(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nServer: tls/1\r\n\r\n<title>secure</title>")

    with serve(handler, wrap=_self_signed(tmp_path)) as port:
        front = fetch_front_page("127.0.0.1", port, "https")
    assert (front.status, front.server, front.title) == (200, "tls/1", "secure")
    assert front.url == f"https://127.0.0.1:{port}/"
