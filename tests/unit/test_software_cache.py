"""The controller's software version cache (`auditor.software_cache`): the file, its
pruning and its failures, and the whole loop through `probe_hosts` with the local shell
connector (the script really runs, a fake program logs each time it is executed)."""

from __future__ import annotations

import _thread
import json
import logging
import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from auditor.config import Config, SshSettings
from auditor.model import NOT_ASKED, Package, UnknownPackage
from auditor.probe.parsers.packages import NO_PACKAGE_MANAGER
from auditor.probe.parsers.software import VersionRun
from auditor.probing import probe_hosts
from auditor.remote import LocalShellConnector
from auditor.remote.local import LocalShellSession
from auditor.software_cache import (
    CACHE_FILE_NAME,
    MAX_AGE,
    MAX_OUTPUT_CHARS,
    MAX_PROGRAMS_PER_HOST,
    CachedVersion,
    SoftwareCache,
    default_cache_file,
    host_key,
    prune,
)
from tests.unit.test_remote_local import local_host

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
NGINX = VersionRun(
    "/usr/sbin/nginx", "2049 1234 1290240 1700000000 1700000000", 0, "nginx/1.22.1",
    Package("dpkg", "nginx", "1.22.1-9+deb12u1"),
)  # fmt: skip
SSH = VersionRun("/usr/bin/ssh", "2049 99 1129504 1700000000 1700000001", 0, "OpenSSH_9.2p1 x", None)


@pytest.fixture
def cache_file(tmp_path: Path) -> Path:
    return tmp_path / "auditor" / CACHE_FILE_NAME


# --------------------------------------------------------------------------- the file


def test_default_file_follows_xdg_cache_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_file() == tmp_path / "auditor" / "software-versions.json"


def test_save_and_load_round_trip(cache_file: Path) -> None:
    cache = SoftwareCache.load(cache_file)
    assert cache.known("10.0.0.5:22") == {}
    cache.update("10.0.0.5:22", [NGINX, SSH], now=NOW)
    cache.update("[fd00::5]:2222", [SSH], now=NOW)
    assert cache.save(now=NOW)
    assert stat.S_IMODE(cache_file.stat().st_mode) == 0o600  # what hosts said: ours only
    data = json.loads(cache_file.read_text())
    assert data["format"] == 2
    assert data["hosts"]["10.0.0.5:22"]["/usr/sbin/nginx"] == {
        "identity": NGINX.identity, "status": 0, "output": "nginx/1.22.1",
        "package": {"manager": "dpkg", "name": "nginx", "version": "1.22.1-9+deb12u1"},
        "seen": "2026-11-29T03:00:00+00:00",
    }  # fmt: skip
    assert data["hosts"]["10.0.0.5:22"]["/usr/bin/ssh"]["package"] is None  # hand-installed
    again = SoftwareCache.load(cache_file)
    assert again.known("10.0.0.5:22") == {NGINX.path: NGINX, SSH.path: SSH}
    assert again.known("[fd00::5]:2222") == {SSH.path: SSH}
    assert again.entries()["10.0.0.5:22"][NGINX.path] == CachedVersion(NGINX, NOW)


def test_host_key_is_address_and_port() -> None:
    assert host_key("10.0.0.5", 22) == "10.0.0.5:22"
    assert host_key("fd00::5", 2222) == "[fd00::5]:2222"
    assert host_key("10.0.0.5", None) == "10.0.0.5:22"


def test_nothing_changed_nothing_written(cache_file: Path) -> None:
    assert SoftwareCache.load(cache_file).save(now=NOW)
    assert not cache_file.exists()


