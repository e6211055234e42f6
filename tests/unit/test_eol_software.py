"""Server software: program name + version output -> product, cycle and status."""

from __future__ import annotations

from datetime import date

import pytest

from auditor.eol import load_embedded, os_eol, software_eol, with_software_eol
from auditor.eol.software import cycle_for_version, java_version
from auditor.model import OsIdentity, Package, Software, UnknownPackage

AUDIT_DATE = date(2026, 11, 28)


# name, version output, expected (product, cycle, status, eol date)
CASES: list[tuple[str | None, str, tuple[str | None, str | None, str, str | None]]] = [
    (
        "httpd",
        "Server version: Apache/2.4.57 (Debian)",
        ("apache-http-server", "2.4", "supported", None),  # 2.4 eol is `false`
    ),
    ("httpd", "Apache/1.3.42", ("apache-http-server", "1.3", "eol", "2010-02-03")),
    (
        "apache2",
        "Server version: Apache/2.2.15 (Unix)\nServer built:   Apr  3 2014 23:56:16",
        ("apache-http-server", "2.2", "eol", "2017-07-11"),
    ),
    ("nginx", "nginx version: nginx/1.18.0", ("nginx", "1.18", "eol", "2021-04-20")),
    ("nginx", "nginx version: nginx/1.17.10", ("nginx", None, "unknown", None)),  # no 1.17
    (
        "php",
        "PHP 5.1.6 (cli) (built: Nov 12 2014 11:04:29)\nCopyright (c) 1997-2006 The PHP Group",
        ("php", "5.1", "eol", "2006-08-24"),
    ),
    ("php-fpm7.4", "PHP 7.4.33 (fpm-fcgi)", ("php", "7.4", "eol", "2022-11-28")),
    (
        "mysqld",
        "mysqld  Ver 5.0.95 for redhat-linux-gnu on x86_64 (Source distribution)",
        ("mysql", None, "unknown", None),  # MySQL data starts at 5.5
    ),
    (
        "mysqld",
        "mysqld  Ver 10.11.6-MariaDB-0+deb12u1 for debian-linux-gnu on x86_64 (Debian 12)",
        ("mariadb", "10.11", "supported", "2028-02-16"),
    ),
    (
        "mysql",
        "mysql  Ver 14.14 Distrib 5.7.44, for Linux (x86_64) using  EditLine wrapper",
        ("mysql", "5.7", "eol", "2023-10-31"),
    ),
    (
        "mysql",
        "mysql  Ver 15.1 Distrib 5.5.68-MariaDB, for Linux (x86_64) using readline 5.1",
        ("mariadb", "5.5", "eol", "2020-04-11"),
    ),
    ("postgres", "postgres (PostgreSQL) 9.2.24", ("postgresql", "9.2", "eol", "2017-11-09")),
    ("postgres", "postgres (PostgreSQL) 12.17", ("postgresql", "12", "eol", "2024-11-21")),
    (
        "psql",
        "psql (PostgreSQL) 16.1 (Ubuntu 16.1-1.pgdg22.04+1)",
        ("postgresql", "16", "supported", "2028-11-09"),
    ),
    (
        "java",
        'openjdk version "1.8.0_392"\nOpenJDK Runtime Environment (build 1.8.0_392-b08)',
        ("oracle-jdk", "8", "extended-support", "2022-03-31"),
    ),
    (
        "java",
        'java version "1.6.0_45"\nJava(TM) SE Runtime Environment (build 1.6.0_45-b06)',
        ("oracle-jdk", "6", "eol", "2018-12-31"),
    ),
    (
        "java",
        'openjdk version "17.0.9" 2023-10-17',
        ("oracle-jdk", "17", "extended-support", "2026-09-30"),
    ),
    ("python", "Python 2.4.3", ("python", None, "unknown", None)),  # data starts at 2.6
    ("python2.7", "Python 2.7.5", ("python", "2.7", "eol", "2020-01-01")),
    (
        "openssl",
        "OpenSSL 0.9.8e-fips-rhel5 01 Jul 2008",
        ("openssl", "0.9.8", "eol", "2015-12-31"),
    ),
    (
        "openssl",
        "OpenSSL 1.0.2k-fips  26 Jan 2017",
        ("openssl", "1.0.2", "extended-support", "2019-12-31"),  # extended is `false`
    ),
    (
        "openssl",
        "OpenSSL 3.0.13 30 Jan 2024 (Library: OpenSSL 3.0.13 30 Jan 2024)",
        ("openssl", "3.0", "extended-support", "2026-09-07"),
    ),
    # upstream kernel.org has no 2.6 branch in the data: unknown, never "2.6 -> something"
    ("kernel", "2.6.18-419.el5", ("linux-kernel", None, "unknown", None)),
    ("kernel", "5.15.0-91-generic", ("linux-kernel", "5.15", "supported", "2026-12-31")),
    ("kernel", "6.1.0-18-amd64", ("linux-kernel", "6.1", "supported", "2027-12-31")),
    # the name may be a path, or missing: the version line then names the program
    (
        "/usr/sbin/httpd",
        "Server version: Apache/2.4.6 (CentOS)",
        ("apache-http-server", "2.4", "supported", None),
    ),
    (None, "nginx version: nginx/1.18.0", ("nginx", "1.18", "eol", "2021-04-20")),
    ("", "postgres (PostgreSQL) 9.2.24", ("postgresql", "9.2", "eol", "2017-11-09")),
    ("tomcat", "Server version: Apache Tomcat/7.0.109", ("tomcat", "7", "eol", "2021-03-31")),
    ("node", "v18.19.0", ("nodejs", "18", "extended-support", "2025-04-30")),
    # not mapped
    ("sshd", "OpenSSH_4.3p2, OpenSSL 0.9.8e-fips-rhel5 01 Jul 2008", (None, None, "unknown", None)),
    ("centos", "7", (None, None, "unknown", None)),  # an OS is not server software
    ("httpd", "", ("apache-http-server", None, "unknown", None)),
]


