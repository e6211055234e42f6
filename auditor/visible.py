"""Text for people: control characters shown, never obeyed.

Hostnames, cron lines, log paths, process names and banners come from machines we do not
trust. Printed raw, an ESC sequence can recolour, hide or rewrite a terminal (OSC 52 even
writes its clipboard), a carriage return can overwrite a line, and a bidi override can make
`evil.example.com` read as something else in a terminal, a chat or a spreadsheet. Every
human-facing text output (terminal, summary.md, hosts.csv, the HTML reports, error lines)
passes its strings through `visible` at the output boundary; report.json keeps the exact
string.

The escaped form is Python's: `\\x1b`, `\\x00`, `\\r`, `\\u202e`, so a reader sees what was
there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from markupsafe import Markup

# C0 controls, DEL, C1 controls; the Unicode bidi embeddings, overrides and isolates, the
# implicit marks, and the line / paragraph separators (they break lines where we promised one).
_BEYOND_C0 = "\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_ANY = re.compile(f"[\x00-\x1f{_BEYOND_C0}]")
# Where a layout has room for several lines (HTML <pre>, multi-line cells), keep \t and \n.
_BUT_LAYOUT = re.compile(f"[\x00-\x08\x0b-\x1f{_BEYOND_C0}]")


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group(0)
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def visible(text: str, *, keep_layout: bool = False) -> str:
    """`text` with every control character and bidi control written as an escape
    (`\\x1b`, `\\u202e`). `keep_layout` leaves newlines and tabs as they are."""
    pattern = _BUT_LAYOUT if keep_layout else _ANY
    return pattern.sub(_escaped, text)


def visible_data(value: Any) -> Any:
    """A copy of JSON-like data (report.json, a dossier) with every string, key or value,
    made `visible`: what a renderer reads from it can only print as text."""
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, Mapping):
        return {visible_data(k): visible_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [visible_data(v) for v in value]
    view = getattr(value, "visible_view", None)
    if view is not None:  # rows read from disk or made when read (auditor.spool): a view
        return view(visible_data)
    return value


def visible_in_html(value: Any) -> Any:
    """jinja2's `finalize` for our HTML: every printed string is `visible` (newlines and tabs
    kept, autoescape then makes it inert); `Markup` we built ourselves passes unchanged."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return visible(value, keep_layout=True)
    return value
