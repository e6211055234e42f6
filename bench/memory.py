"""Peak memory and controller CPU of a whole simulated audit, at 1,000 and 10,000 hosts
(issue 14: memory flat in fleet size).

    python bench/memory.py [--hosts 1000,10000] [--concurrency 16] [--previous]
                           [--chromium] [--profile FILE] [--keep DIR] [--json FILE]

Each size runs in a fresh child process: `pipeline.execute` on a config whose one
`[[network]]` section imports a generated nmap XML (N hosts up, SSH open, addresses in
10.250.96.0/18), with a history store and a report folder in a temp dir, the probe through
`probe_hosts` with a scripted connector that answers every host with real probe output
(tests/fixtures: a lab Debian 12 with nginx, a lab CentOS 5, a lab Alpine, in turn; the
host name changed per host, the script's nonce put in). No socket is opened: the scripted
connector is the remote side. Prints wall time, controller CPU, peak RSS per size and the
ratio of peak RSS between the largest and the smallest size (target: <= 1.5).

`--previous`: a second audit of the same fleet into the same history store (a nightly run
with a previous run to compare with) is measured too, in its own fresh process.
`--chromium`: index.html opened in headless Chromium, 3 times; the median time from
navigation until its script has drawn the page (`data-ready-ms`, target <= 2 s at 10,000
hosts) and the file's size (target <= 8 MB).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = ROOT / "tests" / "fixtures" / "inspect" / "probe_output"
CANNED = ("lab_debian12_nginx_sudo.txt", "lab_centos5_sudo.txt", "lab_alpine_sudo.txt")

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n'
    '<nmaprun scanner="nmap" args="nmap -n -sS 10.250.96.0/18" start="1795906800" '
    'version="7.93" xmloutputversion="1.05">\n'
    '<scaninfo type="syn" protocol="tcp" numservices="2" services="22,80"/>\n'
)
UP = (
    '<host><status state="up" reason="syn-ack" reason_ttl="64"/>\n'
    '<address addr="{ip}" addrtype="ipv4"/>\n<ports>'
    '<port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="64"/>'
    '<service name="ssh" method="table" conf="3"/></port>\n'
    '<port protocol="tcp" portid="80"><state state="open" reason="syn-ack" reason_ttl="64"/>'
    '<service name="http" method="table" conf="3"/></port></ports>\n</host>\n'
)
TAIL = (
    '<runstats><finished time="1795907800" elapsed="1000" exit="success"/>'
    '<hosts up="{n}" down="0" total="{n}"/></runstats>\n</nmaprun>\n'
)


def address(n: int) -> str:
    """The n-th simulated host: 10.250.96.1 ... (a /18 holds 16,382)."""
    return f"10.250.{96 + n // 254}.{n % 254 + 1}"


def write_fleet(folder: Path, hosts: int, concurrency: int) -> Path:
    """The nmap import and the config of a simulated fleet of `hosts`; the config's path."""
    xml = folder / "sweep.xml"
    with xml.open("w") as out:
        out.write(HEAD)
        for n in range(hosts):
            out.write(UP.format(ip=address(n)))
        out.write(TAIL.format(n=hosts))
    config = folder / "audit.toml"
    config.write_text(
        "[audit]\n"
        f'reports = "{folder / "reports"}"\n'
        f'store = "{folder / "history.sqlite"}"\n'
        "[[network]]\n"
        'name = "sweep"\n'
        f'nmap_xml = ["{xml}"]\n'
        "[ssh]\n"
        f"concurrency = {concurrency}\n"
        "software_cache = false\n"
    )
    return config


CHILD = r"""
import cProfile, json, re, resource, sys, threading, time
start = time.perf_counter()
cpu0 = time.process_time()
from pathlib import Path
from auditor.config import load_config
from auditor.pipeline import execute
from auditor.probing import probe_hosts
from auditor.remote.scripted import Reply, ScriptedConnector

config_path, canned_dir, names, profile = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4]
canned = []
for name in names.split(","):
    text = (canned_dir / name).read_text()
    nonce = re.search(r"^@@AUDITOR (\w+) ", text, re.M).group(1)
    host = re.search(r"BEGIN system/hostname@@\n(.*)\n", text).group(1)
    canned.append((text, nonce, host))
NONCE = re.compile(r"^N=(\w+)$", re.M)


class Fleet(ScriptedConnector):
    # The fake's record of every script and connect would grow with the fleet: the bench
    # measures auditor, not the fake.
    def _record(self, call):
        pass

    def _connect(self, address, port, label):
        self.connects = []
        return super()._connect(address, port, label)


def responder(n):
    text, nonce, host = canned[n % len(canned)]
    def answer(script):
        new = NONCE.search(script).group(1)
        return Reply(stdout=text.replace(nonce, new).replace(host, f"sim-{n:05d}"))
    return answer


def addr_index(ip):
    a, b, c, d = map(int, ip.split("."))
    return (c - 96) * 254 + d - 1


class Answers(dict):
    def get(self, key, default=None):
        ip = key.split(":")[0]
        return responder(addr_index(ip)) if ip.startswith("10.250.") else default


connector = Fleet({})
connector._hosts = Answers()


def prober(config, hosts):
    return probe_hosts(config, hosts, connector=connector)


config = load_config(Path(config_path))
profiler = cProfile.Profile() if profile else None
if profiler:
    profiler.enable()
outcome = execute(config, prober=prober)
if profiler:
    profiler.disable()
    profiler.dump_stats(profile)
usage = resource.getrusage(resource.RUSAGE_SELF)
run = outcome.run
print(json.dumps({
    "wall_s": round(time.perf_counter() - start, 2),
    "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
    "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    "hosts": len(run.hosts),
    "probed_ok": sum(1 for o in run.ssh.values() if o.state == "ok"),
    "findings": len(run.findings),
    "report_json_mb": round(Path(outcome.written["json"]).stat().st_size / 2**20, 2),
    "index_html_mb": round(Path(outcome.written["html"]).stat().st_size / 2**20, 2),
}))
"""


