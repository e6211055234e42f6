"""parallel_map: every item's answer or failure, in input order, each bounded in time."""

from __future__ import annotations

import threading
import time

import pytest

from auditor.parallel import parallel_map


def test_answers_and_failures_in_input_order() -> None:
    def half(n: int) -> int:
        if n % 2:
            raise OSError(f"{n} is odd")
        return n // 2

    got = parallel_map(half, [4, 3, 2, 4], timeout=5, name="t")
    assert list(got) == [4, 3, 2]  # duplicates once
    assert got[4] == 2 and got[2] == 1
    assert isinstance(got[3], OSError) and str(got[3]) == "3 is odd"
    assert parallel_map(half, [], timeout=1, name="t") == {}


def test_a_late_answer_is_a_timeout_and_is_not_waited_for() -> None:
    release = threading.Event()

    def slow(n: int) -> int:
        if n == 1:
            release.wait(10)
        return n

    started = time.monotonic()
    got = parallel_map(slow, [1, 2], timeout=0.2, name="t")
    took = time.monotonic() - started
    release.set()
    assert isinstance(got[1], TimeoutError) and "no answer within 0.2s" in str(got[1])
    assert got[2] == 2
    assert took < 2


def test_calls_run_in_parallel_on_bounded_workers() -> None:
    running, peak, lock = 0, 0, threading.Lock()

    def busy(n: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.1)
        with lock:
            running -= 1
        return n

    got = parallel_map(busy, range(12), timeout=None, name="t", workers=4)
    assert sorted(got.values()) == list(range(12))  # type: ignore[type-var]
    assert 2 <= peak <= 4


@pytest.mark.parametrize("timeout", [None, 5.0])
def test_an_unexpected_error_is_returned_for_the_caller_to_judge(timeout: float | None) -> None:
    def broken(n: int) -> int:
        raise ValueError("bad")

    assert isinstance(parallel_map(broken, [1], timeout=timeout, name="t")[1], ValueError)
