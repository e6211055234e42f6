"""Peak memory and time of reading a large nmap XML import (issue 13).

    python bench/nmap_xml.py [--hosts 100000] [--keep FILE]

Writes a generated scan (N hosts up, each with a MAC, a PTR name and three open ports with
service banners, plus one host down for every host up, as a sweep of a sparse range gives)
to a temp file, then reads it with `NmapSource` (the same path `[[network]] nmap_xml` takes)
in a fresh child process, and prints the file size, wall time, peak RSS and what was kept.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n'
    '<nmaprun scanner="nmap" args="nmap -n -sS 10.0.0.0/8" start="1795906800" '
    'startstr="Mon Dec  7 10:00:00 2026" version="7.93" xmloutputversion="1.05">\n'
    '<scaninfo type="syn" protocol="tcp" numservices="3" services="22,80,443"/>\n'
)
UP = (
    '<host starttime="1795906800" endtime="1795906801"><status state="up" reason="arp-response" '
    'reason_ttl="0"/>\n<address addr="{ip}" addrtype="ipv4"/>\n'
    '<address addr="{mac}" addrtype="mac" vendor="Dell"/>\n'
    '<hostnames><hostname name="host-{n}.example.com" type="PTR"/></hostnames>\n<ports>'
    '<port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="64"/>'
    '<service name="ssh" product="OpenSSH" version="8.9p1 Ubuntu 3ubuntu0.10" '
    'extrainfo="Ubuntu Linux; protocol 2.0" method="probed" conf="10"/></port>\n'
    '<port protocol="tcp" portid="80"><state state="open" reason="syn-ack" reason_ttl="64"/>'
    '<service name="http" product="nginx" version="1.18.0" method="probed" conf="10"/></port>\n'
    '<port protocol="tcp" portid="443"><state state="closed" reason="reset" reason_ttl="64"/>'
    '</port></ports>\n<times srtt="310" rttvar="5000" to="100000"/>\n</host>\n'
)
DOWN = (
    '<host><status state="down" reason="no-response" reason_ttl="0"/>\n'
    '<address addr="{ip}" addrtype="ipv4"/>\n</host>\n'
)
TAIL = (
    '<runstats><finished time="1795907800" timestr="Mon Dec  7 10:16:40 2026" elapsed="1000" '
    'exit="success"/><hosts up="{n}" down="{n}" total="{t}"/></runstats>\n</nmaprun>\n'
)

CHILD = r"""
import json, resource, sys, time
from datetime import UTC, datetime
from pathlib import Path
start = time.perf_counter()
from auditor.config import NetworkConfig
from auditor.sources.network import NmapSource
result = NmapSource(NetworkConfig(name="big", nmap_xml=(Path(sys.argv[1]),))).collect(
    datetime.now(UTC))
print(json.dumps({
    "seconds": time.perf_counter() - start,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "observations": len(result.observations),
    "errors": list(result.errors)[:3],
}))
"""


def _ip(n: int) -> str:
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


def write_scan(path: Path, hosts: int) -> None:
    with path.open("w") as out:
        out.write(HEAD)
        for n in range(hosts):
            mac = ":".join(f"{(n >> s) & 255:02X}" for s in (0, 8, 16)) + ":00:11:22"
            out.write(UP.format(ip=_ip(2 * n + 1), mac=mac, n=n))
            out.write(DOWN.format(ip=_ip(2 * n + 2)))
        out.write(TAIL.format(n=hosts, t=2 * hosts))


def measure(path: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True
    )
    result: dict[str, object] = json.loads(done.stdout)
    result["file_mb"] = round(path.stat().st_size / 1e6, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, default=None, help="write the scan here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "scan.xml"
        write_scan(path, args.hosts)
        result = measure(path)
    print(
        f"{args.hosts} hosts up ({result['file_mb']} MB): {result['seconds']:.1f} s, "
        f"peak RSS {result['peak_rss_mb']:.0f} MB, {result['observations']} observations"
        + (f", errors: {result['errors']}" if result["errors"] else "")
    )


if __name__ == "__main__":
    main()
