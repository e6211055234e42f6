"""OsIdentity -> endoflife.date product and cycle, and its EolStatus. Pure.

The rules (docs/eol.md repeats them for users):

- The product comes from the identity's `id` (os-release ID spelling) through an explicit
  table; an id not in the table (linuxmint, kali, arch, scientific, sles_sap ...) is unknown.
  `ID_LIKE` is deliberately *not* followed: derivatives number their releases their own way
  (elementary 7 is not Debian 7, Mageia 6 is not Fedora 6, XCP-ng 8.2 is built on CentOS 7),
  so following it would guess wrong cycles.
- Two derivatives that reuse their parent's version numbers exactly are in the table:
  raspbian -> debian and pop -> ubuntu. For them the version must *equal* a parent cycle
  ("10", "22.04"); nothing is cut to fit.
- The cycle comes from the version by a per-product rule: major (centos, rhel, rocky,
  almalinux, ol, fedora, debian >= 4), major.minor (ubuntu, alpine, opensuse, debian < 4),
  major.minor with ".0" for a GA release (sles: "12" -> "12.0", "11.4" -> "11.4"), and Amazon
  Linux's own scheme ("2018.03" -> "2018.03", "2" / "2.0.2024..." -> "2", "2023.6..." ->
  "2023").
- CentOS Stream says `ID=centos` in os-release; a name containing "Stream" selects
  centos-stream.
- A mapped product whose cycle is not in the data (Oracle Linux 5, openSUSE Tumbleweed's
  date versions) is unknown too: the status keeps the product and leaves `cycle` None.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import date

from auditor.eol.dataset import EolData
from auditor.eol.status import lookup_status, unknown_status
from auditor.model import EolStatus, OsIdentity

CycleRule = Callable[[str], str | None]

_VERSION = re.compile(r"^v?(\d+(?:\.\d+)*)")


def _numbers(version: str) -> list[str] | None:
    match = _VERSION.match(version.strip())
    return match.group(1).split(".") if match else None


def major(version: str) -> str | None:
    """ "7.9.2009" -> "7"."""
    parts = _numbers(version)
    return str(int(parts[0])) if parts else None


def major_minor(version: str) -> str | None:
    """ "14.04.6" -> "14.04", "3.8.2" -> "3.8"; None without a minor part."""
    parts = _numbers(version)
    if not parts or len(parts) < 2:
        return None
    return f"{int(parts[0])}.{parts[1]}"


def sles_cycle(version: str) -> str | None:
    """ "12" -> "12.0", "12.1" -> "12.1", "11.4" -> "11.4"."""
    parts = _numbers(version)
    if not parts:
        return None
    return f"{int(parts[0])}.{int(parts[1]) if len(parts) > 1 else 0}"


def debian_cycle(version: str) -> str | None:
    """Debian numbers cycles by major from 4 on ("7.11" -> "7", "6.0.10" -> "6"), and by
    major.minor before ("3.1" -> "3.1")."""
    parts = _numbers(version)
    if not parts:
        return None
    if int(parts[0]) >= 4:
        return str(int(parts[0]))
    return major_minor(version)


def amazon_cycle(version: str) -> str | None:
    """Amazon Linux: "2018.03" (AMI, kept whole), "2" or "2.0.20240109" -> "2",
    "2023" or "2023.6.20241212" -> "2023"."""
    parts = _numbers(version)
    if not parts:
        return None
    first = parts[0]
    if first == "2":
        return "2"
    if len(first) == 4 and int(first) >= 2023:
        return first
    if len(first) == 4 and len(parts) >= 2:
        return f"{first}.{parts[1].zfill(2)}"
    return None


def exact(version: str) -> str | None:
    """The version as it is: used for derivatives, which must match a parent cycle exactly."""
    return version.strip() or None


# os-release ID -> (endoflife.date slug, cycle rule)
OS_PRODUCTS: dict[str, tuple[str, CycleRule]] = {
    "centos": ("centos", major),
    "rhel": ("rhel", major),
    "rocky": ("rocky-linux", major),
    "almalinux": ("almalinux", major),
    "ol": ("oracle-linux", major),
    "amzn": ("amazon-linux", amazon_cycle),
    "ubuntu": ("ubuntu", major_minor),
    "debian": ("debian", debian_cycle),
    "alpine": ("alpine-linux", major_minor),
    "sles": ("sles", sles_cycle),
    "opensuse-leap": ("opensuse", major_minor),
    "opensuse": ("opensuse", major_minor),  # openSUSE 13.x and Leap 42.x used ID=opensuse
    "fedora": ("fedora", major),
    # derivatives that reuse their parent's version numbers exactly
    "raspbian": ("debian", exact),
    "pop": ("ubuntu", exact),
}


def describe_identity(identity: OsIdentity) -> str:
    """The evidence string for `EolStatus.seen`: the raw line, else the pretty name, else
    "<id> <version>"."""
    if identity.raw:
        return identity.raw
    if identity.pretty_name:
        return identity.pretty_name
    return " ".join(part for part in (identity.id, identity.version) if part) or "unidentified"


def os_product(identity: OsIdentity) -> str | None:
    """The endoflife.date slug for `identity`, or None when its id is not in OS_PRODUCTS."""
    if identity.id is None:
        return None
    entry = OS_PRODUCTS.get(identity.id.lower())
    if entry is None:
        return None
    slug = entry[0]
    if slug == "centos" and _is_stream(identity):
        return "centos-stream"
    return slug


def _is_stream(identity: OsIdentity) -> bool:
    names = (identity.name, identity.pretty_name, identity.raw)
    return any(n is not None and "stream" in n.lower() for n in names)


def os_product_cycle(identity: OsIdentity, data: EolData) -> tuple[str, str | None] | None:
    """(product slug, cycle) for `identity`.

    None when the id maps to no product; (slug, None) when it does but the version is missing,
    unparseable, or names a cycle that is not in `data`."""
    slug = os_product(identity)
    if slug is None or identity.id is None:
        return None
    rule = OS_PRODUCTS[identity.id.lower()][1]
    candidate = rule(identity.version) if identity.version else None
    product = data.product(slug)
    if candidate is None or product is None or product.find_cycle(candidate) is None:
        return slug, None
    return slug, candidate


def os_eol(identity: OsIdentity, on: date, data: EolData) -> EolStatus:
    """EolStatus of `identity` on the audit date `on`; status "unknown" (with the identity in
    `seen`) for anything that does not map to a cycle in `data`."""
    seen = describe_identity(identity)
    mapped = os_product_cycle(identity, data)
    if mapped is None:
        return unknown_status(data, seen)
    return lookup_status(data, mapped[0], mapped[1], on, seen)


def with_os_eol(identity: OsIdentity, on: date, data: EolData) -> OsIdentity:
    """`identity` with its `eol` filled in."""
    return replace(identity, eol=os_eol(identity, on, data))
