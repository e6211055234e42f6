from __future__ import annotations

import pytest

from auditor.config import NetworkConfig
from auditor.errors import TargetError
from auditor.sources.network import plan_scan
from auditor.targets import target_contains, validate_target


@pytest.mark.parametrize(
    "target",
    ["10.0.0.0/24", "10.0.0.5", "10.0.0.1-50", "10.0.0-3.1,5,7-9", "192.168.*.1", "db01",
     "web-1.example.com", "fe80::1", "2001:db8::/64"],
)
def test_valid_targets(target: str) -> None:
    assert validate_target(target) == target


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("-iL/etc/passwd", "looks like an option"),
        ("--script=evil", "looks like an option"),
        ("10.0.0.0/24; rm -rf /", "white space"),
        ("$(reboot)", "not a CIDR"),
        ("`id`", "not a CIDR"),
        ("10.0.0.300", "octet range"),
        ("10.0.0.9-3", "octet range"),
        ("10.0.0.0/40", "not a valid CIDR"),
        ("host|cat", "not a CIDR"),
        ("", "empty"),
        (" 10.0.0.1", "white space"),
    ],
)
def test_invalid_targets(target: str, why: str) -> None:
    with pytest.raises(TargetError, match=why.replace("(", r"\(")):
        validate_target(target)


def test_target_contains() -> None:
    assert target_contains("10.0.0.0/24", "10.0.0.77")
    assert not target_contains("10.0.0.0/24", "10.0.1.77")
    assert target_contains("10.0.0.1-50", "10.0.0.50")
    assert not target_contains("10.0.0.1-50", "10.0.0.51")
    assert target_contains("10.0.*.1,3", "10.0.9.3")
    assert not target_contains("fe80::/64", "10.0.0.1")
    assert target_contains("db01", "DB01")


def test_plan_scan_privileged_and_not() -> None:
    cfg = NetworkConfig(name="n", targets=("10.0.0.0/24",), exclude=("10.0.0.1",), ports=(22, 80))
    root = plan_scan(cfg, privileged=True)
    assert "-sS" in root.arguments and "--exclude 10.0.0.1" in root.arguments
    assert root.ports == "22,80" and root.scan_type.startswith("syn")
    user = plan_scan(cfg, privileged=False)
    assert "-sT" in user.arguments and "--unprivileged" in user.arguments
    assert "-n" in user.arguments.split()  # never reverse-resolve through outside resolvers


def test_plan_scan_rejects_bad_target_before_nmap() -> None:
    cfg = NetworkConfig(name="n", targets=("10.0.0.0/24", "-oN/tmp/x"))
    with pytest.raises(TargetError):
        plan_scan(cfg, privileged=False)


def test_plan_scan_refuses_mixed_families() -> None:
    with pytest.raises(TargetError, match="mixes IPv4 and IPv6"):
        plan_scan(NetworkConfig(name="n", targets=("10.0.0.1", "fe80::1")), privileged=False)
