"""The engine's throughput: a simulated estate audited through Celery workers (issue 15).

    python bench/engine.py [--hosts 2000[,10000]] [--vantages 4] [--workers 1,2,4]
                           [--batch-size 16] [--broker redis://127.0.0.1:6379/N]
                           [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
                           [--limiter redis://127.0.0.1:6379/N]

For each fleet size and worker count W: W `auditor worker`-like processes per vantage (the
same Celery app and tasks; their prober is `probe_hosts` with bench/memory.py's scripted
connector, which answers every host with a real probe output — no socket to any host is
opened), and a controller child running `pipeline.execute` with the engine on a config
whose hosts come from a generated nmap import (vantage v's hosts in 10.(250+v).0.0/16, at
most 4 vantages: never contacted, the scripted connector opens no socket). Prints
hosts/minute, the controller's CPU per host and peak RSS (and its RSS every 5 s in --json),
the workers' CPU per host, what the broker's database held at its peak and after
the run (per host), and the history store's size per host (SQLite; with --postgres also a
PostgreSQL store, in a database of its own created and dropped here). A Redis broker's
database must be empty (it is flushed after each run); with RabbitMQ
(`--broker amqp://guest:guest@127.0.0.1:5672 --limiter redis://...`) each run has a vhost
of its own, deleted after.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from memory import CANNED, HEAD, OUTPUTS, TAIL, UP, write_fleet  # noqa: E402

# Simulated hosts, never contacted (the workers' scripted connector opens no socket): one
# lab-style /16 per vantage, 10.250.0.0/16 to 10.253.0.0/16 (up to 4 vantages of 65,024
# hosts: 260,096 in all), host n at vantage n % V.
PER_VANTAGE = 256 * 254


def address(n: int, vantages: int) -> str:
    v, i = n % vantages, n // vantages
    return f"10.{250 + v}.{i // 254}.{i % 254 + 1}"


def engine_config(
    folder: Path, hosts: int, vantages: int, broker: str, batch: int, store: str | None,
    limit: int, limiter: str | None,
) -> Path:  # fmt: skip
    if vantages > 4 or hosts > vantages * PER_VANTAGE:
        sys.exit(f"at most 4 vantages of {PER_VANTAGE:,} simulated hosts (10.250-253.0.0/16)")
    config = write_fleet(folder, 0, concurrency=limit)
    with (folder / "sweep.xml").open("w") as out:  # the fleet spread over the vantages
        out.write(HEAD)
        for n in range(hosts):
            out.write(UP.format(ip=address(n, vantages)))
        out.write(TAIL.format(n=hosts))
    sections = [
        f'[[vantage]]\nname = "v{i}"\nnetworks = ["10.{250 + i}.0.0/16"]\n'
        f"concurrency = {limit}\n"
        for i in range(vantages)
    ]
    text = config.read_text()
    if store is not None:
        text = text.replace(f'store = "{folder / "history.sqlite"}"', f'store = "{store}"')
    config.write_text(
        text
        + f'[engine]\nbroker = "{broker}"\nbatch_size = {batch}\nqueue_prefix = "bench"\n'
        + (f'limiter = "{limiter}"\n' if limiter else "")
        + "".join(sections)
    )
    return config


WORKER_MAIN = r"""
import re, sys, time
from pathlib import Path
config_path, canned_dir, names, vantage, name, threads, probe_time = sys.argv[1:8]
probe_time = float(probe_time)
from auditor.config import load_config
from auditor.engine.app import WorkerContext, make_app, queue_name, serve
from auditor.probing import probe_hosts
from auditor.remote.scripted import Reply, ScriptedConnector
canned = []
for n in names.split(","):
    text = (Path(canned_dir) / n).read_text()
    nonce = re.search(r"^@@AUDITOR (\w+) ", text, re.M).group(1)
    host = re.search(r"BEGIN system/hostname@@\n(.*)\n", text).group(1)
    canned.append((text, nonce, host))
NONCE = re.compile(r"^N=(\w+)$", re.M)