@pytest.mark.parametrize(("name", "text", "expected"), CASES)
def test_software_eol(
    name: str | None,
    text: str,
    expected: tuple[str | None, str | None, str, str | None],
) -> None:
    status = software_eol(name, text, AUDIT_DATE, load_embedded())
    assert (status.product, status.cycle, status.status, status.date) == expected
    assert status.seen == (text.strip() or name)
    assert status.source == "embedded 2026-08-22"


def test_days_past_for_software() -> None:
    status = software_eol("php", "PHP 5.1.6 (cli)", AUDIT_DATE, load_embedded())
    assert status.days_past == 7401


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ('openjdk version "1.8.0_392"', "8"),
        ('java version "1.6.0_45"', "6"),
        ('java version "1.4.2_19"', "1.4"),
        ('openjdk version "11.0.21" 2023-10-17', "11"),
        ('openjdk version "21" 2023-09-19', "21"),
        ("1.7.0_80", "7"),
        ("no digits", None),
    ],
)
def test_java_version(text: str, version: str | None) -> None:
    assert java_version(text) == version


def test_cycle_is_the_longest_known_prefix() -> None:
    data = load_embedded()
    ruby = data.products["ruby"]
    assert cycle_for_version(ruby, "2.0.0") == "2.0.0"
    assert cycle_for_version(ruby, "1.8.7") is None
    postgres = data.products["postgresql"]
    assert cycle_for_version(postgres, "9.6.24") == "9.6"
    assert cycle_for_version(postgres, "10.23") == "10"
    assert cycle_for_version(postgres, "") is None


def test_with_software_eol_uses_raw_then_version() -> None:
    data = load_embedded()
    filled = with_software_eol(
        Software(name="nginx", version="1.18.0", raw="nginx version: nginx/1.18.0"),
        AUDIT_DATE,
        data,
    )
    assert filled.eol is not None and (filled.eol.product, filled.eol.cycle) == ("nginx", "1.18")
    # a raw line the patterns do not know still maps through the parsed version
    odd = with_software_eol(
        Software(name="postgres", version="9.2.24", raw="server_version 9.2.24"),
        AUDIT_DATE,
        data,
    )
    assert odd.eol is not None and (odd.eol.cycle, odd.eol.seen) == ("9.2", "server_version 9.2.24")


# ------------------------------------------------- who maintains it: distribution or upstream

DEBIAN_12 = OsIdentity("debian", "12.11", "Debian GNU/Linux", None, "/etc/os-release")
CENTOS_5 = OsIdentity("centos", "5.11", "CentOS", None, "/etc/redhat-release")
ON = date(2026, 12, 7)  # Debian 12 in LTS (extended support) until 2028-06-30
NGINX_LINE = "nginx version: nginx/1.22.1"


def _nginx(package: Package | UnknownPackage | None, path: str = "/usr/sbin/nginx") -> Software:
    return Software("nginx", "1.22.1", NGINX_LINE, path=path, package=package)


