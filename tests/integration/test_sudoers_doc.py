"""The sudoers entry docs/ssh.md gives works, and is all the probe needs: installed on a lab
host in place of the lab's `NOPASSWD: ALL`, the probe still runs its root half (socket
owners, the cron spool), while any other command through sudo is refused. The entry is read
from the doc itself, so the doc cannot drift from what works. Lab addresses only.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from auditor.config import Config, SshSettings
from auditor.lab import LabState
from auditor.model import ID_IP, Facts, Host, HostStatus, Observation, SourceKind, ident
from auditor.probing import probe_hosts
from tests.integration.test_lab import Fleet

DOC = Path(__file__).resolve().parents[2] / "docs" / "ssh.md"
HOST = "web01"
SUDOERS = "/etc/sudoers.d/auditor"
KEPT = "/etc/sudoers.d/auditor.orig"  # sudo skips names with a dot: kept, not read

pytestmark = pytest.mark.lab


def documented_sudoers() -> str:
    """The fenced block after the doc's mention of /etc/sudoers.d/auditor."""
    text = DOC.read_text()
    at = text.index("/etc/sudoers.d/auditor")
    block = re.search(r"```\n(.*?)```", text[at:], re.DOTALL)
    assert block is not None, "docs/ssh.md: no sudoers block after /etc/sudoers.d/auditor"
    return block.group(1)


def _as_root_through(fleet: Fleet, command: str, sudo: str) -> None:
    encoded = base64.b64encode(command.encode()).decode()
    fleet.ok(HOST, f"echo {encoded} | base64 -d | {sudo}")


@pytest.fixture
def narrowed(lab: LabState) -> Iterator[Fleet]:
    fleet = Fleet(lab)
    entry = base64.b64encode(documented_sudoers().encode()).decode()
    install = (
        f"cp {SUDOERS} {KEPT} && echo {entry} | base64 -d > {SUDOERS}.new && "
        f"chmod 0440 {SUDOERS}.new && visudo -cf {SUDOERS}.new >/dev/null && "
        f"mv {SUDOERS}.new {SUDOERS}"
    )
    _as_root_through(fleet, install, "sudo -n sh")  # still the lab's NOPASSWD: ALL here
    try:
        yield fleet
    finally:
        # The documented entry allows `sh -s`: it is how the lab's own entry comes back.
        _as_root_through(fleet, f"mv {KEPT} {SUDOERS}", "sudo -n sh -s")
        assert fleet.ok(HOST, "sudo -n id -u").strip() == "0"
        fleet.close()


def _probe(lab: LabState, sudo: bool) -> Facts:
    address = lab.host(HOST).address
    assert IPv4Address(address) in IPv4Network("10.250.77.0/24")
    ssh = SshSettings(
        user="auditor", key_file=lab.key_file, known_hosts=lab.known_hosts, sudo=sudo,
        use_ssh_config=False, software_cache=False, ports=(lab.host(HOST).port,),
    )  # fmt: skip
    seen = Observation(
        SourceKind.ANSIBLE, "lab", (ident(ID_IP, address),), datetime.now(UTC), None, {}
    )
    host = Host(
        id=ident(ID_IP, address), addresses=(address,), hostnames=(HOST,),
        identifiers=(ident(ID_IP, address),), sources=(SourceKind.ANSIBLE,),
        status=HostStatus.MANAGED, status_reason="listed", observations=(seen,),
    )  # fmt: skip
    config = replace(Config(path=None), ssh=ssh)
    results = probe_hosts(config, [host])
    assert results.ssh[host.id].state == "ok", results.ssh[host.id]
    return results.facts[host.id]


def test_the_documented_sudoers_entry_is_enough_and_no_more(lab: LabState, narrowed: Fleet) -> None:
    # Only the two commands the probe runs: anything else through sudo is refused.
    rc, _, err = narrowed.run(HOST, "sudo -n id -u")
    assert rc != 0, err
    assert narrowed.ok(HOST, "sudo -n true") == ""
    facts = _probe(lab, sudo=True)
    assert "probe.sudo" not in facts.errors and "probe.privileged" not in facts.errors
    assert facts.cron is not None, facts.errors
    sshd = [item for item in facts.listeners or () if item.port == lab.host(HOST).port]
    assert sshd and sshd[0].process == "sshd", sshd  # root's process: seen only as root


def test_without_sudo_the_root_facts_are_partial(lab: LabState) -> None:
    # The control: the same probe as the login user cannot name root's sshd.
    facts = _probe(lab, sudo=False)
    sshd = [item for item in facts.listeners or () if item.port == lab.host(HOST).port]
    assert not sshd or sshd[0].process is None, sshd
