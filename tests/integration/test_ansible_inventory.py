"""Real ansible-inventory on real inventory files."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditor.config import AnsibleConfig
from auditor.sources.ansible import AnsibleInventorySource

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ansible"
NOW = datetime(2026, 11, 28, tzinfo=UTC)


def fake_resolver(name: str) -> tuple[str, ...]:
    # Inventory names are resolved through this so the test never asks a real DNS server.
    table = {"web01": ("127.0.0.11",), "web02": ("127.0.0.12",)}
    if name not in table:
        raise OSError(-2, "Name or service not known")
    return table[name]


def collect(*paths: str) -> tuple:  # type: ignore[type-arg]
    config = AnsibleConfig(name="inv", inventory=tuple(FIXTURES / p for p in paths))
    result = AnsibleInventorySource(config, resolver=fake_resolver).collect(NOW)
    return result, {o.attributes["inventory_hostname"]: o for o in result.observations}


def test_ini_ranges_groups_and_ports() -> None:
    result, hosts = collect("hosts.ini")
    assert result.ok
    assert set(hosts) == {"web01", "web02", "web03", "db01"}
    assert hosts["db01"].identifiers == ("name:db01", "ip:127.0.0.13")
    assert hosts["db01"].attributes["ansible_port"] == 2222
    assert hosts["db01"].attributes["groups"] == ["db", "prod"]
    assert hosts["web01"].attributes["groups"] == ["prod", "web"]
    assert "ip:127.0.0.11" in hosts["web01"].identifiers  # resolved name
    # web03 does not resolve: reported, not dropped
    assert "dns:web03" in hosts["web03"].identifiers
    assert any("web03" in e and "does not resolve" in e for e in result.errors)


def test_yaml_folder_and_script_inventories_together() -> None:
    result, hosts = collect("hosts.yml", "folder", "script.py")
    assert result.ok
    assert hosts["cache01"].values("ip") == ("127.0.0.14",)
    assert hosts["app02"].attributes["ansible_port"] == 2200  # from host_vars/
    assert hosts["batch01"].values("ip") == ("127.0.0.31",)
    assert "ghost.invalid" in hosts


def test_broken_inventory_is_an_error_naming_the_file_and_the_rest_goes_on() -> None:
    result, hosts = collect("broken.yml", "hosts.ini", "does-not-exist.ini")
    assert not result.ok
    assert any("broken.yml" in e and "could not be parsed" in e for e in result.errors)
    assert any("does-not-exist.ini: inventory not found" in e for e in result.errors)
    assert "db01" in hosts  # what could be read is kept


def test_ansible_inventory_is_found_without_an_activated_venv(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    if shutil.which("ansible-inventory") is not None:
        pytest.skip("a system-wide ansible-inventory is installed; nothing to prove")
    result, hosts = collect("hosts.ini")
    assert result.ok and "db01" in hosts
