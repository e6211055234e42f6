"""Release files -> OsIdentity. Pure: every function takes file contents, never a path to read.

Formats handled, old ones first because they matter most on forgotten servers:

- `/etc/redhat-release` and its siblings (`centos-release`, `oracle-release`,
  `enterprise-release`, `rocky-release`, `almalinux-release`, `fedora-release`,
  `system-release`): one line `<name> release <version> (<codename>)`, e.g.
  "CentOS release 5.11 (Final)", "Amazon Linux AMI release 2018.03";
- `/etc/SuSE-release` (SLES 10-12, openSUSE up to 13): a title line then `VERSION = 11`,
  `PATCHLEVEL = 4`;
- `/etc/debian_version`: "7.11", "6.0.10", or "squeeze/sid" on testing/unstable and on
  Ubuntu (no version then);
- `/etc/alpine-release`: "3.8.2";
- `/etc/lsb-release`: `DISTRIB_ID`, `DISTRIB_RELEASE`, `DISTRIB_DESCRIPTION`;
- `/etc/os-release` and `/usr/lib/os-release`: shell-style `KEY=value` with optional quotes
  and comments.

`identify_os(files)` picks the best one of several: os-release first, then the distribution's
own file, then the generic ones (redhat-release, lsb-release, debian_version last, because
Ubuntu and Debian testing carry a codename there, not a version). The identity's `id` follows
os-release `ID` spelling (centos, rhel, ol, amzn, sles, ubuntu, debian, alpine ...), `source`
is the file it came from and `raw` the line that identified it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace

from auditor.model import OsIdentity

OS_RELEASE = "/etc/os-release"
USR_LIB_OS_RELEASE = "/usr/lib/os-release"
REDHAT_RELEASE = "/etc/redhat-release"
SYSTEM_RELEASE = "/etc/system-release"
SUSE_RELEASE = "/etc/SuSE-release"
LSB_RELEASE = "/etc/lsb-release"
DEBIAN_VERSION = "/etc/debian_version"
ALPINE_RELEASE = "/etc/alpine-release"

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# --------------------------------------------------------------------------- os-release


def parse_key_values(text: str) -> dict[str, str]:
    """Shell-style `KEY=value` lines (os-release, lsb-release): values may be unquoted,
    "double-quoted" (with backslash escapes) or 'single-quoted'; `#` lines, blank lines and
    lines that are not assignments are skipped. Later keys win."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key):
            continue
        values[key] = _unquote(value.strip())
    return values


def _unquote(value: str) -> str:
    r"""Shell word rules as os-release(5) states them: "..." with \\ \" \$ \` escapes,
    '...' literal, a `#` starting a word begins a comment, whitespace outside quotes separates
    words (joined back with one space). An unterminated quote runs to the end of the line."""
    words: list[str] = []
    word: list[str] = []
    in_word = False
    i = 0
    while i < len(value):
        ch = value[i]
        if ch in "\"'":
            in_word = True
            end = i + 1
            while end < len(value) and value[end] != ch:
                if (
                    ch == '"'
                    and value[end] == "\\"
                    and value[end + 1 : end + 2] in ('"', "\\", "$", "`")
                ):
                    end += 1
                word.append(value[end])
                end += 1
            i = end + 1
            continue
        if ch.isspace():
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
        elif ch == "#" and not in_word:
            break
        elif ch == "\\" and i + 1 < len(value):
            i += 1
            word.append(value[i])
            in_word = True
        else:
            word.append(ch)
            in_word = True
        i += 1
    if in_word:
        words.append("".join(word))
    return " ".join(words)


def _raw_line(text: str, key: str) -> str | None:
    for line in text.splitlines():
        if line.strip().startswith(f"{key}="):
            return line.strip()
    return None


