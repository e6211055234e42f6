"""Endpoint resolution: auditor settings, then ~/.ssh/config; jump host syntax."""

from __future__ import annotations

import getpass
from dataclasses import replace
from pathlib import Path

import pytest

from auditor.config import SshSettings
from auditor.remote.endpoint import EndpointResolver, Hop, parse_jump_chain

SSH_CONFIG = """
Host web1
    User deploy
    Port 2200
    IdentityFile ~/.ssh/deploy_key
    ProxyJump ops@bastion.example.com:2222

Host 10.9.9.9
    HostName db.internal
    IdentitiesOnly yes

Host bastion.example.com
    HostName 192.0.2.10
    User jumper
    IdentityFile /keys/jump

Host direct
    ProxyJump none
"""


@pytest.fixture
def resolver(tmp_path: Path) -> EndpointResolver:
    config = tmp_path / "config"
    config.write_text(SSH_CONFIG)
    return EndpointResolver(config, allow_agent=True)


@pytest.mark.parametrize(
    ("text", "hop"),
    [
        ("bastion", Hop("bastion", 22, None)),
        ("ops@bastion:2222", Hop("bastion", 2222, "ops")),
        ("ops@[2001:db8::1]:2222", Hop("2001:db8::1", 2222, "ops")),
        ("2001:db8::1", Hop("2001:db8::1", 22, None)),
        ("ssh://ops@bastion:2200", Hop("bastion", 2200, "ops")),
    ],
)
def test_hop_syntax(text: str, hop: Hop) -> None:
    assert Hop.parse(text) == hop


def test_hop_chain_and_none() -> None:
    assert parse_jump_chain("a,ops@b:2") == (Hop("a"), Hop("b", 2, "ops"))
    assert parse_jump_chain("none") == ()
    with pytest.raises(ValueError):
        Hop.parse("ops@bastion:99999")
    assert str(Hop("2001:db8::1", 22, "ops")) == "ops@[2001:db8::1]:22"


def test_ssh_config_fills_what_settings_leave_open(resolver: EndpointResolver) -> None:
    endpoint = resolver.resolve("10.0.0.5", 2200, SshSettings(), "web1")
    assert endpoint.host == "10.0.0.5"  # discovery's address wins over the label's HostName
    assert endpoint.user == "deploy"
    assert endpoint.identity_files == (Path("~/.ssh/deploy_key").expanduser(),)
    assert not endpoint.look_for_keys
    assert endpoint.jump == (Hop("bastion.example.com", 2222, "ops"),)
    assert endpoint.known_names == ("[10.0.0.5]:2200", "[web1]:2200")
    assert str(endpoint) == "deploy@10.0.0.5:2200 via ops@bastion.example.com:2222"
    assert resolver.config_port(SshSettings(), "10.0.0.5", "web1") == 2200


def test_explicit_settings_win(resolver: EndpointResolver) -> None:
    settings = SshSettings(user="auditor", key_file=Path("/k/audit"), jump_host="j:2")
    endpoint = resolver.resolve("10.0.0.5", 22, settings, "web1")
    assert endpoint.user == "auditor"
    assert endpoint.identity_files == (Path("/k/audit"),)
    assert endpoint.jump == (Hop("j", 2),)


def test_hostname_for_the_address_itself_redirects(resolver: EndpointResolver) -> None:
    endpoint = resolver.resolve("10.9.9.9", 22, SshSettings(), "10.9.9.9")
    assert endpoint.host == "db.internal"
    assert endpoint.known_names == ("db.internal", "10.9.9.9")
    assert not endpoint.allow_agent  # IdentitiesOnly
    assert endpoint.user == getpass.getuser()
    assert endpoint.look_for_keys


def test_proxyjump_none(resolver: EndpointResolver) -> None:
    assert resolver.resolve("10.0.0.1", 22, SshSettings(), "direct").jump == ()


def test_use_ssh_config_false_ignores_it(resolver: EndpointResolver) -> None:
    endpoint = resolver.resolve("10.0.0.5", 22, SshSettings(use_ssh_config=False), "web1")
    assert endpoint.user == getpass.getuser() and endpoint.jump == ()


def test_jump_hop_uses_its_own_config_block(resolver: EndpointResolver) -> None:
    hop = resolver.resolve_hop(Hop("bastion.example.com", 22, None), SshSettings())
    assert (hop.host, hop.port, hop.user) == ("192.0.2.10", 22, "jumper")
    assert hop.identity_files == (Path("/keys/jump"),)
    named = resolver.resolve_hop(Hop("bastion.example.com", 2222, "ops"), SshSettings())
    assert (named.user, named.port) == ("ops", 2222)


def test_legacy_patterns_match_address_or_name(resolver: EndpointResolver) -> None:
    settings = SshSettings(legacy_algorithms=("10.1.*", "*.old.example.com"))
    assert resolver.resolve("10.1.2.3", 22, settings, "x").legacy
    assert resolver.resolve("10.2.2.3", 22, settings, "db.OLD.example.com").legacy
    assert not resolver.resolve("10.2.2.3", 22, settings, "new.example.com").legacy
    assert not resolver.resolve("10.1.2.3", 22, replace(settings, legacy_algorithms=()), "x").legacy
