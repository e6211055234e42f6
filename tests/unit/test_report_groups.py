"""Findings grouped across hosts (issue 12 part 5): report.json `finding_groups`, their order,
and every reporter showing groups instead of one line per host; the page's data block."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from auditor.model import Finding, Severity
from auditor.notify import NewFinding, build_payload
from auditor.report import write_reports
from auditor.report.groups import group_findings, group_key
from auditor.report.html_data import address_key, script_json
from auditor.report.html_report import build_view, render_html_data
from auditor.report.json_report import run_to_dict, validate_report
from auditor.report.markdown_report import render_markdown
from auditor.report.terminal import render_terminal_data
from tests.builders import Page
from tests.unit.big_fleet import HOSTILE_NAME, generated_run


def f(rule: str, severity: str, host: str | None, title: str) -> dict[str, object]:
    return {"rule": rule, "severity": severity, "host": host, "title": title, "evidence": []}


def test_identical_findings_group_and_order_serving_orphans_first() -> None:
    findings = [
        f("eol-os", "critical", "a", "CentOS 5 is end of life"),
        f("long-uptime", "medium", "a", "Not rebooted in over 365 days (kernel unpatched)"),
        f("long-uptime", "medium", "b", "Not rebooted in over 365 days (kernel unpatched)"),
        f("long-uptime", "medium", "c", "Not rebooted in over 365 days (kernel unpatched)"),
        f("eol-os", "medium", "b", "Debian GNU/Linux 12 is in extended support only"),
        f("unmanaged-host", "critical", "d", "Unmanaged host serves traffic to clients"),
        f("unmanaged-host", "high", "e", "Unmanaged host is alive and in no inventory"),
        f("source-failed", "high", None, "Source aws 'prod' could not be read"),
        f("eol-os", "critical", "b", "CentOS 5 is end of life"),
    ]
    groups = group_findings(findings)
    assert [(g["title"], g["count"], g["hosts"]) for g in groups] == [
        ("Unmanaged host serves traffic to clients", 1, ["d"]),  # before a worse-counted group
        ("CentOS 5 is end of life", 2, ["a", "b"]),
        ("Source aws 'prod' could not be read", 1, []),  # high: by rule, then title
        ("Unmanaged host is alive and in no inventory", 1, ["e"]),
        ("Not rebooted in over 365 days (kernel unpatched)", 3, ["a", "b", "c"]),  # 3 before 1
        ("Debian GNU/Linux 12 is in extended support only", 1, ["b"]),
    ]
    key = groups[1]["key"]
    assert key == group_key("eol-os", "critical", "CentOS 5 is end of life")
    assert key.startswith("eol-os:") and key != group_key("eol-os", "high", groups[1]["title"])


def test_a_thousand_hosts_fit_on_one_screen(tmp_path: Path) -> None:
    run = generated_run(1000)
    data = run_to_dict(run)
    validate_report(data)
    assert len(data["findings"]) == 2130  # per-host findings stay for tools
    groups = {g["title"]: g for g in data["finding_groups"]}
    assert len(groups) == 7
    debian = groups["Debian GNU/Linux 12 is in extended support only"]
    assert debian["count"] == len(debian["hosts"]) == 900 and debian["severity"] == "medium"
    assert data["finding_groups"][0]["title"] == "Unmanaged host serves traffic to clients"

    console = Console(record=True, width=200, color_system=None)
    render_terminal_data(data, console)
    out = console.export_text()
    assert "2130 findings in 7 groups" in out
    assert "900 hosts (node-00000, node-00009, node-00099, …)" in out  # findings' host order
    assert len(out.splitlines()) < 20  # one screen

    md = render_markdown(data)
    assert "Debian GNU/Linux 12 is in extended support only — 900 hosts (node-00000" in md
    assert md.count("\n- **") == 7

    written = write_reports(run, tmp_path)
    page = Page(written["html"].read_text())
    assert sum("extended support" in t for t in page.text) >= 1
    assert written["html"].stat().st_size < 1_000_000


def test_cards_count_end_of_life_and_extended_support_apart() -> None:
    view = build_view(run_to_dict(generated_run(100)))
    cards = {c["label"]: c["n"] for c in view["cards"]}
    assert cards["hosts on an end-of-life OS"] == 10  # Ubuntu 18.04
    assert cards["hosts on an OS in extended support"] == 90  # Debian 12


def test_webhook_lists_groups_not_hosts() -> None:
    run = generated_run(200)
    payload = build_payload(run, [NewFinding(x) for x in run.findings])
    lines = payload["text"].splitlines()
    assert len(lines) == 1 + 7
    assert "• [MEDIUM] Debian GNU/Linux 12 is in extended support only — 180 hosts (" in (
        payload["text"]
    )
    assert "&lt;/script&gt;" in payload["text"] or HOSTILE_NAME not in payload["text"]
    assert [g["count"] for g in payload["new_finding_groups"]] == [2, 20, 2, 2, 200, 180, 20]
    assert len(payload["new_findings"]) == len(run.findings)


def test_the_data_block_cannot_end_its_element() -> None:
    hostile = {"label": HOSTILE_NAME, "more": "<!-- & \u2028"}
    text = script_json(hostile)
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == hostile
    run = generated_run(20)
    page = Page(render_html_data(run_to_dict(run)))
    assert len(page.data_blocks) == 1 and HOSTILE_NAME in page.data_strings()
    assert all(HOSTILE_NAME not in t for t in page.text if t.strip())  # not in the markup


def test_addresses_sort_as_numbers() -> None:
    addresses = ["10.0.0.10", "10.0.0.9", "host.example", "fd00::1", "9.255.255.255", ""]
    ordered = sorted(addresses, key=lambda a: address_key([a] if a else []))
    assert ordered == ["9.255.255.255", "10.0.0.9", "10.0.0.10", "fd00::1", "host.example", ""]


def test_rule_titles_do_not_name_the_host() -> None:
    run = generated_run(60)
    labels = {h.id: h.label for h in run.hosts}
    for finding in run.findings:
        assert finding.host is not None and labels[finding.host] not in finding.title
    assert Finding("eol-os", Severity.HIGH, "x", "t") != Finding("eol-os", Severity.HIGH, "y", "t")


def test_every_rule_id_is_known_and_no_title_names_a_host() -> None:
    """A rule added later must join RULE_IDS (`auditor accept` checks ids against it) and
    keep its title free of the host's name (or its findings would not group)."""
    import re

    from auditor.rules import RULE_IDS

    rules_dir = Path(__file__).parents[2] / "auditor" / "rules"
    source = "\n".join(p.read_text() for p in sorted(rules_dir.glob("*.py")))
    ids = set(re.findall(r'Finding\(\s*"([a-z-]+)"', source))
    ids |= set(re.findall(r'^[A-Z_]+_RULE = "([a-z-]+)"', source, re.M))
    assert ids and ids <= set(RULE_IDS), ids - set(RULE_IDS)
    titles = re.findall(r'Finding\(\s*"[a-z-]+",\s*[^,]+,\s*host\.id,\s*(f?"[^"]*")', source)
    assert titles and not [t for t in titles if "host.label" in t or "host.id" in t]