def parse_os_release(text: str, source: str = OS_RELEASE) -> OsIdentity | None:
    """An os-release file. None when it has neither ID nor NAME. `raw` is the PRETTY_NAME
    line as written (or the ID line when there is no PRETTY_NAME)."""
    values = parse_key_values(text)
    os_id = values.get("ID", "").strip().lower() or None
    name = values.get("NAME") or None
    if os_id is None and name is None:
        return None
    pretty = values.get("PRETTY_NAME") or name
    raw = _raw_line(text, "PRETTY_NAME") or _raw_line(text, "ID") or _raw_line(text, "NAME")
    return OsIdentity(
        id=os_id or _id_from_name(name or ""),
        version=values.get("VERSION_ID") or None,
        name=name,
        pretty_name=pretty,
        source=source,
        raw=raw,
    )


# --------------------------------------------------------------------------- lsb-release

# DISTRIB_ID spellings -> os-release ID
_LSB_IDS = {
    "redhatenterpriseserver": "rhel",
    "redhatenterpriseas": "rhel",
    "redhatenterprisees": "rhel",
    "redhatenterprisews": "rhel",
    "redhatenterpriseworkstation": "rhel",
    "redhatenterpriseclient": "rhel",
    "oracleserver": "ol",
    "enterpriseenterpriseserver": "ol",
    "amazonami": "amzn",
    "amazon": "amzn",
    "suse": "sles",
    "suselinux": "sles",
    "opensuseproject": "opensuse",
    "scientificsl": "scientific",
    "scientific": "scientific",
}


def parse_lsb_release(text: str, source: str = LSB_RELEASE) -> OsIdentity | None:
    """An /etc/lsb-release file. None without DISTRIB_ID (RHEL's file holds only LSB_VERSION)."""
    values = parse_key_values(text)
    distrib_id = values.get("DISTRIB_ID", "").strip()
    if not distrib_id:
        return None
    squashed = re.sub(r"[^a-z0-9]", "", distrib_id.lower())
    description = values.get("DISTRIB_DESCRIPTION") or None
    return OsIdentity(
        id=_LSB_IDS.get(squashed, squashed),
        version=values.get("DISTRIB_RELEASE") or None,
        name=distrib_id,
        pretty_name=description or distrib_id,
        source=source,
        raw=_raw_line(text, "DISTRIB_DESCRIPTION") or _raw_line(text, "DISTRIB_ID"),
    )


# --------------------------------------------------------------------------- redhat-release

_RELEASE_LINE = re.compile(
    r"^(?P<name>.+?)\s+release\s+(?P<version>\d[\w.\-]*)(?:\s*\((?P<codename>[^)]*)\))?",
    re.IGNORECASE,
)

# Name (as the line starts) -> os-release ID. Order matters: longest / most specific first.
_NAME_IDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), os_id)
    for pattern, os_id in (
        (r"^centos stream\b", "centos"),
        (r"^centos\b", "centos"),
        (r"^red hat enterprise linux\b", "rhel"),
        (r"^red hat linux\b", "redhat"),  # pre-RHEL Red Hat Linux 9 and older: no data
        (r"^rocky linux\b", "rocky"),
        (r"^almalinux\b", "almalinux"),
        (r"^oracle linux\b", "ol"),
        (r"^enterprise linux enterprise linux\b", "ol"),  # Oracle Enterprise Linux 5
        (r"^scientific linux\b", "scientific"),
        (r"^fedora\b", "fedora"),
        (r"^amazon linux\b", "amzn"),
        (r"^cloudlinux\b", "cloudlinux"),
        (r"^clearos\b", "clearos"),
        (r"^virtuozzo\b", "virtuozzo"),
        (r"^xenserver\b", "xenenterprise"),
        (r"^xcp-ng\b", "xcp-ng"),
        (r"^suse linux enterprise server\b", "sles"),
        (r"^suse linux enterprise desktop\b", "sled"),
        (r"^opensuse\b", "opensuse"),
        (r"^alpine\b", "alpine"),
        (r"^ubuntu\b", "ubuntu"),
        (r"^debian\b", "debian"),
    )
)


def _id_from_name(name: str) -> str | None:
    for pattern, os_id in _NAME_IDS:
        if pattern.search(name):
            return os_id
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or None


