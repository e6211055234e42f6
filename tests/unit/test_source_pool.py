"""Sources are read a few at a time (issue 14), their results in config order whatever
finished first, observer calls one at a time, and a failing source costs only itself."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from auditor.model import SourceKind, SourceResult
from auditor.pipeline import SOURCE_POOL, collect_sources

NOW = datetime(2026, 12, 7, tzinfo=UTC)


class Slow:
    """A source that takes `seconds` and records how many sources were reading at once."""

    running = 0
    most = 0
    lock = threading.Lock()

    def __init__(self, name: str, seconds: float, fail: bool = False) -> None:
        self.kind, self.name, self.seconds, self.fail = SourceKind.ANSIBLE, name, seconds, fail

    def collect(self, now: datetime) -> SourceResult:
        with Slow.lock:
            Slow.running += 1
            Slow.most = max(Slow.most, Slow.running)
        time.sleep(self.seconds)
        with Slow.lock:
            Slow.running -= 1
        if self.fail:
            raise RuntimeError(f"{self.name} broke")
        return SourceResult(self.kind, self.name, True, ())


def test_sources_overlap_and_come_back_in_config_order() -> None:
    Slow.most = 0
    sources = [Slow(f"s{n}", 0.4 - 0.05 * n, fail=n == 2) for n in range(6)]
    seen: list[tuple[str, bool]] = []
    inside = threading.Lock()

    def observer(source, result) -> None:  # type: ignore[no-untyped-def]
        assert inside.acquire(blocking=False), "observer calls overlapped"
        try:
            seen.append((source.name, result is not None))
            time.sleep(0.01)
        finally:
            inside.release()

    started = time.monotonic()
    results = collect_sources(sources, NOW, observer)
    took = time.monotonic() - started
    assert [r.name for r in results] == [s.name for s in sources]
    assert not results[2].ok and "s2 broke" in (results[2].error or "")
    assert all(r.ok for n, r in enumerate(results) if n != 2)
    assert Slow.most == SOURCE_POOL  # a small pool, full
    assert took < sum(s.seconds for s in sources) * 0.75
    assert sorted(seen) == sorted([(s.name, False) for s in sources] + [(s.name, True) for s in sources])
