"""A real PostgreSQL for the tests: one fresh database per test, dropped after.

The server is the one `make install` / `.ci/run` start at 127.0.0.1:5432 (trust auth for
the `postgres` role); $AUDITOR_TEST_POSTGRES names another (its maintenance database's URL).
Without a server a test is skipped on a developer's machine, saying why, and fails in CI
(CI=true), where the server must be there.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from auditor.storedb import PostgresUrl, StoreLocation

ADMIN_URL = os.environ.get(
    "AUDITOR_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _admin() -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        why = f"no PostgreSQL at {ADMIN_URL} ({' '.join(str(exc).split())}); run `make install`"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(why)
        pytest.skip(why)


def database_url(name: str, *, password: str | None = None) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    if password is not None:
        scheme, _, rest = base.partition("://")
        user, _, host = rest.rpartition("@")
        base = f"{scheme}://{user or 'postgres'}:{password}@{host}"
    return f"{base}/{name}"


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A new empty database's name, dropped (with any session still on it) after."""
    admin = _admin()
    name = f"auditor_test_{uuid.uuid4().hex[:16]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def store_text(location: StoreLocation) -> str:
    """A store location as `[audit] store` or `--store` takes it."""
    return location.url if isinstance(location, PostgresUrl) else str(location)
