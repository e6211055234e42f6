"""compute_changes: pure, on crafted runs."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from auditor.history import (
    RunSnapshot,
    Sighting,
    compute_changes,
    diff_findings,
    fact_changes,
    rebooted,
)
from auditor.model import (
    AuditRun,
    FactChange,
    Facts,
    Finding,
    FindingChange,
    Host,
    HostLastSeen,
    HostStatus,
    Listener,
    NewHost,
    Severity,
    Software,
    StatusChange,
)
from tests import builders
from tests.builders import T0, mkhost

DAY = timedelta(days=1)


def mkfacts(at: datetime, boot: datetime, *, os: str = "Ubuntu 22.04.4 LTS",
            kernel: str = "5.15.0-91", **fields: Any) -> Facts:
    return builders.mkfacts(at, boot=boot, os=os, kernel=kernel, **fields)


def mkrun(at: datetime, hosts: list[Host], facts: dict[str, Facts] | None = None,
          findings: tuple[Finding, ...] = (), run_id: str | None = None) -> AuditRun:
    return builders.mkrun(at, hosts, facts=facts, findings=findings, run_id=run_id)


def snap(run: AuditRun) -> RunSnapshot:
    return RunSnapshot.from_run(run)


def sightings_after(*runs: AuditRun) -> dict[str, Sighting]:
    """What the store would hold after saving `runs` (the store test checks it does)."""
    out: dict[str, Sighting] = {}
    for run in runs:
        for h in run.hosts:
            old = out.get(h.id)
            alive = h.alive
            out[h.id] = Sighting(
                h.id, h.label, old.first_seen if old else run.started_at, run.started_at,
                run.started_at if alive else (old.last_seen if old else None),
                None if alive else (old.gone_at if old else None))
    return out


def test_first_run_is_a_baseline() -> None:
    run = mkrun(T0, [mkhost(1)])
    changes = compute_changes(None, snap(run), sightings={})
    assert changes.previous_run is None
    assert changes.new_hosts == changes.gone_hosts == changes.new_findings == ()
    assert changes.first_seen == {"ip:10.0.0.1": T0.isoformat()}


def test_new_host_and_gone_after_grace() -> None:
    r1 = mkrun(T0, [mkhost(1), mkhost(2)])
    r2 = mkrun(T0 + DAY, [mkhost(1), mkhost(3)])  # host2 stopped answering, host3 appeared
    c2 = compute_changes(snap(r1), snap(r2), grace=3 * DAY, sightings=sightings_after(r1))
    assert c2.new_hosts == (NewHost("ip:10.0.0.3", "host3", HostStatus.MANAGED),)
    assert c2.gone_hosts == ()  # only a day: within the grace period
    assert c2.first_seen["ip:10.0.0.1"] == T0.isoformat()
    assert c2.first_seen["ip:10.0.0.3"] == (T0 + DAY).isoformat()

    r3 = mkrun(T0 + 3 * DAY, [mkhost(1), mkhost(3)])
    c3 = compute_changes(snap(r2), snap(r3), grace=3 * DAY, sightings=sightings_after(r1, r2))
    assert c3.new_hosts == ()
    assert c3.gone_hosts == (HostLastSeen("ip:10.0.0.2", "host2", T0.isoformat()),)

    # reported once: the store marks it gone, the next run does not repeat it
    seen = sightings_after(r1, r2, r3)
    seen["ip:10.0.0.2"] = replace(seen["ip:10.0.0.2"], gone_at=r3.started_at)
    r4 = mkrun(T0 + 4 * DAY, [mkhost(1), mkhost(3)])
    assert compute_changes(snap(r3), snap(r4), grace=3 * DAY, sightings=seen).gone_hosts == ()

    # and when it comes back, it is "returned", not "new"
    r5 = mkrun(T0 + 5 * DAY, [mkhost(1), mkhost(2), mkhost(3)])
    c5 = compute_changes(snap(r4), snap(r5), grace=3 * DAY, sightings=seen)
    assert c5.new_hosts == () and [h.host for h in c5.returned_hosts] == ["ip:10.0.0.2"]


def test_a_listed_host_that_stops_answering_is_gone_and_changes_status() -> None:
    r1 = mkrun(T0, [mkhost(1)])
    r2 = mkrun(T0 + 2 * DAY, [mkhost(1, HostStatus.STALE, alive=False)])
    c = compute_changes(snap(r1), snap(r2), grace=DAY, sightings=sightings_after(r1))
    assert c.status_changed == (
        StatusChange("ip:10.0.0.1", "host1", HostStatus.MANAGED, HostStatus.STALE),)
    assert [g.host for g in c.gone_hosts] == ["ip:10.0.0.1"]


def test_without_sightings_two_runs_are_compared_directly() -> None:
    r1 = mkrun(T0, [mkhost(1), mkhost(2)])
    r2 = mkrun(T0 + DAY, [mkhost(1), mkhost(3)])
    c = compute_changes(snap(r1), snap(r2), grace=timedelta(0))
    assert [h.host for h in c.new_hosts] == ["ip:10.0.0.3"]
    assert [h.host for h in c.gone_hosts] == ["ip:10.0.0.2"]
    assert compute_changes(snap(r1), snap(r2), grace=2 * DAY).gone_hosts == ()


def test_status_change_became_unmanaged() -> None:
    r1 = mkrun(T0, [mkhost(1)])
    r2 = mkrun(T0 + DAY, [mkhost(1, HostStatus.UNMANAGED)])
    c = compute_changes(snap(r1), r2, sightings=sightings_after(r1))  # an AuditRun works too
    assert c.status_changed == (
        StatusChange("ip:10.0.0.1", "host1", HostStatus.MANAGED, HostStatus.UNMANAGED),)


def test_status_change_to_owned_is_recorded() -> None:
    # An instance called hand-made until the run that recognised its launcher (an ASG).
    r1 = mkrun(T0, [mkhost(1, HostStatus.CLOUD_UNMANAGED)])
    r2 = mkrun(T0 + DAY, [mkhost(1, HostStatus.OWNED)])
    c = compute_changes(snap(r1), snap(r2), sightings=sightings_after(r1))
    assert c.status_changed == (
        StatusChange("ip:10.0.0.1", "host1", HostStatus.CLOUD_UNMANAGED, HostStatus.OWNED),)


def test_reboot_by_boot_time_and_by_uptime() -> None:
    boot = T0 - 100 * DAY
    h = mkhost(1)
    r1 = mkrun(T0, [h], {h.id: mkfacts(T0, boot)})
    same = mkrun(T0 + DAY, [h], {h.id: mkfacts(T0 + DAY, boot + timedelta(seconds=2))})
    assert compute_changes(snap(r1), snap(same)).fact_changes == ()  # jitter is not a reboot
    again = mkrun(T0 + DAY, [h], {h.id: mkfacts(T0 + DAY, T0 + timedelta(hours=12))})
    c = compute_changes(snap(r1), snap(again))
    assert c.fact_changes == (FactChange(h.id, "host1", "boot", boot.isoformat(),
                                         (T0 + timedelta(hours=12)).isoformat()),)
    # uptime only (no boot time, no collection time): it went down
    assert rebooted({"uptime_seconds": 9000}, {"uptime_seconds": 300})
    assert not rebooted({"uptime_seconds": 300}, {"uptime_seconds": 9000})
    # uptime + collection time give the boot time
    assert rebooted({"uptime_seconds": 86400 * 5, "collected_at": T0.isoformat()},
                    {"uptime_seconds": 3600, "collected_at": (T0 + DAY).isoformat()})


def test_new_and_vanished_listeners_teams_os_kernel_software() -> None:
    boot = T0 - 10 * DAY
    h = mkhost(1)
    before = mkfacts(T0, boot, teams=("team-a",), kernel="5.15.0-91",
                     listeners=(Listener("tcp", "0.0.0.0", 22, 1, "sshd"),
                                Listener("tcp", "0.0.0.0", 8080, 2, "java")),
                     software=(Software("nginx", "1.18.0"), Software("php", "7.4.3")))
    after = mkfacts(T0 + DAY, boot, teams=("team-a", "team-b"), kernel="5.15.0-92",
                    os="Ubuntu 22.04.5 LTS",
                    listeners=(Listener("tcp", "0.0.0.0", 22, 1, "sshd"),
                               Listener("tcp", "::", 4444, 9, "nc")),
                    software=(Software("nginx", "1.24.0"), Software("redis", "7.0.15")))
    c = compute_changes(snap(mkrun(T0, [h], {h.id: before})),
                        snap(mkrun(T0 + DAY, [h], {h.id: after})))
    got = [(x.fact, x.before, x.after) for x in c.fact_changes]
    assert got == [
        ("os", "Ubuntu 22.04.4 LTS", "Ubuntu 22.04.5 LTS"),
        ("kernel", "5.15.0-91", "5.15.0-92"),
        ("listener", None, "tcp [::]:4444 nc"),
        ("listener", "tcp 0.0.0.0:8080 java", None),
        ("client_team", None, "team-b"),
        ("software", "nginx 1.18.0", "nginx 1.24.0"),
        ("software", "php 7.4.3", None),
        ("software", None, "redis 7.0.15"),
    ]


def test_a_failed_probe_is_not_everything_vanished() -> None:
    h = mkhost(1)
    r1 = mkrun(T0, [h], {h.id: mkfacts(T0, T0 - DAY, listeners=(Listener("tcp", "::", 80),))})
    r2 = mkrun(T0 + DAY, [h])  # probe failed this time: no facts
    assert compute_changes(snap(r1), snap(r2)).fact_changes == ()
    assert fact_changes({"listeners": None}, {"listeners": []}) == []


def test_new_and_resolved_findings() -> None:
    def f(rule: str, sev: Severity, title: str) -> Finding:
        return Finding(rule, sev, "ip:10.0.0.1", title, ("evidence changes daily",))

    r1 = mkrun(T0, [mkhost(1)], findings=(f("a", Severity.HIGH, "A"), f("b", Severity.LOW, "B"),
                                          f("c", Severity.MEDIUM, "C")))
    r2 = mkrun(T0 + DAY, [mkhost(1)], findings=(f("a", Severity.HIGH, "A"),
                                                f("b", Severity.HIGH, "B"),
                                                f("d", Severity.LOW, "D")))
    c = compute_changes(snap(r1), snap(r2))
    assert [(x.rule, x.severity) for x in c.new_findings] == [("b", "high"), ("d", "low")]
    assert [x.rule for x in c.resolved_findings] == ["c"]
    assert {x.label for x in (*c.new_findings, *c.resolved_findings)} == {"host1"}
    new, resolved = diff_findings(None, [Finding("x", Severity.LOW, None, "X")])
    assert new == [FindingChange("x", Severity.LOW, None, "X")] and resolved == []
