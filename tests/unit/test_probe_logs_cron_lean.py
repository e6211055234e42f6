"""The lean /var/log listing and cron tables: what they print, and how few processes.

The log listing is `find | awk` (no `sort`, no `timeout`): the awk keeps the newest `max`
rows itself, so its pick is checked against `sort -rn | head -n max` on real `find` and
BusyBox `find -exec stat` output of a tree much bigger than `max`, under every awk here.
The cron tables are read by the shell's own `read` loop (no process), checked against the
awk it replaced under dash, BusyBox ash and `bash --posix`.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from auditor.probe import ProbeOptions, build_script, split_output
from auditor.probe.facts import CronFact, LogActivityFact
from auditor.probe.facts.log_activity import AWK_CAP, RAW_LISTING_BYTES
from auditor.probe.interface import ParseContext, ProbeFact
from auditor.probe.parsers.clock import from_epoch
from auditor.probe.parsers.cron import parse_cron_lines
from auditor.probe.parsers.logfiles import parse_stat_listing
from auditor.probe.sections import Part, Section
from tests.unit.test_probe_golden import available_awks

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "probe"
AWKS = available_awks()
BUSYBOX = shutil.which("busybox")
SHELLS = {
    "dash": ["/bin/sh"],
    "busybox-ash": [BUSYBOX or "busybox", "sh"],
    "bash-posix": [shutil.which("bash") or "bash", "--posix"],
}
ENV = {"LC_ALL": "C", "PATH": "/usr/bin:/bin"}
TREE_FILES = 4000  # >> max: the awk has to throw rows away, many times over with a small max


def awk_id(implementation: list[str]) -> str:
    return " ".join([Path(implementation[0]).name, *implementation[1:]])


@pytest.fixture(params=AWKS, ids=awk_id)
def impl(request: pytest.FixtureRequest) -> list[str]:
    return list(request.param)


@pytest.fixture(params=list(SHELLS), ids=list(SHELLS))
def shell(request: pytest.FixtureRequest) -> list[str]:
    if request.param == "busybox-ash" and BUSYBOX is None:
        pytest.skip("busybox is not installed")
    return SHELLS[request.param]


def cap(implementation: list[str], listing: str, max_files: int) -> list[str]:
    """The probe's awk over a listing: its output lines."""
    done = subprocess.run(
        [*implementation, "-v", f"max={max_files}", AWK_CAP],
        input=listing.encode(),
        capture_output=True,
        env=ENV,
        timeout=120,
        check=True,
    )
    return done.stdout.decode().split("\n")[:-1]


def newest(listing: str, max_files: int) -> list[str]:
    """What the awk must print for the rows of `listing`: the newest `max_files`, ties to
    the row found first, in the order they were found."""
    rows = [line for line in listing.split("\n") if line[:1].isdigit()]
    order = sorted(range(len(rows)), key=lambda i: (-float(rows[i].split(" ", 1)[0]), i))
    return [rows[i] for i in sorted(order[:max_files])]


def path_of(row: str) -> str:
    return row.split(" ", 2)[2]


# --------------------------------------------------------------------- a big real tree


