"""The embedded data is package data with its license, and `eol show`'s library side."""

from __future__ import annotations

import re
from datetime import date
from importlib import resources
from pathlib import Path

import pytest

import auditor.eol
from auditor.eol import describe, load_embedded, render_show, status_phrase
from auditor.errors import EolDataError
from auditor.model import EolStatus

AUDIT_DATE = date(2026, 11, 28)
PACKAGE_DIR = Path(auditor.eol.__file__).resolve().parent


def test_embedded_data_is_package_data_with_its_license() -> None:
    data_dir = resources.files("auditor.eol").joinpath("data")
    license_text = data_dir.joinpath("LICENSE").read_text(encoding="utf-8")
    assert "MIT License" in license_text
    assert "Copyright 2020 endoflife.date contributors" in license_text
    assert "Permission is hereby granted, free of charge" in license_text
    data = load_embedded()
    assert data.document["copyright"] == "Copyright 2020 endoflife.date contributors"
    assert data.origin == "embedded"
    assert data.label == "embedded 2026-08-22"
    assert len(data.products) == 39
    assert Path(data.path.removeprefix("embedded ")).resolve().is_relative_to(PACKAGE_DIR)


def test_package_never_reads_outside_itself() -> None:
    for source in PACKAGE_DIR.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        assert not re.search(r"\.\./shared|/work/shared|shared/eol", text), source


def test_every_product_has_cycles_and_aliases() -> None:
    data = load_embedded()
    for slug, product in data.products.items():
        assert product.cycles, slug
        assert slug in product.aliases
    assert data.product("redhat") is data.products["rhel"]
    assert data.product("/httpd") is data.products["apache-http-server"]
    assert data.product("Postgres") is data.products["postgresql"]
    assert data.product("nope") is None


def test_describe_one_cycle() -> None:
    report = describe("redhat", "7", on=AUDIT_DATE, data=load_embedded())
    assert (report.slug, report.label) == ("rhel", "Red Hat Enterprise Linux")
    assert report.column_labels == (
        ("support", "Full Support"),
        ("eol", "Maintenance Support"),
        ("extended", "Extended Life Cycle Support"),
    )
    (row,) = report.rows
    assert (row.cycle, row.release, row.support, row.eol, row.extended, row.latest) == (
        "7",
        "2014-06-10",
        "2019-08-06",
        "2024-06-30",
        "2029-05-31",
        "7.9",
    )
    assert row.status.status == "extended-support"


def test_render_show_is_a_plain_table() -> None:
    text = render_show(describe("centos", on=AUDIT_DATE, data=load_embedded()))
    lines = text.splitlines()
    assert lines[0] == "CentOS (centos) - embedded 2026-08-22 data, status on 2026-11-28"
    assert lines[1].split() == [
        "cycle",
        "released",
        "support",
        "eol",
        "extended",
        "latest",
        "status",
    ]
    assert lines[-1].startswith("5 ")
    assert "eol since 2017-03-31 (3529 days ago)" in lines[-1]
    assert len(lines) == 2 + 4


def test_render_show_strips_html_from_labels_and_shows_codenames() -> None:
    text = render_show(describe("debian", "12", on=AUDIT_DATE, data=load_embedded()))
    assert "extended = Debian LTS" in text
    assert "12 (Bookworm)" in text
    assert "<abbr" not in text


def test_describe_unknown_product_suggests_names() -> None:
    with pytest.raises(EolDataError, match=r"no product 'ubunto'.*did you mean ubuntu"):
        describe("ubunto", on=AUDIT_DATE, data=load_embedded())


def test_describe_unknown_cycle_lists_cycles() -> None:
    with pytest.raises(EolDataError, match=r"centos has no cycle '4' \(known: 8, 7, 6, 5\)"):
        describe("centos", "4", on=AUDIT_DATE, data=load_embedded())


@pytest.mark.parametrize(
    ("status", "phrase"),
    [
        (EolStatus("x", "1", "eol", "2017-03-31", 10, "s"), "eol since 2017-03-31 (10 days ago)"),
        (EolStatus("x", "1", "eol", None, None, "s"), "eol"),
        (
            EolStatus("x", "1", "supported", "2030-01-01", -5, "s"),
            "supported until 2030-01-01 (5 days left)",
        ),
        (EolStatus("x", "1", "supported", None, None, "s"), "supported"),
        (
            EolStatus("x", "1", "security-only", "2027-04-01", -124, "s"),
            "security fixes only until 2027-04-01 (124 days left)",
        ),
        (
            EolStatus("x", "1", "extended-support", "2024-06-30", 881, "s"),
            "extended support only, eol 2024-06-30 (881 days ago)",
        ),
        (EolStatus(None, None, "unknown", None, None, "s"), "unknown"),
    ],
)
def test_status_phrase(status: EolStatus, phrase: str) -> None:
    assert status_phrase(status) == phrase
