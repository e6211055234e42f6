"""The library API the CLI calls: build sources from config, discover, probe, judge.

discover(config)  sources -> reconcile            (no SSH)
audit(config)     discover -> probe -> rules      (everything)
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.bounds import bounded_fields
from auditor.config import Config
from auditor.host_owner import client_owner
from auditor.model import AuditRun, Facts, Host, Observation, SourceKind, SourceResult
from auditor.model import ProbeResults as ProbeResults  # the library API names it here too
from auditor.parallel import parallel_map
from auditor.recheck import (
    DirectCheck,
    Recheck,
    Rechecker,
    RecheckPlan,
    narrow_recheck,
    plan_recheck,
    run_recheck,
)
from auditor.reconcile import reconcile
from auditor.rules import RuleContext, evaluate
from auditor.sources import Source

log = logging.getLogger(__name__)

NOTIFY_URL_ENV = "AUDITOR_NOTIFY_URL"  # the webhook URL, kept out of argv and config files

if TYPE_CHECKING:
    from auditor.drift.model import DriftItem, DriftResult


def build_sources(config: Config) -> list[Source]:
    from auditor.sources.ansible import AnsibleInventorySource
    from auditor.sources.network import NmapSource

    # With an [engine], sweeps run at the vantages (auditor.engine); the rest reads here.
    sources: list[Source] = [] if config.engine else [NmapSource(c) for c in config.network]
    if config.aws:
        from auditor.sources.aws import Ec2Source

        sources += [Ec2Source(c) for c in config.aws]
    sources += [AnsibleInventorySource(c) for c in config.ansible]
    if config.terraform:
        from auditor.sources.terraform import TerraformStateSource

        sources += [
            TerraformStateSource(c, s3_endpoint_url=c.s3_endpoint_url, s3_profile=c.s3_profile)
            for c in config.terraform
            if c.state
        ]
    if config.engine:
        from auditor.engine.controller import engine_sources

        return engine_sources(config, sources)
    return sources


SourceObserver = Callable[[Source, SourceResult | None], None]


SOURCE_POOL = 4  # sources read at once: sweeps, clouds and inventories wait on I/O


def collect_sources(
    sources: Sequence[Source],
    now: datetime,
    observer: SourceObserver | None = None,
    early: EarlyHosts | None = None,
) -> tuple[SourceResult, ...]:
    """Read every source, a few at a time; the results in the order of `sources` (reconcile
    sees the same input whatever finished first). Observer calls never overlap. With
    `early`, sweeps that stream (NmapSource) report each host up as they find it, and every
    result is handed over as it comes."""
    lock = threading.Lock()

    def observe(source: Source, result: SourceResult | None) -> None:
        if observer:
            with lock:
                observer(source, result)

    def read(n: int) -> SourceResult:
        source = sources[n]
        observe(source, None)
        log.info("source %s %r: reading", source.kind.value, source.name)
        started = time.monotonic()
        try:
            if early is not None and early.streams(n):
                told: dict[str, Any] = {"sightings": partial(early.sighted, n)}
                if getattr(source, "tells_first_pass", False):
                    told["first_pass"] = partial(early.passed, n)
                result = source.collect(now, **told)
            else:
                result = source.collect(now)
        except Exception as exc:  # a source must not take the run down with it
            result = _failed(source, exc)
        result = bounded_fields(result)  # observations enter here: every string bounded
        _log_source(result, time.monotonic() - started)
        if early is not None:
            early.read(n, result)
        observe(source, result)
        return result

    if len(sources) <= 1:
        return tuple(read(n) for n in range(len(sources)))
    # `read` never raises an Exception; Ctrl-C returns at once (a source's own timeouts end
    # its reads).
    results = parallel_map(
        read, range(len(sources)), timeout=None, name="auditor-source", workers=SOURCE_POOL
    )
    return tuple(
        result if isinstance(result, SourceResult) else _failed(sources[n], result)
        for n, result in sorted(results.items())
    )


def _failed(source: Source, exc: Exception) -> SourceResult:
    return SourceResult(source.kind, source.name, ok=False, error=f"{type(exc).__name__}: {exc}")


def _log_source(result: SourceResult, seconds: float) -> None:
    what = f"source {result.kind.value} {result.name!r}"
    if result.ok:
        log.info("%s: %d sightings in %.1fs", what, result.count, seconds)
    else:
        log.warning(
            "%s: %d sightings in %.1fs, %d problem(s); first: %s",
            what, result.count, seconds, max(1, len(result.errors)), result.error,
        )  # fmt: skip


HostsFound = Callable[[Sequence[Host]], None]
FirstLook = Callable[[list[SourceResult]], None]


class EarlyHosts:
    """The hosts discovery may hand the probe before it is done (issue 14): each host a sweep
    reports up, reconciled with everything read so far, once every source that does not
    stream (clouds, inventories, states, imported scans) has been read: the Host the probe
    gets is then the one the end of discovery makes, but in rare cases (another sweep still
    running sees the same machine), and `collect` probes again any final host that differs
    from the one it was given. With an [[ignore]] rule in force nothing is handed over
    early: a sighting still to come could merge into a host and bring an ignored address
    (a MAC shared by two addresses), and an ignored host gets not one packet.

    Sightings are batched: one reconcile per batch, on a thread of its own, so the sweep
    never waits for it.

    `first_look` hears, once, what every source has to say but for the sweeps' second look:
    when each sweep's first pass is over and every other source read (`EarlyRecheck`)."""

    def __init__(
        self,
        sources: Sequence[Source],
        config: Config,
        today: date,
        found: HostsFound,
        first_look: FirstLook | None = None,
    ) -> None:
        self._sources, self._config, self._today, self._found = sources, config, today, found
        self._streaming = {n for n, s in enumerate(sources) if getattr(s, "streams", False)}
        held = any(rule.expires is None or rule.expires >= today for rule in config.ignore)
        self._first_look, self._looked = first_look, False
        self._first_passes: dict[int, SourceResult] = {}
        self._results: dict[int, SourceResult] = {}
        self._seen: dict[int, list[Observation]] = {n: [] for n in self._streaming}
        self._fresh: list[Observation] = []
        self._stopped = held
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._hand_over, name="auditor-early", daemon=True)
        if not held:
            self._thread.start()

    def streams(self, n: int) -> bool:
        return n in self._streaming and not self._stopped

    def sighted(self, n: int, observation: Observation) -> None:
        observation = bounded_fields(observation)
        with self._changed:
            self._seen[n].append(observation)
            self._fresh.append(observation)
            self._changed.notify()

    def passed(self, n: int, so_far: SourceResult) -> None:
        """Sweep `n`'s first pass is over: `so_far` is its result had it stopped there."""
        with self._changed:
            self._first_passes[n] = bounded_fields(so_far)
            self._look_once()

    def read(self, n: int, result: SourceResult) -> None:
        with self._changed:
            self._results[n] = result
            self._changed.notify()
            self._look_once()

    def _look_once(self) -> None:
        if self._first_look is None or self._looked or self._stopped:
            return
        first = [
            self._results.get(n) or self._first_passes.get(n) for n in range(len(self._sources))
        ]
        if any(result is None for result in first):
            return
        self._looked = True
        self._first_look([r for r in first if r is not None])

    def stop(self) -> None:
        """Every source is read: the first reconcile takes over. Waits for a batch being
        handed over, so none arrives after that reconcile's hosts."""
        with self._changed:
            self._stopped = True
            self._changed.notify()
        if self._thread.is_alive():
            self._thread.join()

    def _ready(self) -> bool:
        return bool(self._fresh) and all(
            n in self._results for n in range(len(self._sources)) if n not in self._streaming
        )

    def _hand_over(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._stopped or self._ready())
                if self._stopped:
                    return
                fresh, self._fresh = {id(o) for o in self._fresh}, []
                results = [self._so_far(n) for n in range(len(self._sources))]
            try:
                hosts = reconcile(results, self._config, self._today)
                self._found([h for h in hosts if any(id(o) in fresh for o in h.observations)])
            except Exception:  # the hosts still come with the first reconcile
                log.exception("handing hosts to the probe early failed")
                return

    def _so_far(self, n: int) -> SourceResult:
        done = self._results.get(n)
        if done is not None:
            return done
        source = self._sources[n]
        return SourceResult(source.kind, source.name, ok=True, observations=tuple(self._seen[n]))