def test_changes_panel_groups_new_and_resolved_findings_and_names_hosts() -> None:
    from tests.unit.test_report_fleet import fleet_with_changes

    data = run_to_dict(fleet_with_changes())
    html = render_html_data(data)
    panel = html.split("<h3>Findings</h3>")[1].split("</ul>")[0]
    new = data["changes"]["new_findings"]
    assert new and panel.count('<span class="tag new">new</span>') == len(group_findings(new))
    assert 'href="#h' in panel  # a one-host group links its host; titles no longer name it


def test_page_data_hosts_held_as_text_write_the_same_json() -> None:
    """Each host's row and detail are made as the block is written, never held (memory
    flat in fleet size): made again on each reading, the same texts; the page's JSON block
    is byte for byte what encoding the lists writes, hostile strings and all."""
    from auditor.report.html_data import Encoded, page_data
    from auditor.report.view import host_rows

    data = run_to_dict(generated_run(30))
    rows = host_rows(data)
    page = page_data(rows, [g["hosts"] for g in data["finding_groups"]], None)
    assert isinstance(page["rows"], Encoded) and isinstance(page["details"], Encoded)
    for made in (page["rows"].items, page["details"].items):
        assert not isinstance(made, list | tuple) and list(made) == list(made)
    plain = {k: [json.loads(i) for i in v.items] if isinstance(v, Encoded) else v
             for k, v in page.items()}  # fmt: skip
    assert len(plain["rows"]) == len(plain["details"]) == 30
    text = json.dumps(plain, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):  # fmt: skip
        text = text.replace(char, escape)
    assert script_json(page) == text
    assert "\\u003c/script\\u003e" in text and "</script>" not in text


