"""The PostgreSQL history store through the CLI, on a real server (tests/postgres.py): the
URL's password never shows (messages, logs, reports, --dry-run), it may come from the
environment, two controllers never write one store at once, and `history`, `diff` and
`report --run` read what `discover` stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.config import load_config
from auditor.errors import ConfigError, StoreError
from auditor.store import open_store, record_run
from auditor.storedb import PASSWORD_ENV, PostgresUrl
from tests.postgres import database_url, fresh_database

SECRET = "pw-Zq8xK2-never-shown"
SCANS = Path(__file__).parents[1] / "fixtures" / "nmap"


@pytest.fixture
def secret_url() -> Iterator[str]:
    """A fresh database's URL with a password (trust auth on 127.0.0.1 takes any) and a TLS
    option in it."""
    with fresh_database() as name:
        yield database_url(name, password=SECRET) + "?sslmode=disable&connect_timeout=5"


def _config(tmp_path: Path, store: str) -> Path:
    config = tmp_path / "audit.toml"
    config.write_text(
        f'[audit]\nstore = "{store}"\nfail_on = "critical"\nreports = "{tmp_path / "rep"}"\n'
        f"[[network]]\nnmap_xml = {json.dumps([str(SCANS / 'loopback2-syn.xml')])}\n"
    )
    return config


def _auditor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auditor", *args],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "AUDITOR_DEBUG": "1", **(env or {})},
    )  # fmt: skip


def _no_secret_in(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text


def _no_secret_under(folder: Path) -> None:
    """Reports, lock files, logs: none holds the password (the config file itself does)."""
    for path in folder.rglob("*"):
        if path.is_file() and path.name != "audit.toml":
            assert SECRET.encode() not in path.read_bytes(), path


def test_the_url_never_shows_its_password_user_or_options() -> None:
    url = PostgresUrl(f"postgresql://auditor:{SECRET}@db.example:6432/history?sslmode=verify-full")
    assert str(url) == "postgresql://db.example:6432/history"
    assert SECRET not in repr(url) and SECRET not in f"{url}" and "auditor" not in str(url)


def test_config_reads_a_postgresql_store_and_a_bad_one_is_refused_unshown(tmp_path: Path) -> None:
    config = tmp_path / "audit.toml"
    config.write_text(f'[audit]\nstore = "postgres://u:{SECRET}@127.0.0.1/history"\n')
    store = load_config(config).audit.store
    assert isinstance(store, PostgresUrl) and store.url.endswith("/history")
    for bad in (f"postgresql://u:{SECRET}@127.0.0.1:99999/db", f"postgresql://u:{SECRET}@h/"):
        config.write_text(f'[audit]\nstore = "{bad}"\n')
        with pytest.raises(ConfigError) as exc:
            load_config(config)
        assert "'store'" in str(exc.value)
        _no_secret_in(str(exc.value))


def test_discover_history_diff_report_on_postgresql_never_print_the_password(
    tmp_path: Path, secret_url: str
) -> None:
    config = _config(tmp_path, secret_url)
    dry = _auditor("discover", "--dry-run", "-c", str(config))
    assert dry.returncode == 0, dry.stderr
    assert "history: postgresql://127.0.0.1:5432/auditor_test_" in dry.stdout + dry.stderr
    _no_secret_in(dry.stdout, dry.stderr)
    for _ in range(2):
        run = _auditor("discover", "-c", str(config), "-o", str(tmp_path / "rep"))
        assert run.returncode == 0, run.stderr
        assert "recorded in postgresql://127.0.0.1:5432/auditor_test_" in run.stderr  # debug log
        _no_secret_in(run.stdout, run.stderr)

    listed = _auditor("history", "-c", str(config), "--json")
    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)
    assert len(runs) == 2 and runs[0]["new_hosts"] == 0
    table = _auditor("history", "--store", secret_url)
    assert table.returncode == 0 and "runs in postgresql://127.0.0.1:5432/" in table.stdout
    changed = _auditor("diff", "-c", str(config), "--json")
    assert changed.returncode == 0, changed.stderr
    assert json.loads(changed.stdout)["to"] == runs[0]["id"]
    again = _auditor("report", "--run", "latest~1", "-c", str(config), "-o", str(tmp_path / "old"))
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "old" / "report.json").read_text())["run"]["id"] == runs[1]["id"]
    _no_secret_in(listed.stdout, table.stdout, table.stderr, changed.stdout, again.stdout,
                  again.stderr)  # fmt: skip
    _no_secret_under(tmp_path)
    with open_store(PostgresUrl(secret_url), readonly=True) as store:  # nor the stored runs
        for summary in store.runs():
            _no_secret_in(json.dumps(store.get_run(summary.id).report))


def test_a_store_that_cannot_be_opened_is_named_without_the_password(tmp_path: Path) -> None:
    missing = database_url("auditor_test_no_such_database", password=SECRET)
    config = _config(tmp_path, missing)
    for args in (("discover", "-c", str(config)), ("history", "--store", missing)):
        result = _auditor(*args)
        assert result.returncode == 3, result.stderr
        assert "postgresql://127.0.0.1:5432/auditor_test_no_such_database" in result.stderr
        assert "does not exist" in result.stderr
        _no_secret_in(result.stdout, result.stderr)
    with pytest.raises(StoreError) as exc:
        open_store(PostgresUrl(missing))
    _no_secret_in(str(exc.value), repr(exc.value.__cause__), repr(exc.value.__context__))


def test_the_password_may_come_from_the_environment(
    postgres_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, SECRET)
    with open_store(PostgresUrl(postgres_db)) as store:
        assert store.db.conn.info.password == SECRET  # type: ignore[attr-defined]
    monkeypatch.delenv(PASSWORD_ENV)
    with open_store(PostgresUrl(postgres_db)) as store:
        assert store.db.conn.info.password != SECRET  # type: ignore[attr-defined]


def test_a_second_controller_is_refused_naming_the_first(tmp_path: Path, postgres_db: str) -> None:
    """Two controllers, two processes and two server sessions: the advisory lock."""
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            from auditor.store import open_store
            from auditor.storedb import PostgresUrl
            with open_store(PostgresUrl({postgres_db!r})):
                print("locked", flush=True)
                sys.stdin.readline()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        second = _auditor("discover", "-c", str(_config(tmp_path, postgres_db)))
        assert second.returncode == 3
        assert "is in use by another audit" in second.stderr
        assert f"pid {holder.pid} on " in second.stderr  # who: the other auditor's pid
        assert "PostgreSQL backend pid" in second.stderr
        readers = _auditor("history", "--store", postgres_db)  # readers are never blocked
        assert readers.returncode == 0, readers.stderr
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    third = _auditor("discover", "-c", str(_config(tmp_path, postgres_db)))
    assert third.returncode == 0, third.stderr


def _end_session(pid: int) -> None:
    """What a server restart or a dropped network does to a session: it ends."""
    import psycopg

    from tests.postgres import ADMIN_URL

    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        row = admin.execute("SELECT pg_terminate_backend(%s, 5000)", [pid]).fetchone()
        assert row is not None and row[0]


def test_a_lost_session_is_opened_again_with_its_lock(postgres_db: str) -> None:
    from tests.unit.test_store import GRACE, T0, mkhost, mkrun

    url = PostgresUrl(postgres_db)
    with open_store(url) as store:
        before = store.db.conn.info.backend_pid  # type: ignore[attr-defined]
        _end_session(before)
        record_run(store, mkrun(T0, [mkhost(1)]), grace=GRACE)  # the audit's end: stored
        assert store.db.conn.info.backend_pid != before  # type: ignore[attr-defined]
        with pytest.raises(StoreError, match="in use by another audit"):
            open_store(url)  # the new session holds the lock again
        _end_session(store.db.conn.info.backend_pid)  # type: ignore[attr-defined]
        assert [r.hosts for r in store.runs()] == [1]  # a read opens it again too
    with open_store(url, readonly=True) as reader:
        assert len(reader.runs()) == 1


def test_a_lost_session_whose_store_another_audit_took_stores_nothing(postgres_db: str) -> None:
    from tests.unit.test_store import GRACE, T0, mkhost, mkrun

    url = PostgresUrl(postgres_db)
    with open_store(url) as store:
        _end_session(store.db.conn.info.backend_pid)  # type: ignore[attr-defined]
        with open_store(url) as other:  # free now: a second controller starts
            with pytest.raises(StoreError, match="another audit took the store meanwhile"):
                record_run(store, mkrun(T0, [mkhost(1)]), grace=GRACE)
            assert other.runs() == []


def test_no_server_skips_on_a_developer_machine_and_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CI must catch a missing PostgreSQL: there the tests that need one fail, not skip."""
    import socket

    import tests.postgres as postgres

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(postgres, "ADMIN_URL", f"postgresql://postgres@127.0.0.1:{port}/postgres")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no PostgreSQL at"), postgres.fresh_database():
        pass  # pragma: no cover
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="run `make install`"), postgres.fresh_database():
        pass  # pragma: no cover