@dataclass(frozen=True)
class Discovery:
    started_at: datetime
    sources: tuple[SourceResult, ...]
    hosts: tuple[Host, ...]
    recheck: Recheck | None = None  # the direct check of listed hosts the sweeps missed


def discover(
    config: Config,
    *,
    now: datetime | None = None,
    sources: Sequence[Source] | None = None,
    observer: SourceObserver | None = None,
    rechecker: Rechecker | None = None,
    found: HostsFound | None = None,
) -> Discovery:
    """Read the sources and reconcile. A listed host a sweep missed is checked again
    directly before it is called stale (auditor.recheck), then everything is reconciled
    once more with what that check found.

    The re-check uses `rechecker`, or nmap when the sources are the config's own (`sources`
    None): sources given by a caller (tests) get no real re-check unless one is passed.

    `found` hears of hosts the probe may start on before discovery ends (issue 14): hosts
    sweeps report, as they report them (`EarlyHosts`), then every host of the first
    reconcile, before the re-check. The Discovery's hosts are the final word."""
    started = now or datetime.now(UTC)
    chosen = sources if sources is not None else build_sources(config)
    if rechecker is None and sources is None:
        rechecker = run_recheck
        if config.engine:  # the direct check runs at the host's vantage, like the sweep
            from auditor.engine.controller import engine_rechecker

            rechecker = engine_rechecker(config)
    ahead = EarlyRecheck(config, started, rechecker) if found and rechecker else None
    early = (
        EarlyHosts(chosen, config, started.date(), found, ahead.look if ahead else None)
        if found is not None
        else None
    )
    try:
        results = collect_sources(chosen, started, observer, early)
    finally:
        if early is not None:
            early.stop()
    hosts = reconcile(results, config, started.date())
    if found is not None:
        found(hosts)
    plan = plan_recheck(hosts, config) if rechecker is not None else None
    if rechecker is None or plan is None:
        _log_hosts(hosts)
        return Discovery(started, results, hosts)
    direct = DirectCheck(plan, ahead.check if ahead else rechecker)
    (checked,) = collect_sources([direct], started, observer)
    recheck = direct.recheck or Recheck(plan, error=checked.error or "did not run")
    hosts = reconcile(results, config, started.date(), recheck)
    _log_hosts(hosts)
    return Discovery(started, results, hosts, recheck)


