"""The sudoers entries docs/ssh.md gives work, and are all the probe needs: installed on a lab
host in place of the lab's `NOPASSWD: ALL`, the probe still runs its root half (socket
owners, the cron spool), while any other command through sudo is refused. The entries are
read from the doc itself, so the doc cannot drift from what works. The same for
`sudo = "commands"`: no root shell at all, the probe still names root's listening process,
reads /var/log and a root-only crontab through its fixed command lines, and writes nothing
on the host. Lab addresses only.
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
from auditor.probe.privileged_commands import sudoers_entry
from auditor.probing import probe_hosts
from tests.integration.test_lab import Fleet
from tests.integration.test_read_only_lab import _compare, snapshot

DOC = Path(__file__).resolve().parents[2] / "docs" / "ssh.md"
HOST = "web01"
SUDOERS = "/etc/sudoers.d/auditor"
KEPT = "/etc/sudoers.d/auditor.orig"  # sudo skips names with a dot: kept, not read

pytestmark = pytest.mark.lab


COMMANDS_SECTION = '### Only fixed read-only commands (`[ssh] sudo = "commands"`)'
SPOOL = "/var/spool/cron/crontabs"


def documented_sudoers(after: str = "") -> str:
    """The fenced block after the doc's mention of /etc/sudoers.d/auditor (after `after`)."""
    text = DOC.read_text()
    text = text[text.index(after) :]
    at = text.index("/etc/sudoers.d/auditor")
    block = re.search(r"```\n(.*?)```", text[at:], re.DOTALL)
    assert block is not None, "docs/ssh.md: no sudoers block after /etc/sudoers.d/auditor"
    return block.group(1)


def _as_root_through(fleet: Fleet, command: str, sudo: str) -> None:
    encoded = base64.b64encode(command.encode()).decode()
    fleet.ok(HOST, f"echo {encoded} | base64 -d | {sudo}")


def _install(fleet: Fleet, sudoers: str) -> None:
    entry = base64.b64encode(sudoers.encode()).decode()
    install = (
        f"cp {SUDOERS} {KEPT} && echo {entry} | base64 -d > {SUDOERS}.new && "
        f"chmod 0440 {SUDOERS}.new && visudo -cf {SUDOERS}.new >/dev/null && "
        f"mv {SUDOERS}.new {SUDOERS}"
    )
    _as_root_through(fleet, install, "sudo -n sh")  # still the lab's NOPASSWD: ALL here


@pytest.fixture
def narrowed(lab: LabState) -> Iterator[Fleet]:
    fleet = Fleet(lab)
    _install(fleet, documented_sudoers())
    try:
        yield fleet
    finally:
        # The documented entry allows `sh -s`: it is how the lab's own entry comes back.
        _as_root_through(fleet, f"mv {KEPT} {SUDOERS}", "sudo -n sh -s")
        assert fleet.ok(HOST, "sudo -n id -u").strip() == "0"
        fleet.close()


@pytest.fixture
def commands_only(lab: LabState) -> Iterator[Fleet]:
    """web01 with the `sudo = "commands"` entry, and a crontab only root can read."""
    fleet = Fleet(lab)
    fleet.ok(HOST, f"cp {SUDOERS} {KEPT}", user="root")
    fleet.ok(HOST, f"mkdir -p {SPOOL} && chmod 0755 /var/spool/cron && chmod 1730 {SPOOL} && "
                   f"printf '17 3 * * * /usr/local/bin/nightly-export\\n' > {SPOOL}/billing && "
                   f"chmod 0600 {SPOOL}/billing", user="root")  # fmt: skip
    _install(fleet, documented_sudoers(after=COMMANDS_SECTION))
    try:
        yield fleet
    finally:
        # No root shell through sudo any more: root's own login puts things back.
        fleet.ok(HOST, f"mv {KEPT} {SUDOERS} && rm -rf /var/spool/cron", user="root")
        assert fleet.ok(HOST, "sudo -n id -u").strip() == "0"
        fleet.close()


def _probe(lab: LabState, sudo: bool, *, commands: bool = False) -> Facts:
    address = lab.host(HOST).address
    assert IPv4Address(address) in IPv4Network("10.250.77.0/24")
    ssh = SshSettings(
        user="auditor", key_file=lab.key_file, known_hosts=lab.known_hosts, sudo=sudo,
        sudo_commands=commands, use_ssh_config=False, software_cache=False,
        ports=(lab.host(HOST).port,),
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


def test_sudo_commands_gets_root_facts_without_a_root_shell(
    lab: LabState, commands_only: Fleet
) -> None:
    # No root shell, nor any command but the listed lines.
    for refused in ("sudo -n sh -c id", "echo id | sudo -n sh -s", "sudo -n /bin/sh -s </dev/null",
                    "sudo -n id -u", "sudo -n true", f"sudo -n /usr/bin/grep -r ^ {SPOOL} /etc",
                    "sudo -n /usr/bin/find /var/log -exec id \\;"):  # fmt: skip
        rc, _, err = commands_only.run(HOST, refused)
        assert rc != 0, (refused, err)
    assert commands_only.ok(HOST, "sudo -n /usr/bin/ss -tuanpe | head -1").startswith("Netid")
    assert documented_sudoers(after=COMMANDS_SECTION) == sudoers_entry()  # the doc is the code's
    before = snapshot(lab)
    facts = _probe(lab, sudo=False, commands=True)
    changed, _ = _compare(lab, before, snapshot(lab))
    assert changed == [], changed  # nothing written on the host (sudo's own records aside)
    assert "probe.sudo" not in facts.errors, facts.errors
    sshd = [item for item in facts.listeners or () if item.port == lab.host(HOST).port]
    assert sshd and sshd[0].process == "sshd" and sshd[0].user == "root", sshd  # via sudo ss
    # Root's program path is in /proc/PID/exe, which no fixed line reads: said, not hidden.
    assert sshd[0].exe is None and 'sudo = "commands"' in facts.errors["listeners.exe"]
    assert facts.log_activity is not None and "log_activity.unreadable" not in facts.errors
    assert facts.cron is not None and "cron.users" not in facts.errors, facts.errors
    assert any("nightly-export" in str(entry) for entry in facts.cron), facts.cron
    # The control: the same host without sudo cannot read that crontab nor name root's sshd.
    plain = _probe(lab, sudo=False)
    assert "cron.users" in plain.errors
    assert not any("nightly-export" in str(entry) for entry in plain.cron or ())
    sshd = [item for item in plain.listeners or () if item.port == lab.host(HOST).port]
    assert not sshd or sshd[0].process is None, sshd
