"""Fixtures for every test, unit and integration alike.

Caches go to a temp dir for the whole session: an audit writes the software version cache
(and `auditor eol update` the refreshed eol.json) under `$XDG_CACHE_HOME/auditor`, and a test
run must never touch the user's ~/.cache. Set in os.environ, so the CLI subprocesses tests
start inherit it too; a test that needs its own cache dir sets XDG_CACHE_HOME itself.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.storedb import PostgresUrl, StoreLocation

INTEGRATION = Path(__file__).parent / "integration"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Plain `pytest` (no paths, no -m) runs the unit tests only.

    A developer running pytest as root must not build the lab's network namespaces, start moto
    servers or build wheels by surprise. `make test` (the CI command) names `tests` and runs
    everything; `make test-lab` / `pytest -m lab` selects the lab tests.
    """
    if config.args_source is not pytest.Config.ArgsSource.TESTPATHS or config.option.markexpr:
        return None
    return collection_path == INTEGRATION or INTEGRATION in collection_path.parents or None


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C is Ctrl-C, however the test run was started.

    A run started in the background by a script (`pytest &`, `nohup`, a CI runner's
    non-interactive shell) inherits SIGINT ignored: Python then installs no KeyboardInterrupt
    handler, and the CLI subprocesses the tests start ignore it too (an ignored signal
    survives exec). The Ctrl-C tests, which press it with os.kill, would wait forever.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


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


@pytest.fixture
def postgres_db() -> Iterator[str]:
    """A fresh PostgreSQL database's URL (tests/postgres.py), dropped after the test."""
    from tests.postgres import database_url, fresh_database

    with fresh_database() as name:
        yield database_url(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_at(request: pytest.FixtureRequest, tmp_path: Path) -> StoreLocation:
    """Where a new history store goes, once per backend: a SQLite file, a PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "state" / "history.sqlite"
    return PostgresUrl(request.getfixturevalue("postgres_db"))