class Answers(dict):
    def get(self, key, default=None):
        ip = key.split(":")[0]
        a, b, c, d = map(int, ip.split("."))
        k = (b - 250) * 65024 + c * 254 + d - 1  # unique across the vantages' /16s
        text, nonce, host = canned[k % len(canned)]
        def answer(script):
            new = NONCE.search(script).group(1)
            # A real session waits on the network, not on the CPU: a fifth of the probe's
            # time in the handshake (Fleet._connect), the rest for the output.
            return Reply(stdout=text.replace(nonce, new).replace(host, f"sim-{k:05d}"),
                         delay=probe_time * 0.8)
        return answer

class Fleet(ScriptedConnector):
    def _record(self, call):
        pass
    def _connect(self, address, port, label):
        self.connects = []
        time.sleep(probe_time * 0.2)
        return super()._connect(address, port, label)

connector = Fleet({})
connector._hosts = Answers()
config = load_config(Path(config_path))
serve(WorkerContext(config, vantage, prober=lambda c, h: probe_hosts(c, h, connector=connector)))
app = make_app(config.engine)
app.worker_main(["worker", "--queues", queue_name(config.engine, vantage), "--pool", "threads",
                 "--concurrency", threads, "--hostname", name, "--without-gossip",
                 "--without-mingle", "--loglevel", "WARNING"])
"""

CONTROLLER = r"""
import cProfile, json, resource, sys, time
start = time.perf_counter()
from pathlib import Path
from auditor.config import load_config
from auditor.engine.controller import probe_via_engine
from auditor.pipeline import execute
profiler = cProfile.Profile() if sys.argv[2] else None
if profiler:
    profiler.enable()
phases = {}

def status_mb(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)

def prober(*args, **kwargs):  # RSS when the probe is done: the engine's part of the peak
    probe = probe_via_engine(*args, **kwargs)
    phases["probe_rss_mb"], phases["probe_peak_rss_mb"] = status_mb("VmRSS"), status_mb("VmHWM")
    phases["probe_done_s"] = round(time.perf_counter() - start, 2)
    return probe

outcome = execute(load_config(Path(sys.argv[1])), prober=prober)
if profiler:
    profiler.disable()
    profiler.dump_stats(sys.argv[2])
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({
    "wall_s": round(time.perf_counter() - start, 2),
    "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
    "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    "hosts": len(outcome.run.hosts),
    "probed_ok": sum(1 for o in outcome.run.ssh.values() if o.state == "ok"),
    **phases,
}))
"""


class BrokerWatch:
    """The bytes the broker holds, sampled while the audit runs: its peak (what is in
    flight) and what is left after. Redis: every key's MEMORY USAGE in the broker's
    database, each second. RabbitMQ: every queue's memory in the run's own vhost
    (`rabbitmqctl list_queues`, every 5 s: each call starts an Erlang VM)."""

    def __init__(self, broker: str) -> None:
        import redis

        self.vhost = broker.rpartition("/")[2] if broker.startswith("amqp") else None
        self.client = None if self.vhost else redis.Redis.from_url(broker)
        self.peak = self.peak_keys = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def held(self) -> tuple[int, int]:
        if self.client is None:
            out = subprocess.run(
                ["rabbitmqctl", "list_queues", "-q", "--no-table-headers", "-p", str(self.vhost),
                 "name", "memory"], capture_output=True, text=True, check=True,
            ).stdout.split()  # fmt: skip
            return len(out) // 2, sum(int(m) for m in out[1::2])
        keys = list(self.client.scan_iter(count=1000))
        return len(keys), sum(self.client.memory_usage(k) or 0 for k in keys)

    def _sample(self) -> None:
        while not self.stop.wait(5.0 if self.client is None else 1.0):
            keys, size = self.held()
            if size > self.peak:
                self.peak, self.peak_keys = size, keys

    def __enter__(self) -> BrokerWatch:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()


class RssTimeline:
    """The controller's RSS (MB) every 5 s while it runs: which phase grows with the fleet."""

    def __init__(self, pid: int) -> None:
        self.pid, self.samples = pid, list[float]()
        self.stop = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while not self.stop.wait(5.0):
            with contextlib.suppress(OSError):
                for field in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                    if field.startswith("VmRSS:"):
                        self.samples.append(round(int(field.split()[1]) / 1024, 1))


# Each table of the store with its indexes and TOAST (pg_total_relation_size): the store's
# own bytes, without the ~7.5 MB of catalog every PostgreSQL database starts with.
TABLE_SIZES = """
SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY 2 DESC
"""


