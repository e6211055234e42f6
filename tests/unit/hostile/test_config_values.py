"""Config: every number has a sane range, and [[network]] targets are checked at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.config import Config, load_config
from auditor.drift.policy import config_policies
from auditor.errors import ConfigError


def _load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "audit.toml"
    path.write_text(text)
    return load_config(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[ssh]\ndeadline = inf\n", "[ssh] key 'deadline': expected a number > 0 and at most"),
        ("[ssh]\ndeadline = nan\n", "[ssh] key 'deadline'"),
        ("[ssh]\ndeadline = -inf\n", "[ssh] key 'deadline'"),
        ("[ssh]\ndeadline = 1e12\n", "[ssh] key 'deadline'"),
        ("[ssh]\ntimeout = -1\n", "[ssh] key 'timeout'"),
        ("[ssh]\ntimeout = 0\n", "[ssh] key 'timeout'"),
        ("[ssh]\nconcurrency = 100000\n", "[ssh] key 'concurrency': expected an integer between"),
        ("[ssh]\nconcurrency = 0\n", "[ssh] key 'concurrency'"),
        ("[ssh]\nlog_days = -7\n", "[ssh] key 'log_days'"),
        ("[audit]\nnotify_timeout = inf\n", "[audit] key 'notify_timeout'"),
        ("[audit]\nuptime_days = 99999999\n", "[audit] key 'uptime_days'"),
        ("[audit]\nsilent_days = -1\n", "[audit] key 'silent_days'"),
        ("[audit]\ngone_after_days = 1e3\n", "[audit] key 'gone_after_days': expected an integer"),
        ("[[ansible]]\ninventory = 'x'\nresolve_timeout = nan\n", "key 'resolve_timeout'"),
        ("[[network]]\ntargets = ['10.0.0.1']\nhost_timeout = 0\n", "key 'host_timeout'"),
        ("[[network]]\ntargets = ['10.0.0.1']\nhost_timeout = 10000000\n", "key 'host_timeout'"),
    ],
)
def test_numbers_out_of_range_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    assert message in str(info.value) and str(tmp_path / "audit.toml") in str(info.value)


@pytest.mark.parametrize(
    ("key", "target"),
    [
        ("targets", "-iL /etc/shadow"),
        ("targets", "10.0.0.0/24;rm -rf /"),
        ("targets", "10.0.0.300"),
        ("targets", "10.0.0.9-3"),
        ("targets", "$(reboot)"),
        ("exclude", "10.0.0.0/33"),
        ("exclude", " 10.0.0.1"),
    ],
)
def test_bad_network_targets_are_refused_at_load(tmp_path: Path, key: str, target: str) -> None:
    text = f"[[network]]\nname = 'lan'\ntargets = ['10.0.0.0/24']\n{key} = [{target!r}]\n"
    if key == "targets":
        text = f"[[network]]\nname = 'lan'\ntargets = [{target!r}]\n"
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    message = str(info.value)
    assert str(tmp_path / "audit.toml") in message
    assert f"[[network]] #1 key '{key}'" in message and repr(target) in message


def test_good_values_still_load(tmp_path: Path) -> None:
    _load(
        tmp_path,
        "[ssh]\ndeadline = 120.5\nconcurrency = 64\n[[network]]\n"
        "targets = ['10.0.0.0/24', '10.0.1.1-50', 'web01.example.com']\nexclude = ['10.0.0.1']\n",
    )


@pytest.mark.parametrize(
    "condition", ["{ ge = nan }", "{ lt = inf }", "{ eq = -inf }", "{ in = [1, nan] }"]
)
def test_policy_operands_must_be_finite(tmp_path: Path, condition: str) -> None:
    text = (
        "[[policy]]\nname = 'capacity'\nresource = 'aws_dynamodb_table'\n"
        f"require = [ {{ read_capacity = {condition} }} ]\n"
    )
    with pytest.raises(ConfigError, match="expected a finite number") as info:
        config_policies(_load(tmp_path, text))  # the config keeps the tables; drift parses
    assert "capacity" in str(info.value) or "policy" in str(info.value)
