"""Pre-seeded logs for the centos5 profile: who has been using the forgotten box lately.

Pure functions of (now, seed): the access log tells the audit that the payments team's
subnet (10.20.0.0/16) still calls the box every day, the data team's (10.30.0.0/16) now and
then, and that someone pokes at admin pages.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

PAYMENTS_NET = "10.20"
DATA_NET = "10.30"

_PAYMENTS_PATHS = (
    ("GET", "/billing/invoice.php?id={n}", 200),
    ("GET", "/billing/invoice.php?id={n}&format=pdf", 200),
    ("POST", "/billing/api/charge.php", 200),
    ("POST", "/billing/api/refund.php", 200),
    ("GET", "/billing/status.php", 200),
    ("GET", "/billing/customer.php?acct={n}", 200),
    ("GET", "/billing/customer.php?acct={n}", 404),
)
_DATA_PATHS = (
    ("GET", "/export/daily.csv", 200),
    ("GET", "/export/monthly.csv?m={m}", 200),
    ("GET", "/reports/ledger.php?from=2019-01-01", 500),
)
_ADMIN_PATHS = (
    ("GET", "/admin/", 401),
    ("GET", "/admin/login.php", 200),
    ("GET", "/server-status", 403),
    ("GET", "/phpmyadmin/", 404),
    ("GET", "/phpmyadmin/index.php", 404),
)
_STATIC_PATHS = (
    ("GET", "/", 200),
    ("GET", "/index.html", 200),
    ("GET", "/images/logo.gif", 200),
    ("GET", "/css/billing.css", 304),
)
_AGENTS = (
    "Java/1.6.0_45",
    "Java/1.7.0_80",
    "curl/7.15.5 (x86_64-redhat-linux-gnu) libcurl/7.15.5 OpenSSL/0.9.8b zlib/1.2.3",
    "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:102.0) Gecko/20100101 Firefox/102.0",
    "python-requests/2.6.0 CPython/2.7.5 Linux/3.10.0-1160.el7.x86_64",
)


def apache_time(t: datetime) -> str:
    """`[10/Oct/2000:13:55:36 -0700]` (Apache's %t); `t` must be timezone-aware."""
    return t.strftime("[%d/%b/%Y:%H:%M:%S %z]")


def syslog_time(t: datetime) -> str:
    """Old syslog stamp: `Nov  3 04:02:01` (no year, day padded with a space)."""
    return f"{t.strftime('%b')} {t.day:2d} {t.strftime('%H:%M:%S')}"


def combined_line(
    client: str,
    t: datetime,
    method: str,
    path: str,
    status: int,
    size: int | None,
    referer: str,
    agent: str,
) -> str:
    """One Apache combined-format line (`LogFormat "%h %l %u %t \\"%r\\" %>s %b ..."`)."""
    body = "-" if size is None else str(size)
    return (
        f'{client} - - {apache_time(t)} "{method} {path} HTTP/1.1" {status} {body} '
        f'"{referer}" "{agent}"'
    )


def access_log(now: datetime, *, lines: int = 420, days: int = 7, seed: int = 5) -> list[str]:
    """`lines` combined-format lines spread over the `days` before `now`, oldest first."""
    rng = random.Random(seed)
    span = days * 86400
    stamps = sorted(now - timedelta(seconds=rng.uniform(60, span)) for _ in range(lines))
    out: list[str] = []
    payments_hosts = [
        f"{PAYMENTS_NET}.{rng.randint(1, 40)}.{rng.randint(2, 250)}" for _ in range(12)
    ]
    data_hosts = [f"{DATA_NET}.{rng.randint(1, 20)}.{rng.randint(2, 250)}" for _ in range(4)]
    for t in stamps:
        roll = rng.random()
        if roll < 0.72:
            client, (method, path, status) = rng.choice(payments_hosts), rng.choice(_PAYMENTS_PATHS)
            referer = "-"
        elif roll < 0.90:
            client, (method, path, status) = rng.choice(data_hosts), rng.choice(_DATA_PATHS)
            referer = "-"
        elif roll < 0.95:
            client, (method, path, status) = (
                rng.choice(payments_hosts + data_hosts),
                rng.choice(_ADMIN_PATHS),
            )
            referer = "-"
        else:
            client, (method, path, status) = rng.choice(payments_hosts), rng.choice(_STATIC_PATHS)
            referer = "http://legacy-billing01/billing/status.php"
        path = path.format(n=rng.randint(10000, 99999), m=rng.randint(1, 12))
        size = None if status == 304 else rng.randint(180, 48000)
        out.append(
            combined_line(client, t, method, path, status, size, referer, rng.choice(_AGENTS))
        )
    return out


def messages_log(now: datetime, hostname: str, *, seed: int = 7) -> list[str]:
    """A CentOS 5 style /var/log/messages: syslogd restarts, ntpd, kernel chatter."""
    rng = random.Random(seed)
    events = [
        "syslogd 1.4.1: restart.",
        "kernel: klogd 1.4.1, log source = /proc/kmsg started.",
        "ntpd[2817]: synchronized to 10.20.0.1, stratum 3",
        "ntpd[2817]: time reset +0.183211 s",
        "kernel: e1000: eth0: e1000_watchdog: NIC Link is Up 1000 Mbps Full Duplex",
        "crond[3012]: (root) CMD (run-parts /etc/cron.hourly)",
        "kernel: httpd[4721]: segfault at 0000000000000018 rip 00002b1c3ad4e9f1 "
        "rsp 00007fff2a3c1e08 error 4",
    ]
    stamps = sorted(now - timedelta(seconds=rng.uniform(60, 6 * 86400)) for _ in range(60))
    return [f"{syslog_time(t)} {hostname} {rng.choice(events)}" for t in stamps]


def secure_log(now: datetime, hostname: str, *, seed: int = 11) -> list[str]:
    """A CentOS 5 style /var/log/secure: key logins from the payments subnet, a su, noise."""
    rng = random.Random(seed)
    out: list[tuple[datetime, str]] = []
    for _ in range(40):
        t = now - timedelta(seconds=rng.uniform(60, 6 * 86400))
        pid = rng.randint(2000, 32000)
        roll = rng.random()
        if roll < 0.5:
            src = f"{PAYMENTS_NET}.{rng.randint(1, 40)}.{rng.randint(2, 250)}"
            who = rng.choice(("root", "billing", "deploy"))
            out.append(
                (
                    t,
                    f"sshd[{pid}]: Accepted publickey for {who} from {src} port "
                    f"{rng.randint(30000, 65000)} ssh2",
                )
            )
            out.append(
                (
                    t + timedelta(seconds=1),
                    f"sshd[{pid}]: pam_unix(sshd:session): "
                    f"session opened for user {who} by (uid=0)",
                )
            )
        elif roll < 0.8:
            src = f"{DATA_NET}.{rng.randint(1, 20)}.{rng.randint(2, 250)}"
            out.append(
                (
                    t,
                    f"sshd[{pid}]: Failed password for invalid user admin from {src} "
                    f"port {rng.randint(30000, 65000)} ssh2",
                )
            )
        else:
            out.append(
                (
                    t,
                    f"su: pam_unix(su-l:session): session opened for user root by "
                    f"billing(uid={rng.randint(500, 510)})",
                )
            )
    out.sort()
    return [f"{syslog_time(t)} {hostname} {msg}" for t, msg in out]


def yum_log() -> list[str]:
    """The last time anyone patched the box (2017)."""
    return [
        "Mar 02 11:04:11 Updated: openssl-0.9.8e-40.el5_11.x86_64",
        "Mar 02 11:04:19 Updated: bash-3.2-33.el5_11.4.x86_64",
        "Mar 02 11:05:02 Installed: kernel-2.6.18-419.el5.x86_64",
    ]
