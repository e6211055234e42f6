"""The one fan-out point: probe many hosts over SSH with a bounded thread pool.

`collect` connects to each host (trying its ports in order), hands the session to the
`probe` callable, and returns one `SshOutcome` per host, with the `Facts` when it worked.
A host that cannot be probed is data (`skipped` with a reason, or `not-attempted`), never an
exception that stops the run. A probe whose script run was cut (deadline, output cap, lost
connection, no exit status) keeps every section that arrived: the host is `partial`, with
the cut as its kind and the step the script stopped in. Each host has a deadline for
connect + probe; progress goes to an observer; Ctrl-C cancels what has not started and
returns what finished.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, MutableMapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Protocol

from auditor.bounds import LIMITS, cut
from auditor.config import SshSettings
from auditor.errors import ProbeError
from auditor.model import (
    ID_AWS,
    Facts,
    Host,
    HostStatus,
    SourceKind,
    SshOutcome,
    SshState,
    split_ident,
)
from auditor.remote.errors import FailureKind, JumpHostError, RemoteError, failure_kind
from auditor.remote.session import STOP_GRACE, CommandResult, Connector, RemoteSession
from auditor.visible import visible

log = logging.getLogger(__name__)

OK = SshState.OK
PARTIAL = SshState.PARTIAL
SKIPPED = SshState.SKIPPED
NOT_ATTEMPTED = SshState.NOT_ATTEMPTED

Probe = Callable[[RemoteSession, Host], Facts]
"""Runs the probe on one connected host. Raises ProbeError when the output is unusable."""

CollectResults = dict[str, tuple[SshOutcome, Facts | None]]
"""Host.id -> (how the probe went, the facts when it went well), in input order."""

_MAX_WAKEUP = 0.25  # how often the main thread looks for hosts past their deadline
# At the deadline the session stops the script and reads what it still sends for
# STOP_GRACE seconds; the main thread closes the session itself only this long after the
# deadline (a worker stuck in a connect, a host that does not answer the stop).
ABORT_GRACE = STOP_GRACE + 3.0


class CollectObserver(Protocol):
    """Progress callbacks. `on_start` when a host's attempt begins, `on_done` exactly once
    per host (also for not-attempted hosts, which get no `on_start`). Calls come from several
    threads but never at the same time, so implementations need no locking."""

    def on_start(self, host: Host) -> None: ...

    def on_done(self, host: Host, outcome: SshOutcome) -> None: ...


class CollectInterrupted(KeyboardInterrupt):
    """Ctrl-C during `collect`. `results` has every host: the finished ones as they ended,
    the others skipped or not-attempted with reason "interrupted". Being a
    KeyboardInterrupt, it still ends the program (exit 130) if nobody catches it."""

    def __init__(self, results: CollectResults) -> None:
        super().__init__("interrupted")
        self.results = results


@dataclass(frozen=True)
class ProbeScope:
    """The networks the user told us to touch: the [[network]] sections' targets.

    When any are configured, a host is only probed if a sweep saw it alive, or the user's
    own inventory lists it: a cloud instance outside every target is never connected to
    (its address may be unroutable from here, or not ours to touch).
    """

    targets: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def covers(self, address: str) -> bool:
        from auditor.targets import in_targets

        return in_targets(address, self.targets, self.exclude)


def not_attempted_reason(
    host: Host, settings: SshSettings, scope: ProbeScope | None = None
) -> str | None:
    """Why `collect` would not even try this host, or None when it would.

    A host is tried when a sweep saw it alive, or when the user's inventory lists it (the
    SSH connect is then the liveness test). It is not tried when an [[ignore]] rule hides it
    (hands off: not even a connect), sources looked and saw it down, reconcile judged it
    stale or missing, or — when [[network]] targets are set — its address is outside all of
    them and no inventory lists it.
    """
    if host.status is HostStatus.IGNORED:
        # The rule's reason is in the host's status_reason; an ignored host is one the user
        # told us not to touch (a printer, a fragile appliance), so not one packet over SSH.
        return f"never connected to: {host.status_reason}"
    if not settings.enabled:
        return "SSH probing is disabled ([ssh] enabled = false)"
    address = host.primary_address
    if address is None:
        return "no address known for this host"
    if any(o.source is SourceKind.NETWORK and o.alive for o in host.observations):
        return None
    if host.status in (HostStatus.STALE, HostStatus.MISSING):
        return f"not alive ({host.status.value}: {host.status_reason})"
    listed = any(o.source is SourceKind.ANSIBLE for o in host.observations)
    if scope is not None and scope.targets:
        if scope.covers(address):
            return f"{address} did not answer the network sweep"
        if not listed:
            return (
                f"{address} is outside every [[network]] target: not probed "
                "(add its range to a [[network]] section to probe it)"
            )
    if host.alive or listed:
        return None
    if any(o.alive is False for o in host.observations):
        return "not seen alive by any source"
    return None


def collect(
    hosts: Sequence[Host],
    settings: SshSettings,
    probe: Probe,
    *,
    connector: Connector | None = None,
    observer: CollectObserver | None = None,
    scope: ProbeScope | None = None,
    facts_store: MutableMapping[str, Facts] | None = None,
) -> CollectResults:
    """Probe every host; return an outcome for each (see module docstring).

    With a `facts_store` (a disk spool: auditor.spool), each host's facts go there as it
    finishes and its result holds None in their place: memory does not grow with the fleet.

    At most `settings.concurrency` hosts are in flight. A host whose script is still
    running after `settings.deadline` seconds is stopped and kept as `partial` with what
    arrived; one still not done `ABORT_GRACE` seconds later (or stuck before its script
    ran) is skipped ("deadline exceeded after Ns") and its connection closed. Without a
    `connector`, a ParamikoConnector is made and closed here.
    Raises CollectInterrupted on Ctrl-C.
    """
    notify = _Notifier(observer, total=len(hosts))
    results: CollectResults = {}
    attempts: list[_Attempt] = []
    for host in hosts:
        reason = not_attempted_reason(host, settings, scope)
        if reason is None:
            attempts.append(_Attempt(host, host.primary_address or "", settings.deadline))
        else:
            outcome = SshOutcome(state=NOT_ATTEMPTED, reason=reason, address=host.primary_address)
            results[host.id] = (outcome, None)
            notify.done(host, outcome)
    if not attempts:
        return _in_order(hosts, results)
    log.info(
        "probe: connecting to %d of %d hosts, at most %d at a time",
        len(attempts), len(hosts), min(settings.concurrency, len(attempts)),
    )  # fmt: skip

    owned = None
    if connector is None:
        from auditor.remote.paramiko_connector import ParamikoConnector

        connector = owned = ParamikoConnector()
    worker = _Worker(connector, settings, probe, notify)
    pool = ThreadPoolExecutor(
        max_workers=min(settings.concurrency, len(attempts)), thread_name_prefix="auditor-ssh"
    )

    def finish(attempt: _Attempt, outcome: SshOutcome, facts: Facts | None) -> None:
        attempt.final = True
        if facts is not None and facts_store is not None:
            facts_store[attempt.host.id] = facts
            facts = None
        results[attempt.host.id] = (outcome, facts)
        notify.done(attempt.host, outcome)

    try:
        futures: dict[Future[tuple[SshOutcome, Facts | None]], _Attempt] = {
            pool.submit(worker.run, attempt): attempt for attempt in attempts
        }
        pending = set(futures)
        while pending:
            done, pending = wait(
                pending, timeout=_next_wakeup(attempts), return_when=FIRST_COMPLETED
            )
            for future in done:
                attempt = futures[future]
                if not attempt.final:
                    finish(attempt, *future.result())
            now = time.monotonic()
            for future in pending:
                attempt = futures[future]
                if not attempt.final and attempt.past_abort(now):
                    # The worker may be blocked in a socket call: closing its session wakes
                    # it; either way its late result is ignored.
                    attempt.abort()
                    finish(attempt, _deadline_outcome(attempt, settings), None)
            pending = {f for f in pending if not futures[f].final}
    except KeyboardInterrupt as interrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        _abort_all([a for a in attempts if not a.final])
        for attempt in attempts:
            if not attempt.final:
                state = SKIPPED if attempt.started is not None else NOT_ATTEMPTED
                outcome = SshOutcome(
                    state=state,
                    reason="interrupted",
                    address=attempt.address,
                    kind=FailureKind.INTERRUPTED.value,
                    interrupted=True,
                )
                results[attempt.host.id] = (outcome, None)
                attempt.final = True
        raise CollectInterrupted(_in_order(hosts, results)) from interrupt
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        if owned is not None:
            owned.close()
    return _in_order(hosts, results)


# --------------------------------------------------------------------------- internals


def _abort_all(attempts: Sequence[_Attempt]) -> None:
    """Close every running session at once (each stops what its script started on its host,
    a round trip or two), within ABORT_GRACE in all: Ctrl-C must not wait host by host."""
    closers = [
        threading.Thread(target=a.abort, name="auditor-abort", daemon=True) for a in attempts
    ]
    for closer in closers:
        closer.start()
    until = time.monotonic() + ABORT_GRACE
    for closer in closers:
        closer.join(max(0.0, until - time.monotonic()))


def _in_order(hosts: Sequence[Host], results: CollectResults) -> CollectResults:
    return {h.id: results[h.id] for h in hosts if h.id in results}


def _next_wakeup(attempts: Sequence[_Attempt]) -> float:
    now = time.monotonic()
    ends = [a.abort_at - now for a in attempts if not a.final and a.started is not None]
    return max(0.01, min([_MAX_WAKEUP, *ends]))


def _deadline_outcome(attempt: _Attempt, settings: SshSettings) -> SshOutcome:
    return SshOutcome(
        state=SKIPPED,
        reason=f"deadline exceeded after {settings.deadline:g}s",
        address=attempt.address,
        port=attempt.port,
        duration_s=attempt.elapsed(),
        kind=FailureKind.DEADLINE.value,
    )


def cut_reason(cut: FailureKind, settings: SshSettings) -> str:
    """Why a script run ended before the script did, for a person."""
    if cut is FailureKind.DEADLINE:
        return f"deadline exceeded after {settings.deadline:g}s"
    if cut is FailureKind.OUTPUT_CAP:
        return "output cap reached: the script was stopped"
    if cut is FailureKind.CONNECTION_LOST:
        return "connection lost while the script ran"
    if cut is FailureKind.NO_EXIT_STATUS:
        return "the channel closed without an exit status (the shell was killed)"
    return cut.value


def _partial_outcome(
    attempt: _Attempt, cut: FailureKind, facts: Facts, settings: SshSettings
) -> SshOutcome:
    where = facts.errors.get("probe")
    return SshOutcome(
        state=PARTIAL,
        reason=cut_reason(cut, settings)
        + (f" ({where})" if where else "")
        + "; the facts that arrived before are kept",
        address=attempt.address,
        port=attempt.port,
        duration_s=attempt.elapsed(),
        kind=cut.value,
    )


class _Notifier:
    """Serialises observer calls; an observer bug is logged, never allowed to stop a run."""

    def __init__(self, observer: CollectObserver | None, total: int = 0) -> None:
        self._observer = observer
        self._lock = threading.Lock()
        self._total = total
        self._states: dict[str, int] = {}
        self._started = time.monotonic()

    def start(self, host: Host) -> None:
        if self._observer is not None:
            with self._lock:
                try:
                    self._observer.on_start(host)
                except Exception:
                    log.exception("progress observer failed in on_start")

    def done(self, host: Host, outcome: SshOutcome) -> None:
        with self._lock:
            self._log_progress(host, outcome)
            if self._observer is not None:
                try:
                    self._observer.on_done(host, outcome)
                except Exception:
                    log.exception("progress observer failed in on_done")

    def _log_progress(self, host: Host, outcome: SshOutcome) -> None:
        """-vv: each host; -v: every tenth of the fleet, and the end."""
        self._states[outcome.state] = self._states.get(outcome.state, 0) + 1
        took = f" in {outcome.duration_s:.1f}s" if outcome.duration_s is not None else ""
        why = f" ({outcome.reason})" if outcome.reason else ""
        log.debug("probe %s: %s%s%s", host.label, outcome.state, why, took)
        done = sum(self._states.values())
        step = max(1, self._total // 10)
        if done % step == 0 or done == self._total:
            states = ", ".join(f"{n} {state}" for state, n in sorted(self._states.items()))
            log.info(
                "probe: %d/%d hosts done (%s) after %.1fs",
                done, self._total, states, time.monotonic() - self._started,
            )  # fmt: skip


class _Attempt:
    """One host's probe, shared by its worker thread and the main thread."""

    def __init__(self, host: Host, address: str, deadline: float) -> None:
        self.host = host
        self.address = address
        self.deadline = deadline
        self.started: float | None = None  # set by the worker when it picks the host up
        self.port: int | None = None
        self.final = False  # main thread only: the outcome is decided
        self.deadline_hit = False
        self.cut: FailureKind | None = None  # the first script run that ended early
        self.script_ran = False  # a script run began: the session stops it at the deadline
        self._lock = threading.Lock()
        self._session: RemoteSession | None = None
        self._aborted = False

    @property
    def deadline_at(self) -> float:
        return (self.started or time.monotonic()) + self.deadline

    @property
    def abort_at(self) -> float:
        """When the main thread gives up on the worker: at the deadline while connecting,
        a grace later once a script runs (its session stops it and returns what came)."""
        return self.deadline_at + (ABORT_GRACE if self.script_ran else 0.0)

    def begin(self) -> None:
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started if self.started is not None else 0.0

    def remaining(self) -> float:
        return self.deadline_at - time.monotonic()

    def past_deadline(self, now: float) -> bool:
        return self.started is not None and now >= self.deadline_at

    def past_abort(self, now: float) -> bool:
        return self.started is not None and now >= self.abort_at

    def attach(self, session: RemoteSession) -> bool:
        """Remember the session so `abort` can close it; False if already aborted."""
        with self._lock:
            if self._aborted:
                return False
            self._session = session
            return True

    def detach(self) -> None:
        with self._lock:
            self._session = None

    @property
    def aborted(self) -> bool:
        return self._aborted

    def abort(self) -> None:
        with self._lock:
            self._aborted = True
            session = self._session
        if session is not None:
            try:
                session.close()
            except Exception:  # closing is best effort; the host is already skipped
                log.debug("closing session of %s failed", visible(self.host.label), exc_info=True)


