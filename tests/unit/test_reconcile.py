"""The reconciliation matrix: every status, merging across sources and identifiers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from auditor.config import Config, IgnoreRule, OwnerRule, OwnershipRule
from auditor.model import HostOwner, HostStatus, Observation, SourceKind, SourceResult
from auditor.reconcile import merge, reconcile

NOW = datetime(2026, 11, 28, tzinfo=UTC)
TODAY = date(2026, 11, 28)


def obs(kind: SourceKind, *ids: str, alive: bool | None = None, **attrs: Any) -> Observation:
    return Observation(kind, kind.value, tuple(ids), NOW, alive, attrs)


def net(*observations: Observation, targets: tuple[str, ...] = ("10.0.0.0/24",),
        ok: bool = True) -> SourceResult:
    return SourceResult(SourceKind.NETWORK, "lan", ok, observations,
                        details={"targets": list(targets), "exclude": []})


def src(kind: SourceKind, *observations: Observation, ok: bool = True,
        error: str | None = None) -> SourceResult:
    return SourceResult(kind, kind.value, ok, observations, error=error)


def up(ip: str, *ports: int) -> Observation:
    return obs(SourceKind.NETWORK, f"ip:{ip}", alive=True,
               open_ports=[{"port": p, "proto": "tcp"} for p in ports])


def inv(name: str, ip: str | None = None, **attrs: Any) -> Observation:
    ids = [f"name:{name}"] + ([f"ip:{ip}"] if ip else [f"dns:{name}"])
    return obs(SourceKind.ANSIBLE, *ids, inventory="hosts.ini", inventory_hostname=name,
               groups=["web"], **attrs)


def ec2(iid: str, ip: str, state: str = "running", name: str | None = None,
        **tags: str) -> Observation:
    ids = [f"aws:{iid}", f"ip:{ip}"] + ([f"name:{name}"] if name else [])
    all_tags = dict(tags, **({"Name": name} if name else {}))
    return obs(SourceKind.AWS, *ids, alive=state in ("running", "pending"), state=state,
               region="us-east-1", account="123456789012", tags=all_tags)


def tf(address: str, iid: str, ip: str) -> Observation:
    return obs(SourceKind.TERRAFORM, f"tf:{address}", f"aws:{iid}", f"ip:{ip}")


def statuses(results: list[SourceResult], config: Config | None = None) -> dict[str, str]:
    hosts = reconcile(results, config or Config(path=Path("t.toml")), TODAY)
    return {h.id: h.status.value for h in hosts}


def test_every_status_in_one_run() -> None:
    results = [
        net(up("10.0.0.10", 22, 80), up("10.0.0.11", 22), up("10.0.0.15", 22)),
        src(SourceKind.AWS, ec2("i-web", "10.0.0.11", name="web01"),
            ec2("i-app", "10.0.0.15", name="app01"), ec2("i-hand", "10.0.0.200", name="hand")),
        src(SourceKind.ANSIBLE, inv("web01", "10.0.0.11"), inv("old-report01", "10.0.0.50")),
        src(SourceKind.TERRAFORM, tf("aws_instance.app", "i-app", "10.0.0.15"),
            tf("aws_instance.gone", "i-gone", "10.0.0.60")),
    ]
    got = statuses(results)
    assert got == {
        "ip:10.0.0.10": "unmanaged",
        "aws:i-web": "managed",
        "aws:i-app": "managed",
        "aws:i-hand": "cloud-unmanaged",
        "ip:10.0.0.50": "stale",
        "aws:i-gone": "missing",
    }


def test_one_machine_under_several_identifiers_is_one_host() -> None:
    # nmap sees the address and MAC; the inventory lists the DNS name that resolved to the
    # address; EC2 knows the instance id, address and MAC.
    results = [
        net(obs(SourceKind.NETWORK, "ip:10.0.0.11", "mac:02:00:00:00:00:11", alive=True)),
        src(SourceKind.ANSIBLE, obs(SourceKind.ANSIBLE, "name:web01", "dns:web01.corp",
                                    "ip:10.0.0.11", inventory="i", inventory_hostname="web01")),
        src(SourceKind.AWS, obs(SourceKind.AWS, "aws:i-1", "ip:172.31.0.5",
                                "mac:02:00:00:00:00:11", alive=True, state="running")),
    ]
    hosts = reconcile(results, Config(path=None), TODAY)
    assert len(hosts) == 1
    host = hosts[0]
    assert host.id == "aws:i-1"
    assert set(host.addresses) == {"10.0.0.11", "172.31.0.5"}
    assert host.sources == (SourceKind.NETWORK, SourceKind.AWS, SourceKind.ANSIBLE)
    assert host.status is HostStatus.MANAGED


def test_two_instances_sharing_a_reused_address_stay_apart() -> None:
    groups = merge([ec2("i-old", "10.0.0.5", state="terminated"), ec2("i-new", "10.0.0.5"),
                    up("10.0.0.5", 22)])
    assert len(groups) == 2


def test_weak_names_never_merge() -> None:
    groups = merge([inv("web01", "10.0.0.1"), ec2("i-x", "10.9.9.9", name="web01")])
    assert len(groups) == 2


def test_inventory_host_outside_every_sweep_is_unverified_not_stale() -> None:
    got = statuses([net(up("10.0.0.10")), src(SourceKind.ANSIBLE, inv("far", "192.168.7.7"))])
    assert got["ip:192.168.7.7"] == "unverified"


def test_failed_sweep_never_makes_stale_hosts() -> None:
    results = [net(ok=False), src(SourceKind.ANSIBLE, inv("web01", "10.0.0.11"))]
    assert statuses(results)["ip:10.0.0.11"] == "unverified"


def test_missing_needs_a_cloud_that_was_read() -> None:
    state = src(SourceKind.TERRAFORM, tf("aws_instance.a", "i-a", "10.1.0.5"))
    assert statuses([state])["aws:i-a"] == "unverified"
    failed_cloud = src(SourceKind.AWS, ok=False, error="AccessDenied")
    assert statuses([state, failed_cloud])["aws:i-a"] == "unverified"
    assert statuses([state, src(SourceKind.AWS)])["aws:i-a"] == "missing"


def test_terminated_instance_in_state_is_missing_and_stopped_is_managed() -> None:
    results = [
        src(SourceKind.AWS, ec2("i-t", "10.1.0.5", state="terminated"),
            ec2("i-s", "10.1.0.6", state="stopped")),
        src(SourceKind.TERRAFORM, tf("aws_instance.t", "i-t", "10.1.0.5"),
            tf("aws_instance.s", "i-s", "10.1.0.6")),
    ]
    got = statuses(results)
    assert got == {"aws:i-t": "missing", "aws:i-s": "managed"}


def test_terminated_unmanaged_instance_is_history_not_a_host() -> None:
    assert statuses([src(SourceKind.AWS, ec2("i-t", "10.1.0.5", state="terminated"))]) == {}


def test_ignore_rules_and_expiry() -> None:
    results = [net(up("10.0.0.10"), up("10.0.0.12"))]
    config = Config(path=None, ignore=(
        IgnoreRule("10.0.0.10", "lab printer", date(2027, 1, 1)),
        IgnoreRule("10.0.0.12", "old exception", date(2026, 1, 1)),
    ))
    hosts = {h.id: h for h in reconcile(results, config, TODAY)}
    assert hosts["ip:10.0.0.10"].status is HostStatus.IGNORED
    assert "lab printer" in hosts["ip:10.0.0.10"].status_reason
    assert hosts["ip:10.0.0.12"].status is HostStatus.UNMANAGED
    assert "expired on 2026-01-01" in hosts["ip:10.0.0.12"].status_reason


def test_ignore_by_cidr_and_name_pattern() -> None:
    config = Config(path=None, ignore=(IgnoreRule("10.0.0.0/28", "dhcp pool"),
                                       IgnoreRule("hand*", "sandbox")))
    got = statuses([net(up("10.0.0.3")),
                    src(SourceKind.AWS, ec2("i-h", "10.5.0.1", name="hand-made"))], config)
    assert got == {"ip:10.0.0.3": "ignored", "aws:i-h": "ignored"}


def test_a_custom_ownership_tag_makes_an_instance_owned() -> None:
    config = Config(path=None, ownership=(OwnershipRule("team:platform=batch-*", "the batch "
                                                        "scheduler"),))  # fmt: skip
    results = [src(SourceKind.AWS, ec2("i-a", "10.0.0.30", **{"team:platform": "batch-eu"}),
                   ec2("i-b", "10.0.0.31", **{"team:platform": "web"}))]
    hosts = {h.id: h for h in reconcile(results, config, TODAY)}
    assert hosts["aws:i-a"].status is HostStatus.OWNED
    assert "owned by the batch scheduler" in hosts["aws:i-a"].status_reason
    assert hosts["aws:i-b"].status is HostStatus.CLOUD_UNMANAGED  # the pattern must match


def test_owner_by_cidr_and_reasons_are_readable() -> None:
    config = Config(path=None, owners=(OwnerRule("10.0.0.0/24", "team-ops"),))
    (host,) = reconcile([net(up("10.0.0.10", 22, 80))], config, TODAY)
    assert host.owner == HostOwner(
        "team-ops", "config", "[owners] '10.0.0.0/24' matches its address"
    )
    assert host.open_ports == (22, 80)
    assert "open ports: 22, 80" in host.status_reason and "no inventory" in host.status_reason


def test_ansible_port_is_kept_for_ssh() -> None:
    results = [net(up("10.0.0.13", 2222)), src(SourceKind.ANSIBLE, inv("db01", "10.0.0.13",
                                                                        ansible_port=2222))]
    (host,) = reconcile(results, Config(path=None), TODAY)
    assert host.ssh_port == 2222 and host.status is HostStatus.MANAGED


def test_missing_with_a_partial_cloud_read_only_where_it_was_read() -> None:
    east = obs(SourceKind.TERRAFORM, "tf:aws_instance.e", "aws:i-e", account="1", region="us-east-1")
    west = obs(SourceKind.TERRAFORM, "tf:aws_instance.w", "aws:i-w", account="1", region="eu-west-1")
    cloud = SourceResult(SourceKind.AWS, "aws", False, (), error="1 of 2 reads failed",
                         details={"scope": {"read": [{"account": "1", "region": "us-east-1"}],
                                            "failed": [{"account": "1", "region": "eu-west-1"}]}})
    got = statuses([src(SourceKind.TERRAFORM, east, west), cloud])
    assert got == {"aws:i-e": "missing", "aws:i-w": "unverified"}
