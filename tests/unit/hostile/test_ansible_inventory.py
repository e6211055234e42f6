"""Ansible inventories others wrote, read with the real ansible-inventory: an alias bomb
stops at the memory limit or the timeout, a hung script dies with everything it started,
nothing is left in the temp folder, and bad host variables are warnings naming the host."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditor.config import AnsibleConfig
from auditor.errors import SourceError
from auditor.sources.ansible import AnsibleInventorySource, get_inventory

pytestmark = pytest.mark.skipif(
    shutil.which("ansible-inventory") is None
    and not (Path(sys.executable).parent / "ansible-inventory").exists(),
    reason="ansible-core is not installed",
)
NOW = datetime(2026, 12, 7, tzinfo=UTC)


@pytest.fixture(autouse=True)
def private_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every temp folder made during the test lands here, so leftovers can be counted."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    assert list(folder.iterdir()) == []  # nothing outlived the read


def _alias_bomb(folder: Path) -> Path:
    # 9 levels of 9 aliases: 387 million strings once ansible walks the variables.
    lines = [
        "all:",
        "  vars:",
        '    l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    ]
    lines += [f"    l{i}: &l{i} [{','.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    lines += ["  hosts:", "    web01:", "      ansible_host: 127.0.0.11"]
    path = folder / "bomb.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_an_alias_bomb_stops_at_the_memory_limit(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"bomb.yml: .*of its 400 MB memory limit"):
        get_inventory(_alias_bomb(tmp_path), memory_limit=400 * 1024**2, timeout=120)
    print(f"alias bomb refused at 400 MB after {time.monotonic() - started:.1f}s")


def test_an_alias_bomb_stops_at_the_timeout(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"bomb.yml: ansible-inventory took longer than 3s"):
        get_inventory(_alias_bomb(tmp_path), timeout=3)
    assert time.monotonic() - started < 3 + 5  # killed at the timeout, not at the bomb's end


def test_a_hung_inventory_script_dies_with_what_it_started(tmp_path: Path) -> None:
    marker = tmp_path / "grandchild.pid"
    script = tmp_path / "inventory.sh"
    script.write_text(f"#!/bin/sh\nsleep 300 &\necho $! > {marker}\nsleep 300\n")
    script.chmod(0o755)
    # Long enough for ansible-inventory to start and run the script on a loaded machine.
    with pytest.raises(SourceError, match="took longer than 15s"):
        get_inventory(script, timeout=15)
    pid = int(marker.read_text())
    for _ in range(50):  # reaped by init once its parent is gone
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the script's child {pid} outlived the timeout")


def test_a_good_read_leaves_nothing_behind(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[web]\nweb01 ansible_host=127.0.0.11\n")
    data = get_inventory(inventory)
    assert "web01" in data["_meta"]["hostvars"]


def test_bad_host_variables_are_warnings_naming_the_host(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(
        "[web]\n"
        "web01 ansible_host=127.0.0.11 ansible_port=notaport\n"
        "web02 ansible_host=127.0.0.12 ansible_port=70000\n"
        "web03 ansible_host='x;touch pwned' ansible_port=2222\n"
        "web04 ansible_host=127.0.0.14\n"
    )
    config = AnsibleConfig(name="inv", inventory=(inventory,))
    result = AnsibleInventorySource(config, resolver=lambda name: ()).collect(NOW)
    assert result.ok  # warnings, not a failed source
    by_name = {o.attributes["inventory_hostname"]: o for o in result.observations}
    assert by_name["web01"].attributes["ansible_port"] is None
    assert by_name["web02"].attributes["ansible_port"] is None
    assert by_name["web03"].attributes["ansible_port"] == 2222
    assert [i for i in by_name["web03"].identifiers if not i.startswith("name:")] == []
    assert by_name["web04"].identifiers == ("name:web04", "ip:127.0.0.14")
    warnings = "\n".join(result.errors)
    assert f"{inventory}: host 'web01': ansible_port 'notaport' is not a TCP port" in warnings
    assert "host 'web02': ansible_port" in warnings
    assert "host 'web03': ansible_host 'x;touch pwned' is not a host name or address" in warnings
    assert "web04" not in warnings
    assert not (tmp_path / "pwned").exists()
