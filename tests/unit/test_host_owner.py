"""Who owns a host: [owners] first, then a cloud tag, then the team that uses it most."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from auditor.config import AuditSettings, Config, OwnerRule, load_config
from auditor.host_owner import client_owner, declared_host_owner, tag_owner
from auditor.model import (
    Facts,
    HostOwner,
    HostStatus,
    NetworkUse,
    Observation,
    PeerGroup,
    SourceKind,
    SourceResult,
    TeamUse,
)
from auditor.pipeline import Discovery, ProbeResults, build_run
from auditor.reconcile import reconcile
from auditor.report.html_report import render_html
from auditor.report.json_report import run_to_dict

NOW = datetime(2026, 12, 1, tzinfo=UTC)
CONFIG = Config(
    path=None,
    owners=(OwnerRule("10.20.0.0/16", "team-payments"), OwnerRule("legacy-*", "team-legacy")),
)


def instance(tags: dict[str, str], address: str = "10.9.0.5") -> Observation:
    return Observation(
        SourceKind.AWS, "prod", (f"ip:{address}", "aws:i-0abc"), NOW, True,
        {"tags": tags, "state": "running"},
    )  # fmt: skip


def test_config_by_address_then_name_then_tag() -> None:
    tagged = [instance({"Owner": "team-tagged"})]
    by_address = declared_host_owner(CONFIG, "10.20.3.4", ("legacy-billing01",), tagged)
    assert by_address == HostOwner(
        "team-payments", "config", "[owners] '10.20.0.0/16' matches its address"
    )
    by_name = declared_host_owner(CONFIG, "10.9.0.5", ("legacy-billing01",), tagged)
    assert by_name == HostOwner("team-legacy", "config", "[owners] 'legacy-*' matches its name")
    by_tag = declared_host_owner(CONFIG, "10.9.0.5", ("web",), tagged)
    assert by_tag == HostOwner("team-tagged", "tag", "tag Owner=team-tagged on i-0abc")
    assert declared_host_owner(CONFIG, "10.9.0.5", ("web",), [instance({"Name": "x"})]) is None


def test_owner_tags_in_their_order_and_configurable(tmp_path: Path) -> None:
    keys = AuditSettings().owner_tags
    assert tag_owner({"team": "b", "Owner": "a"}, keys) == ("Owner", "a")
    assert tag_owner({"Owner": "  ", "Team": "c"}, keys) == ("Team", "c")
    path = tmp_path / "audit.toml"
    path.write_text('[audit]\nowner_tags = ["CostCenter"]\n')
    config = load_config(path)
    assert config.audit.owner_tags == ("CostCenter",)
    assert declared_host_owner(config, None, (), [instance({"CostCenter": "cc-7"})]) == HostOwner(
        "cc-7", "tag", "tag CostCenter=cc-7 on i-0abc"
    )


def test_inferred_from_the_busiest_team_with_its_share() -> None:
    facts = Facts(
        collected_at=NOW,
        client_teams=(TeamUse("team-data", 800, 400, NOW), TeamUse("team-web", 100, 2, NOW)),
        client_networks=(NetworkUse("198.51.100.0/24", 100, 9, NOW),),
    )
    assert client_owner(facts) == HostOwner(
        "team-data", "clients",
        "inferred from clients, 80% of requests (800 of 1000 in the access logs, 400 addresses)",
    )  # fmt: skip
    assert client_owner(Facts(collected_at=NOW, client_teams=())) is None
    assert client_owner(None) is None


def test_inferred_from_connections_when_no_web_log() -> None:
    facts = Facts(
        collected_at=NOW,
        client_teams=(),
        connection_teams=(
            PeerGroup(22, "team-ops", None, 5),  # SSH: logins, not clients
            PeerGroup(5432, "team-data", None, 3),
            PeerGroup(5432, None, "198.51.100.0/24", 1),
            PeerGroup(6379, "team-web", None, 3),
        ),
    )
    assert client_owner(facts) == HostOwner(
        "team-data", "clients", "inferred from connections, 3 of 7 connected peers"
    )


def test_the_run_fills_in_owners_after_the_probe_and_declared_ones_stay() -> None:
    seen = Observation(SourceKind.NETWORK, "lab", ("ip:10.9.0.7",), NOW, True, {})
    declared = Observation(SourceKind.NETWORK, "lab", ("ip:10.20.0.7",), NOW, True, {})
    results = (SourceResult(SourceKind.NETWORK, "lab", True, (seen, declared)),)
    discovery = Discovery(NOW, results, reconcile(results, CONFIG, NOW.date()))
    busy = Facts(collected_at=NOW, client_teams=(TeamUse("team-data", 9, 3, NOW),))
    run = build_run(
        CONFIG, discovery, ProbeResults(facts={"ip:10.9.0.7": busy, "ip:10.20.0.7": busy})
    )
    owners = {h.id: h.owner for h in run.hosts}
    assert owners["ip:10.9.0.7"] is not None and owners["ip:10.9.0.7"].source == "clients"
    assert owners["ip:10.20.0.7"] is not None and owners["ip:10.20.0.7"].team == "team-payments"
    orphan = next(f for f in run.findings if f.rule == "unmanaged-host" and f.host == "ip:10.9.0.7")
    assert any(e.startswith("owner team-data (clients: inferred") for e in orphan.evidence)
    data = run_to_dict(run)
    assert {h["id"]: h["owner"]["source"] for h in data["hosts"]} == {
        "ip:10.9.0.7": "clients", "ip:10.20.0.7": "config",
    }  # fmt: skip
    assert all(h.status == HostStatus.UNMANAGED for h in run.hosts)
    page = render_html(run)
    # The host table and details are drawn from the page's data block.
    assert '"team-data (clients)"' in page and '"clients: inferred from clients, 100%' in page


def test_a_terraform_states_tag_when_the_cloud_was_not_read() -> None:
    state = Observation(
        SourceKind.TERRAFORM, "prod.tfstate", ("ip:10.9.0.8", "aws:i-0def", "tf:aws_instance.app"),
        NOW, None, {"tags": {"Team": "payments"}},
    )  # fmt: skip
    assert declared_host_owner(CONFIG, "10.9.0.8", ("app",), [state]) == HostOwner(
        "payments", "tag", "tag Team=payments on i-0def in Terraform state"
    )
    live = instance({"Team": "payments-live"}, "10.9.0.8")
    owner = declared_host_owner(CONFIG, "10.9.0.8", ("app",), [state, live])
    assert owner is not None and owner.team == "payments-live"  # the live tag first
