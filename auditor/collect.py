"""The one fan-out point: probe many hosts over SSH with a bounded thread pool.

`collect` connects to each host (trying its ports in order), hands the session to the
`probe` callable, and returns one `SshOutcome` per host, with the `Facts` when it worked.
A host that cannot be probed is data (`skipped` with a reason, or `not-attempted`), never an
exception that stops the run. A probe whose script run was cut (deadline, output cap, lost
connection, no exit status) keeps every section that arrived: the host is `partial`, with
the cut as its kind and the step the script stopped in. Each host has a deadline for
connect + probe; progress goes to an observer; Ctrl-C cancels what has not started and
returns what finished. The hosts may come as a `HostFeed` while discovery still runs
(issue 14): probes start on the hosts offered, and the results are the final list's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, MutableMapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

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
from auditor.remote.session import CommandResult, Connector, RemoteSession, stop_wait
from auditor.spool import FactsSpool, Staged
from auditor.visible import visible

if TYPE_CHECKING:
    from auditor.remote.paramiko_connector import ParamikoConnector

log = logging.getLogger(__name__)

OK = SshState.OK
PARTIAL = SshState.PARTIAL
SKIPPED = SshState.SKIPPED
NOT_ATTEMPTED = SshState.NOT_ATTEMPTED

Probe = Callable[[RemoteSession, Host], Facts]
"""Runs the probe on one connected host. Raises ProbeError when the output is unusable."""

HostGate = Callable[[Host, str, Callable[[], bool]], AbstractContextManager[object]]
"""Held for a host's whole probe, taken before its deadline starts (auditor.remote.limits:
per-vantage and per-jump-host session limits); the callable says the host was given up.
Raises RemoteError (kind concurrency-limit) when the host gets no slot."""

CollectResults = dict[str, tuple[SshOutcome, Facts | None]]
"""Host.id -> (how the probe went, the facts when it went well), in input order."""

_MAX_WAKEUP = 0.25  # how often the main thread looks for hosts past their deadline
# The controller's own share of stopping one probe (a channel opened, a command run, a
# connection closed: CPU that all running probes share when stopped at once).
_STOP_CPU = 0.02


def abort_grace(settings: SshSettings) -> float:
    """At the deadline the session stops the script, waiting for the host to confirm it
    (`remote.session.stop_wait`); the main thread closes the session itself only this long
    after the deadline (a worker stuck in a connect, a host that does not answer the stop)."""
    return stop_wait(settings.timeout) + 3.0


def interrupt_wait(settings: SshSettings, running: int) -> float:
    """How long Ctrl-C waits for `running` probes to be stopped on their hosts: they are
    all stopped at once, each within its session's `stop_wait` (which grows with `[ssh]
    timeout`, the bound on a round trip to a slow host), plus the closing of its
    connection, plus the controller's CPU for all of them."""
    return stop_wait(settings.timeout) + 1.0 + _STOP_CPU * running


class CollectObserver(Protocol):
    """Progress callbacks. `on_start` when a host's attempt begins, `on_done` exactly once
    per attempt and once per not-attempted host (which gets no `on_start`): once per host,
    but for the rare host of a HostFeed probed early and again at the end. Calls come from
    several threads but never at the same time, so implementations need no locking."""

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


class HostFeed:
    """Hosts for `collect` while discovery still runs (issue 14), instead of a list.

    Discovery `offer`s hosts that may be probed now (a sweep just saw them, reconciled with
    every inventory and cloud already read), then `close`s the feed with the run's final
    hosts (reconcile re-run at the end), or `fail`s it. `collect` probes an offered host at
    once, if it would probe it in a list; at the close, a final host equal to one it already
    probed (or is probing) keeps that probe, any other is decided and probed as in a list.
    Thread-safe; `collect` alone takes from it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offered: list[Host] = []
        self._final: tuple[Host, ...] | None = None
        self._error: BaseException | None = None
        self._cancelled = False
        self._news: Future[None] = Future()

    @classmethod
    def of(cls, hosts: Sequence[Host]) -> HostFeed:
        """A feed that is already closed: `hosts` are the final list."""
        feed = cls()
        feed.close(hosts)
        return feed

    def offer(self, hosts: Iterable[Host]) -> None:
        with self._lock:
            if self._final is None and self._error is None and not self._cancelled:
                self._offered.extend(hosts)
                self._wake()

    def close(self, hosts: Sequence[Host]) -> None:
        with self._lock:
            if self._final is None and self._error is None:
                self._final = tuple(hosts)
                self._wake()

    def fail(self, error: BaseException) -> None:
        """Discovery failed: `collect` stops its probes and raises `error`."""
        with self._lock:
            if self._final is None and self._error is None:
                self._error = error
                self._wake()

    def cancel(self) -> None:
        """`collect` stopped (Ctrl-C): whatever is offered from now on is dropped."""
        with self._lock:
            self._cancelled = True

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def _wake(self) -> None:
        if not self._news.done():
            self._news.set_result(None)

    def _take(
        self,
    ) -> tuple[list[Host], tuple[Host, ...] | None, BaseException | None, Future[None]]:
        """What arrived since the last take, and a future that completes on the next news."""
        with self._lock:
            offered, self._offered = self._offered, []
            if self._news.done():
                self._news = Future()
            return offered, self._final, self._error, self._news


def collect(
    hosts: Sequence[Host] | HostFeed,
    settings: SshSettings,
    probe: Probe,
    *,
    connector: Connector | None = None,
    observer: CollectObserver | None = None,
    scope: ProbeScope | None = None,
    facts_store: MutableMapping[str, Facts] | None = None,
    gate: HostGate | None = None,
) -> CollectResults:
    """Probe every host; return an outcome for each (see module docstring), in the order of
    the list (of a feed's final list).

    With a `facts_store` (a disk spool: auditor.spool), each host's facts go there as it
    finishes and its result holds None in their place: memory does not grow with the fleet.

    At most `settings.concurrency` hosts are in flight. A host whose script is still
    running after `settings.deadline` seconds is stopped and kept as `partial` with what
    arrived; one still not done `abort_grace` seconds later (or stuck before its script
    ran) is skipped ("deadline exceeded after Ns") and its connection closed. Without a
    `connector`, a ParamikoConnector is made and closed here. A `gate` holds each host
    back until its session limits have room (the wait is not part of its deadline).

    `hosts` may be a `HostFeed`: probes start as hosts are offered, and the results are
    those of its final list. A failed feed's error is raised once the probes are stopped.
    Raises CollectInterrupted on Ctrl-C, once the running probes are stopped on their hosts
    (announced, bounded by `interrupt_wait`; a second Ctrl-C leaves them, and says which
    hosts may still run something); on Ctrl-C before a feed is closed (the sources not all
    read: no host can be judged yet), a plain KeyboardInterrupt, as before probes started
    during discovery.
    """
    feed = hosts if isinstance(hosts, HostFeed) else HostFeed.of(hosts)
    fan_out = _FanOut(settings, probe, connector, observer, scope, facts_store, gate)
    try:
        return fan_out.run(feed)
    finally:
        fan_out.shut()


# --------------------------------------------------------------------------- internals


class _FanOut:
    """One `collect` call: the attempts by host id, their futures, the results so far. Only
    the calling thread touches it; workers report through their futures."""

    def __init__(
        self,
        settings: SshSettings,
        probe: Probe,
        connector: Connector | None,
        observer: CollectObserver | None,
        scope: ProbeScope | None,
        facts_store: MutableMapping[str, Facts] | None,
        gate: HostGate | None = None,
    ) -> None:
        self.settings, self.probe, self.scope, self.gate = settings, probe, scope, gate
        self.connector = connector
        self.owned: ParamikoConnector | None = None  # made here, closed here
        self.facts_store = facts_store
        self.notify = _Notifier(observer)
        self.results: CollectResults = {}
        # host id -> its current attempt; once decided, only its host (`_Decided`)
        self.attempts: dict[str, _Attempt | _Decided] = {}
        self.futures: dict[Future[tuple[SshOutcome, Facts | Staged | None]], _Attempt] = {}
        # Attempts not yet handed to the pool: it gets a bounded window of them (`fill`),
        # not the whole fleet at once (issue 14: a queued future per host, and this loop's
        # wait over all of them each turn, grew with the fleet).
        self.queued: deque[_Attempt] = deque()
        self.window = 2 * max(1, settings.concurrency)
        self.pool: ThreadPoolExecutor | None = None
        self.worker: _Worker | None = None
        self.streamed = False  # a host was offered before the final list
        # Sessions being closed, each with its "closed" event (not Thread.is_alive: a join
        # cut short by Ctrl-C can leave a live thread marked stopped).
        self.closing: list[tuple[_Attempt, threading.Event]] = []

    def run(self, feed: HostFeed) -> CollectResults:
        final: tuple[Host, ...] | None = None
        try:
            while True:
                offered, closing, error, news = feed._take()
                if error is not None:
                    self.stop("the sources failed")
                    raise error
                if final is None and offered:
                    self.offer(offered)
                if final is None and closing is not None:
                    final = closing
                    self.close(final)
                self.fill()
                running = {f for f, a in self.futures.items() if not a.final}
                if final is not None and not running and not self.queued:
                    self.await_closing()
                    return _in_order(final, self.results)
                waiting: set[Future[Any]] = set(running) | ({news} if final is None else set())
                done, _ = wait(waiting, timeout=self.next_wakeup(), return_when=FIRST_COMPLETED)
                for future in done:
                    # A finished future leaves the table: its result holds the host's
                    # parsed Facts (~20 KB), which the spool keeps from here on.
                    attempt = self.futures.pop(future, None)  # (or the feed's news)
                    if attempt is not None and not attempt.final:
                        self.finish(attempt, *future.result())
                now = time.monotonic()
                for future in running - done:
                    attempt = self.futures[future]
                    if not attempt.final and attempt.past_abort(now):
                        # The worker may be blocked in a socket call: closing its session
                        # wakes it; either way its late result is ignored. Closed aside:
                        # it stops the script on the host first, which may take seconds.
                        self.close_session(attempt)
                        self.finish(attempt, _deadline_outcome(attempt, self.settings), None)
                        del self.futures[future]  # its late result is never read
        except KeyboardInterrupt as interrupt:
            feed.cancel()
            left = {a.host.id for a in self.stop("Ctrl-C")}
            if final is None:
                raise
            for current in self.attempts.values():
                if isinstance(current, _Attempt) and not current.final:
                    state = SKIPPED if current.started is not None else NOT_ATTEMPTED
                    outcome = SshOutcome(
                        state=state,
                        reason=_LEFT if current.host.id in left else "interrupted",
                        address=current.address,
                        kind=FailureKind.INTERRUPTED.value,
                        interrupted=True,
                    )
                    self.results[current.host.id] = (outcome, None)
                    current.final = True
            raise CollectInterrupted(_in_order(final, self.results)) from interrupt

    def offer(self, hosts: Sequence[Host]) -> None:
        """Hosts discovery says may be probed now: each that a list would probe, at once."""
        for host in hosts:
            if not_attempted_reason(host, self.settings, self.scope) is not None:
                continue  # the final list decides what it gets
            current = self.attempts.get(host.id)
            if current is not None and current.host == host:
                continue
            if current is not None:
                self.discard(current)
            if not self.streamed:
                self.streamed = True
                log.info(
                    "probe: connecting to hosts as the sources find them, at most %d at a time",
                    self.settings.concurrency,
                )
            self.start([host], self.settings.concurrency)

    def close(self, final: Sequence[Host]) -> None:
        """The final hosts: a host probed early with exactly this Host keeps that probe;
        every other is decided now, as in a list (not attempted first, then the probes)."""
        self.notify.total = len(final)
        wanted = []
        for host in final:
            current = self.attempts.get(host.id)
            if current is not None and current.host == host:
                continue
            if current is not None:
                self.discard(current)
            reason = not_attempted_reason(host, self.settings, self.scope)
            if reason is None:
                wanted.append(host)
            else:
                outcome = SshOutcome(
                    state=NOT_ATTEMPTED, reason=reason, address=host.primary_address
                )
                self.results[host.id] = (outcome, None)
                self.notify.done(host, outcome)
        ids = {host.id for host in final}
        for host_id in [i for i in self.attempts if i not in ids]:
            self.discard(self.attempts[host_id])  # reconcile merged it into another host
        if wanted:
            log.info(
                "probe: connecting to %d of %d hosts%s, at most %d at a time",
                len(wanted), len(final), " more" if self.streamed else "",
                min(self.settings.concurrency, len(wanted)),
            )  # fmt: skip
            self.start(wanted, min(self.settings.concurrency, len(wanted)))

    def start(self, hosts: Sequence[Host], workers: int) -> None:
        if not hosts:
            return
        if self.pool is None or self.worker is None:
            if self.connector is None:
                from auditor.remote.paramiko_connector import ParamikoConnector

                self.connector = self.owned = ParamikoConnector()
            self.worker = _Worker(self.connector, self.settings, self.probe, self.notify, self.gate)
            self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="auditor-ssh")
        grace = abort_grace(self.settings)
        for host in hosts:
            attempt = _Attempt(host, host.primary_address or "", self.settings.deadline, grace)
            self.attempts[host.id] = attempt
            self.queued.append(attempt)
        self.fill()

    def fill(self) -> None:
        """Hand queued attempts to the pool, in order, up to `window` in it at once (twice
        its workers: a worker that frees never waits for this loop). A discarded attempt
        (final before it was handed over) is dropped here."""
        while self.queued and len(self.futures) < self.window and self.pool is not None:
            attempt = self.queued.popleft()
            if not attempt.final:
                self.futures[self.pool.submit(self.attempt, attempt)] = attempt

    def attempt(self, attempt: _Attempt) -> tuple[SshOutcome, Facts | Staged | None]:
        """On a worker thread: the probe, and its facts written to a spool there. A finished
        host then waits for this thread's turn with a record number, not its parsed Facts:
        workers can finish hosts faster than this loop takes them, and thousands of parsed
        Facts waiting in futures made the peak grow with the fleet (issue 14)."""
        outcome, facts = self.worker.run(attempt)  # type: ignore[union-attr]
        if facts is not None and isinstance(self.facts_store, FactsSpool):
            return outcome, self.facts_store.stage(facts)
        return outcome, facts

    def finish(self, attempt: _Attempt, outcome: SshOutcome, facts: Facts | Staged | None) -> None:
        attempt.final = True
        if self.attempts.get(attempt.host.id) is attempt:
            # What a later offer compares with is the host: the attempt's state (its lock,
            # timings, session) goes (issue 14: ~0.5 KB a host, held to the end).
            self.attempts[attempt.host.id] = _Decided(attempt.host)
        if isinstance(facts, Staged):
            self.facts_store.commit(attempt.host.id, facts)  # type: ignore[union-attr]
            facts = None
        elif facts is not None and self.facts_store is not None:
            self.facts_store[attempt.host.id] = facts
            facts = None
        self.results[attempt.host.id] = (outcome, facts)
        self.notify.done(attempt.host, outcome)

    def discard(self, attempt: _Attempt | _Decided) -> None:
        """An early probe whose host is not in the final list as it was probed: stopped if
        it runs, and what it left is dropped (the final host, if any, is probed again)."""
        del self.attempts[attempt.host.id]
        if isinstance(attempt, _Decided) or attempt.final:  # its future has left the table
            self.results.pop(attempt.host.id, None)
            if self.facts_store is not None and attempt.host.id in self.facts_store:
                del self.facts_store[attempt.host.id]
            return
        future = next((f for f, a in self.futures.items() if a is attempt), None)
        attempt.final = True
        if future is None:  # still queued: `fill` drops it
            return
        del self.futures[future]
        if not future.cancel():
            self.close_session(attempt)

    def next_wakeup(self) -> float:
        return _next_wakeup(list(self.futures.values()))  # the started are in the pool

    def close_session(self, attempt: _Attempt) -> None:
        """Close an attempt's session in a thread of its own (its session stops what the
        script started on the host first: a round trip or two, longer under load)."""
        closed = threading.Event()

        def close() -> None:
            try:
                attempt.abort()
            finally:
                closed.set()

        threading.Thread(target=close, name="auditor-abort", daemon=True).start()
        self.closing.append((attempt, closed))

    def stop(self, why: str) -> list[_Attempt]:
        """Cancel what has not started, and stop every running probe on its host: all at
        once, waiting for them up to `interrupt_wait` (said on stderr: the user waits). A
        Ctrl-C during the wait ends it at once. Returns the attempts whose stop was not
        seen through, whose host may still run what the probe started (also said)."""
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
        for attempt in [
            a for a in self.attempts.values() if isinstance(a, _Attempt) and not a.final
        ]:
            if attempt.started is None:
                attempt.abort()  # queued or waiting for a slot: no session yet, nothing to stop
            else:
                self.close_session(attempt)
        closing = [(a, closed) for a, closed in self.closing if not closed.is_set()]
        if not closing:
            return []
        scripts = sum(1 for a, _ in closing if a.script_ran)
        wait_s = interrupt_wait(self.settings, len(closing))
        if scripts:
            log.warning(
                "%s: stopping %d probe%s on their hosts (waiting up to %.0fs); "
                "Ctrl-C again to leave them",
                why, scripts, "" if scripts == 1 else "s", wait_s,
            )  # fmt: skip
        until = time.monotonic() + wait_s
        try:
            for _, closed in closing:
                closed.wait(max(0.0, until - time.monotonic()))
        except KeyboardInterrupt:
            pass  # the second Ctrl-C: leave them
        left = [a for a, closed in closing if not closed.is_set()]
        if left and any(a.script_ran for a in left):
            names = ", ".join(visible(a.host.label) for a in left if a.script_ran)
            log.warning("probes left unstopped; these hosts may still run something: %s", names)
        return left

    def await_closing(self) -> None:
        """Sessions given up at their deadline finish stopping their scripts on their hosts
        before the run goes on (each within its `stop_wait`). A Ctrl-C meanwhile is a
        Ctrl-C during the run: `stop` then says what it waits for."""
        until = time.monotonic() + abort_grace(self.settings)
        for _, closed in self.closing:
            closed.wait(max(0.0, until - time.monotonic()))

    def shut(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
        if self.owned is not None:
            self.owned.close()


# A host whose probe was still being stopped when the user pressed Ctrl-C a second time.
_LEFT = "interrupted; the probe was left running: something may still run on the host"


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
        self.total = total  # 0 while a feed's final list is not known
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
        step = max(1, self.total // 10) if self.total else 10
        if done % step == 0 or done == self.total:
            states = ", ".join(f"{n} {state}" for state, n in sorted(self._states.items()))
            log.info(
                "probe: %d/%s hosts done (%s) after %.1fs",
                done, self.total or "?", states, time.monotonic() - self._started,
            )  # fmt: skip


class _Decided:
    """A host whose attempt is over (its outcome is in the results)."""

    __slots__ = ("host",)
    final = True

    def __init__(self, host: Host) -> None:
        self.host = host


class _Attempt:
    """One host's probe, shared by its worker thread and the main thread."""

    def __init__(self, host: Host, address: str, deadline: float, grace: float) -> None:
        self.host = host
        self.address = address
        self.deadline = deadline
        self.grace = grace  # `abort_grace`
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
        return self.deadline_at + (self.grace if self.script_ran else 0.0)

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
        gate: HostGate | None = None,
    ) -> None:
        self.connector = connector
        self.settings = settings
        self.probe = probe
        self.notify = notify
        self.gate = gate

    def run(self, attempt: _Attempt) -> tuple[SshOutcome, Facts | None]:
        with ExitStack() as held:
            if self.gate is not None:
                try:
                    held.enter_context(
                        self.gate(attempt.host, attempt.address, lambda: attempt.aborted)
                    )
                except RemoteError as exc:
                    return self._skipped(attempt, str(exc), exc.kind.value), None
            return self._run(attempt)

    def _run(self, attempt: _Attempt) -> tuple[SshOutcome, Facts | None]:
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
