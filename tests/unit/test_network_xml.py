from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditor.errors import SourceError
from auditor.sources.network import parse_nmap_xml, second_look_timing, to_observations

FIXTURES = Path(__file__).parent.parent / "fixtures" / "nmap"
NOW = datetime(2026, 11, 28, tzinfo=UTC)


def test_real_syn_scan_of_loopback() -> None:
    scan = parse_nmap_xml((FIXTURES / "loopback-syn.xml").read_bytes())
    assert scan.complete and scan.problem is None
    (host,) = scan.hosts
    assert host["addresses"] == ["127.0.0.1"] and host["state"] == "up"
    assert [p["port"] for p in host["ports"]] == [18080]  # closed ports are not open ports
    (obs,) = to_observations(scan, source_name="lo", now=NOW, scan_type="syn")
    assert obs.identifiers == ("ip:127.0.0.1",) and obs.alive is True
    assert obs.attributes["open_ports"][0]["port"] == 18080


def test_real_connect_scan_with_service_detection() -> None:
    scan = parse_nmap_xml((FIXTURES / "loopback-connect-sv.xml").read_bytes())
    assert scan.complete
    (host,) = scan.hosts  # the <hosthint> element is not a second host
    assert host["ports"][0]["service"] == "unknown"


def test_silent_addresses_are_counted_from_runstats() -> None:
    # A live sweep lists no <host> for an address that stayed silent: <runstats> counts
    # them, and a count above zero is what starts the second look.
    assert parse_nmap_xml((FIXTURES / "loopback-syn.xml").read_bytes()).silent == 0
    assert parse_nmap_xml((FIXTURES / "recheck-lab-syn.xml").read_bytes()).silent == 1
    assert parse_nmap_xml((FIXTURES / "truncated.xml").read_bytes()).silent == 0


def test_the_second_look_is_paced_by_the_first_pass_answers() -> None:
    # The hosts that answered set the second pass's timeouts (nmap's <times to>, µs);
    # with no answer at all there is nothing to go by, and nmap's own caution stays.
    scan = parse_nmap_xml((FIXTURES / "loopback-syn.xml").read_bytes())
    assert scan.slowest_answer_us == 100000
    timing = second_look_timing(scan)
    assert timing[:4] == ("--initial-rtt-timeout", "100ms", "--max-rtt-timeout", "300ms")
    slow = replace(scan, slowest_answer_us=1_234_567)
    assert second_look_timing(slow)[1::2][:2] == ("1235ms", "3705ms")
    assert second_look_timing(replace(scan, slowest_answer_us=0)) == ()


def test_truncated_file_is_labelled_partial() -> None:
    scan = parse_nmap_xml((FIXTURES / "truncated.xml").read_bytes(), origin="truncated.xml")
    assert not scan.complete
    assert scan.problem is not None and "truncated.xml" in scan.problem
    assert "partial result" in scan.problem


def test_not_xml_is_a_clear_error() -> None:
    with pytest.raises(SourceError, match="not nmap XML"):
        parse_nmap_xml((FIXTURES / "not-xml.txt").read_bytes(), origin="not-xml.txt")


def test_entity_expansion_is_refused() -> None:
    with pytest.raises(SourceError, match="refused XML"):
        parse_nmap_xml((FIXTURES / "billion-laughs.xml").read_bytes())


def test_other_xml_is_not_nmap() -> None:
    with pytest.raises(SourceError, match="no <nmaprun>"):
        parse_nmap_xml(b"<?xml version='1.0'?><html><body/></html>")
