"""Fixtures for every test, unit and integration alike.

Caches go to a temp dir for the whole session: an audit writes the software version cache
(and `auditor eol update` the refreshed eol.json) under `$XDG_CACHE_HOME/auditor`, and a test
run must never touch the user's ~/.cache. Set in os.environ, so the CLI subprocesses tests
start inherit it too; a test that needs its own cache dir sets XDG_CACHE_HOME itself.
"""

from __future__ import annotations

import os
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
