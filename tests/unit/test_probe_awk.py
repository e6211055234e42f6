"""The probe's awk programs under every awk on this machine (mawk, gawk and gawk --posix,
the one true awk, BusyBox awk): same input, same output, the one we expect. The hosts run
mawk (Debian), gawk 3.1 (CentOS 5) or BusyBox awk (Alpine)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from auditor.probe.facts.log_activity import AWK_CAP
from auditor.probe.facts.sockets import (
    AWK_FD_WALK,
    AWK_PROC_DETAILS,
    AWK_PROC_NET,
    AWK_SOCKETS,
)
from auditor.probe.facts.software import AWK_PS_PROGRAMS
from auditor.probe.facts.web_logs import AWK_CONF
from auditor.probe.parsers.processes import parse_process_details
from auditor.probe.parsers.sockets import parse_ss
from tests.unit.probe_run import AWKS, FIXTURES, awk_id, fixture


def awk(
    implementation: list[str],
    program: str,
    stdin: str = "",
    *args: str,
    files: tuple[Path, ...] = (),
) -> str:
    done = subprocess.run(
        [*implementation, *args, program, *map(str, files)],
        input=stdin.encode(),
        capture_output=True,
        env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"},
        timeout=30,
        check=True,
    )
    return done.stdout.decode()


@pytest.fixture(params=AWKS, ids=awk_id)
def impl(request: pytest.FixtureRequest) -> list[str]:
    return list(request.param)


def socket_pids(impl: list[str], listing: str, *args: str) -> tuple[str, str]:
    """(all pids, lowest pid per socket) as AWK_SOCKETS prints them (lines 2 and 3, after
    the status the shell's `@@ STATUS` line handed it); more in test_probe_sockets_one_run."""
    lines = awk(impl, AWK_SOCKETS, listing + "@@ 0\n", "-v", "max=50", *args).split("\n")
    assert lines[0] == "0" and lines[3] == "@@L", lines
    return lines[1], lines[2]


@pytest.mark.parametrize(
    ("listing", "pids", "lowest"),
    [
        (
            "ss/iproute2_2.6.32_centos6_tulpn.txt",
            "1033 1111 1487 1571 1655 1650 1656 1612 ",
            "1033 1111 1487 1571 1650 1612 ",
        ),
        (
            "ss/iproute2_4.11_centos7_tulpn.txt",
            "780 702 1101 1350 1419 1418 1415 ",
            "780 702 1101 1350 1415 ",
        ),
        ("ss/iproute2_6.1_tulpne_root.txt", "13486 ", "13486 "),
        ("ss/iproute2_6.1_tulpne_nonroot.txt", "", ""),
        (
            "netstat/nettools_1.60_centos5_tulpn_root.txt",
            "2470 3152 2498 2822 2100 2773 2415 ",
            "2470 3152 2498 2822 2100 2773 2415 ",
        ),
        ("netstat/busybox_1.36_alpine_tulpn.txt", "1 412 260 ", "1 412 260 "),
        ("netstat/nettools_1.60_centos5_tulpn_nonroot.txt", "", ""),
    ],
)
def test_pids_from_listings(impl: list[str], listing: str, pids: str, lowest: str) -> None:
    assert socket_pids(impl, fixture(listing)) == (pids, lowest)


def test_pids_from_the_fd_walk(impl: list[str]) -> None:
    walk = "F 413 8871\nF 412 8871\nF 1 7263\nF 412 9000\n"
    assert socket_pids(impl, walk, "-v", "fd=1") == ("413 412 1 ", "412 1 ")


def test_lowest_pid_per_socket_is_the_one_the_parser_reports(impl: list[str]) -> None:
    """The parser names each listener after min(pids) of its row: exactly the pids whose
    details the snippet reads."""
    listing = fixture("ss/iproute2_2.6.32_centos6_tulpn.txt")
    wanted = {min(row.pids) for row in parse_ss(listing) if row.pids}
    assert {int(p) for p in socket_pids(impl, listing)[1].split()} == wanted


def test_process_details_from_ls_and_status(impl: list[str]) -> None:
    stream = (
        "dr-xr-xr-x 9 apache apache 0 Nov 28 10:00 /proc/2470\n"
        "lrwxrwxrwx 1 root root 0 Nov 28 10:00 /proc/2470/cwd -> /\n"
        "lrwxrwxrwx 1 root root 0 Nov 28 10:00 /proc/2470/exe -> /usr/sbin/httpd (deleted)\n"
        "lrwxrwxrwx    1 root     root     0 Nov 28 10:00 /proc/1/exe -> /bin/busybox\n"
        "lrwxrwxrwx 1 root root 0 Nov 28 10:00 /proc/7/exe\n"  # unreadable link
        "P 2470 Name: httpd\nP 2470 Uid: 48\t48\t48\t48\n"
        "P 2470 cmd /usr/sbin/httpd -f /etc/httpd/conf/httpd.conf -> x \n"
        "P 9 cmd " + "a" * 2500 + "\n"
    )
    out = awk(impl, AWK_PROC_DETAILS, stream).splitlines()
    assert out[:6] == [
        "P 2470 own dr-xr-xr-x 9 apache apache 0 Nov 28 10:00 /proc/2470",
        "P 2470 cwd /",
        "P 2470 exe /usr/sbin/httpd (deleted)",
        "P 1 exe /bin/busybox",
        "P 7 exe ",
        "P 2470 Name: httpd",
    ]
    assert out[6] == "P 2470 Uid: 48\t48\t48\t48"
    assert out[7] == "P 2470 cmd /usr/sbin/httpd -f /etc/httpd/conf/httpd.conf -> x "
    assert out[8] == "P 9 cmd " + "a" * 2000
    details = parse_process_details("\n".join(out))
    assert details[2470].user == "apache" and details[2470].uid == 48
    assert details[2470].exe == "/usr/sbin/httpd (deleted)" and details[2470].cwd == "/"


def test_proc_net_keeps_listeners_and_inbound_peers(impl: list[str]) -> None:
    files = (
        FIXTURES / "proc_net/linux_2.6.18_centos5_tcp.txt",
        FIXTURES / "proc_net/linux_2.6.18_centos5_tcp6.txt",
        FIXTURES / "proc_net/linux_6.18_udp.txt",
    )
    out = awk(impl, AWK_PROC_NET, "", "-v", "max=100", files=files)
    rows = [line for line in out.splitlines() if not line.startswith("#")]
    states = sorted(line.split()[3] for line in rows)
    # 3 tcp listeners + 1 tcp6 listener + 1 udp; 1 inbound peer on :80 (two connections from
    # 10.20.4.17), 1 on :22 (tcp6); not the outbound :33012 one, nor TIME_WAIT.
    assert states == ["01", "01", "07", "0A", "0A", "0A", "0A"]
    headers = sorted(line for line in out.splitlines() if line.startswith("# "))
    assert [h.rsplit("_", 1)[-1] for h in headers] == ["tcp.txt", "tcp6.txt", "udp.txt"]


def test_fd_walk_maps_socket_inodes_to_pids(impl: list[str]) -> None:
    listing = (
        "/proc/1/fd:\ntotal 0\nlrwx------ 1 root root 64 Nov 28 23:38 3 -> socket:[7263]\n"
        "lr-x------ 1 root root 64 Nov 28 23:38 4 -> /dev/null\n\n"
        "/proc/412/fd:\ntotal 0\n"
        "lrwx------    1 root     root            64 Nov 28 23:38 6 -> socket:[8871]\n"
        "lrwx------    1 root     root            64 Nov 28 23:38 7 -> socket:[9999]\n"
    )
    out = awk(impl, AWK_FD_WALK, listing, "-v", "w=7263 8871 ")
    assert out == "F 1 7263\nF 412 8871\n"


def test_config_directives(impl: list[str], tmp_path: Path) -> None:
    apache = tmp_path / "httpd.conf"
    apache.write_text(
        '# comment\nServerRoot "/etc/httpd"\n  customlog logs/access_log combined\n'
        'TransferLog "|/usr/sbin/rotatelogs /var/log/x 86400"\nInclude conf.d/*.conf\n'
        "IncludeOptional sites-enabled/*.conf\n"
    )
    nginx = tmp_path / "nginx.conf"
    nginx.write_text(
        "http {\n    access_log /var/log/nginx/access.log main;\n"
        "    access_log off;\n    include /etc/nginx/conf.d/*.conf;\n}\n"
    )
    out = awk(impl, AWK_CONF, "", files=(apache, nginx))
    assert out.splitlines() == [
        "R /etc/httpd",
        "L logs/access_log",
        "L |/usr/sbin/rotatelogs",
        "I conf.d/*.conf",
        "I sites-enabled/*.conf",
        "L /var/log/nginx/access.log",
        "L off",
        "I /etc/nginx/conf.d/*.conf",
    ]


def test_log_listing_cap(impl: list[str]) -> None:
    listing = "3 30 /var/log/c\n2 20 /var/log/b\nfind: '/var/log/private': Permission denied\n"
    out = awk(impl, AWK_CAP, listing, "-v", "max=1")
    assert out == (
        "3 30 /var/log/c\n! find: '/var/log/private': Permission denied\n# files 2 errors 1\n"
    )


def test_server_programs_in_ps_output(impl: list[str]) -> None:
    ps = (
        "/sbin/init\n/usr/sbin/httpd -f /etc/httpd/conf/httpd.conf\n"
        "nginx: master process /usr/sbin/nginx -g daemon on;\n"
        "/opt/jdk1.6.0_45/bin/java -Xmx512m -cp /opt/app/lib/x.jar Main\n"
        "python3 /usr/local/bin/httpdx\n/usr/bin/postmaster -p 5432 -D /var/lib/pgsql/data\n"
    )
    out = awk(impl, AWK_PS_PROGRAMS, ps)
    assert out.splitlines() == [
        "/usr/sbin/httpd",
        "/usr/sbin/nginx",
        "/opt/jdk1.6.0_45/bin/java",
        "/usr/bin/postmaster",
    ]
