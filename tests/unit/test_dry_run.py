"""`--dry-run` sends nothing and prints what a run would run.

The CLI runs in a child Python with an audit hook (sys.addaudithook) that records every
socket connect, DNS lookup and program started; as root the child also runs under `unshare -n`
(no network at all). The printed nmap command is checked against the scan plan, and the
plan's argv against what python-nmap really executes (a recording `nmap` on PATH).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.config import NetworkConfig
from auditor.dryrun import dynamic_inventory
from auditor.recheck import RecheckPlan, recheck_scans
from auditor.sources.network import nmap_command, plan_scan, run_nmap

REPO = Path(__file__).resolve().parents[2]
LAB_STATE = REPO / "inventories" / "lab" / "terraform" / "terraform.tfstate"

# Runs the CLI with a hook that writes one JSON line per network-ish event to a file.
HOOKED = """
import json, sys
events = open(sys.argv[1], "a")
def hook(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.sendto", "socket.sendmsg"):
        events.write(json.dumps([event, repr(args)]) + "\\n"); events.flush()
    elif event == "subprocess.Popen":
        events.write(json.dumps([event, [str(a) for a in args[1]]]) + "\\n"); events.flush()
sys.addaudithook(hook)
sys.argv = ["auditor", *sys.argv[2:]]
from auditor.cli import main
main()
"""


def _config(tmp_path: Path) -> Path:
    (tmp_path / "hosts.ini").write_text(
        "[web]\nweb1 ansible_host=10.250.77.11\nfar ansible_host=192.0.2.9\n"
        "named ansible_host=db.example.invalid\n"
    )
    shutil.copy(LAB_STATE, tmp_path / "terraform.tfstate")
    config = tmp_path / "audit.toml"
    config.write_text(
        f"""
[audit]
reports = "{tmp_path / "reports"}"

[[network]]
name = "lab"
targets = ["10.250.77.0/24"]
exclude = ["10.250.77.1"]
ports = [22, 80]

[[aws]]
name = "prod"
endpoint_url = "http://127.0.0.1:45077"
regions = ["us-east-1", "eu-west-1"]

[[ansible]]
name = "inv"
inventory = ["hosts.ini"]

[[terraform]]
name = "tf"
state = ["terraform.tfstate", "s3://bucket/env/prod.tfstate"]
"""
    )
    return config


def _run_hooked(args: list[str], tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], list]:
    events_file = tmp_path / "events.jsonl"
    command = [sys.executable, "-c", HOOKED, str(events_file), *args]
    if os.geteuid() == 0 and shutil.which("unshare"):
        command = ["unshare", "-n", *command]  # no network at all: a stray packet fails
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    lines = events_file.read_text().splitlines() if events_file.exists() else []
    return done, [json.loads(line) for line in lines]


def _network_events(events: list) -> list:
    """Everything but the one local program a dry run may start: ansible-inventory."""
    return [
        e
        for e in events
        if not (e[0] == "subprocess.Popen" and Path(e[1][0]).name == "ansible-inventory")
    ]


def test_the_hook_sees_a_connect(tmp_path: Path) -> None:
    # The harness must be able to fail: a connect attempt is recorded even when refused.
    probe = (
        "import socket\ntry:\n socket.create_connection(('127.0.0.1', 9), 1)\nexcept OSError: pass"
    )
    hooked = HOOKED.replace("from auditor.cli import main\nmain()", probe)
    events_file = tmp_path / "events.jsonl"
    subprocess.run([sys.executable, "-c", hooked, str(events_file)], check=True, timeout=60)
    assert any(json.loads(line)[0] == "socket.connect" for line in events_file.open())


@pytest.mark.parametrize("command", ["audit", "discover"])
def test_dry_run_sends_nothing_and_exits_0(tmp_path: Path, command: str) -> None:
    config = _config(tmp_path)
    done, events = _run_hooked([command, "--dry-run", "-c", str(config)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert _network_events(events) == []
    out = done.stdout
    assert "sweep 10.250.77.0/24" in out
    assert "ec2:DescribeInstances in regions us-east-1, eu-west-1" in out
    assert "read state s3://bucket/env/prod.tfstate" in out
    assert "look up in DNS: db.example.invalid" in out
    assert "inventory" in out and "3 hosts" in out
    assert not (tmp_path / "reports").exists()  # nothing written either


def test_dry_run_says_which_hosts_it_would_probe_and_why(tmp_path: Path) -> None:
    config = _config(tmp_path)
    done, _ = _run_hooked(["audit", "--dry-run", "--format", "json", "-c", str(config)], tmp_path)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["dry_run"] is True and plan["probe"] is True
    hosts = {h["host"]: h for h in plan["hosts"]}
    assert hosts["web1"]["probe"] is True and "[[network]] range" in hosts["web1"]["why"]
    # Listed, outside every target: the inventory listing makes it a host to try.
    assert hosts["far"]["probe"] is True and "inventory" in hosts["far"]["why"]
    # The lab state's instances live in 10.250.77.0/24 too; every host names its source.
    assert all(h["listed_by"] for h in plan["hosts"])
    assert plan["swept_ranges"] == ["[[network]] lab: 10.250.77.0/24 (excluding 10.250.77.1)"]


def test_discover_dry_run_does_not_probe(tmp_path: Path) -> None:
    done, _ = _run_hooked(["discover", "--dry-run", "-c", str(_config(tmp_path))], tmp_path)
    assert "SSH probe: none" in done.stdout


def test_the_printed_nmap_command_is_the_plan(tmp_path: Path) -> None:
    done, _ = _run_hooked(["audit", "--dry-run", "-c", str(_config(tmp_path))], tmp_path)
    printed = [shlex.split(line.strip()[2:]) for line in done.stdout.splitlines()
               if line.strip().startswith("$ ")]  # fmt: skip
    network = NetworkConfig(
        name="lab", targets=("10.250.77.0/24",), exclude=("10.250.77.1",), ports=(22, 80)
    )
    nmap = shutil.which("nmap") or "nmap"
    expected = list(nmap_command(plan_scan(network), nmap))
    assert printed[0] == expected
    assert "-p" in expected and "22,80" in expected and "--exclude" in expected
    # Then the direct re-check of the listed hosts the sweep misses: no ping, more retries,
    # only addresses inside the swept range (not 192.0.2.9, not the excluded .1).
    [recheck] = printed[1:]
    listed = recheck[3 : recheck.index("-p")]
    assert "10.250.77.11" in listed and "192.0.2.9" not in listed and "10.250.77.1" not in listed
    plan = RecheckPlan(missed_by=dict.fromkeys(listed, "lab"), ports=(22, 80),
                       host_timeout=network.host_timeout)  # fmt: skip
    [scan] = recheck_scans(plan)
    assert recheck == list(nmap_command(scan, nmap)) and "-Pn" in recheck


def test_the_recheck_in_json(tmp_path: Path) -> None:
    done, events = _run_hooked(
        ["discover", "--dry-run", "--format", "json", "-c", str(_config(tmp_path))], tmp_path
    )
    assert done.returncode == 0 and _network_events(events) == [], done.stderr
    recheck = json.loads(done.stdout)["recheck"]
    assert "10.250.77.11" in recheck["addresses"] and recheck["problems"] == []
    [command] = recheck["nmap_commands"]
    assert command[command.index("--max-retries") + 1] == "3"


def test_run_nmap_executes_exactly_the_printed_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A recording nmap first on PATH: python-nmap runs it as it would the real one.
    record = tmp_path / "argv"
    fake = tmp_path / "bin" / "nmap"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = -V ]; then echo "Nmap version 7.93 ( https://nmap.org )"; exit 0; fi\n'
        f'printf "%s\\n" "$@" > {record}\n'
        'echo \'<?xml version="1.0"?><nmaprun args=""><runstats><finished timestr="x" '
        'elapsed="0"/><hosts up="0" down="0" total="0"/></runstats></nmaprun>\'\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    network = NetworkConfig(name="n", targets=("10.250.77.0/28",), ports=(22, 2222))
    plan = plan_scan(network, privileged=False)
    run_nmap(plan)
    assert record.read_text().splitlines() == list(nmap_command(plan))[1:]


def test_a_dynamic_inventory_is_named_not_run(tmp_path: Path) -> None:
    static = tmp_path / "hosts.yml"
    static.write_text("all:\n  hosts:\n    a:\n")
    plugin = tmp_path / "aws_ec2.yml"
    plugin.write_text("plugin: amazon.aws.aws_ec2\nregions: [us-east-1]\n")
    script = tmp_path / "inventory.py"
    script.write_text("#!/bin/sh\necho {}\n")
    script.chmod(0o755)
    assert dynamic_inventory(static) is None
    assert "plugin" in (dynamic_inventory(plugin) or "")
    assert "executable" in (dynamic_inventory(script) or "")
    assert dynamic_inventory(tmp_path) is not None  # a folder holding either counts


def test_premigrate_dry_run(tmp_path: Path) -> None:
    config = _config(tmp_path)
    plan_file = tmp_path / "plan.txt"
    plan_file.write_text("web1 10.99.0.11\n")
    done, events = _run_hooked(
        ["premigrate", "--dry-run", "-c", str(config), "--old", "10.250.77.0/25",
         "--plan", str(plan_file)],
        tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert _network_events(events) == []
    assert "TCP connection to each new address" in done.stdout and "10.99.0.11" in done.stdout
    assert "far" not in done.stdout  # 192.0.2.9 is not on the old platform


def test_an_imported_scan_is_read_and_its_hosts_would_be_probed(tmp_path: Path) -> None:
    config = tmp_path / "audit.toml"
    scan = REPO / "tests" / "fixtures" / "nmap" / "loopback-syn.xml"
    config.write_text(f'[[network]]\nname = "dmz"\nnmap_xml = ["{scan}"]\n')
    done, events = _run_hooked(
        ["audit", "--dry-run", "--format", "json", "-c", str(config)], tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert _network_events(events) == []
    plan = json.loads(done.stdout)
    (source,) = plan["sources"]
    assert source["nmap_commands"] == [] and "1 hosts up" in source["read_now"][0]
    (host,) = plan["hosts"]
    assert host["address"] == "127.0.0.1" and host["probe"] is True
    assert host["why"] == "up in an imported nmap scan" and host["listed_by"] == ["network dmz"]
