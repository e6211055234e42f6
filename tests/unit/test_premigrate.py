"""premigrate: the plan, what "migrated" means, classification, ranking, findings and the
report data. Pure, except one real ansible-inventory read of a plan."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from auditor.config import Config, OwnerRule
from auditor.errors import ConfigError
from auditor.model import (
    AuditRun,
    ClientUse,
    Connection,
    Facts,
    Host,
    HostStatus,
    Observation,
    Severity,
    SourceKind,
    SshOutcome,
    WebLog,
)
from auditor.premigrate.classify import (
    EntryStatus,
    Mode,
    OldSpace,
    classify_hosts,
    entry_status,
    match_entry,
    migration_findings,
    targets_to_check,
    unmatched_entries,
)
from auditor.premigrate.plan import (
    Plan,
    PlanEntry,
    load_plan,
    parse_plan_list,
    plan_from_inventory,
    plan_kind,
)
from auditor.premigrate.render import render_html, render_markdown, rows
from auditor.premigrate.run import PremigrateRequest, premigrate_summary, with_migration
from auditor.report.json_report import run_to_dict, validate_report

PLANS = Path(__file__).resolve().parents[1] / "fixtures" / "inspect" / "plans"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
OLD = OldSpace(("10.250.77.0/24",), ("10.250.77.1",))
OWNERS = Config(path=None, owners=(OwnerRule("10.20.0.0/16", "team-payments"),))

# ------------------------------------------------------------------------ the plan


def test_text_plan() -> None:
    plan = parse_plan_list((PLANS / "plan.txt").read_text(), "plan.txt")
    assert [(e.name, e.target, e.marked_migrated) for e in plan.entries] == [
        ("web01", "10.40.0.11", False),
        ("web02", None, False),
        ("db01", "db01.new.example.com", True),
        ("10.250.77.14", None, False),
        ("cache01", "10.40.0.14", False),
    ]
    assert plan.entries[0].origin == "plan.txt:2"
    assert plan.problems == (
        "plan.txt:6: ignored extra word 'extra-word'",
        "plan.txt:7: web02 is listed twice; the first entry counts",
    )


def test_inventory_plan_from_data() -> None:
    inventory = {
        "_meta": {"hostvars": {
            "web01": {"ansible_host": "10.40.0.11"},
            "db01": {"ansible_host": "DB01.new.example.com", "migrated": "yes",
                     "ansible_port": 2222},
            "app01": {"migration": "done"},
        }},
        "all": {"children": ["web", "ungrouped"]},
        "web": {"hosts": ["web01", "db01"]},
        "ungrouped": {"hosts": ["app01"]},
    }  # fmt: skip
    plan = plan_from_inventory(inventory, "new.yml")
    assert [(e.name, e.target, e.marked_migrated, e.port) for e in plan.entries] == [
        ("app01", None, True, None),
        ("db01", "db01.new.example.com", True, 2222),
        ("web01", "10.40.0.11", False, None),
    ]


def test_inventory_plan_read_by_ansible() -> None:
    plan = load_plan(PLANS / "new_platform.ini")
    assert plan.kind == "ansible"
    assert {e.name: (e.target, e.marked_migrated) for e in plan.entries} == {
        "web01": ("10.40.0.11", False),
        "web02": ("10.250.77.12", False),
        "db01": ("db01.new.example.com", True),
    }


def test_plan_kind_and_errors(tmp_path: Path) -> None:
    assert plan_kind(Path("hosts.yml"), None) == "ansible"
    assert plan_kind(Path("hosts"), "# inventory\n[web]\nweb01\n") == "ansible"
    assert plan_kind(Path("plan"), "web01 10.0.0.1\n") == "list"
    assert plan_kind(tmp_path, None) == "ansible"
    with pytest.raises(ConfigError, match="no such file"):
        load_plan(tmp_path / "missing.txt")


# ------------------------------------------------------------------------ migrated?


@pytest.mark.parametrize(
    ("entry", "answers", "resolved", "migrated", "reason"),
    [
        (PlanEntry("db01", None, True, "p:1"), {}, {}, True, "marked migrated in the plan (p:1)"),
        (PlanEntry("web02", None, False, "p:2"), {}, {}, False,
         "no new address in the plan (look names up with --resolve-plan)"),
        (PlanEntry("10.250.77.14", None, False, "p:3"), {}, {}, False,
         "the plan gives no new address"),
        (PlanEntry("web01", "10.40.0.11", False, "p:4"), {"10.40.0.11": 22}, {}, True,
         "answers at 10.40.0.11:22, outside the old space"),
        (PlanEntry("web01", "10.40.0.11", False, "p:4"), {"10.40.0.11": None}, {}, False,
         "new address 10.40.0.11 does not answer yet"),
        (PlanEntry("web02", "10.250.77.12", False, "p:5"), {}, {}, False,
         "the plan still points into the old space (10.250.77.12)"),
        (PlanEntry("app01", "app01.new", False, "p:6"), {}, {"app01.new": ()}, False,
         "app01.new not resolved"),
        (PlanEntry("app01", "app01.new", False, "p:6"), {"10.40.0.15": 2222},
         {"app01.new": ("10.250.77.15", "10.40.0.15")}, True,
         "answers at 10.40.0.15:2222, outside the old space"),
    ],
)  # fmt: skip
def test_entry_status(
    entry: PlanEntry,
    answers: dict[str, int | None],
    resolved: dict[str, tuple[str, ...]],
    migrated: bool,
    reason: str,
) -> None:
    status = entry_status(entry, OLD, answers, resolved)
    assert (status.migrated, status.reason) == (migrated, reason)


def test_only_new_addresses_outside_the_old_space_are_checked() -> None:
    plan = Plan("p", "list", (
        PlanEntry("web01", "10.40.0.11", False, "p:1"),
        PlanEntry("web02", "10.250.77.12", False, "p:2"),
        PlanEntry("db01", "10.40.0.13", True, "p:3"),
        PlanEntry("app01", "app01.new", False, "p:4", port=2222),
    ))  # fmt: skip
    assert targets_to_check(plan, OLD, {"app01.new": ("10.40.0.15",)}) == {
        "10.40.0.11": (),
        "10.40.0.15": (2222,),
    }


def test_old_space_membership() -> None:
    assert OLD.contains("10.250.77.10") and not OLD.contains("10.250.77.1")
    assert not OLD.contains("10.40.0.1")
    inventory = OldSpace((), (), ("old-inventory-1",))
    listed = host("ip:10.9.9.9", "10.9.9.9", source_name="old-inventory-1")
    assert inventory.holds(listed) and not OLD.holds(listed)


# ------------------------------------------------------------------------ classification


def host(id_: str, address: str, *names: str, alive: bool = True,
         source_name: str = "old-platform") -> Host:  # fmt: skip
    observation = Observation(SourceKind.NETWORK, source_name, (f"ip:{address}",), NOW, alive)
    return Host(id_, (address,), names, (f"ip:{address}", *(f"name:{n}" for n in names)),
                (SourceKind.NETWORK,), HostStatus.UNMANAGED, "seen", (observation,))  # fmt: skip


def busy_facts(requests: int) -> Facts:
    clients = (ClientUse("10.20.1.5", requests, NOW - timedelta(hours=1), "team-payments"),)
    log = WebLog("/var/log/httpd/access_log", requests, 1, (), (), clients)
    return Facts(collected_at=NOW, connections=(), web_logs=(log,), clients=clients,
                 logins=(), sessions=(), cron=())  # fmt: skip


def idle_facts() -> Facts:
    return Facts(collected_at=NOW, connections=(Connection(22, "10.250.77.1"),), web_logs=(),
                 clients=(), logins=(), sessions=(), cron=())  # fmt: skip


def test_match_by_name_short_name_and_address() -> None:
    entries = (
        PlanEntry("web01", None, False, "p:1"),
        PlanEntry("10.250.77.14", None, False, "p:2"),
        PlanEntry("db01.corp.example", None, False, "p:3"),
        PlanEntry("app", "10.250.77.15", False, "p:4"),
    )
    assert match_entry(host("a", "10.250.77.11", "web01.corp.example"), entries) == entries[0]
    assert match_entry(host("b", "10.250.77.14"), entries) == entries[1]
    assert match_entry(host("c", "10.250.77.13", "db01"), entries) == entries[2]
    assert match_entry(host("d", "10.250.77.15", "app01"), entries) == entries[3]
    assert match_entry(host("e", "10.250.77.10", "legacy-billing01"), entries) is None


HOSTS = (
    host("ip:10.250.77.11", "10.250.77.11", "web01"),
    host("ip:10.250.77.10", "10.250.77.10", "legacy-billing01"),
    host("ip:10.250.77.12", "10.250.77.12", "web02"),
    host("ip:10.250.77.99", "10.250.77.99"),
    host("ip:10.250.77.50", "10.250.77.50", "old-report01", alive=False),
)
FACTS = {
    "ip:10.250.77.11": busy_facts(50),
    "ip:10.250.77.10": busy_facts(400),
    "ip:10.250.77.12": idle_facts(),
    "ip:10.250.77.99": idle_facts(),
}
SSH = {h: SshOutcome("ok", address=h[3:], port=22) for h in FACTS}
PLAN = Plan("plan.txt", "list", (
    PlanEntry("web01", "10.40.0.11", False, "plan.txt:1"),
    PlanEntry("web02", None, False, "plan.txt:2"),
    PlanEntry("app01", None, False, "plan.txt:3"),
))  # fmt: skip
STATUSES = {
    "web01": EntryStatus(True, "answers at 10.40.0.11:22, outside the old space", "10.40.0.11"),
    "web02": EntryStatus(False, "no new address in the plan"),
    "app01": EntryStatus(False, "no new address in the plan"),
}


def classify(mode: Mode):  # type: ignore[no-untyped-def]
    return classify_hosts(
        HOSTS, plan=PLAN, statuses=STATUSES, facts=FACTS, ssh=SSH, mode=mode, now=NOW,
        window_days=7, owner_of=lambda a: OWNERS.owner_of(a), own_addresses=("10.250.77.1",),
    )  # fmt: skip


def test_before_the_migration_unplanned_and_in_use_comes_first() -> None:
    ranked = classify(Mode.BEFORE)
    assert [(m.label, m.group) for m in ranked] == [
        ("legacy-billing01", "unplanned-in-use"),
        ("10.250.77.99", "unplanned-idle"),
        ("web02", "planned-idle"),
        ("web01", "migrated-in-use"),
        ("old-report01", "not-alive"),
    ]
    first = ranked[0]
    assert first.rank == 1 and not first.in_plan and first.activity.requests == 400
    assert first.activity.teams == ("team-payments",)
    assert ranked[3].migrated and ranked[3].new_address == "10.40.0.11"


def test_after_the_cut_over_every_active_host_comes_first() -> None:
    ranked = classify(Mode.AFTER)
    assert [m.label for m in ranked][:2] == ["legacy-billing01", "web01"]
    findings = migration_findings(ranked, Mode.AFTER, STATUSES)
    by_host = {f.host: f for f in findings}
    assert by_host["ip:10.250.77.10"].severity is Severity.CRITICAL  # not planned, in use
    assert by_host["ip:10.250.77.11"].rule == "postmigrate-still-active"
    assert by_host["ip:10.250.77.11"].severity is Severity.HIGH  # clients never switched
    assert by_host["ip:10.250.77.12"].rule == "postmigrate-still-alive"
    assert "ip:10.250.77.50" not in by_host  # not alive: nothing to switch off


def test_findings_before_the_migration() -> None:
    ranked = classify(Mode.BEFORE)
    unmatched = unmatched_entries(PLAN, ranked)
    assert [e.name for e in unmatched] == ["app01"]
    findings = migration_findings(ranked, Mode.BEFORE, STATUSES, unmatched)
    titles = {(f.rule, f.severity, f.title) for f in findings}
    assert (
        "premigrate-unplanned",
        Severity.HIGH,
        "legacy-billing01 is on the old platform, in use, and not in the migration plan",
    ) in titles
    assert (
        "premigrate-unplanned",
        Severity.MEDIUM,
        "10.250.77.99 is on the old platform and not in the migration plan",
    ) in titles
    assert (
        "premigrate-pending",
        Severity.LOW,
        "web02 is in the migration plan, not migrated yet",
    ) in titles
    assert (
        "premigrate-plan-entry-missing",
        Severity.LOW,
        "plan entry app01 is neither on the old platform nor migrated",
    ) in titles
    assert not any(f.host == "ip:10.250.77.11" for f in findings)  # migrated: fine before


def test_report_data_carries_migration_and_matches_the_schema() -> None:
    ranked = classify(Mode.BEFORE)
    request = PremigrateRequest(plan=Path("plan.txt"), old=("10.250.77.0/24",))
    summary = premigrate_summary(request, PLAN, ranked, STATUSES, (), 7)
    run = AuditRun("r1", NOW, NOW, None, (), HOSTS, SSH, FACTS,
                   migration_findings(ranked, Mode.BEFORE, STATUSES), None,
                   {"premigrate": summary})  # fmt: skip
    data = with_migration(run_to_dict(run), ranked)
    validate_report(data)
    assert next(h["label"] for h in data["hosts"]) == "legacy-billing01"
    first = data["hosts"][0]["migration"]
    assert first["in_plan"] is False and first["migrated"] is False
    assert first["activity"]["state"] == "in use" and first["activity"]["requests"] == 400
    assert data["premigrate"]["order"][0] == "ip:10.250.77.10"
    table = rows(data)
    assert table[0]["verdict"] == "NOT IN PLAN, IN USE"
    md = render_markdown(data)
    assert "| 1 | legacy-billing01 |" in md
    assert "NOT IN PLAN, IN USE" in render_html(data)


def test_hostile_names_in_the_migration_table() -> None:
    ranked = classify(Mode.BEFORE)
    evil = replace(ranked[0], label="<script>x</script>|*")
    run = AuditRun("r1", NOW, NOW, None, (), HOSTS, SSH, FACTS, (), None,
                   {"premigrate": {"mode": "before", "plan": "<b>p</b>", "order": []}})  # fmt: skip
    data = with_migration(run_to_dict(run), (evil, *ranked[1:]))
    for row in data["hosts"]:
        if row["id"] == evil.host:
            row["label"] = evil.label
    html = render_html(data)
    assert "<script>x" not in html and "&lt;script&gt;x" in html and "<b>p</b>" not in html
    assert "\\<script\\>x\\</script\\>\\|\\*" in render_markdown(data)