@contextlib.contextmanager
def postgres_store(admin: str | None) -> Iterator[tuple[str | None, Any]]:
    """A PostgreSQL store URL in a new database (dropped after) and a function giving its
    tables' sizes ({table: bytes}); (None, None) without `admin`."""
    if admin is None:
        yield None, None
        return
    import psycopg

    name = f"auditor_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        try:
            url = f"{admin.rpartition('/')[0]}/{name}"

            def size() -> dict[str, int]:
                with psycopg.connect(url, autocommit=True) as store:
                    store.execute("VACUUM ANALYZE")  # the visibility map and statistics
                    return {str(t): int(b) for t, b in store.execute(TABLE_SIZES).fetchall()}

            yield url, size
        finally:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def cpu_seconds(pid: int) -> float:
    """A live process's user + system CPU so far (/proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def broker_of_run(broker: str) -> Iterator[str]:
    """The broker URL of one run: a Redis database that must be empty (flushed after), or
    for RabbitMQ (amqp://user:password@host:port) a vhost of its own (deleted after)."""
    if not broker.startswith("amqp"):
        import redis

        client = redis.Redis.from_url(broker)
        if client.dbsize():
            sys.exit(f"the broker database {broker} is not empty: take another")
        try:
            yield broker
        finally:
            client.flushdb()
        return
    vhost = f"auditor-bench-{uuid.uuid4().hex[:12]}"
    user = broker.partition("://")[2].partition(":")[0] or "guest"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True)
    try:
        subprocess.run(
            ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, user, ".*", ".*", ".*"],
            check=True,
        )
        yield f"{broker.rstrip('/')}/{vhost}"
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=True)


