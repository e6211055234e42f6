"""What the engine's session limits cost per host: take + give back of a vantage slot and a
jump host slot in Redis (auditor.engine.limits.RedisSlots), by P processes of T threads
each, as workers do around every SSH session (issue 15).

    python bench/limits.py [--hosts 20000] [--processes 2] [--threads 16] [--limit 32]
                           [--redis redis://127.0.0.1:6379/N]

Prints the median take + give time per host, hosts per second in all, and the most slots
ever held at once (read from Redis while it runs: it must not pass --limit). The Redis
database must be empty; it is flushed after.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import threading
import time

from auditor.config import EngineSettings
from auditor.engine.limits import RedisSlots, limit_key

CLAIMS = (("vantage:bench", 0), ("bastion:bastion.bench:22", 0))


def _work(url: str, hosts: int, threads: int, limit: int, out: multiprocessing.Queue) -> None:
    engine = EngineSettings(broker=url, queue_prefix="bench")
    slots = RedisSlots.connect(url, engine)
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


def main() -> None:
    import redis

    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=20000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--limit", type=int, default=32)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args()
    client = redis.Redis.from_url(args.redis)
    if client.dbsize():
        raise SystemExit(f"{args.redis} is not empty")
    out: multiprocessing.Queue = multiprocessing.Queue()
    per = args.hosts // args.processes
    engine = EngineSettings(broker=args.redis, queue_prefix="bench")
    key = limit_key(engine, CLAIMS[0][0])
    most, stop = 0, threading.Event()

    def watch() -> None:
        nonlocal most
        while not stop.is_set():
            most = max(most, client.zcard(key))

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.perf_counter()
    workers = [
        multiprocessing.Process(target=_work, args=(args.redis, per, args.threads, args.limit, out))
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
        client.flushdb()
    print(f"{len(times)} hosts, {args.processes} processes x {args.threads} threads, "
          f"limit {args.limit}: {wall:.1f} s, {len(times) / wall:,.0f} hosts/s, "
          f"median take+give {statistics.median(times) * 1000:.2f} ms, "
          f"most held at once {most}")  # fmt: skip


if __name__ == "__main__":
    main()