class EarlyRecheck:
    """The direct check of listed hosts the sweeps missed, started early (issue 14): once
    every sweep's first pass is over and the other sources are read (`EarlyHosts`'s
    `first_look`), on a thread of its own, while the second look runs. The second look only
    adds sightings, so the hosts still unseen at the end are among those unseen then; the
    final check takes the early one's answers for them (`narrow_recheck`), the same a check
    made then would give. When the early check does not cover the final plan (a later
    sighting merged a listed host into another, another sweep chose other ports) or failed
    outright, the final plan is checked as before."""

    def __init__(self, config: Config, now: datetime, rechecker: Rechecker) -> None:
        self._config, self._now, self._rechecker = config, now, rechecker
        self._early: Future[Recheck | None] | None = None

    def look(self, first: list[SourceResult]) -> None:
        """Called once (under EarlyHosts' lock): plan and check on a thread of its own."""
        self._early = Future()
        threading.Thread(
            target=self._check_early, args=(first, self._early), name="auditor-recheck",
            daemon=True,
        ).start()  # fmt: skip

    def _check_early(self, first: list[SourceResult], early: Future[Recheck | None]) -> None:
        try:
            plan = plan_recheck(reconcile(first, self._config, self._now.date()), self._config)
            if plan is not None:
                log.info("direct check started early, for %d address(es)", len(plan.addresses))
            early.set_result(None if plan is None else self._rechecker(plan, self._now))
        except BaseException as exc:  # the final plan is checked on its own then
            early.set_exception(exc)

    def check(self, plan: RecheckPlan, now: datetime) -> Recheck:
        """The Rechecker the final direct check runs."""
        wider: Recheck | None = None
        if self._early is not None:
            try:
                wider = self._early.result()
            except Exception:
                log.exception("the early direct check failed; checking again")
        narrowed = narrow_recheck(wider, plan) if wider is not None else None
        return narrowed if narrowed is not None else self._rechecker(plan, now)