def run(hosts: int, workers: int, args: argparse.Namespace) -> dict[str, Any]:
    vantages, batch = args.vantages, args.batch_size
    with (
        tempfile.TemporaryDirectory(prefix="auditor-bench-engine-") as tmp,
        postgres_store(args.postgres) as (store, store_size),
        broker_of_run(args.broker) as broker,
    ):
        folder = Path(tmp)
        config = engine_config(
            folder, hosts, vantages, broker, batch, store, args.limit, args.limiter
        )
        env = {**os.environ, "XDG_CACHE_HOME": str(folder / "cache")}
        procs = []
        try:
            for v in range(vantages):
                for w in range(workers):
                    procs.append(subprocess.Popen(
                        [sys.executable, "-c", WORKER_MAIN, str(config), str(OUTPUTS),
                         ",".join(CANNED), f"v{v}", f"v{v}-{w}@bench", str(args.threads),
                         str(args.probe_time)],
                        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                        start_new_session=True,
                    ))  # fmt: skip
            time.sleep(5)  # the workers connect
            idle = sum(cpu_seconds(p.pid) for p in procs)
            with BrokerWatch(broker) as watch:
                child = subprocess.Popen(
                    [sys.executable, "-c", CONTROLLER, str(config), args.profile],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
                )  # fmt: skip
                timeline = RssTimeline(child.pid)
                stdout, stderr = child.communicate()
                timeline.stop.set()
                left_keys, left = watch.held()
            worker_cpu = sum(cpu_seconds(p.pid) for p in procs) - idle
        finally:
            for p in procs:
                os.kill(p.pid, signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.kill(p.pid, signal.SIGKILL)
                    p.wait()
        if not stdout.strip():
            sys.exit(f"the engine audit failed:\n{stderr[-3000:]}")
        result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
        sqlite = folder / "history.sqlite"
        tables = store_size() if store_size else {}
        stored = sum(tables.values()) if store_size else sqlite.stat().st_size
    return {
        "hosts_in_fleet": hosts, "vantages": vantages, "workers_per_vantage": workers,
        "worker_threads": args.threads, "batch_size": batch, "probe_time_s": args.probe_time,
        "vantage_concurrency": args.limit, **result,
        "hosts_per_minute": round(60 * hosts / result["wall_s"]),
        "controller_ms_per_host": round(1000 * result["cpu_s"] / hosts, 2),
        "workers_ms_per_host": round(1000 * worker_cpu / hosts, 2),
        "broker": "rabbitmq" if args.broker.startswith("amqp") else "redis",
        "broker_peak_bytes": watch.peak, "broker_peak_keys": watch.peak_keys,
        "broker_left_bytes_per_host": round(left / hosts, 1), "broker_left_keys": left_keys,
        "store": "postgresql" if store_size else "sqlite",
        "store_bytes_per_host": round(stored / hosts),
        "store_tables_bytes_per_host": {t: round(b / hosts) for t, b in tables.items()},
        "controller_rss_mb_every_5s": timeline.samples,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", default="1000,10000", help="fleet sizes, comma-separated")
    parser.add_argument("--vantages", type=int, default=4)
    parser.add_argument("--workers", default="1,2,4", help="workers per vantage, comma-separated")
    parser.add_argument("--threads", type=int, default=2, help="each worker's --concurrency")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--limit", type=int, default=256, help="each vantage's concurrency")
    parser.add_argument("--probe-time", type=float, default=2.0,
                        help="seconds a simulated host's probe waits on the network")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds (medians)")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--limiter", help="[engine] limiter (with an amqp:// broker and no "
                        "--postgres: a redis:// URL)")  # fmt: skip
    parser.add_argument("--postgres", help="a PostgreSQL maintenance database URL: the history "
                        "store goes to a new database there (dropped after)")  # fmt: skip
    parser.add_argument("--profile", default="", help="write a cProfile of the controller here")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    args = parser.parse_args()
    sizes = [int(h) for h in args.hosts.split(",")]
    counts = [int(w) for w in args.workers.split(",")]
    runs: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for _ in range(args.rounds):
        for hosts in sizes:  # interleaved: each round runs every configuration once
            for workers in counts:
                r = run(hosts, workers, args)
                runs.setdefault((hosts, workers), []).append(r)
                print(line(r), flush=True)
    results = {key: median_run(rs) for key, rs in runs.items()}
    print(f"\nmedians of {args.rounds} round(s), {args.vantages} vantages, {args.threads} "
          f"threads a worker, batch {args.batch_size}, probe {args.probe_time:g} s:")
    for (hosts, workers), r in results.items():
        base = results.get((hosts, counts[0]))
        small = results.get((sizes[0], workers))
        ratios = []
        if base is not None and workers != counts[0]:
            ratios.append(f"hosts/min x{r['hosts_per_minute'] / base['hosts_per_minute']:.2f} "
                          f"of {counts[0]} worker(s)")  # fmt: skip
        if small is not None and hosts != sizes[0]:
            ratios.append(f"peak RSS x{r['peak_rss_mb'] / small['peak_rss_mb']:.2f} of "
                          f"{sizes[0]} hosts")  # fmt: skip
        print(f"  {line(r)}" + (f"  [{'; '.join(ratios)}]" if ratios else ""))
    if args.json:
        args.json.write_text(json.dumps([r for rs in runs.values() for r in rs], indent=2) + "\n")


def median_run(rs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each number the median of the rounds' (the configuration's fields as they are)."""
    out = dict(rs[0])
    for key, value in rs[0].items():
        if isinstance(value, int | float) and not key.startswith(("hosts_in", "vantages")):
            out[key] = statistics.median(r[key] for r in rs)
    return out


def line(r: dict[str, Any]) -> str:
    return (
        f"{r['hosts_in_fleet']} hosts, {r['vantages']} vantages x {r['workers_per_vantage']} "
        f"workers: {r['hosts_per_minute']:.0f} hosts/min ({r['wall_s']} s), ok "
        f"{r['probed_ok']}/{r['hosts']}; controller {r['controller_ms_per_host']} ms CPU/host, "
        f"peak RSS {r['peak_rss_mb']} MB (after the probe {r.get('probe_rss_mb')} MB, "
        f"peak {r.get('probe_peak_rss_mb')}); workers {r['workers_ms_per_host']} ms CPU/host; "
        f"{r['broker']} peak {r['broker_peak_bytes'] / 1024:.0f} KB in "
        f"{r['broker_peak_keys']} keys, "
        f"after {r['broker_left_bytes_per_host']} B/host ({r['broker_left_keys']} keys); "
        f"{r['store']} store {r['store_bytes_per_host']} B/host"
        + "".join(f", {t} {b}" for t, b in list(r["store_tables_bytes_per_host"].items())[:4])
    )


if __name__ == "__main__":
    main()
