"""Terminal escapes: control characters and bidi overrides from hosts print as escapes in
every human-facing output; report.json keeps the exact string."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from auditor.exitcodes import fail
from auditor.model import SourceKind, SourceResult
from auditor.report.csv_report import render_csv
from auditor.report.html_report import render_html
from auditor.report.json_report import run_to_dict
from auditor.report.markdown_report import render_markdown
from auditor.report.terminal import render_terminal_summary
from auditor.terminal import TerminalUI
from auditor.visible import visible
from tests.unit.test_report import sample_run

# OSC 52 (write the clipboard), clear screen, cursor up + erase line, BEL, NUL, a C1 CSI,
# a carriage return that would overwrite the line, and a right-to-left override.
HOSTILE_LABEL = "web\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\x1b[1A\x1b[2K\x00\x9b31m\rok\u202egnp.exe"
RAW = ("\x1b", "\x07", "\x00", "\x9b", "\r", "\u202e")


def _assert_inert(text: str, shown: tuple[str, ...] = ("\\x1b]52", "\\u202e")) -> None:
    for char in RAW:
        assert char not in text, f"raw {char!r} in output"
    assert all(escape in text for escape in shown)  # shown, not dropped


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, color_system=None, width=400, force_terminal=False), out


@pytest.mark.parametrize("char", ["\u202a", "\u202d", "\u2066", "\u2069", "\u200f", "\x7f"])
def test_every_bidi_control_and_del_is_escaped(char: str) -> None:
    assert char not in visible(f"a{char}b") and visible(f"a{char}b").startswith("a\\")


def test_the_terminal_summary_shows_escapes() -> None:
    console, out = _console()
    render_terminal_summary(sample_run(HOSTILE_LABEL), console)
    _assert_inert(out.getvalue())


def test_summary_md_shows_escapes() -> None:
    text = render_markdown(run_to_dict(sample_run(HOSTILE_LABEL)))
    _assert_inert(text, shown=("\\\\x1b\\]52", "\\\\u202e"))  # markdown-escaped backslash


def test_hosts_csv_shows_escapes() -> None:
    text = render_csv(run_to_dict(sample_run(HOSTILE_LABEL)))
    _assert_inert(text.replace("\r\n", "\n"))  # the row terminator is ours


def test_index_html_shows_escapes() -> None:
    _assert_inert(render_html(sample_run(HOSTILE_LABEL)))


def test_report_json_keeps_the_exact_string() -> None:
    data = run_to_dict(sample_run(HOSTILE_LABEL))
    assert data["hosts"][0]["hostnames"] == [HOSTILE_LABEL]


def test_source_errors_and_error_lines_show_escapes(capsys: pytest.CaptureFixture[str]) -> None:
    console, out = _console()
    result = SourceResult(SourceKind.NETWORK, "lan", False, (), error=HOSTILE_LABEL,
                          errors=(HOSTILE_LABEL,))  # fmt: skip

    class _Named:
        kind, name = SourceKind.NETWORK, "lan"

    TerminalUI(console=console).on_source(_Named(), result)  # type: ignore[arg-type]
    _assert_inert(out.getvalue())
    with pytest.raises(SystemExit):
        fail(f"cannot read {HOSTILE_LABEL}", 3)
    _assert_inert(capsys.readouterr().err)


def test_csv_formula_cells_are_defused() -> None:
    for formula in ('=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)"):
        row = render_csv(run_to_dict(sample_run(formula))).split("\r\n")[1]
        assert f",'{formula[0]}" in row.replace('"', "")
