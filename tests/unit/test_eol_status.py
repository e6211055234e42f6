"""Status on fixed audit dates, against the embedded data and a small synthetic data set for
the boolean and boundary rules."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from auditor.eol import identify_os, load_embedded, lookup_status, os_eol, with_os_eol
from auditor.eol.dataset import parse_dataset
from auditor.model import EolStatus

AUDIT_DATE = date(2026, 11, 28)


def test_embedded_sanity_values() -> None:
    data = load_embedded()
    centos5 = data.products["centos"].find_cycle("5")
    rhel7 = data.products["rhel"].find_cycle("7")
    trusty = data.products["ubuntu"].find_cycle("14.04")
    assert centos5 is not None and centos5.eol == date(2017, 3, 31)
    assert rhel7 is not None and (rhel7.eol, rhel7.extended) == (
        date(2024, 6, 30),
        date(2029, 5, 31),
    )
    assert trusty is not None and (trusty.eol, trusty.extended) == (
        date(2019, 4, 2),
        date(2024, 4, 2),
    )


def test_centos_5_from_its_redhat_release_is_eol() -> None:
    identity = identify_os({"/etc/redhat-release": "CentOS release 5.11 (Final)\n"})
    assert identity is not None
    assert os_eol(identity, AUDIT_DATE, load_embedded()) == EolStatus(
        product="centos",
        cycle="5",
        status="eol",
        date="2017-03-31",
        days_past=3529,
        source="embedded 2026-08-22",
        seen="CentOS release 5.11 (Final)",
    )


def test_with_os_eol_fills_the_identity() -> None:
    identity = identify_os({"/etc/system-release": "Amazon Linux AMI release 2018.03\n"})
    assert identity is not None
    filled = with_os_eol(identity, AUDIT_DATE, load_embedded())
    assert filled.eol is not None
    assert (filled.eol.product, filled.eol.cycle, filled.eol.status) == (
        "amazon-linux",
        "2018.03",
        "eol",
    )
    assert filled.eol.date == "2023-12-31"
    assert filled.id == identity.id and filled.raw == identity.raw


@pytest.mark.parametrize(
    ("product", "cycle", "on", "status", "days_past"),
    [
        # RHEL 7: full support to 2019-08-06, maintenance (eol) to 2024-06-30, ELS to 2029-05-31
        ("rhel", "7", date(2018, 1, 1), "supported", -2372),
        ("rhel", "7", date(2020, 1, 1), "security-only", -1642),
        ("rhel", "7", AUDIT_DATE, "extended-support", 881),
        ("rhel", "7", date(2029, 5, 31), "eol", 1796),
        # Ubuntu 14.04: standard support to 2019-04-02, ESM to 2024-04-02
        ("ubuntu", "14.04", date(2018, 1, 1), "supported", -456),
        ("ubuntu", "14.04", date(2020, 1, 1), "extended-support", 274),
        ("ubuntu", "14.04", AUDIT_DATE, "eol", 2797),
        # Ubuntu 22.04: hardware & maintenance to 2024-09-30, security to 2027-04-01
        ("ubuntu", "22.04", AUDIT_DATE, "security-only", -124),
        ("debian", "12", AUDIT_DATE, "extended-support", 140),
        ("centos", "7", AUDIT_DATE, "eol", 881),
        ("sles", "11.4", AUDIT_DATE, "eol", 2799),
        ("amazon-linux", "2023", AUDIT_DATE, "supported", -945),
        ("alpine-linux", "3.8", AUDIT_DATE, "eol", 2402),
        # aliases work as product names
        ("redhat", "6", AUDIT_DATE, "eol", 2189),
    ],
)
def test_status_on_fixed_dates(
    product: str, cycle: str, on: date, status: str, days_past: int
) -> None:
    result = lookup_status(load_embedded(), product, cycle, on)
    assert (result.status, result.days_past) == (status, days_past)
    assert result.source == "embedded 2026-08-22"


def test_unknown_product_and_unknown_cycle() -> None:
    data = load_embedded()
    nothing = lookup_status(data, "linuxmint", "21", AUDIT_DATE, seen="Linux Mint 21.3")
    assert nothing == EolStatus(
        product=None,
        cycle=None,
        status="unknown",
        date=None,
        days_past=None,
        source="embedded 2026-08-22",
        seen="Linux Mint 21.3",
    )
    no_cycle = lookup_status(data, "centos", "4", AUDIT_DATE)
    assert (no_cycle.product, no_cycle.cycle, no_cycle.status) == ("centos", None, "unknown")
    assert lookup_status(data, None, None, AUDIT_DATE).status == "unknown"


# --------------------------------------------------------------------------- rules


def _cycle(cycle: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "cycle": cycle,
        "release": "2000-01-01",
        "support": None,
        "eol": None,
        "extended": None,
        "lts": None,
        "latest": None,
        "latest_release": None,
        "codename": None,
        "release_label": None,
    }
    base.update(fields)
    return base


SYNTHETIC = parse_dataset(
    {
        "source_commit_date": "2026-01-01",
        "products": {
            "demo": {
                "label": "Demo",
                "cycles": [
                    _cycle("eol-true", eol=True),
                    _cycle("eol-false", eol=False),
                    _cycle("eol-false-support-true", eol=False, support=True),
                    _cycle("eol-false-support-false", eol=False, support=False),
                    _cycle("eol-null", eol=None),
                    _cycle("ext-true", eol="2020-01-01", extended=True),
                    _cycle("ext-false", eol="2020-01-01", extended=False),
                    _cycle("ext-date", eol="2020-01-01", extended="2030-01-01"),
                    _cycle("boundary", support="2026-06-01", eol="2026-06-30"),
                ],
            }
        },
    },
    "synthetic",
)


@pytest.mark.parametrize(
    ("cycle", "on", "status", "eol_date", "days_past"),
    [
        ("eol-true", AUDIT_DATE, "eol", None, None),
        ("eol-false", AUDIT_DATE, "supported", None, None),
        ("eol-false-support-true", AUDIT_DATE, "security-only", None, None),
        ("eol-false-support-false", AUDIT_DATE, "supported", None, None),
        ("eol-null", AUDIT_DATE, "unknown", None, None),
        ("ext-true", AUDIT_DATE, "eol", "2020-01-01", 2523),
        ("ext-false", AUDIT_DATE, "extended-support", "2020-01-01", 2523),
        ("ext-date", AUDIT_DATE, "extended-support", "2020-01-01", 2523),
        ("ext-date", date(2030, 1, 1), "eol", "2020-01-01", 3653),
        # a date is reached on that very day
        ("boundary", date(2026, 5, 31), "supported", "2026-06-30", -30),
        ("boundary", date(2026, 6, 1), "security-only", "2026-06-30", -29),
        ("boundary", date(2026, 6, 29), "security-only", "2026-06-30", -1),
        ("boundary", date(2026, 6, 30), "eol", "2026-06-30", 0),
    ],
)
def test_status_rules(
    cycle: str, on: date, status: str, eol_date: str | None, days_past: int | None
) -> None:
    result = lookup_status(SYNTHETIC, "demo", cycle, on)
    assert (result.status, result.date, result.days_past) == (status, eol_date, days_past)
    assert result.source == "embedded 2026-01-01"
