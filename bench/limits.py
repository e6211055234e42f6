"""What the engine's session limits cost per host: take + give back of a vantage slot and a
jump host slot (auditor.engine.limits: RedisSlots, PostgresSlots), by P processes of T
threads each, as workers do around every SSH session (issue 15).

    python bench/limits.py [--hosts 20000] [--processes 2] [--threads 16] [--limit 32]
                           [--limiters redis,postgresql] [--rounds 1]
                           [--redis redis://127.0.0.1:6379/N]
                           [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

Each round runs every limiter once, one after the other. Prints, per limiter, the median take
+ give time per host, hosts per second in all, and the most slots ever held at once (read
from the limiter while it runs: it must not pass --limit), then PostgreSQL's figures as
ratios of Redis's. The Redis database must be empty (it is flushed after); PostgreSQL's
leases go to a database of their own, created and dropped here.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator

from auditor.config import EngineSettings
from auditor.engine.limits import LEASES, LeasedSlots, PostgresSlots, RedisSlots, limit_key

CLAIMS = (("vantage:bench", 0), ("bastion:bastion.bench:22", 0))


def _slots(url: str, engine: EngineSettings) -> LeasedSlots:
    if url.startswith("postgresql://"):
        return PostgresSlots(url, engine)
    return RedisSlots.connect(url, engine)


def _work(url: str, hosts: int, threads: int, limit: int, out: multiprocessing.Queue) -> None:
    engine = EngineSettings(broker=url, queue_prefix="bench")
    slots = _slots(url, engine)
    claims = tuple((key, limit) for key, _ in CLAIMS)
    keys = tuple(key for key, _ in claims)
    times: list[float] = []
    lock = threading.Lock()
    serial = iter(range(hosts))

    def run() -> None:
        while True:
            with lock:
                n = next(serial, None)
            if n is None:
                return
            started = time.perf_counter()
            while not slots.try_take(claims, str(n)):
                time.sleep(0.001)
            slots.give_back(keys, str(n))
            with lock:
                times.append(time.perf_counter() - started)

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    slots.close()
    out.put(times)


@contextlib.contextmanager
def limiter(kind: str, args: argparse.Namespace) -> Iterator[tuple[str, Callable[[], int]]]:
    """The limiter's URL and a function counting the vantage's slots held now."""
    key = limit_key(EngineSettings(queue_prefix="bench"), CLAIMS[0][0])
    if kind == "redis":
        import redis

        client = redis.Redis.from_url(args.redis)
        if client.dbsize():
            raise SystemExit(f"{args.redis} is not empty")
        try:
            yield args.redis, lambda: int(client.zcard(key))
        finally:
            client.flushdb()
        return
    import psycopg

    name = f"auditor_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(args.postgres, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = f"{args.postgres.rpartition('/')[0]}/{name}"
            with psycopg.connect(url, autocommit=True) as conn:

                def held() -> int:
                    try:
                        row = conn.execute(
                            f"SELECT count(*) FROM {LEASES} WHERE limit_key = %s", (key,)
                        ).fetchone()
                    except psycopg.errors.UndefinedTable:
                        return 0
                    return int(row[0]) if row else 0

                yield url, held
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure(kind: str, args: argparse.Namespace) -> dict[str, float]:
    out: multiprocessing.Queue = multiprocessing.Queue()
    per = args.hosts // args.processes
    with limiter(kind, args) as (url, held):
        most, stop = 0, threading.Event()

        def watch() -> None:
            nonlocal most
            while not stop.wait(0.002):
                most = max(most, held())

        watcher = threading.Thread(target=watch)
        watcher.start()
        started = time.perf_counter()
        workers = [
            multiprocessing.Process(target=_work, args=(url, per, args.threads, args.limit, out))
            for _ in range(args.processes)
        ]
        try:
            for w in workers:
                w.start()
            times = [t for _ in workers for t in out.get()]
            for w in workers:
                w.join()
            wall = time.perf_counter() - started
        finally:
            stop.set()
            watcher.join()
    return {
        "wall": wall,
        "hosts_per_s": len(times) / wall,
        "median_ms": statistics.median(times) * 1000,
        "most": most,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=20000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--limit", type=int, default=32)
    parser.add_argument("--limiters", default="redis,postgresql")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a maintenance database: the leases go to a new one")  # fmt: skip
    args = parser.parse_args()
    kinds = args.limiters.split(",")
    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    for _ in range(args.rounds):
        for kind in kinds:  # interleaved
            r = measure(kind, args)
            runs[kind].append(r)
            print(f"{kind}: {args.hosts} hosts, {args.processes} processes x {args.threads} "
                  f"threads, limit {args.limit}: {r['wall']:.1f} s, {r['hosts_per_s']:,.0f} "
                  f"hosts/s, median take+give {r['median_ms']:.2f} ms, most held at once "
                  f"{r['most']:.0f}", flush=True)  # fmt: skip
    medians = {k: {f: statistics.median(r[f] for r in rs) for f in rs[0]} for k, rs in runs.items()}
    print(f"medians of {args.rounds} round(s):")
    for kind, m in medians.items():
        print(f"  {kind}: {m['hosts_per_s']:,.0f} hosts/s, take+give {m['median_ms']:.2f} ms, "
              f"most held {m['most']:.0f} (limit {args.limit})")  # fmt: skip
    if "redis" in medians and "postgresql" in medians:
        r, p = medians["redis"], medians["postgresql"]
        print(f"  postgresql/redis: hosts/s x{p['hosts_per_s'] / r['hosts_per_s']:.2f}, "
              f"take+give x{p['median_ms'] / r['median_ms']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
