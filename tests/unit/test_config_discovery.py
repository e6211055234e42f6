"""Which config runs when --config is not given: $AUDITOR_CONFIG, ./audit.toml,
~/.config/auditor/audit.toml, /etc/auditor/audit.toml; the error lists what was tried."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.config import config_search_path, find_config
from auditor.errors import ConfigError


def test_the_search_path_in_order(tmp_path: Path) -> None:
    home, cwd = tmp_path / "home", tmp_path / "work"
    assert config_search_path({}, cwd, home) == (
        cwd / "audit.toml",
        home / ".config" / "auditor" / "audit.toml",
        Path("/etc/auditor/audit.toml"),
    )
    xdg = config_search_path({"XDG_CONFIG_HOME": str(tmp_path / "xdg")}, cwd, home)
    assert xdg[1] == tmp_path / "xdg" / "auditor" / "audit.toml"


def test_given_then_environment_then_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home, cwd = tmp_path / "home", tmp_path / "work"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HOME", str(home))
    env = {"XDG_CONFIG_HOME": ""}
    given = tmp_path / "given.toml"
    assert find_config(given, env) == given  # named: used as named, even if missing
    assert find_config(None, {**env, "AUDITOR_CONFIG": str(given)}) == given
    user = home / ".config" / "auditor" / "audit.toml"
    user.parent.mkdir(parents=True)
    user.write_text("")
    assert find_config(None, env) == user
    (cwd / "audit.toml").write_text("")
    assert find_config(None, env) == cwd / "audit.toml"  # the working folder's comes first


def test_nothing_found_lists_every_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if Path("/etc/auditor/audit.toml").exists():
        pytest.skip("this machine has an /etc/auditor/audit.toml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ConfigError) as raised:
        find_config(None, {})
    message = str(raised.value)
    for place in ("$AUDITOR_CONFIG", str(tmp_path / "audit.toml"), "/etc/auditor/audit.toml"):
        assert place in message


def test_the_cli_uses_auditor_config_and_says_what_it_tried(tmp_path: Path) -> None:
    if Path("/etc/auditor/audit.toml").exists():
        pytest.skip("this machine has an /etc/auditor/audit.toml")
    env = {k: v for k, v in os.environ.items() if k not in ("AUDITOR_CONFIG", "XDG_CONFIG_HOME")}
    env["HOME"] = str(tmp_path)

    def discover(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "auditor", "discover"], capture_output=True, text=True,
            cwd=tmp_path, env={**env, **extra}, timeout=120,
        )  # fmt: skip

    missing = discover({})
    assert missing.returncode == 2 and "auditor init" in missing.stderr
    assert str(tmp_path / ".config" / "auditor" / "audit.toml") in missing.stderr
    config = tmp_path / "elsewhere.toml"
    config.write_text("[ssh]\ntimout = 3\n")  # a config error proves this file was read
    named = discover({"AUDITOR_CONFIG": str(config)})
    assert named.returncode == 2 and "timout" in named.stderr and str(config) in named.stderr