def _log_hosts(hosts: Sequence[Host]) -> None:
    counts: dict[str, int] = {}
    for host in hosts:
        counts[host.status.value] = counts.get(host.status.value, 0) + 1
    by_status = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    log.info("reconcile: %d hosts (%s)", len(hosts), by_status or "none")


Prober = Callable[[Config, tuple[Host, ...]], ProbeResults]


def new_run_id(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def build_run(
    config: Config,
    discovery: Discovery,
    probe: ProbeResults | None = None,
    *,
    extra: dict[str, Any] | None = None,
) -> AuditRun:
    probe = probe or ProbeResults()
    finished = datetime.now(UTC)
    hosts = tuple(
        _with_client_owner(
            _with_probed_name(h, probe.facts.get(h.id)), probe.facts.get(h.id), config
        )
        for h in discovery.hosts
    )
    ctx = RuleContext(config, finished, hosts, probe.ssh, probe.facts, discovery.sources)
    return AuditRun(
        id=new_run_id(discovery.started_at),
        started_at=discovery.started_at,
        finished_at=finished,
        config_path=str(config.path) if config.path else None,
        sources=discovery.sources,
        hosts=hosts,
        ssh=probe.ssh,
        facts=probe.facts,
        findings=evaluate(ctx),
        extra=extra or {},
        interrupted=probe.interrupted,
    )


def _with_probed_name(host: Host, facts: Facts | None) -> Host:
    """The host's own name (from the probe) joins the names sources gave it: for an orphan
    that no source names, it is the only name anyone will recognise."""
    if facts is None or not facts.hostname or facts.hostname in host.hostnames:
        return host
    return replace(host, hostnames=(*host.hostnames, facts.hostname))


def _with_client_owner(host: Host, facts: Facts | None, config: Config) -> Host:
    """Where neither [owners] nor a tag names the owner, the team that uses the host most
    (auditor.host_owner says why declared owners come first)."""
    if host.owner is not None:
        return host
    return replace(host, owner=client_owner(facts, config.ssh.ports))


def drift_check(
    config: Config,
    now: datetime,
    *,
    in_audit: bool,
    hosts: Sequence[Host] | Callable[[], Sequence[Host]] = (),
) -> DriftResult | None:
    """The drift check when the config asks for one: [[aws]] to read, and [[terraform]]
    state/code or [[policy]] rules to check against it. `hosts` (the audit's) may be a
    callable, asked only once the live resources are read and compared (`BackgroundDrift`)."""
    from auditor.drift.run import drift_configured, run_drift

    if not config.aws or not drift_configured(config):
        return None
    named: list[Callable[[DriftItem], bool]] = []

    def reported_elsewhere(item: DriftItem) -> bool:
        if not named:
            audited = hosts() if callable(hosts) else hosts
            named.append(launcher_named_by_rules(audited, config))
        return named[0](item)

    # In an audit, reconcile already calls instances missing / cloud-unmanaged / owned, and
    # the unmanaged-launcher rule names the launchers of owned instances (with them).
    return run_drift(
        config,
        now,
        judge_instance_presence=not in_audit,
        reported_elsewhere=reported_elsewhere if in_audit else None,
    )


class BackgroundDrift:
    """An audit's drift check on a thread of its own from the audit's start (issue 14): it
    reads Terraform code and state and the live cloud, none of which depends on discovery
    or the probe, so it no longer waits for them (1-2 s on the lab). The one thing it
    takes from the audit, its hosts (which launchers the rules already name), it waits for
    at its very end; `result` hands them over. The result is the one `drift_check` makes
    after the probe: the same config, the same `now` (the run's start), the same hosts."""

    def __init__(self, config: Config, now: datetime) -> None:
        self._hosts: Future[Sequence[Host]] = Future()
        self._result: Future[DriftResult | None] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(config, now), name="auditor-drift", daemon=True
        )
        self._thread.start()

    def _run(self, config: Config, now: datetime) -> None:
        try:
            result = drift_check(config, now, in_audit=True, hosts=self._hosts.result)
        except BaseException as exc:  # raised in the audit's thread, by `result`
            self._result.set_exception(exc)
        else:
            self._result.set_result(result)

    def result(self, hosts: Sequence[Host]) -> DriftResult | None:
        self._hosts.set_result(hosts)
        return self._result.result()

    def abandon(self) -> None:
        """The audit stopped before its hosts were known: the check ends where it would
        ask for them (its thread is a daemon: a read still going does not hold the exit)."""
        if not self._hosts.done():
            self._hosts.set_exception(RuntimeError("the audit stopped before its hosts"))


