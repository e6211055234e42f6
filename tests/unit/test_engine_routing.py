"""[engine] / [[vantage]] config and the routing of hosts and sweep targets to vantages."""

from __future__ import annotations

import re
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
    config = config_of(tmp_path, "[engine]\nbroker = 'redis://file.example/0'\n")
    assert config.engine is not None
    assert config.engine.broker_url().startswith("amqps://u:pw@")  # the environment wins


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[engine]\n", None, "none is set: set $AUDITOR_BROKER_URL"),
        ("[engine]\nbroker = 'http://u:hunter2@x/'\n", None, "expected a redis://"),
        ("[engine]\nbroker = 'redis://x/0'\n", "http://u:hunter2@x/", "expected a redis://"),
    ],
)
def test_the_broker_is_checked_when_the_engine_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, env: str | None, message: str
) -> None:
    """Loading the config never asks for the broker (`history -c` has no use for it); the
    commands that use the engine do, naming the file and the key, never the value."""
    if env is None:
        monkeypatch.delenv("AUDITOR_BROKER_URL", raising=False)
    else:
        monkeypatch.setenv("AUDITOR_BROKER_URL", env)
    config = config_of(tmp_path, text)
    assert config.engine is not None
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        config.engine.broker_url()
    assert "audit.toml: [engine] key 'broker'" in str(caught.value)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("env", [None, "amqp://u:pw@mq.example/"])
def test_the_limiter_is_its_own_the_redis_broker_or_the_postgresql_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: str | None
) -> None:
    from auditor.engine.limits import limiter_url

    monkeypatch.delenv("AUDITOR_LIMITER_URL", raising=False)
    if env is None:
        monkeypatch.delenv("AUDITOR_BROKER_URL", raising=False)
    else:
        monkeypatch.setenv("AUDITOR_BROKER_URL", env)
    config = config_of(tmp_path, VANTAGES)
    engine = config.engine
    assert engine is not None
    assert limiter_url(engine) == (None if env else "redis://:s3cret@broker.example:6379/0")
    stored = config_of(tmp_path, '[audit]\nstore = "postgresql://pg.example/auditor"\n' + VANTAGES)
    # A Redis broker holds them; else the PostgreSQL history store does.
    expected = "postgresql://pg.example/auditor" if env else "redis://:s3cret@broker.example:6379/0"
    assert limiter_url(engine, stored.audit.store) == expected
    for url in ("rediss://:pw@limits.example/3", "postgresql://pg.example/leases"):
        monkeypatch.setenv("AUDITOR_LIMITER_URL", url)
        assert limiter_url(engine, stored.audit.store) == url
    monkeypatch.setenv("AUDITOR_LIMITER_URL", "mysql://u:hunter2@db/")
    with pytest.raises(ConfigError, match="expected a redis://") as caught:
        limiter_url(engine)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[engine]\nbroker = 5\n", "key 'broker'"),
        ("[engine]\nlease = 2\n", "key 'lease'"),
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


def test_history_diff_and_report_need_no_broker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The controller's config (an [engine], the broker in $AUDITOR_BROKER_URL as the docs
    say) serves `history`, `diff` and `report --run` where that variable is not set."""
    from datetime import timedelta

    from click.testing import CliRunner

    from auditor.cli import main
    from auditor.store import open_store, record_run
    from tests.unit.test_report_fleet import fleet

    monkeypatch.delenv("AUDITOR_BROKER_URL", raising=False)
    monkeypatch.delenv("AUDITOR_LIMITER_URL", raising=False)
    store = tmp_path / "history.sqlite"
    with open_store(store) as opened:
        record_run(opened, fleet(previous=True), grace=timedelta(days=3))
        record_run(opened, fleet(), grace=timedelta(days=3))
    config = tmp_path / "audit.toml"
    config.write_text(f'[audit]\nstore = "{store}"\n' + VANTAGES.replace(
        'broker = "redis://:s3cret@broker.example:6379/0"\n', ""))  # fmt: skip
    for args in (["history"], ["diff"], ["report", "--run", "latest", "-o", str(tmp_path / "r")]):
        result = CliRunner().invoke(main, [*args, "-c", str(config)])
        assert result.exit_code == 0, (args, result.output)
    result = CliRunner().invoke(main, ["audit", "--dry-run", "-c", str(config)])
    assert result.exit_code == 2 and "$AUDITOR_BROKER_URL" in result.output  # it uses the engine
