"""nmap XML imports: streamed, capped, and one bad element costs that element only."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditor.config import NetworkConfig
from auditor.sources.network import NmapSource, parse_nmap_xml
from tests.unit.hostile.scans import HEAD, TAIL, host_xml, port_xml

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def _host(address: str, ports: str = "", addrtype: str = "ipv4") -> str:
    return host_xml(address, ports=ports, addrtype=addrtype)


_port = port_xml


def _collect(tmp_path: Path, body: str) -> tuple[list[dict[str, object]], tuple[str, ...]]:
    path = tmp_path / "scan.xml"
    path.write_text(HEAD + body + TAIL)
    result = NmapSource(NetworkConfig(name="i", nmap_xml=(path,))).collect(NOW)
    return [dict(o.attributes) for o in result.observations], result.errors


def test_a_bad_portid_drops_that_port_only_and_names_it(tmp_path: Path) -> None:
    body = _host(
        "10.0.0.1", _port('protocol="tcp" portid="abc"') + _port('protocol="tcp" portid="22"')
    )
    body += _host("10.0.0.2", _port('protocol="tcp" portid="80"'))
    observations, errors = _collect(tmp_path, body)
    assert [[p["port"] for p in o["open_ports"]] for o in observations] == [[22], [80]]  # type: ignore[attr-defined]
    (error,) = errors
    assert "scan.xml" in error and "host 10.0.0.1" in error and "portid='abc'" in error


@pytest.mark.parametrize(
    "attributes",
    [
        'protocol="tcp"',
        'portid="22"',
        'protocol="tcp" portid="0"',
        'protocol="tcp" portid="70000"',
        'protocol="tcp" portid="-1"',
    ],
)
def test_a_missing_or_impossible_port_is_an_error_not_port_0(
    tmp_path: Path, attributes: str
) -> None:
    observations, errors = _collect(tmp_path, _host("10.0.0.1", _port(attributes)))
    assert observations[0]["open_ports"] == []
    assert len(errors) == 1 and "port dropped" in errors[0]


@pytest.mark.parametrize(
    ("address", "addrtype"),
    [("10.0.0.1; touch pwned", "ipv4"), ("10.0.0.256", "ipv4"), ("::1", "ipv4"), ("", "ipv4")],
)
def test_a_host_without_a_valid_address_is_dropped_and_named(
    tmp_path: Path, address: str, addrtype: str
) -> None:
    observations, errors = _collect(tmp_path, _host(address, addrtype=addrtype) + _host("10.0.0.2"))
    assert len(observations) == 1
    assert any("not an address" in e for e in errors) and any("dropped" in e for e in errors)


def test_the_host_cap_gives_a_labelled_partial_result() -> None:
    data = (HEAD + "".join(_host(f"10.0.0.{n}") for n in range(1, 6)) + TAIL).encode()
    scan = parse_nmap_xml(data, origin="big.xml", max_hosts=3)
    assert len(scan.hosts) == 3 and not scan.complete
    assert scan.problem is not None and "more than 3 hosts up" in scan.problem


def test_the_size_cap_gives_a_labelled_partial_result() -> None:
    data = HEAD + "".join(_host(f"10.0.{n // 250}.{n % 250 + 1}") for n in range(3000)) + TAIL
    scan = parse_nmap_xml(data.encode(), origin="big.xml", max_bytes=100_000)
    assert not scan.complete and 0 < len(scan.hosts) < 3000
    assert scan.problem is not None and "larger than 100000 bytes" in scan.problem


def test_many_bad_elements_are_counted_past_the_first_twenty(tmp_path: Path) -> None:
    ports = "".join(_port('protocol="tcp" portid="x"') for _ in range(50))
    _, errors = _collect(tmp_path, _host("10.0.0.1", ports))
    assert len(errors) == 21 and "30 more elements dropped" in errors[-1]


# Memory follows the hosts up, not the file: 200k hosts down and a few up.
MEASURE = r"""
import json, resource, sys, time
from pathlib import Path
from auditor.sources.network import parse_nmap_xml
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
with open(sys.argv[1], "rb") as stream:
    scan = parse_nmap_xml(stream)
print(json.dumps({"up": len(scan.hosts), "down": scan.hosts_down,
                  "seconds": time.perf_counter() - start,
                  "grew_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024}))
"""


def test_parsing_streams(tmp_path: Path) -> None:
    path = tmp_path / "sweep.xml"
    with path.open("w") as out:
        out.write(HEAD)
        for n in range(200_000):
            address = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
            if n % 20_000 == 0:
                out.write(_host(address, _port('protocol="tcp" portid="22"')))
            else:
                out.write(f'<host><status state="down" reason="no-response"/><address '
                          f'addr="{address}" addrtype="ipv4"/><hostnames/></host>\n')  # fmt: skip
        out.write(TAIL)
    done = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True,
                          text=True, check=True)  # fmt: skip
    result = json.loads(done.stdout)
    size = path.stat().st_size / 1e6
    print(f"{size:.0f} MB, 200000 hosts: {result['seconds']:.1f} s, peak RSS grew "
          f"{result['grew_mb']:.0f} MB")  # fmt: skip
    assert result["up"] == 10 and result["down"] == 199_990
    assert result["grew_mb"] < size  # the file was never held whole, nor its elements


def test_a_host_without_a_status_is_an_error_not_a_guess(tmp_path: Path) -> None:
    body = _host("10.0.0.1").replace('<status state="up" reason="syn-ack"/>', "")
    body += _host("10.0.0.2").replace('state="up"', 'stat\u0435="up"')  # a Cyrillic e: no state
    observations, errors = _collect(tmp_path, body + _host("10.0.0.3"))
    assert len(observations) == 1
    assert len(errors) == 2 and all("no <status state=...>" in e for e in errors)
    assert "host 10.0.0.1" in errors[0] and "host 10.0.0.2" in errors[1]