def launcher_named_by_rules(hosts: Sequence[Host], config: Config) -> Callable[[DriftItem], bool]:
    """Whether a drift item is a launcher in no state (an ASG ...) that the
    unmanaged-launcher rule already names, with the instances it launched: one finding for
    one system, not two."""
    from auditor.drift.model import DriftKind
    from auditor.launchers import launcher_of_type
    from auditor.rules.status import owned_launchers

    named = {(tag, key, region) for tag, key, _, region in owned_launchers(hosts, config.ownership)}

    def covered(item: DriftItem) -> bool:
        launcher = launcher_of_type(item.type)
        return (
            item.kind == DriftKind.UNMANAGED
            and launcher is not None
            and (launcher.tag, item.id, item.region) in named
        )

    return covered


def audit(
    config: Config,
    *,
    prober: Prober | None = None,
    observer: SourceObserver | None = None,
) -> AuditRun:
    """Discover, probe the hosts (when a prober is given and SSH is enabled), check drift,
    judge."""
    from auditor.drift.policy import config_policies
    from auditor.drift.run import merge_findings

    config_policies(config)  # a [[policy]] rule that does not parse fails before any read
    started = datetime.now(UTC)
    drifting = BackgroundDrift(config, started)
    probe: ProbeResults | None = None
    try:
        if prober is not None and config.ssh.enabled and not config.engine and takes_feed(prober):
            discovery, probe = discover_probing(config, prober, observer, now=started)
        else:
            discovery = discover(config, now=started, observer=observer)
            probe = prober(config, discovery.hosts) if prober and config.ssh.enabled else None
    except BaseException:
        drifting.abandon()
        raise
    drift = drifting.result(discovery.hosts)
    run = build_run(config, discovery, probe, extra=drift.report_extra() if drift else None)
    if drift is not None:
        run = replace(run, findings=merge_findings(run.findings, drift.findings))
    return with_acceptance(run, config)


def takes_feed(prober: Prober) -> bool:
    """Whether `prober` takes a HostFeed in place of the host list (`probe_hosts` does:
    its `collect` probes hosts as discovery finds them)."""
    return bool(getattr(prober, "takes_feed", False))


def discover_probing(
    config: Config,
    prober: Prober,
    observer: SourceObserver | None = None,
    *,
    sources: Sequence[Source] | None = None,
    rechecker: Rechecker | None = None,
    now: datetime | None = None,
) -> tuple[Discovery, ProbeResults]:
    """Discovery and probe at once (issue 14): discovery runs on a thread of its own and
    hands hosts to the prober's feed as it finds them (`discover(found=...)`), then closes
    the feed with its final hosts; the prober runs here, on the calling thread, where
    Ctrl-C lands. A discovery error is raised here, after the probes it started stop.
    `now`, `sources` and `rechecker` as for `discover`."""
    from auditor.collect import HostFeed

    feed = HostFeed()
    finished: list[Discovery] = []

    def run() -> None:
        try:
            found = discover(
                config,
                now=now,
                observer=observer,
                found=feed.offer,
                sources=sources,
                rechecker=rechecker,
            )
            finished.append(found)
        except BaseException as exc:  # handed to the prober's thread, raised there
            feed.fail(exc)
        else:
            feed.close(finished[0].hosts)

    thread = threading.Thread(target=run, name="auditor-discover", daemon=True)
    thread.start()
    probe = prober(config, feed)  # type: ignore[arg-type]
    thread.join()
    return finished[0], probe


