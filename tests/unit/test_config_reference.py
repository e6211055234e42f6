"""Every key the config parser reads is documented in docs/config.md (under its section) and
written, commented or not, by `auditor init`. The keys are taken from the parser itself: each
table records the keys it asked for, so a key added to config.py without docs fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from auditor import config as config_module
from auditor.drift.policy import RULE_KEYS
from auditor.starter import starter_config

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "config.md"

# One of each section, with only what each requires, so every table is read.
EVERY_SECTION = """
[audit]
[[network]]
targets = ["10.0.0.1"]
[[aws]]
[[ansible]]
inventory = ["hosts.ini"]
[[terraform]]
state = ["prod.tfstate"]
[ssh]
[owners]
[[ownership]]
tag = "a"
system = "b"
[[ignore]]
match = "10.0.0.9"
reason = "r"
[[accept]]
rule = "eol-os"
host = "x"
reason = "r"
expires = 2030-01-01
[engine]
broker = "redis://127.0.0.1:6379/0"
[[vantage]]
name = "dc1"
networks = ["10.0.0.0/8"]
"""


def keys_read_by_the_parser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, set[str]]:
    asked: dict[str, set[str]] = {}
    finish = config_module._Table.finish

    def recording_finish(table: config_module._Table) -> None:
        section = table.where.split(" #")[0].split(" ")[0]  # "[[network]] #1" -> "[[network]]"
        asked.setdefault(section, set()).update(table.used)
        finish(table)

    monkeypatch.setattr(config_module._Table, "finish", recording_finish)
    path = tmp_path / "audit.toml"
    path.write_text(EVERY_SECTION)
    config_module.load_config(path)
    return asked


def reference_sections() -> dict[str, str]:
    text = REFERENCE.read_text()
    parts = re.split(r"^## `(\[\[?\w+\]\]?)`.*$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def test_the_parser_reads_every_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked = keys_read_by_the_parser(tmp_path, monkeypatch)
    expected = {"[audit]", "[[network]]", "[[aws]]", "[[ansible]]", "[[terraform]]", "[ssh]"}
    assert expected | {"[[ownership]]", "[[ignore]]", "[[accept]]"} <= set(asked)
    assert "targets" in asked["[[network]]"] and "proxy_command" in asked["[ssh]"]


def test_every_key_is_in_the_reference_under_its_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sections = reference_sections()
    missing = []
    for section, keys in keys_read_by_the_parser(tmp_path, monkeypatch).items():
        documented = sections.get(section, "")
        missing += [f"{section} {k}" for k in sorted(keys) if f"`{k}`" not in documented]
    assert missing == [], "add these to docs/config.md"


def test_every_key_is_in_the_starter_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    starter = starter_config(tmp_path / "history.sqlite")
    missing = []
    for section, keys in keys_read_by_the_parser(tmp_path, monkeypatch).items():
        head = section.strip("[]")
        block = re.search(
            rf"^#? ?\[{{1,2}}{head}\]{{1,2}}\n(.*?)(?=^#? ?\[|\Z)", starter, re.MULTILINE | re.DOTALL
        )
        assert block is not None, f"auditor init writes no {section}"
        written = block.group(1)
        missing += [
            f"{section} {k}"
            for k in sorted(keys)
            if not re.search(rf"^#? ?{k} = |\b{k} = ", written, re.MULTILINE)
        ]
    assert missing == [], "add these to auditor/starter.py"


def test_policy_keys_are_in_the_drift_docs() -> None:
    drift = (ROOT / "docs" / "drift.md").read_text()
    documented = [k for k in RULE_KEYS if f"`{k}`" in drift or re.search(rf"^{k} = ", drift, re.M)]
    assert set(RULE_KEYS) - set(documented) == set()
