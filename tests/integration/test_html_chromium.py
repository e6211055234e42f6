"""index.html in a real headless Chromium (Debian's `chromium`; skipped where it is missing):
a screenshot at laptop size, and the DOM after the page's script ran: sorted, filtered, and
with nothing injected by hostile host strings. The CSP must also stop a script that escaping
would have let through. Chromium only opens file:// URLs here: no network."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import time
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from auditor.model import HostOwner, NetworkUse, PeerGroup, TeamUse
from auditor.report import write_reports
from auditor.report.html_report import SCRIPT
from tests.builders import Page
from tests.unit.big_fleet import generated_run
from tests.unit.test_report_fleet import HOSTILE, fleet_with_changes

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--disable-default-apps", "--mute-audio",
)  # fmt: skip
OUR_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "span", "nav",
    "a", "main", "section", "div", "b", "svg", "circle", "text", "ul", "li", "i", "g", "rect",
    "p", "table", "thead", "tbody", "tr", "th", "td", "input", "select", "option", "button",
    "details", "summary", "dl", "dt", "dd", "code", "s", "footer", "script",
}  # fmt: skip


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    return write_reports(fleet_with_changes(), out)["html"]


class Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.rows: list[dict[str, str | None]] = []
        self.uptimes: list[str] = []
        self.scripts: list[str] = []
        self.addresses: list[str] = []
        self._script = False
        self._address = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs
        a = dict(attrs)
        self._script = tag == "script" and a.get("type") != "application/json"  # run, not data
        if tag == "tr" and "data-i" in a:
            self.rows.append(a)
        if tag == "td" and a.get("data-k") == "uptime":
            self.uptimes.append(a.get("data-v") or "")
        self._address = tag == "td" and a.get("data-k") == "addr"

    def handle_data(self, data: str) -> None:
        if self._script:
            self.scripts.append(data)
        if self._address:
            self.addresses.append(data)
            self._address = False

    def handle_endtag(self, tag: str) -> None:
        self._script = False


def dump(tmp_path: Path, url: str) -> tuple[str, Dom]:
    result = chromium(tmp_path, "--virtual-time-budget=3000", "--dump-dom", url)
    assert result.returncode == 0, result.stderr[-2000:]
    dom = Dom()
    dom.feed(result.stdout)
    return result.stdout, dom


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_screenshot_at_laptop_size(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    result = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1366,900",
                      report.as_uri())
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    assert png_size(shot) == (1366, 900)
    assert shot.stat().st_size > 40_000  # a rendered page, not a blank one


def test_script_ran_and_nothing_was_injected(report: Path, tmp_path: Path) -> None:
    text, dom = dump(tmp_path, report.as_uri())
    assert 'data-js="ready"' in text  # the CSP let our script run
    assert set(dom.tags) <= OUR_TAGS, set(dom.tags) - OUR_TAGS
    assert dom.tags.count("script") == 2  # ours, and the data block it draws hosts from
    assert [s.strip() for s in dom.scripts] == [SCRIPT.strip()]
    assert len(dom.rows) == 8  # drawn from the data block
    assert "iframe" not in dom.tags and "img" not in dom.tags
    assert not [name for name, _ in dom.attrs if name.startswith("on")]
    assert HOSTILE.replace("<", "&lt;").replace(">", "&gt;") in text  # shown, as text
    assert re.search(r'id="f-count">8 hosts<', text)


def test_table_sorts_from_the_url(report: Path, tmp_path: Path) -> None:
    _, dom = dump(tmp_path, report.as_uri() + "#sort=uptime&dir=desc")
    values = [float(v) for v in dom.uptimes if v]
    assert values == sorted(values, reverse=True) and len(values) >= 5
    assert dom.uptimes[-len(dom.uptimes) + len(values):] == [""] * (len(dom.uptimes) - len(values))
    _, asc = dump(tmp_path, report.as_uri() + "#sort=uptime&dir=asc")
    up = [float(v) for v in asc.uptimes if v]
    assert up == sorted(up) and up == values[::-1]
    _, by_host = dump(tmp_path, report.as_uri() + "#sort=label")
    assert [r["data-i"] for r in by_host.rows] != [r["data-i"] for r in asc.rows]


def test_filter_from_the_url(report: Path, tmp_path: Path) -> None:
    text, dom = dump(tmp_path, report.as_uri() + "#status=unmanaged")
    shown = dom.rows  # the table draws the hosts that pass the filter, and only those
    assert shown and all(r["data-status"] == "unmanaged" for r in shown)
    assert re.search(rf'id="f-count">{len(shown)} of 8 hosts<', text) and len(shown) < 8


def test_csp_blocks_a_script_that_escaping_would_have_missed(
    report: Path, tmp_path: Path
) -> None:
    page = tmp_path / "injected.html"
    evil = "<script>document.documentElement.setAttribute('data-pwned','1')</script>"
    html = report.read_text()
    page.write_text(html.replace("<main>", "<main>" + evil + '<div onclick="x()" id="e"></div>'))
    text, _ = dump(tmp_path, page.as_uri())
    assert 'data-js="ready"' in text  # our script still runs
    assert "data-pwned" not in text.split("<script>document")[0]  # the injected one did not


# --------------------------------------------------------------------------- at scale

MAX_HTML_BYTES = 8_000_000  # issue 14: index.html at 10,000 hosts
MAX_READY_MS = 2000  # ... and usable within 2 s


def ready_ms(text: str) -> int:
    found = re.search(r'data-ready-ms="(\d+)"', text)
    assert found, "the page's script did not finish"
    return int(found.group(1))


@pytest.fixture(scope="module")
def thousand(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fleet1000")
    return write_reports(generated_run(1000), out)["html"]


def test_hosts_sort_by_address_as_numbers(thousand: Path, tmp_path: Path) -> None:
    _, dom = dump(tmp_path, thousand.as_uri() + "#sort=addr_key")
    assert len(dom.rows) == 100  # one page of the 1,000
    assert dom.addresses[:11] == [f"10.8.0.{n}" for n in range(1, 12)]  # .9 before .10
    _, last = dump(tmp_path, thousand.as_uri() + "#sort=addr_key&dir=desc&page=1")
    assert last.addresses[0] == "10.8.4.200"


def test_pages_and_filters_across_the_whole_fleet(thousand: Path, tmp_path: Path) -> None:
    text, dom = dump(tmp_path, thousand.as_uri() + "#sort=addr_key&page=10")
    assert dom.addresses[0] == "10.8.4.101" and len(dom.rows) == 100
    assert re.search(r'id="p-info"[^>]*>hosts 901–1000 of 1000 · page 10 of 10<', text)
    text, dom = dump(tmp_path, thousand.as_uri() + "#q=node-0042")
    assert re.search(r'id="f-count">10 of 1000 hosts<', text) and len(dom.rows) == 10


def test_host_details_are_drawn_on_demand_as_text(thousand: Path, tmp_path: Path) -> None:
    text, dom = dump(tmp_path, thousand.as_uri())
    assert 'id="host-detail"></div>' in text  # nothing until a host is chosen
    text, dom = dump(tmp_path, thousand.as_uri() + "#h8")  # the host named </script><script>
    assert set(dom.tags) <= OUR_TAGS, set(dom.tags) - OUR_TAGS
    assert [s.strip() for s in dom.scripts] == [SCRIPT.strip()]
    detail = text.split('id="host-detail"')[1]
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in detail  # shown, as text
    assert "Debian GNU/Linux 12 (bookworm)" in detail and "Listeners" in detail
    assert "node_exporter" in detail and "run-parts" in detail


def test_a_finding_group_lists_its_hosts(thousand: Path, tmp_path: Path) -> None:
    text, _ = dump(tmp_path, thousand.as_uri())
    rows = re.findall(r'<tr data-sev="(\w+)" data-g="(\d+)"', text)
    assert len(rows) == 7  # 2,130 findings, 7 problems
    group = next(g for _, g in rows if "Debian GNU/Linux 12 is in extended support" in
                 text.split(f'data-g="{g}"')[1].split("</tr>")[0])
    text, _ = dump(tmp_path, thousand.as_uri() + f"#g-{group}")
    listed = text.split(f'class="grp-hosts" data-g="{group}"')[1].split("</div>")[0]
    assert listed.count("<a ") == 900 and ">node-00000<" in listed


@pytest.mark.parametrize("hosts", [1000, 10000])
def test_load_time_and_size_at_scale(hosts: int, tmp_path: Path) -> None:
    page = write_reports(generated_run(hosts), tmp_path)["html"]
    size = page.stat().st_size
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        text, dom = dump_now(tmp_path, page.as_uri())
        timings.append((ready_ms(text), time.perf_counter() - started))
        assert len(dom.rows) == 100
    ready = sorted(t for t, _ in timings)[1]
    wall = sorted(w for _, w in timings)[1]
    print(f"\nindex.html at {hosts} hosts: {size / 1e6:.2f} MB; interactive {ready} ms after "
          f"navigation in headless Chromium (median of 3; whole browser run {wall:.2f} s)")
    assert size <= MAX_HTML_BYTES
    assert ready <= MAX_READY_MS


def dump_now(tmp_path: Path, url: str) -> tuple[str, Dom]:
    """The DOM after load, in real time (no virtual time budget, which would fake the clock)."""
    result = chromium(tmp_path, "--dump-dom", url)
    assert result.returncode == 0, result.stderr[-2000:]
    dom = Dom()
    dom.feed(result.stdout)
    return result.stdout, dom


def test_host_details_say_who_uses_it_and_who_owns_it(tmp_path: Path) -> None:
    """The team table, connected peers and the owner with how it is known, drawn by the
    page's script as text (a hostile team name stays inert)."""
    run = fleet_with_changes()
    host = next(h for h in run.hosts if h.id in run.facts)
    at = run.facts[host.id].collected_at
    team = "team-<b>data</b>"
    facts = replace(
        run.facts[host.id],
        client_teams=(TeamUse(team, 600, 400, at), TeamUse("team-web", 100, 2, at)),
        client_networks=(NetworkUse("198.51.100.0/24", 300, 9, at),),
        connection_teams=(PeerGroup(5432, "team-web", None, 2),),
    )
    owner = HostOwner(team, "clients", "inferred from clients, 60% of requests")
    run = replace(
        run,
        hosts=tuple(replace(h, owner=owner) if h.id == host.id else h for h in run.hosts),
        facts={**run.facts, host.id: facts},
    )
    html = write_reports(run, tmp_path / "out")["html"]
    data = Page(html.read_text()).data()
    index = next(i for i, cells in enumerate(data["rows"]) if data["values"][cells[0]] == host.label)
    text, dom = dump(tmp_path, html.as_uri() + f"#h{index + 1}")
    assert set(dom.tags) <= OUR_TAGS, set(dom.tags) - OUR_TAGS
    detail = text.split('id="host-detail"')[1]
    assert "Who uses it" in detail and "Connected peers" in detail
    assert "team-&lt;b&gt;data&lt;/b&gt; (clients)" in detail
    assert "clients: inferred from clients, 60% of requests" in detail
    assert re.search(r"team-&lt;b&gt;data&lt;/b&gt;</b></td><td class=\"num\">600</td>"
                     r"<td class=\"num\">60%</td><td class=\"num\">400</td>", detail)
    assert detail.index("Who uses it") < detail.index("Top client addresses")
