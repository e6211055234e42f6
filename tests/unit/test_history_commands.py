"""`auditor history`, `auditor diff`, `auditor report` on a real store (click's runner)."""

from __future__ import annotations

import json
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from auditor.commands.diff import diff
from auditor.commands.history import history
from auditor.commands.report import report
from auditor.errors import StoreError
from auditor.report import run_to_dict
from auditor.report.json_report import validate_report
from auditor.store import open_store, record_run
from auditor.storedb import StoreLocation
from tests.postgres import store_text
from tests.unit.test_report_fleet import HOSTILE, fleet


@pytest.fixture
def store_path(store_at: StoreLocation) -> str:
    """Two runs in a store, once per backend (SQLite, PostgreSQL): as `--store` takes it."""
    with open_store(store_at) as store:
        record_run(store, fleet(previous=True), grace=timedelta(days=3))
        record_run(store, fleet(), grace=timedelta(days=3))
    return store_text(store_at)


def invoke(command: object, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(command, list(args))  # type: ignore[arg-type]
    return result.exit_code, result.stdout, result.stderr


def test_history_lists_runs_newest_first(store_path: str) -> None:
    code, out, _ = invoke(history, "--store", str(store_path), "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert [r["id"][-6:] for r in rows] == ["bbbbbb", "aaaaaa"]
    assert rows[0]["new_hosts"] == 2 and rows[0]["gone_hosts"] == 1
    assert rows[0]["status_changed"] == 1 and rows[1]["new_hosts"] == 0
    code, out, _ = invoke(history, "--store", str(store_path))
    assert code == 0 and "bbbbbb" in out and "aaaaaa" in out
    code, out, _ = invoke(history, "--store", str(store_path), "-n", "1", "--json")
    assert len(json.loads(out)) == 1  # the older flag still works


def test_history_and_diff_read_no_report_and_older_runs_from_their_report(
    store_path: str, store_at: StoreLocation
) -> None:
    """Listing runs decodes no stored report (issue 14: ~90 MB of JSON each at 10,000
    hosts): it reads each run's digest, written as the run was saved; `diff` reads both runs
    from the tables. A run stored before digests (NULL) is listed from its report: the same
    output, byte for byte."""

    def listed() -> list[str]:
        return [invoke(history, "--store", store_path, *args)[1]
                for args in ((), ("--format", "json"), ("-n", "1"))]  # fmt: skip

    def diffs() -> list[str]:
        return [invoke(diff, "--store", store_path, *args)[1] for args in ((), ("--json",))]

    before, diffs_before = listed(), diffs()
    assert '"new_hosts": [' in diffs_before[1] and "new host" in diffs_before[0]
    assert '"new_hosts": 2' in before[1] and '"critical": ' in before[1]
    with open_store(store_at) as store:
        reports = store.db.execute("SELECT id, report FROM runs").fetchall()
        with store.db.transaction():  # damaged reports: listing must not read them
            store.db.execute("UPDATE runs SET report = ?", (b"not zlib",))
    assert listed() == before
    with open_store(store_at, readonly=True) as store, pytest.raises(StoreError, match="damaged"):
        store.get_run("latest")  # the damage is real
    # `diff` compares the two runs from the tables, host by host: no report decoded either.
    assert diffs() == diffs_before
    with open_store(store_at) as store, store.db.transaction():
        for run_id, blob in reports:  # as an auditor before digests stored them
            store.db.execute("UPDATE runs SET report = ?, digest = NULL WHERE id = ?",
                             (bytes(blob), run_id))  # fmt: skip
    assert listed() == before
    with open_store(store_at) as store, store.db.transaction():
        for run_id, blob in reports:  # and with reports stored as one JSON text
            text = json.dumps(json.loads(zlib.decompress(bytes(blob))), indent=2)
            store.db.execute("UPDATE runs SET report = ? WHERE id = ?",
                             (zlib.compress(text.encode()), run_id))  # fmt: skip
    assert listed() == before


def test_report_run_reads_the_stored_hosts_one_at_a_time(
    store_path: str, store_at: StoreLocation, tmp_path: Path
) -> None:
    """`report --run` renders a stored run with its hosts read one at a time from the
    decompressed blob (a SpooledRows), not its whole report decoded (issue 14): every file
    byte for byte what the whole decoded report gives, and a blob of another layout (stored
    by an older auditor as one JSON text) is decoded whole."""
    from auditor.report import write_report_data
    from auditor.spool import SpooledRows, plain

    code, _, err = invoke(report, "--run", "latest", "--store", store_path,
                          "--out", str(tmp_path / "spooled"), "-q")  # fmt: skip
    assert code == 0, err
    with open_store(store_at, readonly=True) as store:
        whole = store.get_run("latest").report
        spooled = store.get_run("latest", spooled=True).report
    assert isinstance(spooled["hosts"], SpooledRows) and len(spooled["hosts"]) > 2
    assert plain(spooled) == plain(whole)
    write_report_data(whole, tmp_path / "whole")
    for name in ("report.json", "index.html", "hosts.csv", "summary.md"):
        made = (tmp_path / "spooled" / name).read_bytes()
        assert made == (tmp_path / "whole" / name).read_bytes(), name
    with open_store(store_at) as store, store.db.transaction():
        store.db.execute("UPDATE runs SET report = ?",
                         (zlib.compress(json.dumps(plain(whole)).encode()),))  # fmt: skip
    with open_store(store_at, readonly=True) as store:
        older = store.get_run("latest", spooled=True).report
    assert isinstance(older["hosts"], list) and older == plain(whole)


def test_history_of_one_host(store_path: str) -> None:
    code, out, _ = invoke(history, "--store", str(store_path), "--host", "ip:10.250.77.13",
                          "--json")
    assert code == 0
    data = json.loads(out)
    assert [r["status"] for r in data["runs"]] == ["managed", "unmanaged"]
    code, out, err = invoke(history, "--store", str(store_path), "--host", "ip:1.2.3.4")
    assert code == 2 and "in no stored run" in err


def test_diff_defaults_to_the_last_two_runs(store_path: str) -> None:
    code, out, _ = invoke(diff, "--store", str(store_path), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["from"].endswith("aaaaaa") and data["to"].endswith("bbbbbb")
    assert {h["label"] for h in data["new_hosts"]} == {"edge-proxy", HOSTILE}
    assert [h["label"] for h in data["gone_hosts"]] == ["tmp-test"]
    code, out, _ = invoke(diff, "latest", "latest~1", "--store", str(store_path))
    assert code == 0 and "gone" in out and HOSTILE in out  # printed as text, not markup
    code, out, _ = invoke(diff, "latest", "latest", "--store", str(store_path))
    assert code == 0 and "no changes" in out


def test_report_rerenders_a_stored_run(store_path: str, tmp_path: Path) -> None:
    out_dir = tmp_path / "again"
    code, out, _ = invoke(report, "--run", "latest~1", "--store", str(store_path),
                          "-o", str(out_dir))
    assert code == 0 and "html report" in out
    assert {p.name for p in out_dir.iterdir() if not p.name.startswith(".")} == {
        "report.json", "index.html", "hosts.csv", "summary.md"}
    data = json.loads((out_dir / "report.json").read_text())
    validate_report(data)
    assert data["run"]["id"].endswith("aaaaaa")
    # the stored data is what the run wrote (plus the changes the store computed)
    original = json.loads(json.dumps(run_to_dict(fleet(previous=True))))
    assert {k: v for k, v in data.items() if k != "changes"} == {
        k: v for k, v in original.items() if k != "changes"}


def test_store_from_config_and_usage_errors(store_path: str, tmp_path: Path) -> None:
    config = tmp_path / "audit.toml"
    config.write_text(f'[audit]\nstore = "{store_path}"\nreports = "{tmp_path / "rep"}"\n')
    code, _, _ = invoke(report, "-c", str(config), "-q")
    assert code == 0 and (tmp_path / "rep" / "index.html").exists()
    code, _, err = invoke(history)
    assert code == 2 and "--store PATH or --config FILE" in err
    code, _, err = invoke(diff, "nope", "--store", str(store_path))
    assert code == 2 and "no run 'nope'" in err
    code, _, err = invoke(history, "--store", str(tmp_path / "missing.sqlite"))
    assert code == 3 and "no history store" in err
    bare = tmp_path / "bare.toml"
    bare.write_text("[audit]\n")
    code, _, err = invoke(history, "-c", str(bare))
    assert code == 2 and "has no 'store'" in err


def test_format_json_is_the_document_alone_on_stdout(store_path: str) -> None:
    # For jq: stdout parses as one JSON document, for every shape of both commands.
    for command, args in ((history, ()), (history, ("--host", "ip:10.250.77.13")),
                          (diff, ()), (diff, ("latest", "latest"))):  # fmt: skip
        code, out, err = invoke(command, *args, "--store", str(store_path), "--format", "json")
        assert code == 0, err
        json.loads(out)
    code, out, _ = invoke(diff, "--store", str(store_path), "--format", "text")
    assert code == 0 and out.startswith("diff ")
    code, _, err = invoke(history, "--store", str(store_path), "--format", "yaml")
    assert code == 2 and "yaml" in err
