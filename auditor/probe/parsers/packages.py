"""Which OS package installed each program: the answers of dpkg's file lists, `rpm -qf` and
Alpine's apk database, as the software snippet ships them. Pure.

The snippet asks once per host, for every program it ran, and ships:

- `package/query`: one line per program, `PATH<TAB>RESOLVED` (the path it was found at and
  where its symlinks lead: the file a package would own);
- then one of
  - `package/dpkg`: `grep -F -x` over /var/lib/dpkg/info/*.list, run in that folder:
    `nginx-common.list:/usr/sbin/nginx`, `libssl3:amd64.list:/usr/lib/...`; with
    `package/dpkg-query`: `dpkg-query -W -f '${Package} ${Version} ${Architecture}\\n' NAMES`
    (`openssl 3.0.17-1~deb12u2 amd64`);
  - `package/rpm`: `rpm -qf --qf '%{NAME}\\t%{VERSION}-%{RELEASE}\\t%{ARCH}\\n' RESOLVED...`,
    one answer per path in the order asked: a package line, or `file PATH is not owned by
    any package`;
  - `package/apk`: the snippet's awk over /lib/apk/db/installed: `NAME<TAB>VERSION<TAB>PATH`;
  - `package/none`: none of them on the host.

Three answers per program: a Package; None, hand-installed (the package manager was asked
and no package owns the file); UnknownPackage with the reason, when nobody could say.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from auditor.model import Package, UnknownPackage
from auditor.probe.sections import Part

QUERY = "package/query"
DPKG = "package/dpkg"
DPKG_QUERY = "package/dpkg-query"
RPM = "package/rpm"
APK = "package/apk"
NONE = "package/none"
PART_PREFIX = "package/"

NO_PACKAGE_MANAGER = UnknownPackage(
    "no package manager on the host (no /var/lib/dpkg/info, rpm or /lib/apk/db/installed)"
)

PackageAnswer = Package | UnknownPackage | None

# Prefixes usrmerge folds into /usr: a package built before it may list /bin/foo while the
# program is found, resolved, at /usr/bin/foo.
_MERGED = ("/usr/bin/", "/usr/sbin/", "/usr/lib/", "/usr/lib64/")
_RPM_NOT_OWNED = re.compile(r"^file (?P<path>/.*) is not owned by any package$")


def usrmerge_alias(path: str) -> str | None:
    """ "/usr/bin/ssh" -> "/bin/ssh": the name a pre-usrmerge package lists; else None."""
    return path[4:] if path.startswith(_MERGED) else None


def parse_query(text: str) -> tuple[tuple[str, str], ...]:
    """`PATH<TAB>RESOLVED` lines -> (path, resolved) pairs, in order."""
    pairs = []
    for line in text.split("\n"):
        path, tab, resolved = line.partition("\t")
        if path.startswith("/"):
            pairs.append((path, resolved if tab and resolved.startswith("/") else path))
    return tuple(pairs)


def parse_dpkg_lists(text: str) -> dict[str, str]:
    """`grep` over dpkg's .list files -> {owned file: package name, architecture dropped}.
    A file two packages list (rare: a diverted or shared path) keeps the first."""
    owners: dict[str, str] = {}
    for line in text.split("\n"):
        name, sep, path = line.partition(".list:")
        if not sep or not path.startswith("/") or not name:
            continue
        owners.setdefault(path, name.rsplit("/", 1)[-1].split(":", 1)[0])
    return owners


def parse_dpkg_versions(text: str) -> dict[str, str]:
    """`dpkg-query -W -f '${Package} ${Version} ${Architecture}\\n'` -> {package: version}."""
    versions: dict[str, str] = {}
    for line in text.split("\n"):
        fields = line.split()
        if len(fields) >= 2:
            versions.setdefault(fields[0], fields[1])
    return versions


def parse_rpm_answers(resolved: Iterable[str], text: str) -> dict[str, Package | None] | None:
    """`rpm -qf --qf '%{NAME}\\t%{VERSION}-%{RELEASE}\\t%{ARCH}\\n'` -> {path: Package or
    None (not owned)}, lined up with the paths in the order they were asked. Consecutive
    lines of one package name are one answer (a file both arches of a multilib package own).
    None when the lines do not line up with the question: then no answer is trusted."""
    lines = [line for line in text.split("\n") if line.strip()]
    answers: dict[str, Package | None] = {}
    at = 0
    for path in resolved:
        if at >= len(lines):
            return None
        not_owned = _RPM_NOT_OWNED.match(lines[at])
        if not_owned is not None:
            if not_owned.group("path") != path:
                return None
            answers[path] = None
            at += 1
            continue
        fields = lines[at].split("\t")
        if len(fields) != 3 or not fields[0]:
            return None
        answers[path] = Package("rpm", fields[0], fields[1] or None)
        at += 1
        while at < len(lines) and lines[at].split("\t")[0] == fields[0]:
            at += 1
    return answers if at == len(lines) else None


def parse_apk_owners(text: str) -> dict[str, Package]:
    """The snippet's awk over /lib/apk/db/installed (`NAME<TAB>VERSION<TAB>PATH`) ->
    {path: Package}."""
    owners: dict[str, Package] = {}
    for line in text.split("\n"):
        fields = line.split("\t")
        if len(fields) == 3 and fields[0] and fields[2].startswith("/"):
            owners.setdefault(fields[2], Package("apk", fields[0], fields[1] or None))
    return owners


def package_answers(shipped: Iterable[Part]) -> dict[str, PackageAnswer]:
    """Every asked program's answer, by the path it was found at (module docstring), from
    the software section's `package/...` parts (others are ignored); {} when the snippet
    asked nothing."""
    parts = {part.name: part for part in shipped if part.name.startswith(PART_PREFIX)}
    query = parts.get(QUERY)
    if query is None:
        return {}
    pairs = parse_query(query.body)
    if DPKG in parts:
        return _dpkg(pairs, parts[DPKG], parts.get(DPKG_QUERY))
    if RPM in parts:
        return _rpm(pairs, parts[RPM])
    if APK in parts:
        return _apk(pairs, parts[APK])
    if NONE in parts:
        return {path: NO_PACKAGE_MANAGER for path, _ in pairs}
    return {path: UnknownPackage("the package query was cut off") for path, _ in pairs}


def _failed(tool: str, part: Part) -> UnknownPackage:
    if part.status is None:
        return UnknownPackage(f"{tool} was cut off")
    if part.status == 124:
        return UnknownPackage(f"{tool} timed out")
    first = part.body.strip().split("\n", 1)[0]
    return UnknownPackage(
        f"{tool} failed (exit status {part.status}){': ' + first if first else ''}"
    )


def _dpkg(
    pairs: tuple[tuple[str, str], ...], lists: Part, versions: Part | None
) -> dict[str, PackageAnswer]:
    # grep: 0 some lines matched, 1 none did; anything else is no answer at all.
    if lists.status not in (0, 1):
        failed = _failed("grep over /var/lib/dpkg/info/*.list", lists)
        return {path: failed for path, _ in pairs}
    owners = parse_dpkg_lists(lists.body)
    known = parse_dpkg_versions(versions.body) if versions is not None else {}
    answers: dict[str, PackageAnswer] = {}
    for path, resolved in pairs:
        # The file the program is, never a symlink to it: a package's link may lead to a
        # file nobody packaged.
        candidates = (resolved, usrmerge_alias(resolved))
        name = next((owners[c] for c in candidates if c is not None and c in owners), None)
        answers[path] = Package("dpkg", name, known.get(name)) if name is not None else None
    return answers


def _rpm(pairs: tuple[tuple[str, str], ...], part: Part) -> dict[str, PackageAnswer]:
    # rpm -qf exits with the number of files it found no owner for: not a failure here.
    lined_up = parse_rpm_answers((resolved for _, resolved in pairs), part.body)
    if lined_up is None:
        reason = (
            _failed("rpm -qf", part)
            if part.status is None or not part.body.strip()
            else UnknownPackage("rpm -qf's answer did not line up with the files asked")
        )
        return {path: reason for path, _ in pairs}
    return {path: lined_up[resolved] for path, resolved in pairs}


def _apk(pairs: tuple[tuple[str, str], ...], part: Part) -> dict[str, PackageAnswer]:
    if part.status != 0:
        failed = _failed("awk over /lib/apk/db/installed", part)
        return {path: failed for path, _ in pairs}
    owners = parse_apk_owners(part.body)
    return {path: owners.get(resolved) for path, resolved in pairs}