def _first_line(text: str) -> str | None:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return None


def parse_redhat_release(text: str, source: str = REDHAT_RELEASE) -> OsIdentity | None:
    """A `<name> release <version> (<codename>)` line, as in redhat-release, centos-release,
    oracle-release, enterprise-release, rocky-release, almalinux-release, fedora-release and
    system-release. None when the first line is not of that form."""
    line = _first_line(text)
    if line is None:
        return None
    match = _RELEASE_LINE.match(line)
    if match is None:
        return None
    name = match.group("name").strip()
    return OsIdentity(
        id=_id_from_name(name),
        version=match.group("version"),
        name=name,
        pretty_name=line,
        source=source,
        raw=line,
    )


# --------------------------------------------------------------------------- SuSE-release

_SUSE_FIELD = re.compile(r"^\s*(?P<key>[A-Z_]+)\s*=\s*(?P<value>\S.*?)\s*$")


def parse_suse_release(text: str, source: str = SUSE_RELEASE) -> OsIdentity | None:
    """An /etc/SuSE-release file: title line, `VERSION = 11`, `PATCHLEVEL = 4`.

    `version` is spelled like os-release's VERSION_ID: "11.4" for SP4, "12" for the GA
    release (PATCHLEVEL 0 or absent); openSUSE's VERSION ("13.1") is used as it is. `raw`
    joins the title and the VERSION / PATCHLEVEL lines with "; "."""
    title = _first_line(text)
    if title is None or "=" in title:
        return None
    fields: dict[str, str] = {}
    evidence = [title]
    for line in text.splitlines()[1:]:
        if line.strip().startswith("#"):
            continue
        match = _SUSE_FIELD.match(line)
        if match:
            fields[match.group("key")] = match.group("value")
            if match.group("key") in ("VERSION", "PATCHLEVEL"):
                evidence.append(line.strip())
    version = fields.get("VERSION")
    if version is None:
        found = re.search(r"\b(\d+(?:\.\d+)?)\b", title)
        version = found.group(1) if found else None
    patchlevel = fields.get("PATCHLEVEL")
    if version and patchlevel and patchlevel != "0" and "." not in version:
        version = f"{version}.{patchlevel}"
    name = re.sub(r"\s*\([^)]*\)\s*$", "", title)  # drop "(x86_64)"
    name = re.sub(r"\s+\d+(?:\.\d+)?$", "", name)  # drop the trailing version
    pretty = title
    if patchlevel and patchlevel != "0" and fields.get("VERSION"):
        pretty = f"{name} {fields['VERSION']} SP{patchlevel}"
    return OsIdentity(
        id=_id_from_name(title),
        version=version,
        name=name,
        pretty_name=pretty,
        source=source,
        raw="; ".join(evidence),
    )


# --------------------------------------------------------------------------- one-liners

_NUMERIC_VERSION = re.compile(r"^\d+(?:\.\d+)*")


def parse_debian_version(text: str, source: str = DEBIAN_VERSION) -> OsIdentity | None:
    """/etc/debian_version: "7.11" -> version "7.11". A codename such as "squeeze/sid"
    (testing/unstable, or any Ubuntu) gives version None: it names no release cycle."""
    line = _first_line(text)
    if line is None:
        return None
    match = _NUMERIC_VERSION.match(line)
    version = match.group(0) if match else None
    return OsIdentity(
        id="debian",
        version=version,
        name="Debian GNU/Linux",
        pretty_name=f"Debian GNU/Linux {line}",
        source=source,
        raw=line,
    )


def parse_alpine_release(text: str, source: str = ALPINE_RELEASE) -> OsIdentity | None:
    """/etc/alpine-release: "3.8.2". None when the line is not a version."""
    line = _first_line(text)
    if line is None or not _NUMERIC_VERSION.match(line):
        return None
    return OsIdentity(
        id="alpine",
        version=line.split()[0],
        name="Alpine Linux",
        pretty_name=f"Alpine Linux {line}",
        source=source,
        raw=line,
    )


