"""The engine's throughput: a simulated estate audited through Celery workers (issue 15).

    python bench/engine.py [--hosts 2000] [--vantages 4] [--workers 1,2,4]
                           [--broker redis://127.0.0.1:6379/N]

For each worker count W: W `auditor worker`-like processes per vantage (the same Celery app
and tasks; their prober is `probe_hosts` with bench/memory.py's scripted connector, which
answers every host with a real probe output — no socket to any host is opened), and a
controller child running `pipeline.execute` with the engine on a config whose hosts come
from a generated nmap import (addresses in 10.250.96.0/18, split into one /20 per vantage,
never contacted). Prints hosts/minute, controller peak RSS and the broker's memory growth
per host. The broker database must be empty (it is flushed after each run).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from memory import CANNED, OUTPUTS, write_fleet  # noqa: E402


def engine_config(folder: Path, hosts: int, vantages: int, broker: str) -> Path:
    config = write_fleet(folder, hosts, concurrency=64)
    sections = [
        f'[[vantage]]\nname = "v{i}"\nnetworks = ["10.250.{96 + 16 * i}.0/20"]\nconcurrency = 64\n'
        for i in range(vantages)
    ]
    config.write_text(
        config.read_text()
        + f'[engine]\nbroker = "{broker}"\nbatch_size = 16\nqueue_prefix = "bench"\n'
        + "".join(sections)
    )
    return config


WORKER_MAIN = r"""
import re, sys
from pathlib import Path
config_path, canned_dir, names, vantage, name = sys.argv[1:6]
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
        k = (c - 96) * 254 + d - 1
        text, nonce, host = canned[k % len(canned)]
        def answer(script):
            new = NONCE.search(script).group(1)
            return Reply(stdout=text.replace(nonce, new).replace(host, f"sim-{k:05d}"))
        return answer

class Fleet(ScriptedConnector):
    def _record(self, call):
        pass
    def _connect(self, address, port, label):
        self.connects = []
        return super()._connect(address, port, label)

connector = Fleet({})
connector._hosts = Answers()
config = load_config(Path(config_path))
serve(WorkerContext(config, vantage, prober=lambda c, h: probe_hosts(c, h, connector=connector)))
app = make_app(config.engine)
app.worker_main(["worker", "--queues", queue_name(config.engine, vantage), "--pool", "threads",
                 "--concurrency", "4", "--hostname", name, "--without-gossip", "--without-mingle",
                 "--loglevel", "WARNING"])
"""

CONTROLLER = r"""
import json, resource, sys, time
start = time.perf_counter()
from pathlib import Path
from auditor.config import load_config
from auditor.engine.controller import probe_via_engine
from auditor.pipeline import execute
outcome = execute(load_config(Path(sys.argv[1])), prober=probe_via_engine)
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({
    "wall_s": round(time.perf_counter() - start, 2),
    "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    "hosts": len(outcome.run.hosts),
    "probed_ok": sum(1 for o in outcome.run.ssh.values() if o.state == "ok"),
}))
"""


def redis_memory(broker: str) -> int:
    import redis

    client = redis.Redis.from_url(broker)
    return int(client.info("memory")["used_memory"])


def run(hosts: int, vantages: int, workers: int, broker: str) -> dict:
    import redis

    with tempfile.TemporaryDirectory(prefix="auditor-bench-engine-") as tmp:
        folder = Path(tmp)
        config = engine_config(folder, hosts, vantages, broker)
        env = {**os.environ, "XDG_CACHE_HOME": str(folder / "cache")}
        procs = []
        try:
            for v in range(vantages):
                for w in range(workers):
                    procs.append(subprocess.Popen(
                        [sys.executable, "-c", WORKER_MAIN, str(config), str(OUTPUTS),
                         ",".join(CANNED), f"v{v}", f"v{v}-{w}@bench"],
                        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                        start_new_session=True,
                    ))  # fmt: skip
            time.sleep(5)  # the workers connect
            before = redis_memory(broker)
            child = subprocess.run([sys.executable, "-c", CONTROLLER, str(config)],
                                   capture_output=True, text=True, env=env, cwd=ROOT)  # fmt: skip
            after = redis_memory(broker)
        finally:
            for p in procs:
                os.kill(p.pid, signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.kill(p.pid, signal.SIGKILL)
                    p.wait()
            redis.Redis.from_url(broker).flushdb()
        if not child.stdout.strip():
            sys.exit(f"the engine audit failed:\n{child.stderr[-3000:]}")
        result: dict = json.loads(child.stdout.strip().splitlines()[-1])
        result["broker_bytes_per_host"] = round((after - before) / hosts)
        result["hosts_per_minute"] = round(60 * hosts / result["wall_s"])
        return {"workers_per_vantage": workers, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=2000)
    parser.add_argument("--vantages", type=int, default=4)
    parser.add_argument("--workers", default="1,2,4", help="workers per vantage, comma-separated")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    for workers in (int(w) for w in args.workers.split(",")):
        r = run(args.hosts, args.vantages, workers, args.broker)
        print(f"{args.hosts} hosts, {args.vantages} vantages x {workers} workers: "
              f"{r['hosts_per_minute']} hosts/min ({r['wall_s']} s), ok {r['probed_ok']}/"
              f"{r['hosts']}, controller peak RSS {r['peak_rss_mb']} MB, broker "
              f"{r['broker_bytes_per_host']} B/host after the run", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
