"""Real nmap against a listener on 127.0.0.1 (loopback only: never any other address)."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditor.config import NetworkConfig
from auditor.sources.network import NmapSource

pytestmark = pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is not installed")
NOW = datetime(2026, 11, 28, tzinfo=UTC)


@pytest.fixture
def listener() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


@pytest.mark.parametrize("privileged", [False, True])
def test_sweep_finds_open_port(listener: int, privileged: bool) -> None:
    if privileged and os.geteuid() != 0:
        pytest.skip("SYN scan needs root")
    config = NetworkConfig(name="lo", targets=("127.0.0.1",), ports=(listener, closed_port()))
    result = NmapSource(config, privileged=privileged).collect(NOW)
    assert result.ok, result.error
    (obs,) = result.observations
    assert obs.identifiers[0] == "ip:127.0.0.1"
    assert [p["port"] for p in obs.attributes["open_ports"]] == [listener]
    assert result.details["scan_type"].startswith("syn" if privileged else "connect")


def test_bad_target_fails_the_source_not_the_run() -> None:
    config = NetworkConfig(name="lo", targets=("127.0.0.1", "--script=x"), ports=(22,))
    result = NmapSource(config).collect(NOW)
    assert not result.ok and result.observations == ()
    assert result.error is not None and "looks like an option" in result.error


def test_imported_xml_and_a_missing_file(tmp_path: Path) -> None:
    fixtures = Path(__file__).parent.parent / "fixtures" / "nmap"
    config = NetworkConfig(
        name="import",
        nmap_xml=(fixtures / "loopback-syn.xml", fixtures / "truncated.xml", tmp_path / "no.xml"),
    )
    result = NmapSource(config).collect(NOW)
    assert [o.identifiers[0] for o in result.observations] == ["ip:127.0.0.1"]
    assert not result.ok
    assert any("partial result" in e for e in result.errors)
    assert any("no.xml: cannot read nmap XML" in e for e in result.errors)
