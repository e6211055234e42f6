"""Concurrency limits on SSH sessions: per vantage and per jump host (bastion).

`SessionGate` is collect's `gate`: before a host's probe begins (its deadline clock has not
started), it takes one slot of every limit that host counts against, all at once or none
(no slot is held while waiting for another, so two hosts can never deadlock), and gives
them back when the probe ends. Which limits a host counts against:

- `vantage:<name>`, `[[vantage]] concurrency` (only on an engine worker);
- `bastion:<host>:<port>` for every hop of its jump chain (`[ssh] jump_host` or the
  ProxyJump of ~/.ssh/config), `[ssh] jump_host_concurrency`.

Where the counts live is a `Slots`: `LocalSlots` in this process (a single-machine audit),
or auditor.engine.limits' RedisSlots or PostgresSlots, shared by every worker of every
vantage, so a limit holds across all of them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Protocol

from auditor.config import SshSettings
from auditor.model import Host
from auditor.remote.endpoint import EndpointResolver
from auditor.remote.errors import FailureKind, RemoteError

log = logging.getLogger(__name__)

Claim = tuple[str, int]  # (limit key, its limit)
FIRST_WAIT, LONGEST_WAIT = 0.02, 0.5  # polling a busy limit: back off up to this


class Slots(Protocol):
    """Counting semaphores by key, taken several at once."""

    def try_take(self, claims: tuple[Claim, ...], holder: str) -> bool:
        """Take one slot of every claim for `holder`, or none when any is full."""
        ...

    def give_back(self, keys: tuple[str, ...], holder: str) -> None: ...


class SlotError(RemoteError):
    """No slot: the limit stayed full for the longest wait, or the slots' store failed."""

    kind = FailureKind.CONCURRENCY_LIMIT


class LocalSlots:
    """The counts of this process only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, set[str]] = {}

    def try_take(self, claims: tuple[Claim, ...], holder: str) -> bool:
        with self._lock:
            if any(len(self._held.get(key, ())) >= limit for key, limit in claims):
                return False
            for key, _ in claims:
                self._held.setdefault(key, set()).add(holder)
            return True

    def give_back(self, keys: tuple[str, ...], holder: str) -> None:
        with self._lock:
            for key in keys:
                self._held.get(key, set()).discard(holder)

    def in_use(self, key: str) -> int:
        with self._lock:
            return len(self._held.get(key, ()))


def bastions(
    resolver: EndpointResolver, settings: SshSettings, host: Host, address: str
) -> tuple[str, ...]:
    """The jump hosts a session to `host` goes through, as `host:port` (the user is left
    out: two users of one bastion load the same machine)."""
    if not settings.jump_host and not settings.use_ssh_config:
        return ()
    try:
        endpoint = resolver.resolve(address, settings.ports[0] if settings.ports else 22,
                                    settings, host.label)  # fmt: skip
        hops = [resolver.resolve_hop(hop, settings) for hop in endpoint.jump]
    except (RemoteError, ValueError):
        return ()  # the connect reports a bad jump host setting; nothing to count here
    return tuple(f"{hop.host.lower()}:{hop.port}" for hop in hops)


class SessionGate:
    """collect's gate (see the module docstring). `vantage`: (name, limit) on a worker.
    `longest_wait`: seconds a host waits for its slots before it is skipped."""

    def __init__(
        self,
        slots: Slots,
        settings: SshSettings,
        *,
        vantage: tuple[str, int] | None = None,
        longest_wait: float = 3600.0,
        resolver: EndpointResolver | None = None,
    ) -> None:
        self.slots, self.settings, self.vantage = slots, settings, vantage
        self.longest_wait = longest_wait
        self.resolver = resolver or EndpointResolver()
        self._serial = 0
        self._lock = threading.Lock()

    def claims(self, host: Host, address: str) -> tuple[Claim, ...]:
        found: list[Claim] = []
        if self.vantage is not None:
            found.append((f"vantage:{self.vantage[0]}", self.vantage[1]))
        if self.settings.jump_host_concurrency is not None:
            limit = self.settings.jump_host_concurrency
            hops = bastions(self.resolver, self.settings, host, address)
            found += [(f"bastion:{hop}", limit) for hop in dict.fromkeys(hops)]
        return tuple(found)

    def __call__(
        self, host: Host, address: str, cancelled: Callable[[], bool]
    ) -> AbstractContextManager[object]:
        claims = self.claims(host, address)
        if not claims:
            return nullcontext()
        return self._held(claims, cancelled)

    @contextmanager
    def _held(self, claims: tuple[Claim, ...], cancelled: Callable[[], bool]) -> Iterator[None]:
        with self._lock:
            self._serial += 1
            holder = str(self._serial)
        keys = tuple(key for key, _ in claims)
        started = time.monotonic()
        wait = FIRST_WAIT
        try:
            while not self.slots.try_take(claims, holder):
                if cancelled():
                    raise SlotError("interrupted while waiting for a free session slot")
                if time.monotonic() - started > self.longest_wait:
                    full = ", ".join(f"{key} (limit {limit})" for key, limit in claims)
                    raise SlotError(f"no free session slot within {self.longest_wait:g} s: {full}")
                time.sleep(wait)
                wait = min(wait * 2, LONGEST_WAIT)
        except SlotError:
            raise
        except Exception as exc:  # the store (Redis) failed: this host, not the run
            raise SlotError(f"session limits unavailable: {type(exc).__name__}: {exc}") from exc
        try:
            yield
        finally:
            try:
                self.slots.give_back(keys, holder)
            except Exception as exc:  # its lease expires on its own
                log.warning("could not give back session slots %s: %s", ", ".join(keys), exc)