@pytest.fixture(scope="module")
def log_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TREE_FILES files in nested directories, written in an order unrelated to their
    mtimes, which are a quarter second apart (distinct for `%T@`, four to a second for
    stat's `%Y`)."""
    root = tmp_path_factory.mktemp("varlog")
    shuffle = random.Random(7)
    slots = list(range(TREE_FILES))
    shuffle.shuffle(slots)
    base = 1_700_000_000
    for i, slot in enumerate(slots):
        directory = root / f"app{i % 23}" / f"sub{i % 5}"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"file{i}.log"
        path.write_bytes(b"x" * (i % 97))
        mtime_ns = base * 10**9 + slot * 250_000_000
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return root


def gnu_find(root: Path) -> str:
    done = subprocess.run(
        ["find", str(root), "-xdev", "-type", "f", "-printf", "%T@ %s %p\n"],
        capture_output=True,
        env=ENV,
        check=True,
    )
    return done.stdout.decode()


def sort_head(listing: str, max_files: int) -> set[str]:
    """The paths the old pipeline kept: `sort -rn | head -n max`."""
    done = subprocess.run(
        f"sort -rn | head -n {max_files}",
        shell=True,
        input=listing.encode(),
        capture_output=True,
        env=ENV,
        check=True,
    )
    return {path_of(row) for row in done.stdout.decode().split("\n") if row}


@pytest.mark.parametrize("max_files", [500, 7])
def test_find_printf_newest_match_sort_head(
    impl: list[str], log_tree: Path, max_files: int
) -> None:
    listing = gnu_find(log_tree)
    out = cap(impl, listing, max_files)
    assert out[-1] == f"# files {TREE_FILES} errors 0"
    rows = out[:-1]
    assert len(rows) == max_files
    assert {path_of(r) for r in rows} == sort_head(listing, max_files)
    assert rows == newest(listing, max_files)


@pytest.mark.skipif(BUSYBOX is None, reason="busybox is not installed")
@pytest.mark.parametrize("max_files", [500, 7])
def test_busybox_stat_newest_with_ties(impl: list[str], log_tree: Path, max_files: int) -> None:
    """BusyBox `find -exec stat -c '%Y %s %n' {} +`: whole seconds, so four files share
    each mtime and the cut falls inside a tie."""
    assert BUSYBOX is not None
    listing = subprocess.run(
        [BUSYBOX, "find", str(log_tree), "-xdev", "-type", "f", "-exec", BUSYBOX, "stat", "-c",
         "%Y %s %n", "{}", "+"],
        capture_output=True,
        env=ENV,
        check=True,
    ).stdout.decode()  # fmt: skip
    out = cap(impl, listing, max_files)
    assert out[-1] == f"# files {TREE_FILES} errors 0"
    rows = out[:-1]
    assert rows == newest(listing, max_files)
    cut = min(int(r.split()[0]) for r in rows)
    newer = {path_of(r) for r in listing.split("\n") if r and int(r.split()[0]) > cut}
    assert newer <= {path_of(r) for r in rows}
    assert len(rows) == max_files > len(newer)  # the cut is inside a tie


@pytest.mark.parametrize("order", ["ascending", "descending", "all equal", "three values"])
def test_awkward_orders_stay_linear(impl: list[str], order: str) -> None:
    """Orders where every row beats the ones before it (ascending: find over dated log
    names), or nothing can be thrown away early; the subprocess timeout would catch a
    quadratic pick."""
    count = 30_000
    shuffle = random.Random(11)
    times = sorted(1_700_000_000 + shuffle.randrange(10**9) / 1000 for _ in range(count))
    if order == "descending":
        times.reverse()
    elif order == "all equal":
        times = [1_700_000_000.5] * count
    elif order == "three values":
        times = [1_700_000_000 + i % 3 for i in range(count)]
    listing = "".join(f"{t:.10f} {i % 1000} /var/log/app/f{i}.log\n" for i, t in enumerate(times))
    out = cap(impl, listing + "find: '/var/log/secret': Permission denied\n", 500)
    assert out[-2:] == ["! find: '/var/log/secret': Permission denied", f"# files {count} errors 1"]
    assert out[:-2] == newest(listing, 500)


def test_few_files_all_listed_and_complaints_capped(impl: list[str]) -> None:
    complaints = [f"find: '/var/log/d{i}': Permission denied" for i in range(25)]
    lines = ["5 50 /var/log/e", "1 10 /var/log/a", *complaints[:10], "3 30 /var/log/c"]
    out = cap(impl, "\n".join([*lines, *complaints[10:]]) + "\n", 500)
    assert out == [
        "5 50 /var/log/e",
        "1 10 /var/log/a",
        "3 30 /var/log/c",
        *(f"! {c}" for c in complaints[:20]),
        "# files 3 errors 25",
    ]


def test_busybox_find_without_printf(impl: list[str]) -> None:
    """What the snippet looks for to fall back to `find -exec stat`."""
    out = cap(impl, "find: unrecognized: -printf\nBusyBox v1.36.1 multi-call binary.\n", 500)
    text = "\n".join(out)
    assert text.startswith("! ") and "printf" in text and "# files 0 errors " in text


# -------------------------------------------------- real output of this host, unsorted

RAW = FIXTURES / "logfiles" / "gnu_find_printf_unsorted_debian12.txt"
CAPPED = FIXTURES / "logfiles" / "gnu_find_printf_awk_newest8.txt"


def test_capped_fixture_is_the_awks_output(impl: list[str]) -> None:
    assert cap(impl, RAW.read_text(), 8) == CAPPED.read_text().split("\n")[:-1]


def context() -> ParseContext:
    return ParseContext(collected_at=datetime.now(UTC), log_days=7, owner_of=lambda _: None)


def test_unsorted_capped_listing_parsed_newest_first() -> None:
    raw = parse_stat_listing(RAW.read_text())
    listing = parse_stat_listing(CAPPED.read_text())
    assert listing.total == 11 and listing.truncated and len(listing.files) == 8
    # The newest 8, newest first. The 8th is one of four files of the same second: the awk
    # keeps the one find listed first, where the parser would order the four by path.
    assert listing.files[:7] == raw.files[:7]
    assert listing.files[7].path == "/var/log/faillog"
    assert listing.files[7].mtime == raw.files[7].mtime == from_epoch("1747699200")
    mtimes = [f.mtime for f in listing.files]
    assert mtimes == sorted(mtimes, reverse=True)
    assert {"/var/log/apt/history.log", "/var/log/apt/term.log"} <= {f.path for f in raw.files}
    update = LogActivityFact().parse(
        Section("logs", (Part("find", CAPPED.read_text()),)), context()
    )
    activity = update.values["log_activity"]
    assert activity.latest_write == from_epoch("1795917388.3176885850")
    assert activity.files == listing.files
    assert update.errors == {
        "log_activity.truncated": "11 files under /var/log; the newest 8 are listed"
    }


def test_parser_breaks_ties_by_path() -> None:
    text = "7 1 /var/log/b\n7 2 /var/log/a\n9 3 /var/log/c\n# files 3 errors 0\n"
    flipped = "\n".join(reversed(text.split("\n")[:3])) + "\n# files 3 errors 0\n"
    for listing in (parse_stat_listing(text), parse_stat_listing(flipped)):
        assert [f.path for f in listing.files] == ["/var/log/c", "/var/log/a", "/var/log/b"]
        assert listing.total == 3 and not listing.truncated


# ------------------------------------------------------------------ processes spent


def shim_dir(tmp_path: Path, log: Path) -> str:
    """Every command of this machine behind a wrapper that notes its name in `log`."""
    shims = tmp_path / "shims"
    shims.mkdir()
    for directory in (
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ):
        if not Path(directory).is_dir():
            continue
        for entry in Path(directory).iterdir():
            shim = shims / entry.name
            if shim.exists() or entry.is_dir() or not os.access(entry, os.X_OK):
                continue
            shim.write_text(f'#!/bin/sh\necho {entry.name} >>{log}\nexec {entry} "$@"\n')
            shim.chmod(0o755)
    return str(shims)


@pytest.fixture
def exec_log(tmp_path: Path) -> Path:
    log = tmp_path / "execs"
    log.touch()
    return log


def count_execs(
    tmp_path: Path, log: Path, facts: tuple[ProbeFact, ...]
) -> tuple[list[str], str, str]:
    """(commands the whole script ran, its stdout, its nonce), run as over SSH with only
    `facts` and every command behind a shim."""
    log.write_text("")
    path = str(tmp_path / "shims")
    if not Path(path).is_dir():
        shim_dir(tmp_path, log)
    options = ProbeOptions(search_path=(path,))
    done = subprocess.run(
        ["/bin/sh", "-s"],
        input=build_script(options, facts).encode(),
        capture_output=True,
        env={"PATH": path, "HOME": "/"},
        timeout=60,
        check=False,
    )
    stdout = done.stdout.decode("utf-8", errors="replace")
    return sorted(log.read_text().split()), stdout, options.nonce


def beyond(ran: list[str], skeleton: list[str]) -> list[str]:
    """The commands in `ran` that the script's skeleton alone does not run."""
    extra = list(ran)
    for name in skeleton:
        extra.remove(name)
    return extra


@dataclass(frozen=True)
class _SmallRawLogs(LogActivityFact):
    """The log fact with a 10-byte bound for a listing shipped whole: the awk path."""

    def snippet(self, options: ProbeOptions) -> str:
        text = super().snippet(options)
        bound = f"-le {RAW_LISTING_BYTES} ]"
        assert bound in text
        return text.replace(bound, "-le 10 ]")


@pytest.mark.skipif(shutil.which("find") is None, reason="needs GNU find")
def test_log_listing_runs_find_alone_and_awk_only_for_a_big_one(
    tmp_path: Path, exec_log: Path
) -> None:
    skeleton, _, _ = count_execs(tmp_path, exec_log, ())
    ran, stdout, nonce = count_execs(tmp_path, exec_log, (LogActivityFact(),))
    assert beyond(ran, skeleton) == ["find"]  # no awk, sort, timeout or stat
    section = split_output(stdout, nonce).section("logs")
    assert section is not None and section.names() == ("find-raw",)
    small = LogActivityFact().parse(section, context()).values["log_activity"]
    assert small is not None and small.files

    ran, stdout, nonce = count_execs(tmp_path, exec_log, (_SmallRawLogs(),))
    assert beyond(ran, skeleton) == ["awk", "find"]  # over the bound: the awk cuts it
    section = split_output(stdout, nonce).section("logs")
    assert section is not None and section.names() == ("find",)
    big = LogActivityFact().parse(section, context()).values["log_activity"]
    assert big is not None
    # The same listing either way (files written in between aside: compare the older ones).
    settled = datetime.now(UTC) - timedelta(seconds=5)
    assert [f for f in big.files if f.mtime < settled][:50] == [
        f for f in small.files if f.mtime < settled
    ][:50]


def test_cron_tables_run_no_process(tmp_path: Path, exec_log: Path) -> None:
    skeleton, _, _ = count_execs(tmp_path, exec_log, ())
    ran, stdout, nonce = count_execs(tmp_path, exec_log, (CronFact(),))
    assert beyond(ran, skeleton) == []
    section = split_output(stdout, nonce).section("cron")
    assert section is not None and section.names() == ("tables",)
    assert CronFact().parse(section, context()).values["cron"] is not None


# --------------------------------------------------------------------- cron tables

# The awk the loop replaced: its output is what the loop must print.
OLD_CRON_AWK = 'NF && $1 !~ /^#/ && ++n <= MAXL { print FILENAME "\\t" $0 }'

CRONTAB = (
    b"# /etc/crontab: system-wide crontab\n"
    b"SHELL=/bin/sh\n"
    b"\n"
    b"   \t \n"
    b"\t# indented comment\n"
    b"  # another\n"
    b"17 *\t* * *\troot\tcd / && run-parts --report /etc/cron.hourly\n"
    b"  25 6 * * * root   test -x /usr/sbin/anacron || { cd / && run-parts /etc/cron.daily; }  \n"
    b'*/5 * * * * root echo "$(date +%s)" \\\\ back\\slash * ? [a] -n -e >/dev/null 2>&1\n'
    b"0 0 * * * root printf '%s\\n' caf\xe9 # not a comment\n"
    b"#\n"
    b"@reboot root /opt/app/start\r\n"
    b"# last line has no newline\n"
    b"52 6 1 * * root /usr/local/bin/monthly"
)


def cron_tree(root: Path) -> tuple[tuple[str, ...], list[Path]]:
    """Tables to read (glob patterns, for CronFact) and the files they stand for, in the
    order the shell globs them."""
    (root / "crontab").write_bytes(CRONTAB)
    crond = root / "cron.d"
    crond.mkdir()
    (crond / "e2scrub_all").write_bytes(
        b"30 3 * * 0 root test -e /run/systemd/system || SERVICE_MODE=1 /usr/lib/x/e2scrub_all_cron\n"
        b"10 3 * * * root test -e /run/systemd/system || SERVICE_MODE=1 /sbin/e2scrub_all -A -r\n"
    )
    (crond / "my job").write_bytes(b"# with a space in its name\n* * * * * nobody true\n")
    (crond / "empty").write_bytes(b"")
    (crond / "only-comments").write_bytes(b"# nothing\n\n   # at all\n")
    (crond / ".placeholder").write_bytes(b"* * * * * root hidden\n")  # `*` skips dot files
    (crond / "subdir").mkdir()
    (crond / "link").symlink_to(root / "crontab")
    spool = root / "spool"
    spool.mkdir()
    (spool / "www-data").write_bytes(b"# DO NOT EDIT\n0 * * * * /var/www/cron.php\n")
    tables = (f"{root}/crontab", f"{root}/anacrontab", f"{crond}/*", f"{spool}/*")
    files = [root / "crontab"]
    files += sorted(p for p in crond.iterdir() if p.is_file() and not p.name.startswith("."))
    files += sorted(spool.iterdir())
    return tables, files


def old_awk(files: list[Path], max_lines: int) -> bytes:
    awk = shutil.which("mawk") or "awk"
    program = OLD_CRON_AWK.replace("MAXL", str(max_lines))
    done = subprocess.run(
        [awk, program, *map(str, files)], capture_output=True, env=ENV, check=True
    )
    return done.stdout


def cron_part(shell: list[str], fact: CronFact) -> Part:
    options = ProbeOptions()
    done = subprocess.run(
        [*shell, "-s"],
        input=build_script(options, (fact,)).encode(),
        capture_output=True,
        env={"PATH": "/usr/bin:/bin", "HOME": "/"},
        timeout=60,
        check=False,
    )
    section = split_output(done.stdout.decode("utf-8", errors="replace"), options.nonce).section(
        "cron"
    )
    assert section is not None, done.stderr
    part = section.get("tables")
    assert part is not None and part.ok, done.stderr
    return part


@pytest.mark.parametrize("max_lines", [2000, 4])
def test_cron_read_loop_prints_what_the_awk_did(
    shell: list[str], tmp_path: Path, max_lines: int
) -> None:
    tables, files = cron_tree(tmp_path)
    part = cron_part(shell, CronFact(tables=tables, max_lines=max_lines))
    ours = [line for line in part.lines if line.startswith(f"{tmp_path}/")]
    expected = old_awk(files, max_lines).decode("utf-8", errors="replace").split("\n")[:-1]
    assert ours == expected
    assert len(expected) == (4 if max_lines == 4 else 18)
    assert parse_cron_lines("\n".join(ours)) == parse_cron_lines("\n".join(expected))
    run_parts = [line for line in part.lines if line not in ours]
    assert all(line.startswith("/etc/cron.") or not line for line in run_parts), run_parts


def test_cron_entries_parsed(tmp_path: Path) -> None:
    tables, _ = cron_tree(tmp_path)
    fact = CronFact(tables=tables)
    update = fact.parse(Section("cron", (cron_part(SHELLS["dash"], fact),)), context())
    entries = [e for e in update.values["cron"] if e.startswith(str(tmp_path))]
    assert f"{tmp_path}/cron.d/my job: * * * * * nobody true" in entries
    assert f"{tmp_path}/crontab: 52 6 1 * * root /usr/local/bin/monthly" in entries
    assert f"{tmp_path}/crontab: @reboot root /opt/app/start" in entries
    texts = [e.split(": ", 1)[1] for e in entries]
    assert not any(t.startswith("#") or "hidden" in t or t.startswith("SHELL=") for t in texts)
    assert update.errors == {}


def test_cron_tables_must_be_plain_paths() -> None:
    with pytest.raises(ValueError, match="plain absolute paths"):
        CronFact(tables=("/etc/cron.d/*; reboot",)).snippet(ProbeOptions())


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv"
)
def test_unreadable_table_is_a_complaint() -> None:
    """A table the shell may not read (as a login user) is said, not silently skipped."""
    root = Path(tempfile.mkdtemp(prefix="auditor-cron-"))
    try:
        root.chmod(0o755)
        (root / "open").write_bytes(b"* * * * * root open\n")
        (root / "closed").write_bytes(b"* * * * * root closed\n")
        (root / "closed").chmod(0o600)
        fact = CronFact(tables=(f"{root}/*",))
        options = ProbeOptions()
        done = subprocess.run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/bin/sh", "-s"],
            input=build_script(options, (fact,)).encode(),
            capture_output=True,
            env={"PATH": "/usr/bin:/bin", "HOME": "/"},
            timeout=60,
            check=False,
        )
        section = split_output(done.stdout.decode(), options.nonce).section("cron")
        assert section is not None, done.stderr
        update = fact.parse(section, context())
        assert f"{root}/open: * * * * * root open" in update.values["cron"]
        assert update.errors["cron.read"] == f"cannot read {root}/closed"
    finally:
        shutil.rmtree(root)


# ------------------------------------------------------------- a listing shipped whole

RAW_NONROOT = FIXTURES / "logfiles" / "gnu_find_printf_raw_nonroot_debian12.txt"  # find's own output


def test_find_output_shipped_whole_parses_newest_first_with_its_complaints() -> None:
    text = RAW_NONROOT.read_text()
    rows = [line for line in text.splitlines() if line[:1].isdigit()]
    listing = parse_stat_listing(text, raw=True)
    assert len(listing.files) == len(rows) == listing.total and not listing.truncated
    assert [f.mtime for f in listing.files] == sorted((f.mtime for f in listing.files), reverse=True)
    assert listing.errors == ("find: '/var/log/private': Permission denied",)
    capped = parse_stat_listing(text, raw=True, limit=3)
    assert capped.files == listing.files[:3]
    assert capped.total == len(rows) and capped.truncated
