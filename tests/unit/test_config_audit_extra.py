"""[audit] keys for history, rules and notification."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.config import AuditSettings, load_config
from auditor.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "audit.toml"
    path.write_text(text)
    return path


def test_defaults() -> None:
    audit = AuditSettings()
    assert audit.gone_after_days == 7 and audit.silent_days == 30
    assert audit.expected_ports == (22,) and dict(audit.expected_ports_by_group) == {}
    assert audit.notify is None and audit.notify_timeout == 10.0


def test_all_keys(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """
[audit]
store = "history.sqlite"
gone_after_days = 0
silent_days = 14
expected_ports = [22, 9100]
expected_ports_by_group = { web = [80, 443], db = [5432] }
notify = "http://127.0.0.1:9/hook"
notify_timeout = 2.5
"""))
    audit = config.audit
    assert audit.store == tmp_path / "history.sqlite"
    assert audit.gone_after_days == 0 and audit.silent_days == 14
    assert audit.expected_ports == (22, 9100)
    assert dict(audit.expected_ports_by_group) == {"web": (80, 443), "db": (5432,)}
    assert audit.notify == "http://127.0.0.1:9/hook" and audit.notify_timeout == 2.5


@pytest.mark.parametrize(("text", "key"), [
    ("gone_after_days = -1", "gone_after_days"),
    ("silent_days = 0", "silent_days"),
    ("expected_ports = [70000]", "expected_ports"),
    ('expected_ports_by_group = { web = ["http"] }', "web"),
    ("expected_ports_by_group = [80]", "expected_ports_by_group"),
    ('notify = "ftp://example.invalid/x"', "notify"),
    ("notify_timeout = 0", "notify_timeout"),
    ("gone_after = 3", "gone_after"),  # a typo is an unknown key, not a silent default
])
def test_bad_values_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        load_config(write(tmp_path, f"[audit]\n{text}\n"))
