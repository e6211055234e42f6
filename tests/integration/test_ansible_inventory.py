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


RENDEZVOUS = """#!/bin/sh
# An inventory script that answers only once its peer has started too: read one after the
# other, the first waits for a peer that never comes and fails.
touch "{mine}"
i=0
while [ ! -e "{peer}" ]; do
    i=$((i + 1)); [ "$i" -gt 600 ] && exit 3
    sleep 0.1
done
printf '{{"all": {{"hosts": ["{host}"]}}, "_meta": {{"hostvars": {{}}}}}}'
"""


def test_inventories_are_read_at_once_and_kept_in_config_order(tmp_path: Path) -> None:
    # Each file still runs its own ansible-inventory (a broken one names itself), but not one
    # after the other (issue 14); observations and errors come in the config's order, a path
    # given twice counted twice, as when they were read one by one.
    for me, peer in (("a", "b"), ("b", "a")):
        script = tmp_path / f"{me}.sh"
        mine, theirs = tmp_path / f"{me}.up", tmp_path / f"{peer}.up"
        script.write_text(RENDEZVOUS.format(mine=mine, peer=theirs, host=f"10.250.77.{ord(me)}"))
        script.chmod(0o755)
    paths = (tmp_path / "b.sh", FIXTURES / "broken.yml", tmp_path / "a.sh", tmp_path / "b.sh")
    config = AnsibleConfig(name="inv", inventory=paths)
    result = AnsibleInventorySource(config, resolver=fake_resolver).collect(NOW)
    assert [o.attributes["inventory_hostname"] for o in result.observations] == [
        "10.250.77.98", "10.250.77.97", "10.250.77.98",
    ]  # fmt: skip
    assert [o.attributes["inventory"] for o in result.observations] == [
        str(paths[0]), str(paths[2]), str(paths[3]),
    ]  # fmt: skip
    assert len(result.errors) == 1 and "broken.yml" in result.errors[0]
