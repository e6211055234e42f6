"""Nothing runs that we did not mean: discovered names never reach a shell on the controller."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from auditor.config import Config, NetworkConfig, SshSettings
from auditor.errors import TargetError
from auditor.inspect.repos import search_terms
from auditor.inspect.run import resolve_target, reverse_names
from auditor.model import SourceResult
from auditor.reconcile import reconcile
from auditor.remote.endpoint import EndpointResolver
from auditor.remote.paramiko_connector import ParamikoConnector
from auditor.sources.ansible import resolve_names
from auditor.sources.network import NmapSource

NOW = datetime(2026, 12, 7, tzinfo=UTC)
HOSTILE_NAME = "x;touch pwned;#"

NMAP_XML = """<?xml version="1.0"?>
<nmaprun scanner="nmap" args="nmap -n 127.0.0.0/8" startstr="Mon Dec  7 10:00:00 2026">
<host><status state="up" reason="syn-ack"/>
<address addr="127.0.0.9" addrtype="ipv4"/>
<hostnames><hostname name="{name}" type="PTR"/></hostnames>
<ports><port protocol="tcp" portid="22"><state state="open"/></port></ports>
</host>
<runstats><finished time="1"/></runstats>
</nmaprun>
"""


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # `touch pwned` would land here
    return tmp_path


def _ssh_config(folder: Path, block: str) -> Path:
    path = folder / "ssh_config"
    path.write_text(block)
    return path


def _scan(folder: Path, name: str) -> SourceResult:
    xml = folder / "scan.xml"
    xml.write_text(NMAP_XML.format(name=name.replace("&", "&amp;").replace('"', "&quot;")))
    return NmapSource(NetworkConfig(name="imported", nmap_xml=(xml,))).collect(NOW)


def _hosts_from_xml(folder: Path, name: str) -> tuple[str, str]:
    (host,) = reconcile([_scan(folder, name)], Config(path=None), date(2026, 12, 7))
    assert host.primary_address is not None
    return host.primary_address, host.label


def test_match_exec_never_runs_a_scanned_hostname(in_tmp: Path) -> None:
    config = _ssh_config(in_tmp, 'Match exec "test %h = x"\n    User matched\n')
    address, label = _hosts_from_xml(in_tmp, HOSTILE_NAME)
    assert label == HOSTILE_NAME  # the name travelled this far untouched
    settings = SshSettings()
    (host,) = reconcile([_scan(in_tmp, HOSTILE_NAME)], Config(path=None), date(2026, 12, 7))
    ParamikoConnector(ssh_config=config).ports_for(host, address, settings)  # the audit's lookup
    endpoint = EndpointResolver(config).resolve(address, 22, settings, label)  # the connect's
    assert not (in_tmp / "pwned").exists()
    assert endpoint.user != "matched"


def test_match_exec_is_not_evaluated_for_discovered_names(in_tmp: Path) -> None:
    # Even a valid name or an address: the command is the user's, the name is not.
    config = _ssh_config(in_tmp, 'Match exec "touch ran-%h"\n    User matched\n')
    resolver = EndpointResolver(config)
    endpoint = resolver.resolve("127.0.0.9", 22, SshSettings(), "web1.example.com")
    assert list(in_tmp.glob("ran-*")) == []
    assert endpoint.user != "matched"


def test_match_exec_still_applies_to_the_users_own_jump_host(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO())  # invoke (paramiko's runner) reads stdin
    # The bastion's name comes from the user's own configuration: OpenSSH semantics hold.
    config = _ssh_config(in_tmp, 'Match exec "touch ran-%h"\n    User matched\n')
    resolver = EndpointResolver(config)
    settings = SshSettings(jump_host="bastion.example.com")
    endpoint = resolver.resolve("127.0.0.9", 22, settings, "web1")
    hop = resolver.resolve_hop(endpoint.jump[0], settings)
    assert (in_tmp / "ran-bastion.example.com").exists()
    assert hop.user == "matched"


@pytest.mark.parametrize(
    "name",
    [
        HOSTILE_NAME,
        "$(touch pwned)",
        "`touch pwned`",
        "a b",
        "-oProxyCommand=touch pwned",
        "../../etc/passwd",
        "web1\n    User root",
        "web\x00one",
        "x" * 300,
    ],
)
def test_names_that_are_not_host_names_never_reach_ssh_config(in_tmp: Path, name: str) -> None:
    # A Host * block with %h in IdentityFile: a name with "/" would pick the key path.
    config = _ssh_config(in_tmp, "Host *\n    IdentityFile ~/.ssh/%h.key\n")
    resolver = EndpointResolver(config)
    endpoint = resolver.resolve("127.0.0.9", 22, SshSettings(), name)
    assert all(name not in str(path) for path in endpoint.identity_files)
    assert all("/etc/passwd" not in str(path) for path in endpoint.identity_files)


@pytest.mark.parametrize(
    "name", ["web\x00one", "web1\nweb2", "-e", "--open-files-in-pager=touch pwned", "a b"]
)
def test_hostile_names_are_not_search_terms(name: str) -> None:
    terms = search_terms(["10.0.0.5"], [name, "web01.example.com"])
    assert [t.text for t in terms] == ["10.0.0.5", "web01.example.com", "web01"]


def test_a_scan_address_that_is_not_an_address_is_never_connected_to(in_tmp: Path) -> None:
    xml = NMAP_XML.replace('addr="127.0.0.9"', 'addr="127.0.0.9\r\nHost: evil"')
    (in_tmp / "scan.xml").write_text(xml.format(name="web1"))
    result = NmapSource(NetworkConfig(name="i", nmap_xml=(in_tmp / "scan.xml",))).collect(NOW)
    hosts = reconcile([result], Config(path=None), date(2026, 12, 7))
    assert all(host.addresses == () for host in hosts)


def test_reverse_dns_is_asked_for_addresses_only(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def gethostbyaddr(address: str) -> tuple[str, list[str], list[str]]:
        asked.append(address)
        raise OSError("no PTR record")

    monkeypatch.setattr("socket.gethostbyaddr", gethostbyaddr)
    clients = ["10.0.0.7", "exfil.attacker.example", "a\x00b", "10.0.0.7;id", "10.0.0.7"]
    assert reverse_names(clients) == {}
    assert asked == ["10.0.0.7"]


def test_only_host_names_are_ever_looked_up_in_dns() -> None:
    asked: list[str] = []

    def resolver(name: str) -> tuple[str, ...]:
        asked.append(name)
        return ("127.0.0.1",)

    resolved, problems = resolve_names({"web01", "a\x00b", "x;touch pwned", "-oops"}, 1.0, resolver)
    assert asked == ["web01"] and resolved == {"web01": ("127.0.0.1",)}
    assert len(problems) == 3 and all("not a host name; not resolved" in p for p in problems)


@pytest.mark.parametrize("target", ["a\x00b", "x;touch pwned", "-oProxyCommand=x", "../etc"])
def test_inspect_refuses_a_target_that_is_no_name_or_address(target: str) -> None:
    with pytest.raises(TargetError, match="not a host address or name"):
        resolve_target(target, None)
