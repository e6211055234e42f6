#!/usr/bin/python3
"""Web server look-alikes for lab hosts, installed as /usr/sbin/httpd or /usr/sbin/nginx.

The name it is installed under picks the persona:

- httpd: Apache 1.3.42 on the centos5 host. `httpd -v` / `-V` / `-t` print and exit;
  otherwise it reads `-f CONF` (Listen, ServerRoot, CustomLog, ErrorLog, PidFile) and shows
  up in `ps` as `/usr/sbin/httpd -f /etc/httpd/conf/httpd.conf`.
- nginx: the distribution's nginx (`NGINX_VERSION`, rewritten at install time). `nginx -v`
  prints to stderr as nginx does; `ps` shows `nginx: master process /usr/sbin/nginx ...`.

Both serve a page with the right `Server:` header, append combined-format lines to their
access log, and have the comm name of the real daemon. Standard library only: it runs under
the system python3 inside the host's namespaces.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

APACHE_VERSION = "Apache/1.3.42 (Unix)"
APACHE_BUILT = "Feb  2 2010 15:37:12"
NGINX_VERSION = "nginx/1.22.1"

_LOG_LOCK = threading.Lock()


@dataclass(frozen=True)
class Persona:
    comm: str
    server: str
    title: str
    port: int
    access_log: str
    error_log: str
    pid_file: str
    page: bytes


def set_proctitle(title: str, comm: str) -> None:
    """Make /proc/self/cmdline read `title` (not `python3 /usr/sbin/httpd ...`).

    The argument strings live in this process's memory between arg_start and arg_end
    (fields 48-49 of /proc/self/stat), the environment right after them (50-51). Overwrite
    them in place through /proc/self/mem, as setproctitle(3) does: when the byte at arg_end-1
    is not NUL, the kernel reports the title up to its NUL. A title longer than the argument
    area runs on into the environment strings, which are first copied to the heap
    (clearenv + setenv) so libc never reads the overwritten ones.
    """
    raw = title.encode() + b"\0"
    try:
        with open("/proc/self/stat", "rb") as fh:
            stat = fh.read()
        fields = [int(f) for f in stat[stat.rindex(b")") + 2 :].split()[45:49]]
        arg_start, arg_end, env_start, env_end = fields
        libc = ctypes.CDLL(None, use_errno=True)
        if len(raw) < arg_end - arg_start:
            buf = raw.ljust(arg_end - arg_start - 1, b"\0") + b" "
        elif env_start == arg_end and len(raw) <= env_end - arg_start:
            saved = dict(os.environ)
            libc.clearenv()
            for key, value in saved.items():
                libc.setenv(key.encode(), value.encode(), 1)
            buf = raw.ljust(env_end - arg_start, b"\0")
        else:
            return
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            mem.seek(arg_start)
            mem.write(buf)
        pr_set_name = 15
        libc.prctl(
            ctypes.c_int(pr_set_name),
            ctypes.c_char_p(comm.encode()),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
        )
    except (OSError, ValueError, IndexError, AttributeError):
        pass


def parse_apache_conf(path: str) -> dict[str, str]:
    """The few Apache directives we honour; paths relative to ServerRoot are resolved."""
    conf = {
        "ServerRoot": "/etc/httpd",
        "Listen": "80",
        "CustomLog": "logs/access_log",
        "ErrorLog": "logs/error_log",
        "PidFile": "/var/run/httpd.pid",
    }
    with open(path) as fh:
        for raw in fh:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            key, _, rest = line.partition(" ")
            value = rest.strip().strip('"')
            if key == "CustomLog":
                value = value.split()[0].strip('"')
            if key in conf:
                conf[key] = value
    root = conf["ServerRoot"]
    for key in ("CustomLog", "ErrorLog", "PidFile"):
        if not conf[key].startswith("/"):
            conf[key] = os.path.join(root, conf[key])
    return conf


def _page(title: str, body: str, address: str) -> bytes:
    return (
        f'<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n<HTML><HEAD>'
        f"<TITLE>{title}</TITLE></HEAD>\n<BODY><H1>{title}</H1>\n<P>{body}</P>\n"
        f"<HR>{address}\n</BODY></HTML>\n"
    ).encode()


def make_handler(p: Persona) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 15

        def version_string(self) -> str:
            return p.server

        def _reply(self, head_only: bool) -> None:
            path = self.path.split("?", 1)[0]
            if path in ("/", "/index.html", "/billing/status.php"):
                status, body = 200, p.page
            elif path.startswith(("/server-status", "/admin")):
                status, body = 403, _page("403 Forbidden", "Forbidden", p.server)
            else:
                status, body = 404, _page("404 Not Found", "Not Found", p.server)
            self.send_response_only(status)
            self.send_header("Server", p.server)
            self.send_header("Date", self.date_time_string())
            self.send_header("Content-Type", "text/html; charset=iso-8859-1")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head_only:
                self.wfile.write(body)
            self._combined(status, 0 if head_only else len(body))

        def do_GET(self) -> None:
            self._reply(False)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if 0 < length <= 65536:
                self.rfile.read(length)
            self._reply(False)

        def do_HEAD(self) -> None:
            self._reply(True)

        def _combined(self, status: int, size: int) -> None:
            stamp = time.strftime("[%d/%b/%Y:%H:%M:%S %z]", time.localtime())
            line = (
                f'{self.client_address[0]} - - {stamp} "{self.requestline}" {status} '
                f'{size or "-"} "{self.headers.get("Referer", "-")}" '
                f'"{self.headers.get("User-Agent", "-")}"\n'
            )
            with _LOG_LOCK, open(p.access_log, "a") as fh:
                fh.write(line)

        def log_message(self, format: str, *args: object) -> None:
            pass  # the combined log above is the log

    return Handler


def apache(argv: list[str]) -> Persona | int:
    if "-v" in argv:
        print(f"Server version: {APACHE_VERSION}\nServer built:   {APACHE_BUILT}")
        return 0
    if "-V" in argv:
        print(
            f"Server version: {APACHE_VERSION}\nServer built:   {APACHE_BUILT}\n"
            "Server's Module Magic Number: 19990320:19\nServer compiled with....\n"
            ' -D HTTPD_ROOT="/etc/httpd"\n -D SERVER_CONFIG_FILE="conf/httpd.conf"'
        )
        return 0
    conf_path = "/etc/httpd/conf/httpd.conf"
    if "-f" in argv and argv.index("-f") + 1 < len(argv):
        conf_path = argv[argv.index("-f") + 1]
    conf = parse_apache_conf(conf_path)
    if "-t" in argv:
        print("Syntax OK", file=sys.stderr)
        return 0
    page = _page(
        "ACME Billing",
        "Invoice service. Authorised users only.",
        f"<ADDRESS>{APACHE_VERSION} Server at {os.uname().nodename} Port 80</ADDRESS>",
    )
    return Persona(
        "httpd",
        APACHE_VERSION,
        " ".join(["/usr/sbin/httpd", *argv]),
        int(conf["Listen"].rsplit(":", 1)[-1]),
        conf["CustomLog"],
        conf["ErrorLog"],
        conf["PidFile"],
        page,
    )


def nginx(argv: list[str]) -> Persona | int:
    if "-v" in argv or "-V" in argv:
        print(f"nginx version: {NGINX_VERSION}", file=sys.stderr)
        return 0
    if "-t" in argv:
        print(
            "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n"
            "nginx: configuration file /etc/nginx/nginx.conf test is successful",
            file=sys.stderr,
        )
        return 0
    page = _page(
        "Welcome to nginx!",
        "If you see this page, the nginx web server is successfully installed and working.",
        f"<em>{NGINX_VERSION}</em>",
    )
    return Persona(
        "nginx",
        NGINX_VERSION,
        "nginx: master process /usr/sbin/nginx -g daemon on; master_process on;",
        80,
        "/var/log/nginx/access.log",
        "/var/log/nginx/error.log",
        "/run/nginx.pid",
        page,
    )


def main(argv: list[str]) -> int:
    name = os.path.basename(sys.argv[0])
    persona = nginx(argv) if name == "nginx" else apache(argv)
    if isinstance(persona, int):
        return persona
    set_proctitle(persona.title, persona.comm)
    os.makedirs(os.path.dirname(persona.access_log), exist_ok=True)
    server = ThreadingHTTPServer(("0.0.0.0", persona.port), make_handler(persona))
    server.daemon_threads = True
    try:
        with open(persona.pid_file, "w") as fh:
            fh.write(f"{os.getpid()}\n")
    except OSError:
        pass
    with open(persona.error_log, "a") as fh:
        stamp = time.strftime("[%a %b %d %H:%M:%S %Y]")
        fh.write(f"{stamp} [notice] {persona.server} configured -- resuming normal operations\n")
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