# --------------------------------------------------------------------------- choosing

ReleaseParser = Callable[[str, str], OsIdentity | None]

# Best first. The distribution's own file beats redhat-release because Oracle Linux 5/6 put
# a *Red Hat* line in redhat-release; lsb-release beats debian_version because Ubuntu's
# debian_version holds a Debian codename.
RELEASE_FILES: tuple[tuple[str, ReleaseParser], ...] = (
    (OS_RELEASE, parse_os_release),
    (USR_LIB_OS_RELEASE, parse_os_release),
    ("/etc/oracle-release", parse_redhat_release),
    ("/etc/enterprise-release", parse_redhat_release),
    ("/etc/rocky-release", parse_redhat_release),
    ("/etc/almalinux-release", parse_redhat_release),
    ("/etc/centos-release", parse_redhat_release),
    ("/etc/fedora-release", parse_redhat_release),
    (SYSTEM_RELEASE, parse_redhat_release),
    (SUSE_RELEASE, parse_suse_release),
    (ALPINE_RELEASE, parse_alpine_release),
    (REDHAT_RELEASE, parse_redhat_release),
    (LSB_RELEASE, parse_lsb_release),
    (DEBIAN_VERSION, parse_debian_version),
)

RELEASE_FILE_PATHS: tuple[str, ...] = tuple(path for path, _ in RELEASE_FILES)
"""The files a probe should read (each if it exists), in order of preference."""


def _normalise_path(path: str) -> str:
    return path if path.startswith("/") else f"/etc/{path}"


def identify_os(files: Mapping[str, str]) -> OsIdentity | None:
    """The best identity found in `files` (path -> contents; a bare name such as
    "redhat-release" means /etc/<name>). Files are tried in RELEASE_FILES order and the first
    that parses wins; None when none does. Paths not in RELEASE_FILES are ignored. A version
    with the major only ("8", "7") gets its point release from the distribution's own file
    when that file agrees on the major (see `with_point_release`)."""
    by_path = {_normalise_path(path): text for path, text in files.items()}
    for path, parser in RELEASE_FILES:
        text = by_path.get(path)
        if text is None or not text.strip():
            continue
        identity = parser(text, path)
        if identity is not None:
            return with_point_release(identity, by_path)
    return None


# os-release ID -> the files that carry the point release, best first. os-release says only
# the major on CentOS 7/8 ("7", "8"), on Debian ("7", "12") and on RHEL 7; the point release
# ("CentOS Linux release 8.1.1911", "7.9") is in the distribution's own file.
POINT_RELEASE_FILES: dict[str, tuple[str, ...]] = {
    "centos": ("/etc/centos-release", REDHAT_RELEASE),
    "rhel": (REDHAT_RELEASE,),
    "rocky": ("/etc/rocky-release", REDHAT_RELEASE),
    "almalinux": ("/etc/almalinux-release", REDHAT_RELEASE),
    "ol": ("/etc/oracle-release",),
    "debian": (DEBIAN_VERSION,),
}


def with_point_release(identity: OsIdentity, files: Mapping[str, str]) -> OsIdentity:
    """`identity` with the point release ("8.1.1911", "7.9") when its version is a bare major
    and a file in POINT_RELEASE_FILES names the same major with more after it. Its pretty
    name says the point release too ("CentOS Linux 8.1.1911"). Anything else: unchanged."""
    version = identity.version
    if identity.id is None or version is None or not version.isdigit():
        return identity
    for path in POINT_RELEASE_FILES.get(identity.id, ()):
        text = files.get(path)
        if not text:
            continue
        parser = parse_debian_version if path == DEBIAN_VERSION else parse_redhat_release
        found = parser(text, path)
        point = found.version if found is not None else None
        if point is None or not point.startswith(version + "."):
            continue
        pretty = identity.pretty_name
        if pretty is not None:
            pretty = re.sub(rf"(?<![\d.]){version}(?![\d.])", point, pretty, count=1)
        return replace(identity, version=point, pretty_name=pretty)
    return identity