@pytest.mark.parametrize(
    "content",
    [
        "{not json", "[]", '{"format": 3, "hosts": {}}', '{"format": 2, "hosts": []}', "",
        '{"format": 2}', "\udcff",
    ],
)  # fmt: skip
def test_a_corrupt_file_is_ignored_with_a_warning(
    cache_file: Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache_file.parent.mkdir(parents=True)
    cache_file.write_bytes(content.encode("utf-8", errors="surrogateescape"))
    with caplog.at_level(logging.WARNING, logger="auditor.software_cache"):
        cache = SoftwareCache.load(cache_file)
    assert cache.entries() == {}
    assert "ignored" in caplog.text and str(cache_file) in caplog.text
    # ... and is replaced by a good one at the end of the run.
    cache.update("h:22", [NGINX], now=NOW)
    assert cache.save(now=NOW)
    assert SoftwareCache.load(cache_file).known("h:22") == {NGINX.path: NGINX}


def test_an_unreadable_file_is_ignored_with_a_warning(
    cache_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache_file.mkdir(parents=True)  # a directory where the file should be: EISDIR
    with caplog.at_level(logging.WARNING, logger="auditor.software_cache"):
        cache = SoftwareCache.load(cache_file)
    assert cache.entries() == {} and "cannot read it" in caplog.text
    cache.update("h:22", [NGINX], now=NOW)
    with caplog.at_level(logging.WARNING, logger="auditor.software_cache"):
        assert cache.save(now=NOW) is False  # never raises
    assert "not saved" in caplog.text


def test_a_missing_file_is_an_empty_cache_without_a_word(
    cache_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="auditor.software_cache"):
        assert SoftwareCache.load(cache_file).entries() == {}
    assert caplog.text == ""


def test_entries_that_do_not_check_out_are_skipped_one_by_one(
    cache_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The file holds what hosts said: whatever could reach the script as shell syntax, or
    is not an entry, is dropped on load; the good entries stay."""
    good = {"identity": NGINX.identity, "status": 0, "output": "nginx/1.22.1",
            "package": {"manager": "dpkg", "name": "nginx", "version": "1.22.1-9+deb12u1"},
            "seen": NOW.isoformat()}  # fmt: skip
    hosts = {
        "h:22": {
            NGINX.path: good,
            "/usr/bin/x'; reboot; '": good,
            "/usr/bin/y": {**good, "identity": "1 2 3 4 5; reboot"},
            "/usr/bin/z": {**good, "identity": 12345},
            "/usr/bin/s": {**good, "status": "0"},
            "/usr/bin/t": {**good, "seen": "yesterday"},
            "/usr/bin/u": {**good, "seen": "2026-11-29T03:00:00"},  # naive
            "/usr/bin/v": {**good, "status": 124},  # a timeout is never kept
            "/usr/bin/w": "nginx/1.22.1",
            "/usr/bin/p": {k: v for k, v in good.items() if k != "package"},  # never asked
            "/usr/bin/q": {**good, "package": {"manager": "dpkg"}},
            "/usr/bin/r": {**good, "package": {"unknown": "rpm -qf timed out"}},
        },
        "other:22": ["not", "a", "table"],
    }
    cache_file.parent.mkdir(parents=True)
    cache_file.write_text(json.dumps({"format": 2, "hosts": hosts}))
    with caplog.at_level(logging.WARNING, logger="auditor.software_cache"):
        cache = SoftwareCache.load(cache_file)
    assert cache.known("h:22") == {NGINX.path: NGINX}
    assert "12 malformed entries ignored" in caplog.text


def test_a_format_1_file_kept_no_package_answers_and_is_started_afresh(
    cache_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    entry = {"identity": NGINX.identity, "status": 0, "output": "nginx/1.22.1",
             "seen": NOW.isoformat()}  # fmt: skip
    cache_file.parent.mkdir(parents=True)
    cache_file.write_text(json.dumps({"format": 1, "hosts": {"h:22": {NGINX.path: entry}}}))
    with caplog.at_level(logging.WARNING, logger="auditor.software_cache"):
        assert SoftwareCache.load(cache_file).entries() == {}
    assert caplog.text == ""  # an upgrade, not a corrupt file


# --------------------------------------------------------------------------- updates


def test_what_is_kept_and_what_runs_again(cache_file: Path) -> None:
    cache = SoftwareCache(cache_file)
    failed = VersionRun("/usr/bin/php", "1 2 3 4 5", 1, "PHP Warning: something", None)
    cache.update("h:22", [NGINX, failed], now=NOW)
    assert set(cache.known("h:22")) == {NGINX.path, failed.path}  # an answer, if no version
    # The package answer is kept when it will not change while the file does not.
    cache.update("h:22", [replace(SSH, package=NO_PACKAGE_MANAGER)], now=NOW)
    assert cache.known("h:22")[SSH.path].package == NO_PACKAGE_MANAGER
    for package in (NOT_ASKED, UnknownPackage("rpm -qf timed out")):
        cache.update("h:22", [replace(SSH, package=package)], now=NOW)
        assert SSH.path not in cache.known("h:22"), package
    for status in (124, 126, 127, 137):  # timed out, refused, not found, killed
        cache.update("h:22", [replace(NGINX, status=status)], now=NOW)
        assert NGINX.path not in cache.known("h:22"), status
        cache.update("h:22", [NGINX], now=NOW)
    cache.update("h:22", [replace(NGINX, output="x" * (MAX_OUTPUT_CHARS + 1))], now=NOW)
    assert NGINX.path not in cache.known("h:22")
    cache.update("h:22", [replace(NGINX, path="/usr/sbin/ng inx")], now=NOW)
    assert "/usr/sbin/ng inx" not in cache.known("h:22")
    upgraded = replace(NGINX, identity="2049 777 1290300 1800000000 1800000000", output="1.26")
    cache.update("h:22", [NGINX], now=NOW)
    cache.update("h:22", [upgraded], now=NOW)
    assert cache.known("h:22")[NGINX.path] == upgraded  # one identity per path: the newest


def test_pruned_by_age_at_save_and_hits_keep_entries_alive(cache_file: Path) -> None:
    cache = SoftwareCache(cache_file)
    old = NOW - MAX_AGE - timedelta(days=1)
    cache.update("gone:22", [NGINX], now=old)
    cache.update("h:22", [NGINX, SSH], now=old)
    cache.update("h:22", [], [(NGINX.path, NGINX.identity)], now=NOW - timedelta(days=2))
    cache.update("h:22", [], [(SSH.path, "9 9 9 9 9")], now=NOW)  # another identity: no hit
    assert cache.save(now=NOW)
    kept = SoftwareCache.load(cache_file)
    assert kept.entries() == {"h:22": {NGINX.path: CachedVersion(NGINX, NOW - timedelta(days=2))}}
    assert prune(kept.entries(), now=NOW + timedelta(days=28)) == kept.entries()
    assert prune(kept.entries(), now=NOW + timedelta(days=28, seconds=1)) == {}


def test_a_host_keeps_its_newest_programs_only(cache_file: Path) -> None:
    cache = SoftwareCache(cache_file)
    runs = [replace(NGINX, path=f"/usr/sbin/nginx{n}") for n in range(MAX_PROGRAMS_PER_HOST)]
    cache.update("h:22", runs, now=NOW - timedelta(hours=1))
    cache.update("h:22", [SSH], now=NOW)
    known = cache.known("h:22")
    assert len(known) == MAX_PROGRAMS_PER_HOST and SSH.path in known


def test_concurrent_runs_merge_at_save(cache_file: Path) -> None:
    """Two runs loaded the same file; each saves its own hosts, neither loses the other's,
    and where both saw a program the later sighting wins."""
    first, second = SoftwareCache.load(cache_file), SoftwareCache.load(cache_file)
    first.update("a:22", [NGINX], now=NOW)
    first.update("both:22", [NGINX], now=NOW)
    second.update("b:22", [SSH], now=NOW)
    newer = replace(NGINX, identity="1 1 1 1 1", output="nginx/1.26.0")
    second.update("both:22", [newer], now=NOW + timedelta(minutes=5))
    assert second.save(now=NOW) and first.save(now=NOW)
    merged = SoftwareCache.load(cache_file)
    assert merged.known("a:22") == {NGINX.path: NGINX}
    assert merged.known("b:22") == {SSH.path: SSH}
    assert merged.known("both:22") == {NGINX.path: newer}


def test_updates_from_many_threads(cache_file: Path) -> None:
    """`collect`'s workers update one cache at once; one lock, nothing lost."""
    cache = SoftwareCache(cache_file)

    def work(n: int) -> None:
        for m in range(20):
            cache.update(f"10.0.{n}.{m}:22", [NGINX, SSH], now=NOW)
            cache.known(f"10.0.{n}.{m}:22")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache.entries()) == 160
    assert cache.save(now=NOW)
    assert len(SoftwareCache.load(cache_file).entries()) == 160


# --------------------------------------------------------------- through probe_hosts


IS_ROOT = os.geteuid() == 0


@pytest.fixture
def fake_mariadbd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A root-owned `mariadbd` on the local shell's PATH that logs each run to a file, and
    a cache dir of the test's own."""
    if any(
        (Path(d) / "mariadbd").exists()
        for d in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
    ):
        pytest.skip("this machine has a mariadbd of its own, found before ours")
    log = tmp_path / "ran"
    program = tmp_path / "bin" / "mariadbd"
    program.parent.mkdir()
    program.write_text(
        f"#!/bin/sh\necho \"$0\" >>'{log}'\necho 'mariadbd  Ver 10.11.99-MariaDB for Linux'\n"
    )
    program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{program.parent}:{os.environ.get('PATH', '/usr/bin:/bin')}")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return program, log


def _mariadbd(results: object) -> set[str]:
    facts = results.facts["localhost"]  # type: ignore[attr-defined]
    return {s.version for s in facts.software or () if s.name == "mariadbd"}


@pytest.mark.skipif(not IS_ROOT, reason="the fake program must be owned by root to be run")
def test_probe_hosts_writes_the_cache_and_uses_it_next_run(
    fake_mariadbd: tuple[Path, Path], tmp_path: Path
) -> None:
    program, log = fake_mariadbd
    config = Config(path=None, ssh=SshSettings())
    cache_file = tmp_path / "xdg" / "auditor" / CACHE_FILE_NAME

    first = probe_hosts(config, [local_host()], connector=LocalShellConnector())
    assert first.ssh["localhost"].state == "ok"
    assert _mariadbd(first) == {"10.11.99"}
    assert log.read_text().split() == [str(program)]
    entry = json.loads(cache_file.read_text())["hosts"]["127.0.0.1:22"][str(program)]
    st = program.stat()
    assert entry["identity"] == (
        f"{st.st_dev} {st.st_ino} {st.st_size} {int(st.st_mtime)} {int(st.st_ctime)}"
    )
    assert entry["output"] == "mariadbd  Ver 10.11.99-MariaDB for Linux"

    second = probe_hosts(config, [local_host()], connector=LocalShellConnector())
    assert _mariadbd(second) == {"10.11.99"}
    assert log.read_text().split() == [str(program)], "ran again though unchanged"
    again = json.loads(cache_file.read_text())["hosts"]["127.0.0.1:22"][str(program)]
    assert again["identity"] == entry["identity"] and again["seen"] > entry["seen"]

    # An upgrade in place: the next audit runs it and keeps the new answer.
    program.write_text(program.read_text().replace("10.11.99", "10.11.100"))
    third = probe_hosts(config, [local_host()], connector=LocalShellConnector())
    assert _mariadbd(third) == {"10.11.100"}
    assert log.read_text().split() == [str(program)] * 2

    # [ssh] software_cache = false: every program runs, the file is left alone.
    before = cache_file.read_bytes()
    off = Config(path=None, ssh=SshSettings(software_cache=False))
    fourth = probe_hosts(off, [local_host()], connector=LocalShellConnector())
    assert _mariadbd(fourth) == {"10.11.100"}
    assert log.read_text().split() == [str(program)] * 3
    assert cache_file.read_bytes() == before


class _InterruptingConnector(LocalShellConnector):
    """Presses Ctrl-C (in the main thread) once a host's probe is done."""

    @contextmanager
    def _connect(self, label: str) -> Iterator[LocalShellSession]:
        with super()._connect(label) as session:
            yield session
        _thread.interrupt_main()


@pytest.mark.skipif(not IS_ROOT, reason="the fake program must be owned by root to be run")
def test_an_interrupted_run_still_saves_the_cache(
    fake_mariadbd: tuple[Path, Path], tmp_path: Path
) -> None:
    config = Config(path=None, ssh=SshSettings())
    results = probe_hosts(config, [local_host()], connector=_InterruptingConnector())
    assert results.interrupted
    saved = json.loads((tmp_path / "xdg" / "auditor" / CACHE_FILE_NAME).read_text())
    assert str(fake_mariadbd[0]) in saved["hosts"]["127.0.0.1:22"]


def test_a_corrupt_cache_never_fails_an_audit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    (tmp_path / "auditor").mkdir()
    (tmp_path / "auditor" / CACHE_FILE_NAME).write_text('{"format": 2, "hosts": {"x": 1}')
    config = Config(path=None, ssh=SshSettings())
    with caplog.at_level(logging.WARNING, logger="auditor.software_cache"):
        results = probe_hosts(config, [local_host()], connector=LocalShellConnector())
    assert results.ssh["localhost"].state == "ok"
    assert results.facts["localhost"].software is not None
    assert "ignored" in caplog.text


@pytest.mark.skipif(not IS_ROOT, reason="the fake program must be owned by root to be run")
def test_inspect_shares_the_cache_with_the_audit(fake_mariadbd: tuple[Path, Path]) -> None:
    """`auditor inspect` of an orphan host tells the script what the audit learned, and
    the audit what inspect learned: one cache, one run of an unchanged program."""
    from auditor.inspect.run import InspectRequest, inspect_hosts

    program, log = fake_mariadbd
    config = Config(path=None, ssh=SshSettings())
    request = InspectRequest(targets=("127.0.0.1",), use_sources=False, fetch_http=False)

    [first] = inspect_hosts(config, request, connector=LocalShellConnector())
    assert first.probe_state == "ok"
    assert log.read_text().split() == [str(program)]
    [second] = inspect_hosts(config, request, connector=LocalShellConnector())
    assert second.probe_state == "ok"
    assert log.read_text().split() == [str(program)], "inspect ran it again though unchanged"
    audit = probe_hosts(config, [local_host()], connector=LocalShellConnector())
    assert _mariadbd(audit) == {"10.11.99"}
    assert log.read_text().split() == [str(program)], "the audit ran it again"
