"""Nothing is lost, and failures are named: the real probe against real OpenSSH servers on
127.0.0.1 whose ForceCommand misbehaves the way a sick or hostile host does: a step that
hangs (and one that ignores TERM), a step that prints without end, a connection dropped in
the middle, a shell killed before it could give an exit status.

The ForceCommand runs the command we asked for, but for the probe (`/bin/sh -s`) it first
edits the script so one fact's step misbehaves, as a stuck `ss` or a flooding log would.
Every other command (the stop channel's) runs unchanged, after `stop_delay` seconds: a
loaded host (or a slow login shell) where the stop takes seconds to start. Needs root
(sshd); only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from auditor.collect import abort_grace, collect
from auditor.config import Config, SshSettings
from auditor.model import Facts, SshOutcome
from auditor.probing import make_probe
from auditor.remote import ParamikoConnector
from tests.integration import test_remote_loopback as loopback
from tests.integration.test_remote_loopback import SSHD, Sshd, _host

# The loopback sshd fixtures, shared with the SSH layer's own tests.
user_key, known_hosts, settings = loopback.user_key, loopback.known_hosts, loopback.settings
make_sshd, connector = loopback.make_sshd, loopback.connector

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="a real sshd needs root (privilege separation)"),
    pytest.mark.skipif(not Path(SSHD).exists(), reason="OpenSSH server is not installed"),
    pytest.mark.timeout(120),
]

# The first fact of the script's root half: where the misbehaving step is put.
STEP = "sockets"

WRAPPER = """#!/bin/sh
# A hostile host: runs what the client asked, but its probe misbehaves in one step.
case $SSH_ORIGINAL_COMMAND in
  "/bin/sh -s") ;;
  *) sleep {stop_delay}; exec /bin/sh -c "$SSH_ORIGINAL_COMMAND" ;;