def audit_once(config: Path, folder: Path, hosts: int, profile: str | None) -> dict:
    env = {**os.environ, "XDG_CACHE_HOME": str(folder / "cache")}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(config), str(OUTPUTS), ",".join(CANNED),
         f"{profile}.{hosts}" if profile else ""],
        capture_output=True, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    if child.returncode not in (0, 1) or not child.stdout.strip():
        sys.exit(f"the simulated audit of {hosts} hosts failed:\n{child.stderr[-3000:]}")
    result: dict = json.loads(child.stdout.strip().splitlines()[-1])
    return result


CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--mute-audio",
)  # fmt: skip


def page_ready_ms(page: Path, folder: Path, rounds: int = 3) -> float | None:
    """Median ms from navigation until index.html's script has drawn the page, in headless
    Chromium (the page writes it as `data-ready-ms`); None without Chromium."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        return None
    timings = []
    for _ in range(rounds):
        done = subprocess.run(
            [browser, *CHROMIUM_FLAGS, f"--user-data-dir={folder / 'chromium'}", "--dump-dom",
             page.resolve().as_uri()],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        found = re.search(r'data-ready-ms="(\d+)"', done.stdout)
        if found is None:
            sys.exit(f"index.html's script did not finish in Chromium:\n{done.stderr[-2000:]}")
        timings.append(int(found.group(1)))
    return statistics.median(timings)


def measure(
    hosts: int,
    concurrency: int,
    profile: str | None,
    keep: Path | None,
    *,
    previous: bool = False,
    chromium: bool = False,
) -> dict:
    """One size: a first audit into a new store, and with `previous` a second into the same
    store (what a nightly run does), each in a fresh process."""
    with tempfile.TemporaryDirectory(prefix="auditor-bench-memory-") as tmp:
        folder = keep / str(hosts) if keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        config = write_fleet(folder, hosts, concurrency)
        result = {"size": hosts, **audit_once(config, folder, hosts, profile)}
        if previous:
            result["second"] = audit_once(config, folder, hosts, profile and f"{profile}.second")
        if chromium:
            result["page_ready_ms"] = page_ready_ms(folder / "reports" / "index.html", folder)
        return result


def _line(label: str, size: int, result: dict) -> str:
    return (
        f"{size:>6} hosts{label}: wall {result['wall_s']:7.1f} s  cpu {result['cpu_s']:7.1f} s "
        f"({1000 * result['cpu_s'] / size:.1f} ms/host)  peak RSS "
        f"{result['peak_rss_mb']:6.0f} MB  ok {result['probed_ok']}/{result['hosts']}  "
        f"findings {result['findings']}  report.json {result['report_json_mb']} MB  "
        f"index.html {result['index_html_mb']} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", default="1000,10000", help="fleet sizes, comma-separated")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--previous", action="store_true",
        help="also measure a second audit into the same store (a nightly run with history)",
    )  # fmt: skip
    parser.add_argument(
        "--chromium", action="store_true",
        help="time index.html in headless Chromium until its script has drawn the page",
    )  # fmt: skip
    parser.add_argument("--profile", help="write a cProfile of each run to FILE.<hosts>")
    parser.add_argument("--keep", type=Path, help="keep each run's folder under DIR")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.hosts.split(","))
    results = []
    for size in sizes:
        result = measure(size, args.concurrency, args.profile, args.keep,
                         previous=args.previous, chromium=args.chromium)  # fmt: skip
        results.append(result)
        print(_line("", size, result), flush=True)
        if "second" in result:
            print(_line(" (2nd run, previous in store)", size, result["second"]), flush=True)
        if result.get("page_ready_ms") is not None:
            print(f"{size:>6} hosts: index.html {result['index_html_mb']} MB, interactive "
                  f"{result['page_ready_ms']:.0f} ms after navigation in headless Chromium "
                  "(median of 3)", flush=True)  # fmt: skip
    if len(results) > 1:
        ratio = results[-1]["peak_rss_mb"] / results[0]["peak_rss_mb"]
        print(f"peak RSS {sizes[-1]} / {sizes[0]} hosts: {ratio:.2f}x (target <= 1.5x)")
        if args.previous:
            second = results[-1]["second"]["peak_rss_mb"] / results[0]["second"]["peak_rss_mb"]
            print(f"peak RSS {sizes[-1]} / {sizes[0]} hosts, 2nd run: {second:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