def test_the_page_streamed_host_by_host_is_the_page_rendered_whole() -> None:
    """index.html is written in the pieces jinja makes (issue 14): its JSON block host by
    host, never one string. The streamed page is byte for byte the page with the block
    rendered as one `Markup` string (`json.dumps` of the lists, then escaped: the way it was
    made before), hostile strings inert."""
    from markupsafe import Markup

    from auditor.report.html_data import Encoded
    from auditor.report.html_report import _environment, html_pieces

    data = run_to_dict(generated_run(40))
    hostile = "<!-- x\u2028y\u2029 & </script><script>alert(2)</script> -->"
    data["hosts"][3]["hostnames"] = [hostile]
    data["hosts"][4]["status_reason"] = hostile
    pieces = list(html_pieces(data))
    streamed = "".join(pieces)
    view = build_view(data)
    plain = {k: [json.loads(i) for i in v.items] if isinstance(v, Encoded) else v
             for k, v in view["data_json"]._data.items()}  # fmt: skip
    whole = json.dumps(plain, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):  # fmt: skip
        whole = whole.replace(char, escape)
    view["data_json"] = [Markup(whole)]
    page = _environment().get_template("index.html.j2").render(report=data, view=view)
    assert streamed == page == render_html_data(data)
    start = next(n for n, p in enumerate(pieces) if p.endswith('id="report-data">')) + 1
    end = next(n for n in range(start, len(pieces)) if pieces[n].startswith("</script>"))
    block = pieces[start:end]
    assert "".join(block) == whole and max(map(len, block)) < len(whole) / 20  # host by host
    for text in ("<!--", "\u2028", "\u2029", "</script><script>alert(2)"):
        assert text not in whole
    assert any("<!-- x" in s and "alert(2)" in s for s in Page(streamed).data_strings())
    assert streamed.count("</script>") == 2  # the data block's and the script's own


def test_the_value_table_keeps_values_of_other_types_apart() -> None:
    """Strings key by themselves (no tuple per value, issue 14); "1", 1, 1.0, True, [1] and
    {"1": 1} stay distinct values, and each is stored once."""
    from auditor.report.html_data import ValueTable

    table = ValueTable()
    values: list[object] = ["1", 1, 1.0, True, None, [1], {"1": 1}, "True", "None", ""]
    first = [table.index(v) for v in values]
    assert first == list(range(len(values))) and table.decoded() == values
    assert [table.index(v) for v in reversed(values)] == first[::-1]
    assert table.index({"1": 1}) == 6 and table.index("") == 9 and len(table) == 10


def test_the_value_table_tells_values_apart_when_their_hashes_collide(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The table keys by a 64-bit hash and checks the stored value on a hit: with every
    hash equal, each value still gets its own index, the same one each time."""
    from auditor.report import html_data

    monkeypatch.setattr(html_data, "hash", lambda value: 7, raising=False)
    table = html_data.ValueTable()
    values: list[object] = [f"host-{n}" for n in range(300)] + ["1", 1, 1.0, True, None, [1]]
    first = [table.index(v) for v in values]
    assert first == list(range(len(values))) and table.decoded() == values
    assert [table.index(v) for v in reversed(values)] == first[::-1] and len(table) == len(values)


def test_the_value_table_keeps_its_values_out_of_memory() -> None:
    """Issue 14: each distinct value costs a hash and a slot or two in memory (the value is
    in a temp file), not the string and a dict entry (~130 bytes)."""
    import tracemalloc

    from auditor.report.html_data import ValueTable

    table = ValueTable()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(20_000):
            table.index(f"web-{n:05d}.prod.example.internal")
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert table.index("web-00042.prod.example.internal") == 42
    assert held / 20_000 < 40, held