def test_a_package_of_a_maintained_os_release_is_judged_by_the_os() -> None:
    data = load_embedded()
    os_status = os_eol(DEBIAN_12, ON, data)
    assert os_status.status == "extended-support"
    packaged = _nginx(Package("dpkg", "nginx", "1.22.1-9+deb12u2"))
    status = with_software_eol(packaged, ON, data, os_status).eol
    assert status is not None
    assert (status.judged_by, status.status, status.product, status.cycle) == (
        "distribution", "extended-support", "debian", "12",
    )  # fmt: skip
    assert status.date == os_status.date and status.seen == NGINX_LINE
    assert status.basis == (
        "maintained by debian 12 (extended support until 2028-06-30); "
        "package nginx 1.22.1-9+deb12u2 (dpkg); upstream nginx 1.22 ended 2023-04-11"
    )
    # ... and the same nginx built by hand is upstream's 1.22: end of life.
    by_hand = with_software_eol(_nginx(None, "/usr/local/nginx/sbin/nginx"), ON, data, os_status)
    assert by_hand.eol is not None
    assert (by_hand.eol.judged_by, by_hand.eol.status, by_hand.eol.cycle) == (
        "upstream",
        "eol",
        "1.22",
    )
    assert by_hand.eol.basis == (
        "upstream nginx 1.22 cycle: hand-installed, no package owns the program "
        "(/usr/local/nginx/sbin/nginx)"
    )


@pytest.mark.parametrize(
    ("program", "line"),
    [
        ("java", 'openjdk version "17.0.15" 2025-04-15'),
        ("openssl", "OpenSSL 3.0.17 1 Jul 2025 (Library: OpenSSL 3.0.17 1 Jul 2025)"),
    ],
)
def test_debian_12_s_openjdk_and_openssl_are_not_end_of_life(program: str, line: str) -> None:
    data = load_embedded()
    os_status = os_eol(DEBIAN_12, ON, data)
    software = Software(program, "x", line, package=Package("dpkg", program, "1"))
    status = with_software_eol(software, ON, data, os_status).eol
    assert status is not None and status.status != "eol" and status.judged_by == "distribution"


def test_past_the_os_s_support_the_upstream_cycle_counts_again() -> None:
    data = load_embedded()
    os_status = os_eol(CENTOS_5, ON, data)
    assert os_status.status == "eol"
    httpd = Software(
        "httpd",
        "2.2.3",
        "Server version: Apache/2.2.3",
        package=Package("rpm", "httpd", "2.2.3-91.el5.centos"),
    )
    status = with_software_eol(httpd, ON, data, os_status).eol
    assert status is not None
    assert (status.judged_by, status.status, status.cycle) == ("upstream", "eol", "2.2")
    assert status.basis == (
        "upstream apache-http-server 2.2 cycle: package httpd 2.2.3-91.el5.centos (rpm), "
        "but centos 5 is past support since 2017-03-31"
    )


def test_unknown_package_or_unknown_os_is_judged_upstream_and_says_why() -> None:
    data = load_embedded()
    unknown_os = os_eol(OsIdentity("kali", "2024.1", None, None, None), ON, data)
    packaged = _nginx(Package("dpkg", "nginx", "1.22.1-9"))
    status = with_software_eol(packaged, ON, data, unknown_os).eol
    assert status is not None and status.judged_by == "upstream" and status.status == "eol"
    assert status.basis is not None and "the OS's support status is unknown" in status.basis
    no_os = with_software_eol(packaged, ON, data, None).eol
    assert no_os is not None and no_os.judged_by == "upstream"
    asked_nobody = with_software_eol(
        _nginx(UnknownPackage("rpm -qf timed out")), ON, data, os_eol(DEBIAN_12, ON, data)
    ).eol
    assert asked_nobody is not None and asked_nobody.judged_by == "upstream"
    assert asked_nobody.basis == "upstream nginx 1.22 cycle: package unknown (rpm -qf timed out)"


def test_a_supported_os_release_says_until_when() -> None:
    data = load_embedded()
    os_status = os_eol(OsIdentity("debian", "13", None, None, None), ON, data)
    assert os_status.status == "supported"
    status = with_software_eol(
        _nginx(Package("dpkg", "nginx", "1.26.3-3")), ON, data, os_status
    ).eol
    assert status is not None and status.status == "supported"
    assert status.basis is not None
    assert status.basis.startswith(f"maintained by debian 13 (supported until {os_status.date})")