esac
SSHD_PID=$PPID WRAPPER_PID=$$; export SSHD_PID WRAPPER_PID
read -r l </proc/$$/stat; set -- ${{l##*) }}; echo "$4" >>{sessions}
sed 's/^_sf {step}$/_sf {step}; {action}/' | /bin/sh -s
"""


@dataclass(frozen=True)
class Probed:
    outcome: SshOutcome
    facts: Facts | None
    took: float


ProbeHostile = Callable[..., Probed]


@pytest.fixture
def probe_hostile(
    make_sshd: Callable[..., Sshd],
    settings: SshSettings,
    known_hosts: Path,
    connector: ParamikoConnector,
    tmp_path: Path,
) -> ProbeHostile:
    """`probe_hostile(action, deadline=30, stop_delay=0)`: the real probe, through
    `collect`, of a loopback sshd whose probe runs `action` at the start of the STEP fact."""

    def probe(action: str, deadline: float = 30.0, stop_delay: float = 0) -> Probed:
        wrapper = tmp_path / "hostile-shell"
        wrapper.write_text(WRAPPER.format(
            step=STEP, action=action, stop_delay=stop_delay, sessions=tmp_path / "sessions"
        ))  # fmt: skip
        wrapper.chmod(0o755)
        server = make_sshd(extra=f"ForceCommand {wrapper}")
        known_hosts.write_text(server.known_hosts_line())
        ssh = replace(settings, deadline=deadline)
        started = time.monotonic()
        probe = make_probe(Config(path=None, ssh=ssh), None)
        results = collect([_host(server.port)], ssh, probe, connector=connector)
        outcome, facts = results["loopback"]
        return Probed(outcome, facts, time.monotonic() - started)

    return probe


def _processes_with(argv: list[str]) -> list[int]:
    """Pids whose command line is exactly `argv` (this machine is the sshd's host)."""
    wanted = b"\0".join(a.encode() for a in argv) + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes() == wanted:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


# Command lines of the processes the hostile steps start: unique to this test run (the pid),
# since the checks look machine-wide and another run's leftovers must not count against us.
HUNG = ["sleep", f"4321{os.getpid()}"]
STUBBORN = ["sleep", f"4322{os.getpid()}"]
SLOW_TO_DIE = ["sleep", f"4324{os.getpid()}"]


# On a machine loaded many times over, the host's cleanup after a stop can take seconds.
def _eventually_none(argv: list[str], within: float = 20.0) -> list[int]:
    until = time.monotonic() + within
    while (left := _processes_with(argv)) and time.monotonic() < until:
        time.sleep(0.1)
    return left


def _sessions_left(sessions: Path, within: float = 20.0) -> list[int]:
    """Pids still in the sessions the hostile host ran its probes in (the wrapper wrote
    their ids to `sessions`): once the stop is through, none. Unlike a look for the hung
    step's process, this cannot pass early because the script has not reached it yet."""
    sids = sessions.read_text().split()
    assert sids, "the probe never ran"
    until = time.monotonic() + within
    while (left := _in_sessions(set(sids))) and time.monotonic() < until:
        time.sleep(0.1)
    return left


def _in_sessions(sids: set[str]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[3] in sids:  # state, ppid, pgrp, session
                found.append(int(entry.name))
    return found


def _kept_the_first_half(facts: Facts | None) -> Facts:
    """The unprivileged half (system, os, logins, software) arrived before the bad step."""
    assert facts is not None
    assert facts.hostname and facts.os is not None and facts.software is not None
    assert facts.listeners is None and "listeners" in facts.errors
    return facts


# Long enough for the half before the bad step to arrive on a machine loaded many times over.
DEADLINE = 8.0


@pytest.mark.parametrize("stop_delay", [0, 4], ids=["quiet-host", "slow-stop"])
def test_a_hung_step_keeps_what_arrived_names_the_step_and_is_killed(
    probe_hostile: ProbeHostile, settings: SshSettings, stop_delay: float, tmp_path: Path
) -> None:
    # slow-stop: the stop command starts 4 s after it is asked for, longer than the fixed
    # grace the stop once had (the flake under load: the hung step outlived it).
    got = probe_hostile(" ".join(HUNG), deadline=DEADLINE, stop_delay=stop_delay)
    assert got.outcome.state == "partial" and got.outcome.kind == "deadline", got
    reason = got.outcome.reason or ""
    assert reason.startswith(f"deadline exceeded after {DEADLINE:g}s")
    assert f"the script was stopped in {STEP}" in reason  # said by its TERM trap
    _kept_the_first_half(got.facts)
    # Given up within its stated bound (`abort_grace` after the deadline), not run on.
    assert got.took < DEADLINE + abort_grace(settings)
    assert _eventually_none(HUNG) == []  # what we started is gone
    assert _sessions_left(tmp_path / "sessions") == []  # all of it, the script too


# The stuck step after its TERM. ignores-term: it shrugs TERM off (as one in a signal-blind
# loop would): no trap can speak for it, so the step is the first fact that did not arrive;
# KILL ends it. slow-to-die: it takes 3 s to go (as one flushing to a slow disk would, or any
# step on a host loaded many times over): the script's trap speaks only once it has gone, and
# the host's KILL must not come first (it came 2 s after the TERM once, and cut it short).
@pytest.mark.parametrize(
    ("body", "argv", "said"),
    [
        (f"trap '' TERM\nexec {' '.join(STUBBORN)}", STUBBORN,
         f"output ended before the script finished, in {STEP}"),
        (f"trap 'sleep 3; exit 143' TERM\n{' '.join(SLOW_TO_DIE)} &\nwait", SLOW_TO_DIE,
         f"the script was stopped in {STEP}"),
    ],
    ids=["ignores-term", "slow-to-die"],
)  # fmt: skip
def test_a_step_that_outlives_its_term_is_killed_and_the_step_still_named(
    probe_hostile: ProbeHostile, tmp_path: Path, body: str, argv: list[str], said: str
) -> None:
    got = probe_hostile(_step_program(tmp_path, body), deadline=DEADLINE)
    assert got.outcome.state == "partial" and got.outcome.kind == "deadline", got
    assert said in (got.outcome.reason or "")
    _kept_the_first_half(got.facts)
    assert _eventually_none(argv) == []
    assert _sessions_left(tmp_path / "sessions") == []


def _step_program(tmp_path: Path, body: str) -> str:
    """A shell program the hostile step runs, written to a file; its path as the sed
    replacement of the wrapper wants it (slashes escaped)."""
    program = tmp_path / "step-program"
    program.write_text(f"#!/bin/sh\n{body}\n")
    program.chmod(0o755)
    return str(program).replace("/", "\\/")


def test_endless_output_is_stopped_at_the_output_cap(
    probe_hostile: ProbeHostile, tmp_path: Path
) -> None:
    got = probe_hostile("yes flood-4323", deadline=60.0)
    assert got.outcome.state == "partial" and got.outcome.kind == "output-cap", got
    reason = got.outcome.reason or ""
    assert reason.startswith("output cap reached") and "deadline" not in reason
    assert f"in {STEP}" in reason  # the part that flooded, cut open
    kept = _kept_the_first_half(got.facts)
    assert kept.errors.get("output", "").startswith("output cut at")
    assert got.took < 30  # stopped at the cap, not at the deadline
    assert _eventually_none(["yes", "flood-4323"]) == []
    assert _sessions_left(tmp_path / "sessions") == []


def test_a_connection_dropped_mid_probe_is_partial_not_ok(probe_hostile: ProbeHostile) -> None:
    # The host's sshd dies in the middle of the probe (an OOM kill, a reboot). The pause
    # lets sshd pass on what the first half printed, as it would on a real host.
    got = probe_hostile("sleep 1; kill -KILL $SSHD_PID")
    assert got.outcome.state == "partial" and got.outcome.kind == "connection-lost", got
    reason = got.outcome.reason or ""
    assert reason.startswith("connection lost while the script ran") and f"in {STEP}" in reason
    _kept_the_first_half(got.facts)


def test_a_shell_killed_without_an_exit_status_says_so(probe_hostile: ProbeHostile) -> None:
    got = probe_hostile("kill -KILL $WRAPPER_PID $$")
    assert got.outcome.state == "partial" and got.outcome.kind == "no-exit-status", got
    assert (got.outcome.reason or "").startswith("the channel closed without an exit status")
    _kept_the_first_half(got.facts)


def test_a_well_behaved_host_is_ok_through_the_same_wrapper(probe_hostile: ProbeHostile) -> None:
    # The control: the wrapper itself changes nothing when its action is harmless.
    got = probe_hostile(":")
    assert got.outcome.state == "ok" and got.outcome.reason is None, got
    facts = got.facts
    assert facts is not None and facts.listeners is not None and "probe" not in facts.errors
