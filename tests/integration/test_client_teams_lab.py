"""Who uses a host, counted on the host over a million access-log lines: the lab's CentOS 5
box gets three rotations of its access log (1,000,000 lines, ~22 MB each: every line is
read, `max_log_bytes` is 32 MB per file), and one real probe over SSH must count every team
exactly, within the per-host deadline. The time is printed.

The lines belong to teams the test adds to the lab's [owners] (10.40.0.0/16, 10.41.0.0/16),
so the counts are exact whatever the box's own log holds: one team sends many requests from
8 addresses (fewer than the 60 busiest addresses of no team), the other one request each
from 60,000 addresses: none of them is in any file's top 50.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from auditor.config import OwnerRule, load_config
from auditor.lab import LabState
from auditor.lab.logs import combined_line
from auditor.model import Host, HostStatus, Observation, SourceKind
from auditor.probing import probe_hosts

pytestmark = pytest.mark.lab
CONFIG = Path(__file__).parents[2] / "inventories" / "lab" / "audit.toml"
LINES = 1_000_000
HEAVY = [f"10.41.0.{n}" for n in range(1, 9)]  # 8 addresses, many requests each
SPREAD = [f"10.40.{n // 250}.{n % 250 + 1}" for n in range(60_000)]  # one request each
# 60 addresses in 15 /24s with ~15,000 requests each: they fill every file's top 50.
UNOWNED = [f"198.51.{n % 15}.{n // 15 + 1}" for n in range(60)]


def big_rotations(varlog: Path, now: datetime) -> tuple[list[Path], dict[str, int]]:
    """access_log.1 .. .3 with LINES lines in all, written within the window; the expected
    requests per client group."""
    lines = []
    counts = {"heavy": 0, "spread": 0, "unowned": 0}
    for i, address in enumerate(SPREAD):
        lines.append((address, i))
        counts["spread"] += 1
    rest = LINES - len(SPREAD)
    for i in range(rest):
        if i % 20 == 0:  # ~5,900 per address: fewer than any of the 60 unowned
            lines.append((HEAVY[counts["heavy"] % len(HEAVY)], i))
            counts["heavy"] += 1
        else:
            lines.append((UNOWNED[counts["unowned"] % len(UNOWNED)], i))
            counts["unowned"] += 1
    files = [varlog / "httpd" / f"access_log.{n}" for n in (1, 2, 3)]
    per_file = len(lines) // len(files) + 1
    for n, path in enumerate(files):
        chunk = lines[n * per_file : (n + 1) * per_file]
        with path.open("w") as out:
            for address, i in chunk:
                at = now - timedelta(seconds=3600 - i * 3000 // LINES)
                out.write(
                    combined_line(address, at, "GET", f"/p/{i % 97}", 200, 512, "-", "t") + "\n"
                )
        os.utime(path, None)
    return files, counts


def test_a_million_lines_every_team_exact_within_the_deadline(lab: LabState) -> None:
    host_state = lab.host("legacy-billing01")
    varlog = Path(host_state.host_dir) / "varlog"
    now = datetime.now(UTC)
    files, counts = big_rotations(varlog, now)
    try:
        config = load_config(CONFIG)
        config = replace(
            config,
            owners=(*config.owners, OwnerRule("10.40.0.0/16", "team-spread"),
                    OwnerRule("10.41.0.0/16", "team-heavy")),
            ssh=replace(config.ssh, software_cache=False),
        )  # fmt: skip
        ident = f"ip:{host_state.address}"
        seen = Observation(SourceKind.NETWORK, "lab", (ident,), now, True, {})
        host = Host(
            ident, (host_state.address,), ("legacy-billing01",), (ident,),
            (SourceKind.NETWORK,), HostStatus.UNMANAGED, "lab", observations=(seen,),
        )  # fmt: skip
        started = time.monotonic()
        results = probe_hosts(config, (host,))
        took = time.monotonic() - started
    finally:
        for path in files:
            path.unlink(missing_ok=True)
    outcome = results.ssh[host.id]
    print(f"\n1,000,000-line access log probed in {took:.1f} s (deadline {config.ssh.deadline} s)")
    assert outcome.state == "ok", outcome
    assert took < config.ssh.deadline
    facts = results.facts[host.id]
    big = [w for w in facts.web_logs or () if w.path.rsplit("/", 1)[-1].startswith("access_log.")]
    assert len(big) == 3 and sum(w.requests for w in big) == LINES
    assert not any(k.startswith("web_logs:") and "access_log." in k for k in facts.errors)
    teams = {t.team: t for t in facts.client_teams or ()}
    assert (teams["team-spread"].requests, teams["team-spread"].clients) == (
        counts["spread"],
        60_000,
    )
    assert (teams["team-heavy"].requests, teams["team-heavy"].clients) == (counts["heavy"], 8)
    assert "team-payments" in teams  # the box's own log, as before
    top = {c.address for w in big for c in w.top_clients}
    assert not top & (set(HEAVY) | set(SPREAD))  # neither team is in any top 50
    networks = {n.network: n for n in facts.client_networks or ()}
    unowned = sum(
        n.requests for k, n in networks.items() if k.startswith("198.51.") or k == "other"
    )
    assert unowned == counts["unowned"]
    assert len(networks) <= 21