class _DeadlineExceeded(RemoteError):
    kind = FailureKind.DEADLINE


@dataclass(frozen=True)
class _DeadlineSession:
    """Clamps every run's timeout to what is left of the host's deadline, so a probe that
    asks for more time than the host has cannot overrun it."""

    inner: RemoteSession
    attempt: _Attempt

    @property
    def description(self) -> str:
        return self.inner.description

    @property
    def local_address(self) -> str | None:
        return self.inner.local_address

    @property
    def endpoint(self) -> tuple[str, int | None]:
        """The address and port this session was opened to (what the host is known by)."""
        return self.attempt.address, self.attempt.port

    def run(self, script: str, *, timeout: float, max_output: int) -> CommandResult:
        remaining = self.attempt.remaining()
        if remaining <= 0:
            self.attempt.deadline_hit = True
            raise _DeadlineExceeded("deadline exceeded before the script ran")
        self.attempt.script_ran = True
        result = self.inner.run(script, timeout=min(timeout, remaining), max_output=max_output)
        if result.timed_out and remaining <= timeout:
            self.attempt.deadline_hit = True
        if result.cut is not None and self.attempt.cut is None:
            self.attempt.cut = result.cut
        return result

    def close(self) -> None:
        self.inner.close()


class _Worker:
    def __init__(
        self,
        connector: Connector,
        settings: SshSettings,
        probe: Probe,
        notify: _Notifier,
    ) -> None:
        self.connector = connector
        self.settings = settings
        self.probe = probe
        self.notify = notify

    def run(self, attempt: _Attempt) -> tuple[SshOutcome, Facts | None]:
        attempt.begin()
        self.notify.start(attempt.host)
        try:
            return self._probe(attempt)
        except ProbeError as exc:
            if attempt.cut is not None and attempt.cut is not FailureKind.DEADLINE:
                # Nothing usable arrived before the cut: say what cut it, not what that
                # left (an empty output).
                reason = f"{cut_reason(attempt.cut, self.settings)}: {exc}"
                return self._skipped(attempt, reason, attempt.cut.value), None
            if attempt.deadline_hit or failure_kind(exc) is FailureKind.DEADLINE:
                return _deadline_outcome(attempt, self.settings), None
            kind = failure_kind(exc)
            outcome = self._skipped(attempt, str(exc), kind.value if kind else None)
            if isinstance(exc, JumpHostError):
                outcome = replace(outcome, jump=exc.hop or None, jump_kind=exc.hop_kind.value)
            return outcome, None
        except Exception as exc:
            # A bug (in a parser, say) must cost one host, not the run; the traceback is
            # logged for whoever fixes it.
            log.exception("probing %s failed unexpectedly", visible(attempt.host.label))
            reason = f"internal error while probing: {type(exc).__name__}: {exc}"
            return self._skipped(attempt, reason), None

    def _skipped(self, attempt: _Attempt, reason: str, kind: str | None = None) -> SshOutcome:
        return SshOutcome(
            state=SKIPPED,
            reason=cut(reason, LIMITS["reason"]),  # it can quote what the server sent
            address=attempt.address,
            port=attempt.port,
            duration_s=attempt.elapsed(),
            kind=kind,
        )

    def _probe(self, attempt: _Attempt) -> tuple[SshOutcome, Facts | None]:
        host, address = attempt.host, attempt.address
        ports = self.connector.ports_for(host, address, self.settings)
        port_failures: list[str] = []
        for index, port in enumerate(ports):
            remaining = attempt.remaining()
            if remaining <= 0 or attempt.aborted:
                return _deadline_outcome(attempt, self.settings), None
            attempt.port = port
            # Each connect phase gets at most what is left of the deadline.
            settings = replace(self.settings, timeout=min(self.settings.timeout, remaining))
            with ExitStack() as stack:
                try:
                    session = stack.enter_context(
                        self.connector.connect(
                            address, port, settings, host.label, _instance_id(host)
                        )
                    )
                except ProbeError as exc:
                    last = index == len(ports) - 1
                    if getattr(exc, "another_port_may_help", False) and not last:
                        port_failures.append(str(exc))
                        continue
                    if port_failures and getattr(exc, "another_port_may_help", False):
                        joined = "; ".join([*port_failures, str(exc)])
                        raise RemoteError(joined, kind=failure_kind(exc)) from exc
                    raise
                if not attempt.attach(session):
                    return _deadline_outcome(attempt, self.settings), None
                try:
                    facts = self.probe(_DeadlineSession(session, attempt), host)
                finally:
                    attempt.detach()
                if attempt.cut is not None:
                    return _partial_outcome(attempt, attempt.cut, facts, self.settings), facts
                if attempt.deadline_hit:
                    return _deadline_outcome(attempt, self.settings), None
                outcome = SshOutcome(
                    state=OK, address=address, port=port, duration_s=attempt.elapsed()
                )
                return outcome, facts
        raise RemoteError("no SSH port to try (ssh.ports is empty)")


def _instance_id(host: Host) -> str | None:
    """The host's EC2 instance id, when a source gave one (a proxy command's %i)."""
    return next((v for k, v in map(split_ident, host.identifiers) if k == ID_AWS), None)