def with_acceptance(run: AuditRun, config: Config) -> AuditRun:
    """Findings an [[accept]] entry covers, marked (as of the day the run started)."""
    from auditor.acceptance import apply_acceptance

    findings = apply_acceptance(run.findings, run.hosts, config.accept, run.started_at.date())
    return replace(run, findings=findings)


def drift_run(config: Config, *, now: datetime | None = None) -> tuple[AuditRun, DriftResult]:
    """`auditor drift`: the drift check alone, as a run without hosts (same reports)."""
    from auditor.drift.run import merge_findings, run_drift

    started = now or datetime.now(UTC)
    result = run_drift(config, started)
    run = AuditRun(
        id=new_run_id(started),
        started_at=started,
        finished_at=datetime.now(UTC),
        config_path=str(config.path) if config.path else None,
        sources=(),
        hosts=(),
        findings=merge_findings((), result.findings),
        extra=result.report_extra(),
    )
    return with_acceptance(run, config), result


def source_kinds(results: Sequence[SourceResult]) -> set[SourceKind]:
    return {r.kind for r in results}


@dataclass(frozen=True)
class Outcome:
    """A finished, recorded and reported run."""

    run: AuditRun
    written: dict[str, Path]
    notify_warning: str | None = None
    notified: bool = False


def execute(
    config: Config,
    *,
    out_dir: Path | None = None,
    notify_url: str | None = None,
    prober: Prober | None = None,
    observer: SourceObserver | None = None,
) -> Outcome:
    """The whole job: audit, compare with and save to history, write reports, notify.

    The report folder and the history store are locked before anything runs, so a second
    audit on either fails at once instead of interleaving with this one. The run is stored
    before its reports are written: a report folder that cannot be written loses no run,
    and its alert still goes out before the write error is raised. The webhook URL is
    `notify_url` (--notify), else $AUDITOR_NOTIFY_URL, else `[audit] notify`. An
    interrupted run alerts nobody about itself (what it did not probe is unknown; the next
    complete run reports against the last complete one), but still sends pending alerts.
    """
    from datetime import timedelta

    from auditor.errors import OutputError
    from auditor.notify import notify_if_new
    from auditor.report import hold_report_folder, write_reports
    from auditor.store import maybe_store, record_run

    out = out_dir or config.audit.reports
    url = notify_url or os.environ.get(NOTIFY_URL_ENV) or config.audit.notify
    with hold_report_folder(out), maybe_store(config.audit.store) as store:
        run = audit(config, prober=prober, observer=observer)
        previous = None
        if store is not None:
            recorded = record_run(store, run, grace=timedelta(days=config.audit.gone_after_days))
            run, previous = recorded.run, recorded.previous
            log.info("history: run %s recorded in %s", run.id, config.audit.store)
        written: dict[str, Path] = {}
        write_error: OutputError | None = None
        try:
            written = write_reports(run, out)
            log.info("reports written: %s", ", ".join(str(p) for p in written.values()))
        except OutputError as exc:
            write_error = exc
        result = notify_if_new(
            url,
            run,
            previous.findings if previous else None,
            config.audit.notify_timeout,
            previous_day=previous.started_at.date() if previous else None,
            pending=store,
            announce=not run.interrupted,
        )
    if write_error is not None:
        if result.warning:
            log.warning("%s", result.warning)
        raise write_error
    return Outcome(run, written, result.warning, result.sent)
