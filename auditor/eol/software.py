"""Server software (name + version output) -> endoflife.date product and cycle. Pure.

The probe reports a program name ("httpd", "mysqld", "java" ...) and the line its version
command printed ("Server version: Apache/2.4.57 (Debian)"). Mapping:

1. The product comes from the name (`SOFTWARE_NAMES`, plus every product's slug and
   endoflife.date aliases), or, when the name says nothing, from a recognisable version line
   ("nginx version: nginx/1.18.0"). MySQL output that says "MariaDB" is MariaDB.
2. The version is taken from the text by the product's pattern ("Apache/2.4.57" -> 2.4.57;
   for MySQL/MariaDB the "Distrib 5.7.44" of the client beats its "Ver 14.14"; Java's
   `version "1.8.0_392"` -> 8, "1.4.2_19" -> 1.4, "11.0.21" -> 11).
3. The cycle is the longest leading part of the version that is a cycle of the product:
   2.4.57 -> "2.4", PostgreSQL 12.17 -> "12" (no "12.17" cycle) but 9.2.24 -> "9.2",
   OpenSSL 0.9.8e -> "0.9.8" but 3.0.13 -> "3.0". When no prefix is a cycle (Apache 1.2,
   Python 2.4, kernel 2.6.18) the status is unknown with the product kept: never a
   neighbouring cycle.

Java is always judged against `oracle-jdk`, whatever the vendor: it is the one Java product in
the data with every cycle from 1.0 to today (eclipse-temurin starts at 8 and skips the
non-LTS releases), so a Java 6 host gets a date instead of "unknown". Its `eol` is the end of
Oracle Premier Support and `extended` the end of Extended Support, so an OpenJDK 8 reads
"extended-support" until 2030-12-31.

The Linux kernel is judged against upstream kernel.org cycles (`linux-kernel`). Distribution
kernels (2.6.18-419.el5, 4.18.0-513.el8, 5.15.0-91-generic) are maintained by the
distribution for the OS's lifetime, so the OS status is the one that decides; a kernel branch
upstream no longer lists (2.6, 3.10, 4.18) is "unknown" here, not "eol".

Who maintains the program decides whose cycle counts. A program a package of the OS installed
(`Software.package` is a Package) on an OS release that is still supported, security-only or
in extended support is maintained by the distribution: Debian 12's nginx 1.22, openjdk-17 and
openssl 3.0 get Debian's security fixes whatever upstream does. Its status is the OS's
(`judged_by` "distribution", product and cycle the OS's), and `basis` says so: "maintained by
debian 12 (extended support until 2028-06-30); package nginx 1.22.1-9 (dpkg); upstream nginx
1.22 ended 2023-04-11". The upstream cycle (`judged_by` "upstream") applies to hand-installed
programs (`package` None), to programs whose package nobody could tell (UnknownPackage), and
to everything once the OS itself is past support or its status is unknown.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

from auditor.eol.dataset import EolData, Product
from auditor.eol.status import (
    EOL,
    EXTENDED_SUPPORT,
    SECURITY_ONLY,
    SUPPORTED,
    UNKNOWN,
    lookup_status,
    unknown_status,
)
from auditor.model import EolStatus, Package, Software, UnknownPackage

JAVA_PRODUCT = "oracle-jdk"

# `EolStatus.judged_by` for software.
DISTRIBUTION = "distribution"
UPSTREAM = "upstream"
# OS statuses under which the distribution still maintains its packages.
DISTRIBUTION_MAINTAINED = frozenset({SUPPORTED, SECURITY_ONLY, EXTENDED_SUPPORT})

# Program / package names the probe may report -> endoflife.date slug. Product slugs and
# their endoflife.date aliases (httpd, postgres, node, mongo, k8s ...) are matched as well.
SOFTWARE_NAMES: dict[str, str] = {
    "httpd": "apache-http-server",
    "apache": "apache-http-server",
    "apache2": "apache-http-server",
    "apachectl": "apache-http-server",
    "apache2ctl": "apache-http-server",
    "nginx": "nginx",
    "php": "php",
    "php-cgi": "php",
    "php-cli": "php",
    "php-fpm": "php",
    "mysqld": "mysql",
    "mysql": "mysql",
    "mysql-server": "mysql",
    "mariadb": "mariadb",
    "mariadbd": "mariadb",
    "mariadb-server": "mariadb",
    "postgres": "postgresql",
    "postgresql": "postgresql",
    "postmaster": "postgresql",
    "psql": "postgresql",
    "java": JAVA_PRODUCT,
    "jre": JAVA_PRODUCT,
    "jdk": JAVA_PRODUCT,
    "openjdk": JAVA_PRODUCT,
    "python": "python",
    "openssl": "openssl",
    "kernel": "linux-kernel",
    "linux": "linux-kernel",
    "uname": "linux-kernel",
    "tomcat": "tomcat",
    "catalina": "tomcat",
    "redis": "redis",
    "redis-server": "redis",
    "mongod": "mongodb",
    "mongodb": "mongodb",
    "node": "nodejs",
    "nodejs": "nodejs",
    "ruby": "ruby",
    "elasticsearch": "elasticsearch",
    "haproxy": "haproxy",
    "squid": "squid",
    "memcached": "memcached",
    "docker": "docker-engine",
    "dockerd": "docker-engine",
    "kubelet": "kubernetes",
}

# When the name is unknown or empty, a version line can name its program.
_TEXT_PRODUCTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), slug)
    for pattern, slug in (
        (r"\d-MariaDB\b|^mariadbd?\s+(?:Ver|from)\b", "mariadb"),
        (r"^mysqld?\s+Ver\b", "mysql"),
        (r"\bApache/\d", "apache-http-server"),
        (r"\bnginx/\d", "nginx"),
        (r"^PHP \d", "php"),
        (r"\(PostgreSQL\)|^PostgreSQL \d", "postgresql"),
        (r"^(?:openjdk|java) version\b", JAVA_PRODUCT),
        (r"^Python \d", "python"),
        (r"^OpenSSL \d", "openssl"),
        (r"Apache Tomcat/\d", "tomcat"),
        (r"^Redis server v=", "redis"),
        (r"^HA-?Proxy version", "haproxy"),
        (r"^Squid Cache: Version", "squid"),
        (r"^memcached \d", "memcached"),
        (r"^Docker version", "docker-engine"),
    )
)

_DOTTED = r"\d+(?:\.\d+)+"
# product -> patterns for its version, tried in order; the first group is the version.
_VERSION_PATTERNS: dict[str, tuple[re.Pattern[str], ...]] = {
    slug: tuple(re.compile(p, re.IGNORECASE) for p in patterns)
    for slug, patterns in {
        "apache-http-server": (rf"Apache/({_DOTTED})",),
        "nginx": (rf"nginx/({_DOTTED})",),
        "php": (rf"\bPHP ({_DOTTED})",),
        "mysql": (rf"\bDistrib ({_DOTTED})", rf"\bVer ({_DOTTED})"),
        "mariadb": (rf"\bDistrib ({_DOTTED})", rf"\bVer ({_DOTTED})", rf"({_DOTTED})-MariaDB"),
        "postgresql": (r"PostgreSQL\)?\s+(\d+(?:\.\d+)*)",),
        "python": (rf"\bPython ({_DOTTED})",),
        "openssl": (rf"\bOpenSSL ({_DOTTED})",),
        "tomcat": (rf"Apache Tomcat/({_DOTTED})",),
        "redis": (rf"\bv=({_DOTTED})",),
    }.items()
}
_ANY_VERSION = re.compile(r"(?<![\w.])v?(\d+(?:\.\d+)*)")
_JAVA_VERSION = re.compile(r'version\s+"([^"]+)"', re.IGNORECASE)


def software_product(name: str | None, version_text: str, data: EolData) -> Product | None:
    """The product for a program `name` and its version output, or None."""
    if name:
        key = _program_key(name)
        slug = SOFTWARE_NAMES.get(key) or SOFTWARE_NAMES.get(re.sub(r"[\d.]+$", "", key))
        product = data.product(slug) if slug else _software_by_alias(key, data)
        if product is not None:
            if product.slug == "mysql" and "mariadb" in version_text.lower():
                return data.product("mariadb")
            return product
    for pattern, slug in _TEXT_PRODUCTS:
        if pattern.search(version_text.strip()):
            return data.product(slug)
    return None


def _software_by_alias(key: str, data: EolData) -> Product | None:
    """A product slug or alias used as a program name ("tomcat", "pgsql"); never an OS."""
    product = data.product(key)
    return product if product is not None and product.category != "os" else None


def _program_key(name: str) -> str:
    """ "/usr/sbin/httpd" -> "httpd", "php5-fpm" -> "php-fpm", "python3.6" -> "python3.6"."""
    base = name.strip().rsplit("/", 1)[-1].lower()
    return re.sub(r"^php\d+(?:\.\d+)?", "php", base)


def extract_version(product: Product, version_text: str) -> str | None:
    """The version in `version_text` as the product's cycles count it (see module docstring);
    None when there is none."""
    text = version_text.strip()
    if product.slug in (JAVA_PRODUCT, "eclipse-temurin"):
        return java_version(text)
    for pattern in _VERSION_PATTERNS.get(product.slug, ()):
        match = pattern.search(text)
        if match:
            return match.group(1)
    match = _ANY_VERSION.search(text)
    return match.group(1) if match else None


def java_version(text: str) -> str | None:
    """`openjdk version "1.8.0_392"` -> "8", "1.4.2_19" -> "1.4", "11.0.21" -> "11",
    "17" -> "17"; a bare "1.8.0_392" works too."""
    match = _JAVA_VERSION.search(text)
    raw = match.group(1) if match else text.strip()
    parts = re.findall(r"\d+", raw)
    if not parts:
        return None
    if parts[0] == "1" and len(parts) > 1:
        minor = int(parts[1])
        return str(minor) if minor >= 5 else f"1.{minor}"
    return str(int(parts[0]))


def cycle_for_version(product: Product, version: str) -> str | None:
    """The longest leading part of `version` ("2.4.57" -> "2.4.57", "2.4", "2") that is a
    cycle of `product`, or None. Letters after the digits (OpenSSL's "0.9.8e") are ignored."""
    leading = re.match(r"\d+(?:\.\d+)*", version.strip())
    numbers = leading.group(0).split(".") if leading else []
    known = set(product.cycle_ids)
    for length in range(len(numbers), 0, -1):
        candidate = ".".join(numbers[:length])
        if candidate in known:
            return candidate
    return None


def software_eol(name: str | None, version_text: str, on: date, data: EolData) -> EolStatus:
    """EolStatus for a program and its version output on the audit date `on`.

    Unknown (product None) when the program maps to no product; unknown with the product kept
    when its version is missing or names a cycle the data does not have. `seen` is the
    version text (or the name when the text is empty)."""
    seen = version_text.strip() or name
    product = software_product(name, version_text, data)
    if product is None:
        return unknown_status(data, seen)
    version = extract_version(product, version_text)
    cycle = cycle_for_version(product, version) if version else None
    return lookup_status(data, product.slug, cycle, on, seen)


def upstream_eol(software: Software, on: date, data: EolData) -> EolStatus:
    """The status of the program's own (upstream) release cycle, from its raw version line
    (or its version)."""
    text = software.raw or software.version
    status = software_eol(software.name, text, on, data)
    if status.cycle is None and software.raw and software.version:
        fallback = software_eol(software.name, software.version, on, data)
        if fallback.cycle is not None:
            status = replace(fallback, seen=status.seen)
    return status


def with_software_eol(
    software: Software, on: date, data: EolData, os_status: EolStatus | None = None
) -> Software:
    """`software` with its `eol` filled in: the OS's status when a package of a still
    maintained OS release installed it (`os_status`, the host's OS on the same day), else its
    upstream cycle's; `judged_by` and `basis` say which, and why (module docstring)."""
    upstream = upstream_eol(software, on, data)
    package = software.package
    if (
        isinstance(package, Package)
        and os_status is not None
        and os_status.status in DISTRIBUTION_MAINTAINED
    ):
        basis = f"maintained by {_os_name(os_status)} ({_os_support(os_status, data)})"
        basis += f"; package {_package_text(package)}"
        if upstream.status == EOL and upstream.product and upstream.cycle:
            ended = f" ended {upstream.date}" if upstream.date else " is end of life"
            basis += f"; upstream {upstream.product} {upstream.cycle}{ended}"
        status = replace(os_status, seen=upstream.seen, judged_by=DISTRIBUTION, basis=basis)
    else:
        status = replace(
            upstream, judged_by=UPSTREAM, basis=_upstream_basis(software, upstream, os_status)
        )
    return replace(software, eol=status)


def _os_name(os_status: EolStatus) -> str:
    return " ".join(x for x in (os_status.product, os_status.cycle) if x) or "the OS"


def _os_support(os_status: EolStatus, data: EolData) -> str:
    """ "supported until 2028-06-30", "extended support until 2028-06-30" ..."""
    if os_status.status == EXTENDED_SUPPORT:
        product = data.product(os_status.product) if os_status.product else None
        cycle = product.find_cycle(os_status.cycle) if product and os_status.cycle else None
        until = cycle.extended if cycle is not None and isinstance(cycle.extended, date) else None
        return f"extended support until {until}" if until else "extended support"
    words = "security fixes" if os_status.status == SECURITY_ONLY else "supported"
    return f"{words} until {os_status.date}" if os_status.date else words


def _package_text(package: Package) -> str:
    version = f" {package.version}" if package.version else ""
    return f"{package.name}{version} ({package.manager})"


def _upstream_basis(software: Software, upstream: EolStatus, os_status: EolStatus | None) -> str:
    cycle = " ".join(x for x in (upstream.product, upstream.cycle) if x) or software.name
    package = software.package
    if package is None:
        where = f" ({software.path})" if software.path else ""
        return f"upstream {cycle} cycle: hand-installed, no package owns the program{where}"
    if isinstance(package, UnknownPackage):
        return f"upstream {cycle} cycle: package unknown ({package.unknown})"
    owner = f"package {_package_text(package)}"
    if os_status is None or os_status.status == UNKNOWN:
        return f"upstream {cycle} cycle: {owner}, but the OS's support status is unknown"
    since = f" since {os_status.date}" if os_status.date else ""
    return f"upstream {cycle} cycle: {owner}, but {_os_name(os_status)} is past support{since}"
