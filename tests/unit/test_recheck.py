"""The direct re-check of listed hosts a sweep missed (issue #12 part 7): which hosts and
ports, what counts as an answer (a real nmap -Pn run on the lab), and the verdicts after it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from auditor.config import Config, NetworkConfig, SshSettings
from auditor.model import HostStatus, Observation, SourceKind, SourceResult
from auditor.pipeline import discover
from auditor.recheck import Recheck, RecheckPlan, answered, plan_recheck, run_recheck
from auditor.reconcile import reconcile
from auditor.sources.network import parse_nmap_xml

FIXTURES = Path(__file__).parent.parent / "fixtures" / "nmap"
NOW = datetime(2026, 11, 28, tzinfo=UTC)
TODAY = date(2026, 11, 28)
LAN = NetworkConfig(name="lan", targets=("10.250.77.0/24",), exclude=("10.250.77.1",),
                    ports=(22, 80, 443, 2222))  # fmt: skip
CONFIG = Config(path=None, network=(LAN,), ssh=SshSettings(ports=(22,)))


def inventory(*hosts: tuple[str, str, int | None]) -> SourceResult:
    observations = tuple(
        Observation(SourceKind.ANSIBLE, "inv", (f"name:{name}", f"ip:{ip}"), NOW, None,
                    {"inventory": "hosts.ini", "inventory_hostname": name,
                     **({"ansible_port": port} if port else {})})
        for name, ip, port in hosts
    )  # fmt: skip
    return SourceResult(SourceKind.ANSIBLE, "inv", True, observations)


def sweep(*alive: str) -> SourceResult:
    observations = tuple(
        Observation(SourceKind.NETWORK, "lan", (f"ip:{ip}",), NOW, True,
                    {"open_ports": [{"port": 22, "proto": "tcp"}]})
        for ip in alive
    )  # fmt: skip
    return SourceResult(SourceKind.NETWORK, "lan", True, observations,
                        details={"targets": list(LAN.targets), "exclude": list(LAN.exclude)})  # fmt: skip


class Fixed:
    """A source that returns what it was given (the real ones read the network)."""

    def __init__(self, result: SourceResult) -> None:
        self.kind, self.name, self.result = result.kind, result.name, result

    def collect(self, now: datetime) -> SourceResult:
        return self.result


RESULTS = [
    sweep("10.250.77.11"),
    inventory(("web01", "10.250.77.11", None), ("web02", "10.250.77.12", None),
              ("old-report01", "10.250.77.50", None), ("db09", "10.250.77.13", 2202),
              ("far01", "192.0.2.7", None)),
]  # fmt: skip


def test_the_plan_takes_stale_hosts_inside_the_sweeps_only() -> None:
    hosts = reconcile(RESULTS, CONFIG, TODAY)
    plan = plan_recheck(hosts, CONFIG)
    assert plan is not None
    # far01 is outside every [[network]] target: unverified, and never touched
    assert sorted(plan.addresses) == ["10.250.77.12", "10.250.77.13", "10.250.77.50"]
    assert set(plan.missed_by.values()) == {"lan"}
    assert plan.ports[0] == 22 and set(plan.ports) == {22, 2202, 80, 443, 2222}
    assert plan.retries == 3
    assert plan.tried().startswith("a direct check of 22, ")
    assert plan_recheck(reconcile([sweep("10.250.77.11")], CONFIG, TODAY), CONFIG) is None


def test_real_nmap_output_answers_and_silence() -> None:
    # nmap -n -Pn -sS -T4 --max-retries 3 on the lab: web02 up (22, 80 open; 443, 2222
    # reset), .50 nothing at all.
    scan = parse_nmap_xml((FIXTURES / "recheck-lab-syn.xml").read_bytes())
    plan = RecheckPlan({"10.250.77.12": "lan", "10.250.77.50": "lan"}, (22, 80, 443, 2222))
    (seen,) = answered(scan.hosts, plan, NOW)
    assert seen.identifiers == ("ip:10.250.77.12",) and seen.alive is True
    assert [p["port"] for p in seen.attributes["open_ports"]] == [22, 80]
    assert seen.attributes["closed_ports"] == [443, 2222]


def test_a_host_nmap_only_assumed_up_did_not_answer() -> None:
    # -Pn: nmap calls every host up ("user-set"); with every port filtered, nobody answered.
    plan = RecheckPlan({"10.250.77.50": "lan"}, (22,))
    hosts: list[dict[str, Any]] = [{"state": "up", "reason": "user-set",
                                    "addresses": ["10.250.77.50"], "ports": [],
                                    "closed_ports": []}]  # fmt: skip
    assert answered(hosts, plan, NOW) == []
    hosts[0]["reason"] = "arp-response"  # a machine holds that address on our segment
    assert len(answered(hosts, plan, NOW)) == 1


def test_verdicts_after_the_recheck() -> None:
    scan = parse_nmap_xml((FIXTURES / "recheck-lab-syn.xml").read_bytes())
    hosts = reconcile(RESULTS, CONFIG, TODAY)
    plan = plan_recheck(hosts, CONFIG)
    assert plan is not None
    recheck = Recheck(plan, tuple(answered(scan.hosts, plan, NOW)))
    after = {h.label: h for h in reconcile(RESULTS, CONFIG, TODAY, recheck)}
    web02, old = after["web02"], after["old-report01"]
    assert web02.status is HostStatus.MANAGED
    assert "the sweep 'lan' missed it, but a direct check of 22, " in web02.status_reason
    assert "answered: 22/tcp open, 80/tcp open, 443/tcp closed (a reset)" in web02.status_reason
    assert old.status is HostStatus.STALE
    assert old.status_reason.endswith(
        "did not answer the sweep 'lan' nor a direct check of 22, 80, 443, 2202, "
        "2222/tcp (no ping, 3 retries)"
    )
    assert after["far01"].status is HostStatus.UNVERIFIED  # never re-checked, never stale
    failed = Recheck(plan, error="nmap is not installed")
    old = {h.label: h for h in reconcile(RESULTS, CONFIG, TODAY, failed)}["old-report01"]
    assert old.status is HostStatus.STALE
    assert "(a direct check could not run: nmap is not installed)" in old.status_reason


def test_run_recheck_refuses_addresses_outside_the_targets() -> None:
    # Network safety: whatever plan it is handed, nothing outside [[network]] is scanned.
    plan = RecheckPlan({"192.0.2.7": "lan"}, (22,), targets=LAN.targets, exclude=LAN.exclude)
    result = run_recheck(plan, NOW)
    assert result.observations == () and "refused" in (result.error or "")
    excluded = RecheckPlan({"10.250.77.1": "lan"}, (22,), targets=LAN.targets,
                           exclude=LAN.exclude)  # fmt: skip
    assert "refused" in (run_recheck(excluded, NOW).error or "")


def test_discover_reconciles_again_with_the_recheck() -> None:
    scan = parse_nmap_xml((FIXTURES / "recheck-lab-syn.xml").read_bytes())
    plans: list[RecheckPlan] = []

    def rechecker(plan: RecheckPlan, now: datetime) -> Recheck:
        plans.append(plan)
        return Recheck(plan, tuple(answered(scan.hosts, plan, now)))

    sources = [Fixed(r) for r in RESULTS]
    found = discover(CONFIG, now=NOW, sources=sources, rechecker=rechecker)
    assert len(plans) == 1 and found.recheck is not None
    statuses = {h.label: h.status.value for h in found.hosts}
    assert statuses["web02"] == "managed" and statuses["old-report01"] == "stale"
    # sources given by the caller and no rechecker: no real nmap run, plain verdicts
    plain = discover(CONFIG, now=NOW, sources=sources)
    assert plain.recheck is None
    assert {h.label: h.status.value for h in plain.hosts}["web02"] == "stale"


def test_a_recheck_that_breaks_costs_the_check_not_the_run() -> None:
    def broken(plan: RecheckPlan, now: datetime) -> Recheck:
        raise RuntimeError("nmap vanished")

    seen: list[tuple[str, bool | None]] = []
    found = discover(CONFIG, now=NOW, sources=[Fixed(r) for r in RESULTS], rechecker=broken,
                     observer=lambda s, r: seen.append((s.name, None if r is None else r.ok)))
    assert ("direct check", None) in seen and ("direct check", False) in seen  # progress
    old = {h.label: h for h in found.hosts}["old-report01"]
    assert old.status is HostStatus.STALE
    assert "(a direct check could not run: RuntimeError: nmap vanished)" in old.status_reason
