"""index.html in a real headless Chromium (Debian's `chromium`; skipped where it is missing):
a screenshot at laptop size, and the DOM after the page's script ran: sorted, filtered, and
with nothing injected by hostile host strings. The CSP must also stop a script that escaping
would have let through. Chromium only opens file:// URLs here: no network."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from auditor.report import write_reports
from auditor.report.html_report import SCRIPT
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
        self._script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs
        a = dict(attrs)
        self._script = tag == "script"
        if tag == "tr" and "data-i" in a:
            self.rows.append(a)
        if tag == "td" and a.get("data-k") == "uptime":
            self.uptimes.append(a.get("data-v") or "")

    def handle_data(self, data: str) -> None:
        if self._script:
            self.scripts.append(data)

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
    assert dom.tags.count("script") == 1 and [s.strip() for s in dom.scripts] == [SCRIPT.strip()]
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
    _, by_host = dump(tmp_path, report.as_uri() + "#sort=host")
    assert [r["data-i"] for r in by_host.rows] != [r["data-i"] for r in asc.rows]


def test_filter_from_the_url(report: Path, tmp_path: Path) -> None:
    text, dom = dump(tmp_path, report.as_uri() + "#status=unmanaged")
    shown = [r for r in dom.rows if "hidden" not in r]
    assert shown and all(r["data-status"] == "unmanaged" for r in shown)
    assert len(shown) < len(dom.rows)
    assert re.search(rf'id="f-count">{len(shown)} of {len(dom.rows)} hosts<', text)


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
