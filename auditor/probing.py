"""The probe stage of a run: the probe script over `collect`'s fan-out, then EOL status.

This module only glues: `auditor.probe` builds and parses the script, `auditor.collect`
connects and fans out, `auditor.eol` judges support status.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from auditor.collect import CollectInterrupted, HostFeed, HostGate, Probe, ProbeScope, collect
from auditor.config import Config
from auditor.eol import EolData, load_eol_data, with_os_eol, with_software_eol
from auditor.errors import ProbeError
from auditor.model import Facts, Host, ProbeResults, SshOutcome
from auditor.probe import ProbeOptions, build_script, split_output
from auditor.probe.facts.software import cache_hits, version_runs
from auditor.probe.owners import ClientOwners
from auditor.probe.parse import parse_probe_sections
from auditor.probe.parsers.addresses import is_ip
from auditor.probe.parsers.software import VersionRun
from auditor.probe.sections import ProbeOutput
from auditor.remote.session import CommandResult, Connector, RemoteSession
from auditor.software_cache import SoftwareCache, host_key
from auditor.spool import FactsSpool
from auditor.visible import visible

if TYPE_CHECKING:
    from rich.console import Console

    from auditor.remote.paramiko_connector import ParamikoConnector

# What one host may send back. The script summarises logs on the host, so real output is
# tens of kilobytes; the cap only guards against a host that floods us.
MAX_PROBE_OUTPUT = 8 * 1024 * 1024


def add_eol(facts: Facts, on: date, data: EolData) -> Facts:
    """Facts with `os.eol` and each `software[].eol` filled in (a packaged program on a
    maintained OS release by the OS's status: `auditor.eol.software`)."""
    os_identity = with_os_eol(facts.os, on, data) if facts.os is not None else None
    os_status = os_identity.eol if os_identity is not None else None
    software = (
        tuple(with_software_eol(s, on, data, os_status) for s in facts.software)
        if facts.software is not None
        else None
    )
    return replace(facts, os=os_identity, software=software)


def without_client(facts: Facts, address: str) -> Facts:
    """Facts with the auditor's own requests taken out of the web-log clients: `inspect`
    fetches front pages, and our own visits must not count as somebody using the host."""
    if facts.web_logs is None and facts.clients is None:
        return facts
    logs = None
    if facts.web_logs is not None:
        logs = tuple(
            replace(
                log,
                requests=log.requests
                - sum(c.requests for c in log.top_clients if c.address == address),
                clients=log.clients - sum(1 for c in log.top_clients if c.address == address),
                top_clients=tuple(c for c in log.top_clients if c.address != address),
            )
            for log in facts.web_logs
        )
    clients = (
        tuple(c for c in facts.clients if c.address != address)
        if facts.clients is not None
        else None
    )
    return replace(facts, web_logs=logs, clients=clients)


def run_script(session: RemoteSession, script: str, config: Config) -> tuple[str, CommandResult]:
    """Run a probe script on one session; its stdout as text, and the raw result. Raises
    ProbeError when the script printed nothing (there is nothing to parse)."""
    result = session.run(script, timeout=config.ssh.deadline, max_output=MAX_PROBE_OUTPUT)
    stdout = result.stdout.decode("utf-8", errors="replace")
    if not stdout.strip():
        stderr = result.stderr.decode("utf-8", errors="replace").strip()[:300]
        raise ProbeError(
            f"the probe script printed nothing (exit status {result.exit_status}"
            + (f"; stderr: {stderr}" if stderr else "")
            + ")"
        )
    return stdout, result


def finish_facts(facts: Facts, result: CommandResult, on: date, eol_data: EolData | None) -> Facts:
    """Parsed facts plus what the run itself says: a cut output, and EOL status."""
    if result.stdout_truncated:
        facts = replace(
            facts,
            errors={**facts.errors, "output": f"output cut at {MAX_PROBE_OUTPUT} bytes"},
        )
    return add_eol(facts, on, eol_data) if eol_data is not None else facts


def ssh_target(session: RemoteSession, host: Host, config: Config) -> str:
    """The version cache's key for the host behind `session`: the address and port
    `collect` connected to (the inventory's port, else the first configured one, for a
    session that does not say)."""
    endpoint = session.endpoint
    if endpoint is not None:
        address, port = endpoint
    else:
        address = host.primary_address or host.id
        port = host.ssh_port or (config.ssh.ports[0] if config.ssh.ports else None)
    return host_key(address, port)


def host_overrides(session: RemoteSession, config: Config) -> dict[str, Any]:
    """The probe options every host gets from the run: the [owners] networks (the host
    counts its clients per team) and the auditor's own address there (not a client)."""
    own = session.local_address
    return {
        "client_owners": ClientOwners.from_rules(config.owners),
        "own_address": own if isinstance(own, str) and is_ip(own) else None,
    }


@dataclass(frozen=True)
class VersionRecall:
    """What the version cache knows of one host for one run: the options that tell the
    script (with a fresh nonce), the cache's key for the host and the runs it kept."""

    options: ProbeOptions
    target: str = ""
    known: Mapping[str, VersionRun] = field(default_factory=dict)

    @classmethod
    def for_host(
        cls,
        cache: SoftwareCache | None,
        session: RemoteSession,
        host: Host,
        config: Config,
        **overrides: Any,
    ) -> VersionRecall:
        overrides = {**host_overrides(session, config), **overrides}
        if cache is None:
            return cls(ProbeOptions.from_settings(config.ssh, **overrides))
        target = ssh_target(session, host, config)
        known = cache.known(target)
        options = ProbeOptions.from_settings(
            config.ssh,
            known_versions=tuple((path, run.identity) for path, run in known.items()),
            **overrides,
        )
        return cls(options, target, known)

    def remember(self, cache: SoftwareCache | None, output: ProbeOutput, now: datetime) -> None:
        """Record in `cache` what this run's script ran, and which kept runs it found
        unchanged."""
        if cache is None:
            return
        software = output.section("software")
        cache.update(self.target, version_runs(software), cache_hits(software), now=now)


@dataclass(frozen=True)
class ScriptRun:
    """One probe script run on one host, parsed: the audit's facts (before the run's own
    notes and EOL status: `finish_facts`), the split output (for more parsers), the raw
    result and when it was read."""

    facts: Facts
    output: ProbeOutput
    result: CommandResult
    collected_at: datetime


def probe_session(
    session: RemoteSession,
    host: Host,
    config: Config,
    *,
    script: Callable[[ProbeOptions], str] = build_script,
    software_cache: SoftwareCache | None = None,
    log_days: int | None = None,
) -> ScriptRun:
    """What every probe does with a connected session (the audit's `make_probe`, inspect's
    `InspectProbe`): the options for this host (the version cache's known programs, the
    run's [owners]), `script` built from them and run, the audit's facts parsed, and what it
    ran recorded in `software_cache`. `log_days` overrides `[ssh] log_days`."""
    days = config.ssh.log_days if log_days is None else log_days
    overrides = {} if log_days is None else {"log_days": log_days}
    recall = VersionRecall.for_host(software_cache, session, host, config, **overrides)
    options = recall.options
    stdout, result = run_script(session, script(options), config)
    now = datetime.now(UTC)
    output = split_output(stdout, options.nonce)
    facts = parse_probe_sections(
        output,
        collected_at=now,
        log_days=days,
        owner_of=config.owner_of,
        cached_versions=recall.known,
        client_owners=options.client_owners,
    )
    recall.remember(software_cache, output, now)
    return ScriptRun(facts, output, result, now)


def make_probe(
    config: Config, eol_data: EolData | None, software_cache: SoftwareCache | None = None
) -> Probe:
    """The per-host callable `collect` runs on each connected session. With a
    `software_cache`, programs unchanged since it last saw them are not run again, and what
    was run is recorded in it."""

    def probe(session: RemoteSession, host: Host) -> Facts:
        run = probe_session(session, host, config, software_cache=software_cache)
        facts = run.facts
        own_address = session.local_address
        if own_address:
            facts = without_client(facts, own_address)
        return finish_facts(facts, run.result, run.collected_at.date(), eol_data)

    return probe


def connector_from_environment() -> ParamikoConnector:
    """The SSH connector a run uses when none is given. The key passphrase comes from
    $AUDITOR_SSH_KEY_PASSPHRASE, never from the config file or argv."""
    from auditor.remote.paramiko_connector import ParamikoConnector

    return ParamikoConnector(key_passphrase=os.environ.get("AUDITOR_SSH_KEY_PASSPHRASE"))


class _Progress:
    """A rich progress bar as collect's observer (only on a terminal)."""

    def __init__(self, console: Console, total: int | None) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.progress = Progress(
            TextColumn("probing"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.description}"), console=console, transient=True,
        )  # fmt: skip
        # A feed's total is not known while discovery runs: the bar shows "N/?".
        self.task = self.progress.add_task("", total=total)

    def on_start(self, host: Host) -> None:
        from rich.markup import escape

        self.progress.update(self.task, description=escape(visible(host.label)))

    def on_done(self, host: Host, outcome: SshOutcome) -> None:
        self.progress.advance(self.task)


def probe_hosts(
    config: Config,
    hosts: Sequence[Host] | HostFeed,
    *,
    console: Console | None = None,
    connector: Connector | None = None,
    gate: HostGate | None = None,
) -> ProbeResults:
    """Probe every host that can be probed; every host gets an SshOutcome. `hosts` may be
    a HostFeed: probes then start as discovery finds hosts (`pipeline.discover_probing`).
    With `[ssh] software_cache` on, the software version cache is loaded once here and
    saved once at the end, also when the run is interrupted. `gate`: the session limits
    (an engine worker's, shared with its peers); without one, `[ssh]
    jump_host_concurrency` holds within this run."""
    try:
        eol_data: EolData | None = load_eol_data()
    except Exception:  # EOL status is an enrichment: without data, facts still count
        eol_data = None
    cache = SoftwareCache.load() if config.ssh.software_cache else None
    probe = make_probe(config, eol_data, cache)
    scope = ProbeScope(
        targets=tuple(t for n in config.network for t in n.targets),
        exclude=tuple(t for n in config.network for t in n.exclude),
    )
    owned = None
    if connector is None:
        connector = owned = connector_from_environment()
    if gate is None and config.ssh.jump_host_concurrency is not None:
        from auditor.remote.limits import LocalSlots, SessionGate

        gate = SessionGate(LocalSlots(), config.ssh)
    spool = FactsSpool()  # each host's facts on disk as it finishes, not in memory
    total = None if isinstance(hosts, HostFeed) else len(hosts)  # a feed's grows
    progress = _Progress(console, total) if console is not None and console.is_terminal else None
    try:
        if progress:
            with progress.progress:
                results = collect(
                    hosts, config.ssh, probe, connector=connector, observer=progress,
                    scope=scope, facts_store=spool, gate=gate,
                )  # fmt: skip
        else:
            results = collect(
                hosts, config.ssh, probe, connector=connector, scope=scope, facts_store=spool,
                gate=gate,
            )  # fmt: skip
    except CollectInterrupted as interrupted:
        # Keep what finished: the report is written, then the CLI exits 130.
        results, was_interrupted = interrupted.results, True
    else:
        was_interrupted = False
    finally:
        if owned is not None:
            owned.close()
        if cache is not None:
            cache.save()
    ssh = {host_id: outcome for host_id, (outcome, _) in results.items()}
    return ProbeResults(ssh=ssh, facts=spool, interrupted=was_interrupted)


probe_hosts.takes_feed = True  # type: ignore[attr-defined]  # (pipeline.takes_feed)
