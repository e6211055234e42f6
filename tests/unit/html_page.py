"""Reading index.html in tests: the executable scripts (ours, hashed into the CSP), the one
JSON data block the page draws hosts from, and the text a reader sees."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

DATA_TYPE = "application/json"


class Page(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[str] = []
        self.text: list[str] = []
        self.scripts: list[str] = []  # executable: run by the browser
        self.data_blocks: list[str] = []  # <script type="application/json">: never run
        self._in: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [name for name, _ in attrs]
        if tag == "script":
            self._in = self.data_blocks if dict(attrs).get("type") == DATA_TYPE else self.scripts

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        (self._in if self._in is not None else self.text).append(data)

    def data(self) -> dict[str, Any]:
        assert len(self.data_blocks) == 1, self.data_blocks
        decoded: dict[str, Any] = json.loads(self.data_blocks[0])
        return decoded

    def data_strings(self) -> list[str]:
        """Every string value in the data block, decoded."""
        out: list[str] = []

        def walk(value: Any) -> None:
            if isinstance(value, str):
                out.append(value)
            elif isinstance(value, dict):
                for v in value.values():
                    walk(v)
            elif isinstance(value, list):
                for v in value:
                    walk(v)

        walk(self.data()["values"])
        return out
