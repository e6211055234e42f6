"""[engine] / [[vantage]] config and the routing of hosts and sweep targets to vantages."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditor.config import load_config
from auditor.engine.routing import plan_sweeps, route_address, route_host, route_hosts
from auditor.errors import ConfigError
from auditor.model import Host, HostStatus, Observation, SourceKind

VANTAGES = """
[engine]
broker = "redis://:s3cret@broker.example:6379/0"
worker_timeout = 30
[[vantage]]
name = "dc1"
networks = ["10.20.0.0/16"]
concurrency = 4
[[vantage]]
name = "dc1-dmz"
networks = ["10.20.99.0/24"]
[[vantage]]
name = "aws-prod"
networks = ["vpc-0abc12345678", "10.30.0.0/16"]
[[vantage]]
name = "dc2"
networks = ["10.40.0.0/16"]
"""


def config_of(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "audit.toml"
    path.write_text(text)
    return load_config(path)


def host(address: str, vpc: str | None = None) -> Host:
    observations = ()
    if vpc:
        observations = (
            Observation(SourceKind.AWS, "prod", (f"ip:{address}",), datetime.now(UTC), True,
                        {"vpc_id": vpc}),
        )  # fmt: skip
    return Host(f"ip:{address}", (address,), (), (f"ip:{address}",), (), HostStatus.MANAGED, "",
                observations)  # fmt: skip


def test_engine_and_vantages_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDITOR_BROKER_URL", raising=False)
    config = config_of(tmp_path, VANTAGES)
    assert config.engine is not None and config.engine.worker_timeout == 30
    assert [v.name for v in config.vantage] == ["dc1", "dc1-dmz", "aws-prod", "dc2"]
    assert config.vantage[0].concurrency == 4 and config.vantage[1].concurrency == 16
    assert "s3cret" not in repr(config.engine) and "s3cret" not in repr(config)


def test_no_engine_is_the_single_machine_audit(tmp_path: Path) -> None:
    assert config_of(tmp_path, "[[network]]\ntargets = ['10.0.0.0/24']\n").engine is None


def test_the_broker_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDITOR_BROKER_URL", "amqps://u:pw@mq.example:5671/audit")
    config = config_of(tmp_path, "[engine]\n")
    assert config.engine is not None and config.engine.broker.startswith("amqps://u:pw@")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[engine]\nbroker = 'http://u:hunter2@x/'\n", "expected a redis://"),
        ("[engine]\n", "expected a redis://"),
        ("[[vantage]]\nname = 'DC 1'\nnetworks = ['10.0.0.0/8']\n", "key 'name'"),
        ("[[vantage]]\nname = 'dc1'\n", "key 'networks' is required"),
        ("[[vantage]]\nname = 'dc1'\nnetworks = ['dc1.example']\n", "CIDRs or VPC ids"),
        ("[[vantage]]\nname = 'a'\nnetworks = ['10.0.0.0/8']\n" * 2, "defined twice"),
        ("[[network]]\ntargets = ['10.0.0.1']\nvantage = 'nowhere'\n", "no [[vantage]] is named"),
    ],
)
def test_bad_engine_config_names_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    monkeypatch.delenv("AUDITOR_BROKER_URL", raising=False)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")) as caught:
        config_of(tmp_path, text)
    assert "hunter2" not in str(caught.value)


def test_the_most_specific_vantage_wins(tmp_path: Path) -> None:
    config = config_of(tmp_path, VANTAGES)
    assert route_address(config, "10.20.1.5").vantage == "dc1"
    assert route_address(config, "10.20.99.5").vantage == "dc1-dmz"
    assert route_address(config, "10.40.0.9").vantage == "dc2"
    # A VPC id beats any CIDR: the same private range is reused in other VPCs.
    assert route_host(config, host("10.20.1.5", vpc="vpc-0abc12345678")).vantage == "aws-prod"


def test_a_host_no_vantage_reaches_is_not_guessed(tmp_path: Path) -> None:
    config = config_of(tmp_path, VANTAGES)
    route = route_host(config, host("192.168.1.1", vpc="vpc-0fff00001111"))
    assert route.vantage is None
    assert "192.168.1.1 in vpc-0fff00001111" in route.reason and "not probed" in route.reason
    no_address = Host("name:x", (), ("x",), ("name:x",), (), HostStatus.MANAGED, "")
    assert route_hosts(config, [no_address])["name:x"].vantage is None


def test_sweep_targets_are_split_per_vantage(tmp_path: Path) -> None:
    config = config_of(tmp_path, VANTAGES + """
[[network]]
name = "dcs"
targets = ["10.20.0.0/24", "10.20.99.0/25", "10.40.0.0/16", "172.16.0.0/24", "10.20.0.1-9"]
[[network]]
name = "named"
targets = ["web1.example", "10.99.0.0/24"]
vantage = "dc2"
""")  # fmt: skip
    plan = plan_sweeps(config)
    assert {v: [(n.name, n.targets) for n in nets] for v, nets in plan.sweeps.items()} == {
        "dc1": [("dcs", ("10.20.0.0/24",))],
        "dc1-dmz": [("dcs", ("10.20.99.0/25",))],
        "dc2": [("dcs", ("10.40.0.0/16",)), ("named", ("web1.example", "10.99.0.0/24"))],
    }
    assert [(n, t) for n, t, _ in plan.unrouted] == [("dcs", "172.16.0.0/24"), ("dcs", "10.20.0.1-9")]
    # A [[network]] that names its vantage makes its targets that vantage's to probe.
    assert route_address(config, "10.99.0.7").vantage == "dc2"
    assert route_address(config, "web1.example").vantage == "dc2"
