"""Version lines of server software (`httpd -v`, `nginx -v`, `java -version` ...), and a
JVM's `release` file (`JAVA_VERSION="17.0.15"`), which the probe reads instead of running
java where it can."""

from __future__ import annotations

import re
from dataclasses import dataclass

from auditor.model import NOT_ASKED, Package, Software, UnknownPackage

# Program file name -> the name we report (what auditor.eol.software understands).
PROGRAM_NAMES: dict[str, str] = {
    "httpd": "httpd", "apache2": "apache2", "apache": "httpd", "httpd2": "httpd",
    "httpd2-prefork": "httpd", "httpd2-worker": "httpd", "httpd.worker": "httpd",
    "nginx": "nginx", "java": "java", "php": "php", "php-cgi": "php-cgi", "php-fpm": "php-fpm",
    "mysqld": "mysqld", "mariadbd": "mariadbd", "postgres": "postgres",
    "postmaster": "postgres", "python": "python", "python2": "python", "python3": "python",
    "openssl": "openssl", "ssh": "openssh",
}  # fmt: skip

_DOTTED = r"\d+(?:\.\d+)+"
_PATTERNS: dict[str, re.Pattern[str]] = {
    "httpd": re.compile(rf"Apache/({_DOTTED})"),
    "apache2": re.compile(rf"Apache/({_DOTTED})"),
    "nginx": re.compile(rf"nginx/({_DOTTED})"),
    # `openjdk version "17.0.15" 2025-04-15`, or the release file's `JAVA_VERSION="17.0.15"`
    "java": re.compile(r'(?:version\s+|^JAVA_VERSION=)"([^"]+)"'),
    "php": re.compile(rf"^PHP ({_DOTTED}\S*)"),
    "mysqld": re.compile(rf"\b(?:Distrib|Ver) ({_DOTTED})"),
    "mariadbd": re.compile(rf"\b(?:Distrib|Ver) ({_DOTTED})"),
    "postgres": re.compile(r"PostgreSQL\)?\s+(\d+(?:\.\d+)*\w*)"),
    "python": re.compile(rf"^Python ({_DOTTED}\S*)"),
    "openssl": re.compile(r"^OpenSSL (\d+\.\d+\.\d+[a-z]*)"),
    "openssh": re.compile(r"OpenSSH_([0-9][\w.]*)"),
}
_PATTERNS["php-cgi"] = _PATTERNS["php-fpm"] = _PATTERNS["php"]


@dataclass(frozen=True)
class VersionRun:
    """One version run of a program: its path, its identity as `stat -L` gave it
    (`dev ino size mtime ctime`), the exit status, the raw output (at most 6 lines) and
    its package.
    What the controller's version cache keeps, and hands back to the parser when the script
    reports the program unchanged."""

    path: str
    identity: str
    status: int
    output: str
    # Which package installed the program, as the same run's package query said (see
    # auditor.probe.parsers.packages): kept with the output, as it changes only with the file.
    package: Package | UnknownPackage | None = NOT_ASKED


def program_name(path: str) -> str | None:
    """`/usr/sbin/httpd` -> "httpd"; `php-fpm8.2` -> "php-fpm"; None when not one we know."""
    base = path.rstrip("/").rsplit("/", 1)[-1]
    if base in PROGRAM_NAMES:
        return PROGRAM_NAMES[base]
    stem = re.sub(r"[\d.]+$", "", base)  # python3.11, php-fpm8.2, php7.4
    return PROGRAM_NAMES.get(stem)


def parse_version(name: str, output: str) -> Software | None:
    """The first line of `output` that carries `name`'s version, as Software (raw = the line)."""
    pattern = _PATTERNS.get(name)
    if pattern is None:
        return None
    for line in output.split("\n"):
        line = line.strip()
        match = pattern.search(line)
        if match:
            return Software(name=name, version=match[1], raw=line)
    return None
