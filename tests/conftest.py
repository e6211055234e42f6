"""Fixtures for every test, unit and integration alike.

Caches go to a temp dir for the whole session: an audit writes the software version cache
(and `auditor eol update` the refreshed eol.json) under `$XDG_CACHE_HOME/auditor`, and a test
run must never touch the user's ~/.cache. Set in os.environ, so the CLI subprocesses tests
start inherit it too; a test that needs its own cache dir sets XDG_CACHE_HOME itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def private_cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = previous
