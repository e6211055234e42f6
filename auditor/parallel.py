"""Small blocking calls in parallel, each bounded: name lookups, reverse DNS, port checks.

Not the SSH fan-out (that is `auditor.collect`, with per-host deadlines and an observer):
this is for many short calls whose answers are wanted together. `parallel_map` returns each
item's result or the exception it ended with, so the caller says what a failure means for
its own items; an item that has not answered within `timeout` is a TimeoutError. Calls such
as getaddrinfo cannot be cancelled: stragglers are left to finish on their own, never
waited for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")

MAX_WORKERS = 16


def parallel_map(
    call: Callable[[K], V],
    items: Iterable[K],
    *,
    timeout: float | None,
    name: str,
    workers: int = MAX_WORKERS,
) -> dict[K, V | Exception]:
    """`call(item)` for every item (in input order, duplicates once) on at most `workers`
    threads named `name`. Each result is waited for at most `timeout` seconds (None: until
    it comes); one that did not come is a TimeoutError, one that raised is its exception."""
    unique = list(dict.fromkeys(items))
    if not unique:
        return {}
    pool = ThreadPoolExecutor(max_workers=min(workers, len(unique)), thread_name_prefix=name)
    try:
        futures = {item: pool.submit(call, item) for item in unique}
        results: dict[K, V | Exception] = {}
        for item, future in futures.items():
            try:
                results[item] = future.result(timeout=timeout)
            except Exception as exc:  # the item's own failure, or no answer in time: data
                late = isinstance(exc, FutureTimeout) and not future.done()
                results[item] = TimeoutError(f"no answer within {timeout}s") if late else exc
        return results
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
