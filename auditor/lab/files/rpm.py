#!/usr/bin/python3
"""A read-only `rpm` for the lab's centos5 host: answers queries from a CentOS 5.11 package
list, the way `rpm -qa [--qf FMT]`, `rpm -q NAME`, `rpm -qf [--qf FMT] FILE...` and
`rpm --version` do. Nothing else. `-qf` answers like rpm 4.x (tests/fixtures/probe/packages
has real output): one line per owning package, or `file X is not owned by any package` on
stdout, `error: file X: No such file or directory` on stderr; the exit status counts the
files without an owner.
"""

from __future__ import annotations

import os
import re
import sys

# name, epoch, version, release, arch, install time (epoch seconds)
PACKAGES: tuple[tuple[str, str, str, str, str, int], ...] = (
    ("centos-release", "10", "5", "11.el5.centos", "x86_64", 1410000000),
    ("kernel", "", "2.6.18", "419.el5", "x86_64", 1488452702),
    ("glibc", "", "2.5", "123.el5_11.3", "x86_64", 1455000000),
    ("bash", "", "3.2", "33.el5_11.4", "x86_64", 1488452659),
    ("openssl", "", "0.9.8e", "40.el5_11", "x86_64", 1488452651),
    ("openssh", "", "4.3p2", "82.el5", "x86_64", 1410000000),
    ("openssh-server", "", "4.3p2", "82.el5", "x86_64", 1410000000),
    ("openssh-clients", "", "4.3p2", "82.el5", "x86_64", 1410000000),
    ("php-cli", "", "5.1.6", "45.el5_11", "x86_64", 1430000000),
    ("sudo", "", "1.7.2p1", "31.el5_11", "x86_64", 1430000000),
    ("php", "", "5.1.6", "45.el5_11", "x86_64", 1430000000),
    ("php-mysql", "", "5.1.6", "45.el5_11", "x86_64", 1430000000),
    ("mysql", "", "5.0.95", "5.el5_9", "x86_64", 1380000000),
    ("python", "", "2.4.3", "56.el5", "x86_64", 1410000000),
    ("perl", "4", "5.8.8", "43.el5_11", "x86_64", 1430000000),
    ("yum", "", "3.2.22", "40.el5.centos", "noarch", 1410000000),
    ("rpm", "", "4.4.2.3", "36.el5_11", "x86_64", 1430000000),
    ("coreutils", "", "5.97", "34.el5_8.1", "x86_64", 1380000000),
    ("net-tools", "", "1.60", "83.el5_10", "x86_64", 1400000000),
    ("iproute", "", "2.6.18", "15.el5", "x86_64", 1400000000),
    ("zlib", "", "1.2.3", "7.el5", "x86_64", 1300000000),
    ("curl", "", "7.15.5", "17.el5_9", "x86_64", 1380000000),
    ("ntp", "", "4.2.2p1", "18.el5.centos", "x86_64", 1400000000),
    ("vixie-cron", "4", "4.1", "81.el5", "x86_64", 1300000000),
    ("sysklogd", "", "1.4.1", "46.el5", "x86_64", 1300000000),
    ("bind-libs", "30", "9.3.6", "25.P1.el5_11.11", "x86_64", 1455000000),
)

# Which package owns each file the lab's CentOS 5 programs are (the stubs in /usr/bin). The
# Apache 1.3 in /usr/sbin/httpd was built by hand (CentOS 5 shipped 2.2): no package owns it.
FILES: dict[str, str] = {
    "/usr/bin/openssl": "openssl",
    "/usr/bin/ssh": "openssh-clients",
    "/usr/bin/php": "php-cli",
    "/usr/bin/python": "python",
    "/usr/bin/rpm": "rpm",
}

_TAG = re.compile(r"%(-?\d*)\{([A-Za-z]+)(?::[a-z]+)?\}")
DEFAULT_QF = "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\n"


def _unescape(fmt: str) -> str:
    return fmt.replace("\\n", "\n").replace("\\t", "\t")


def render(fmt: str, pkg: tuple[str, str, str, str, str, int]) -> str:
    name, epoch, version, release, arch, itime = pkg
    values = {
        "NAME": name,
        "EPOCH": epoch or "(none)",
        "VERSION": version,
        "RELEASE": release,
        "ARCH": arch,
        "INSTALLTIME": str(itime),
        "VENDOR": "CentOS",
        "SUMMARY": name,
    }

    def sub(m: re.Match[str]) -> str:
        width, tag = m.group(1), m.group(2).upper()
        text = values.get(tag, "(none)")
        return (
            f"{text:{'<' if width.startswith('-') else '>'}{width.lstrip('-')}}" if width else text
        )

    return _TAG.sub(sub, _unescape(fmt))


def main(argv: list[str]) -> int:
    if "--version" in argv:
        print("RPM version 4.4.2.3")
        return 0
    fmt = DEFAULT_QF
    names: list[str] = []
    query = all_ = by_file = False
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("--qf", "--queryformat") and i + 1 < len(argv):
            fmt, i = argv[i + 1], i + 1
        elif arg.startswith("--queryformat="):
            fmt = arg.split("=", 1)[1]
        elif arg.startswith("-") and not arg.startswith("--"):
            query = query or "q" in arg
            all_ = all_ or "a" in arg
            by_file = by_file or "f" in arg
        elif not arg.startswith("-"):
            names.append(arg)
        i += 1
    if not query:
        print("rpm: only queries are available on this system", file=sys.stderr)
        return 1
    if all_:
        sys.stdout.write("".join(render(fmt, p) for p in PACKAGES))
        return 0
    if by_file:
        return owners(fmt, names)
    rc = 0
    for name in names:
        hits = [p for p in PACKAGES if p[0] == name]
        if not hits:
            print(f"package {name} is not installed")
            rc = 1
        sys.stdout.write("".join(render(fmt, p) for p in hits))
    return rc


def owners(fmt: str, files: list[str]) -> int:
    """`rpm -qf`: each file's owning package in `fmt`, in the order asked."""
    rc = 0
    for path in files:
        if not os.path.exists(path):
            print(f"error: file {path}: No such file or directory", file=sys.stderr)
            rc += 1
            continue
        hits = [p for p in PACKAGES if p[0] == FILES.get(path)]
        if not hits:
            print(f"file {path} is not owned by any package")
            rc += 1
        sys.stdout.write("".join(render(fmt, p) for p in hits))
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
