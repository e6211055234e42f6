"""`inspect_hosts` end to end without a network: the shipped ScriptedConnector answers with a
real probe run of the lab's CentOS 5 host (its nonce swapped for the run's own)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditor.config import Config, OwnerRule, SshSettings
from auditor.errors import TargetError
from auditor.inspect import run as inspect_run
from auditor.inspect.model import UseState
from auditor.inspect.run import (
    InspectRequest,
    inspect_hosts,
    local_address_towards,
    resolve_target,
    reverse_names,
)
from auditor.model import Observation, SourceKind, SourceResult
from auditor.pipeline import Discovery
from auditor.reconcile import reconcile
from auditor.remote.scripted import Reply, ScriptedConnector

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "inspect" / "probe_output"
NOW = datetime(2026, 11, 29, tzinfo=UTC)
CONFIG = Config(
    path=None,
    ssh=SshSettings(user="auditor", timeout=2, deadline=20),
    owners=(OwnerRule("10.20.0.0/16", "team-payments"), OwnerRule("10.30.0.0/16", "team-data")),
)


def collected_at(case: str) -> datetime:
    """When the replayed output was captured: its activity window ends there, not today."""
    args = json.loads((FIXTURE / f"{case}.json").read_text())["args"]
    return datetime.fromisoformat(args["collected_at"])


def replay(case: str) -> Callable[[str], Reply]:
    args = json.loads((FIXTURE / f"{case}.json").read_text())["args"]
    stdout = (FIXTURE / f"{case}.txt").read_text()

    def answer(script: str) -> Reply:
        nonce = re.search(r"^N=([0-9a-f]+)$", script, re.MULTILINE)
        assert nonce is not None
        return Reply(stdout=stdout.replace(args["nonce"], nonce.group(1)))

    return answer


def discovery_with_web01() -> Discovery:
    observation = Observation(
        SourceKind.ANSIBLE, "lab", ("name:web01", "ip:10.250.77.11"), NOW, None,
        {"inventory": "hosts.ini", "inventory_hostname": "web01", "groups": ["web"]},
    )  # fmt: skip
    results = (SourceResult(SourceKind.ANSIBLE, "lab", True, (observation,)),)
    return Discovery(NOW, results, reconcile(results, CONFIG, NOW.date()))


def test_the_orphan_offline(tmp_path: Path) -> None:
    repo = tmp_path / "iac"
    repo.mkdir()
    (repo / "hosts.ini").write_text("web01 ansible_host=10.250.77.11\n")
    subprocess.run(["git", "-C", str(repo), "init", "-q"], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    connector = ScriptedConnector({"10.250.77.10": replay("lab_centos5_sudo")})
    request = InspectRequest(targets=("10.250.77.10",), repos=(repo,), fetch_http=False)
    [dossier] = inspect_hosts(
        CONFIG,
        request,
        connector=connector,
        discovery=discovery_with_web01(),
        now=collected_at("lab_centos5_sudo"),
    )
    assert dossier.host == "legacy-billing01" and dossier.probe_state == "ok"
    assert dossier.verdict.state is UseState.IN_USE
    assert {c.owner for c in dossier.clients} == {"team-payments", "team-data"}
    assert dossier.known_by.checked and dossier.known_by.mentions == ()
    assert dossier.references.searched and dossier.references.references == ()
    web = next(s for s in dossier.services if s.port == 80)
    assert web.process == "httpd" and web.http is None  # fetch_http=False
    assert len(connector.calls) == 1  # one SSH round trip


def test_web01_by_name_from_the_sources() -> None:
    address, host = resolve_target("web01", discovery_with_web01())
    assert address == "10.250.77.11" and host.sources == (SourceKind.ANSIBLE,)
    assert "web01" in host.hostnames


def test_targets() -> None:
    address, host = resolve_target("10.250.77.10", None)
    assert address == "10.250.77.10" and host.id == "ip:10.250.77.10" and host.sources == ()
    for bad in ("-oProxyCommand=x", "a b", ""):
        with pytest.raises(TargetError):
            resolve_target(bad, None)


def test_an_unknown_name_that_does_not_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inspect_run, "_resolve", lambda name, timeout: None)
    with pytest.raises(TargetError, match="give its address"):
        resolve_target("nowhere01", None)


def test_reverse_names_are_bounded_and_forgiving(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(address: str) -> tuple[str, list[str], list[str]]:
        if address == "10.20.1.5":
            return ("pay-batch01.corp.example", [], [address])
        raise socket.herror(1, "unknown host")

    monkeypatch.setattr(socket, "gethostbyaddr", fake)
    assert reverse_names(["10.20.1.5", "10.20.1.6"]) == {"10.20.1.5": "pay-batch01.corp.example"}
    assert reverse_names([]) == {}


def test_our_own_address_towards_a_host() -> None:
    assert local_address_towards("127.0.0.1") == "127.0.0.1"


def test_an_ignored_host_is_not_connected_to_even_when_named() -> None:
    # An [[ignore]] rule means hands off: `inspect` names the rule instead of connecting,
    # whether the sources know the host or it is given by address alone.
    from dataclasses import replace

    from auditor.config import IgnoreRule

    config = replace(CONFIG, ignore=(IgnoreRule("10.250.77.0/28", "the storage appliances"),))
    connector = ScriptedConnector({}, default=Reply(stdout="answered\n"))
    request = InspectRequest(targets=("10.250.77.10", "web01"), fetch_http=False)
    dossiers = inspect_hosts(config, request, connector=connector, discovery=discovery_with_web01())
    assert connector.connects == []
    for dossier in dossiers:
        assert dossier.probe_state == "not-attempted"
        assert "never connected to" in (dossier.probe_reason or "")
        assert "the storage appliances" in (dossier.probe_reason or "")
        assert dossier.verdict.state is UseState.UNKNOWN
