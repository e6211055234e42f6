"""Oversized strings: a 2-million-character hostname (from the host, or from a scan file)
is cut where it enters, with a visible mark, and the reports stay small."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from auditor.bounds import LIMITS, bounded_fields, cut
from auditor.config import Config, NetworkConfig
from auditor.model import Facts, SourceKind, SourceResult, SshOutcome
from auditor.pipeline import Discovery, ProbeResults, build_run, collect_sources
from auditor.probe import parse_probe_output
from auditor.report.html_report import render_html
from auditor.report.json_report import run_to_dict
from auditor.sources.network import NmapSource
from tests.unit.hostile.scans import host_xml, port_xml, scan_xml

FIXTURE = Path(__file__).parents[2] / "fixtures" / "probe" / "probe_output"
NONCE = "5f0c2a9e81d34b7a6c1e0f92"
NOW = datetime(2026, 11, 28, 23, 0, 5, tzinfo=UTC)
HUGE = 2_000_000


def _facts_with_hostname(name: str) -> Facts:
    text = (FIXTURE / "centos5_legacy_billing_sudo.txt").read_text()
    marker = "BEGIN system/hostname@@\nlegacy-billing01\n"
    assert marker in text
    text = text.replace(marker, f"BEGIN system/hostname@@\n{name}\n")
    return parse_probe_output(
        text, NONCE, collected_at=NOW, log_days=7, owner_of=lambda address: None
    )


def test_the_cut_is_marked_and_short_strings_are_untouched() -> None:
    assert cut("web01", 253) == "web01"
    assert cut("h" * 300, 253) == "h" * 253 + "… cut, 300 chars"
    facts = Facts(collected_at=NOW, hostname="web01", cron=("x" * 5000, "ok"))
    bounded = bounded_fields(facts)
    assert bounded.hostname == "web01"
    assert bounded.cron is not None and bounded.cron[1] == "ok"
    assert bounded.cron[0].endswith("… cut, 5000 chars") and len(bounded.cron[0]) < 4200


def test_a_two_million_character_hostname_from_the_host_is_cut() -> None:
    facts = _facts_with_hostname("h" * HUGE)
    assert facts.hostname == "h" * LIMITS["hostname"] + f"… cut, {HUGE} chars"


def test_a_two_million_character_name_in_a_scan_is_cut(tmp_path: Path) -> None:
    xml = tmp_path / "scan.xml"
    ssh = port_xml('protocol="tcp" portid="22"', f'<service name="ssh" product="{"b" * HUGE}"/>')
    xml.write_text(scan_xml(host_xml("10.0.0.9", names=("n" * HUGE,), ports=ssh)))
    (result,) = collect_sources([NmapSource(NetworkConfig(name="i", nmap_xml=(xml,)))], NOW)
    (obs,) = result.observations
    assert max(len(i) for i in obs.identifiers) < 400
    assert obs.attributes["open_ports"][0]["banner"].endswith(f"… cut, {HUGE} chars")


def test_the_report_of_a_host_with_a_huge_hostname_stays_small() -> None:
    from auditor.model import Host, HostStatus

    facts = _facts_with_hostname("h" * HUGE)
    host = Host(
        id="ip:10.0.0.10", addresses=("10.0.0.10",), hostnames=(),
        identifiers=("ip:10.0.0.10",), sources=(SourceKind.NETWORK,),
        status=HostStatus.UNMANAGED, status_reason="answers on the network",
    )  # fmt: skip
    discovery = Discovery(NOW, (SourceResult(SourceKind.NETWORK, "lan", True, ()),), (host,))
    probe = ProbeResults(
        ssh={host.id: SshOutcome("ok", None, "10.0.0.10", 22, 0.4)}, facts={host.id: facts}
    )
    started = time.perf_counter()
    run = build_run(Config(path=None), discovery, probe)
    html = render_html(run)
    size = len(html.encode())
    print(f"index.html with a {HUGE}-char hostname: {size} bytes, "
          f"{time.perf_counter() - started:.2f}s")  # fmt: skip
    assert size < 200_000
    assert run_to_dict(run)["hosts"][0]["facts"]["hostname"].endswith(f"… cut, {HUGE} chars")


def test_a_huge_string_stored_by_an_older_version_is_cut_when_read_back(tmp_path: Path) -> None:
    from auditor.bounds import STORED_LIMIT
    from auditor.store import open_store
    from tests.unit.test_report import sample_run

    run = sample_run("h" * HUGE)  # Facts built by hand: not bounded, as older versions stored
    with open_store(tmp_path / "history.sqlite") as store:
        store.save_run(run)
    with open_store(tmp_path / "history.sqlite", readonly=True) as store:
        stored = store.get_run(run.id)
        facts = store.facts_of(run.id, "ip:10.0.0.10")
    (host,) = stored.report["hosts"]
    assert host["hostnames"][0] == "h" * STORED_LIMIT + f"… cut, {HUGE} chars"
    assert facts is not None and facts["hostname"].endswith(f"… cut, {HUGE} chars")
    assert (
        stored.report["hosts"][0]["status_reason"] == run_to_dict(run)["hosts"][0]["status_reason"]
    )  # what fits reads back unchanged
