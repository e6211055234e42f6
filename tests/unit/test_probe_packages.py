"""Which package installed each program (issue 12, part 4).

- The parser: package/... parts -> Package, None (hand-installed) or UnknownPackage, for
  dpkg (usrmerge aliases), rpm (answers lined up with the question, or none trusted), apk,
  no package manager, failures. Golden files of the tools' real output are in
  tests/fixtures/probe/packages (test_probe_golden runs them).
- The snippet, for real, on this machine (Debian: dpkg's lists) through dash, BusyBox ash and
  bash --posix: the answers agree with `dpkg-query -S`; and each other branch (rpm, an apk
  database, none at all) with the script pointed elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditor.model import Package, UnknownPackage
from auditor.probe import ProbeOptions, build_script, parse_probe_output, split_output
from auditor.probe.facts import SoftwareFact
from auditor.probe.facts.software import AWK_DPKG, version_runs
from auditor.probe.parsers.packages import (
    NO_PACKAGE_MANAGER,
    PackageAnswer,
    package_answers,
    parse_rpm_answers,
    usrmerge_alias,
)
from auditor.probe.sections import Part, Section
from tests.unit.probe_run import (
    AWKS,
    SHELLS,
    awk_id,
    program_names,
    run_script,
    traced_execs,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "probe" / "packages"
IS_ROOT = os.geteuid() == 0
HAS_DPKG = Path("/var/lib/dpkg/info").is_dir() and shutil.which("dpkg-query") is not None


def _parts(**texts: tuple[int | None, str]) -> list[Part]:
    return [
        Part("package/" + name.replace("_", "-"), text, status)
        for name, (status, text) in texts.items()
    ]


QUERY = (
    0,
    "/usr/bin/python3\t/usr/bin/python3.11\n/bin/dash\t/usr/bin/dash\n/opt/x/bin/nginx\t/opt/x/bin/nginx",
)


# ------------------------------------------------------------------ the parser


def test_dpkg_answers_by_resolved_path_and_usrmerge_alias() -> None:
    answers = package_answers(
        _parts(
            query=QUERY,
            dpkg=(0, (FIXTURES / "dpkg_lists_debian12.txt").read_text()),
            dpkg_query=(0, (FIXTURES / "dpkg_query_debian12.txt").read_text()),
        )
    )
    assert answers == {
        # python3 is a symlink: the file it leads to is what the package owns.
        "/usr/bin/python3": Package("dpkg", "python3.11-minimal", "3.11.2-6+deb12u6"),
        # dpkg lists dash as /bin/dash; the program resolved to /usr/bin/dash.
        "/bin/dash": Package("dpkg", "dash", "0.5.12-2"),
        "/opt/x/bin/nginx": None,
    }


def test_dpkg_without_versions_still_names_the_package() -> None:
    answers = package_answers(
        _parts(query=QUERY, dpkg=(0, "dash.list:/bin/dash\n"), dpkg_query=(127, ""))
    )
    assert answers["/bin/dash"] == Package("dpkg", "dash", None)
    assert answers["/usr/bin/python3"] is None


def test_a_symlink_a_package_owns_does_not_vouch_for_the_file_it_leads_to() -> None:
    """/usr/bin/python3 (python3-minimal's link) -> a hand-built /usr/local python: the
    program is hand-installed."""
    answers = package_answers(
        _parts(
            query=(0, "/usr/bin/python3\t/usr/local/bin/python3.12"),
            dpkg=(0, "python3-minimal.list:/usr/bin/python3\n"),
        )
    )
    assert answers == {"/usr/bin/python3": None}


@pytest.mark.parametrize(
    ("status", "text", "reason"),
    [
        (2, "", "grep over /var/lib/dpkg/info/*.list failed (exit status 2)"),
        (126, "sh: grep: Argument list too long", "failed (exit status 126): sh: grep"),
        (None, "dash.list:/bin/da", "was cut off"),
    ],
)
def test_a_failed_dpkg_query_is_unknown_not_hand_installed(
    status: int | None, text: str, reason: str
) -> None:
    answers = package_answers(_parts(query=QUERY, dpkg=(status, text)))
    assert len(answers) == 3
    for answer in answers.values():
        assert isinstance(answer, UnknownPackage) and reason in answer.unknown


def test_rpm_answers_line_up_with_the_question() -> None:
    text = (FIXTURES / "rpm_qf_packaged_and_not_owned.txt").read_text()
    query = "/usr/bin/openssl\t/usr/bin/openssl\n/usr/bin/python\t/usr/bin/python3.11\n/usr/bin/ssh\t/usr/bin/ssh"
    answers = package_answers(_parts(query=(0, query), rpm=(1, text)))
    assert answers == {
        "/usr/bin/openssl": Package("rpm", "openssl", "1.0.2k-26.el7_9"),
        "/usr/bin/python": None,
        "/usr/bin/ssh": Package("rpm", "openssh-clients", "7.4p1-23.el7_9"),
    }


def test_rpm_multilib_owners_of_one_file_are_one_answer() -> None:
    text = "openssl\t1.0.2k-26.el7_9\tx86_64\nopenssl\t1.0.2k-26.el7_9\ti686\nfile /usr/bin/b is not owned by any package\n"
    assert parse_rpm_answers(["/usr/bin/a", "/usr/bin/b"], text) == {
        "/usr/bin/a": Package("rpm", "openssl", "1.0.2k-26.el7_9"),
        "/usr/bin/b": None,
    }


@pytest.mark.parametrize(
    "text",
    [
        # a file vanished between finding and asking: rpm said nothing on stdout for it
        "openssl\t1.0.2k-26.el7_9\tx86_64\n",
        # two different packages own the first file: which line is whose?
        "a\t1-1\tx86_64\nb\t1-1\tx86_64\nfile /usr/bin/b is not owned by any package\nc\t1-1\tx86_64\n",
        # the not-owned line names another file
        "file /usr/bin/z is not owned by any package\nfile /usr/bin/b is not owned by any package\n",
        "error: rpmdb: BDB0113 Thread/process 1234 failed\n",
    ],
)
def test_rpm_answers_that_do_not_line_up_are_not_trusted(text: str) -> None:
    assert parse_rpm_answers(["/usr/bin/a", "/usr/bin/b"], text) is None
    answers = package_answers(
        _parts(query=(0, "/usr/bin/a\t/usr/bin/a\n/usr/bin/b\t/usr/bin/b"), rpm=(1, text))
    )
    assert all(isinstance(a, UnknownPackage) for a in answers.values()), answers


def test_rpm_that_could_not_open_its_database_is_unknown() -> None:
    answers = package_answers(_parts(query=(0, "/usr/bin/a\t/usr/bin/a"), rpm=(1, "")))
    assert answers == {"/usr/bin/a": UnknownPackage("rpm -qf failed (exit status 1)")}


def test_no_package_manager_and_a_cut_off_query() -> None:
    assert package_answers(_parts(query=QUERY, none=(0, ""))) == dict.fromkeys(
        ("/usr/bin/python3", "/bin/dash", "/opt/x/bin/nginx"), NO_PACKAGE_MANAGER
    )
    cut = package_answers(_parts(query=QUERY))
    assert cut["/bin/dash"] == UnknownPackage("the package query was cut off")
    assert package_answers([Part("nginx", "x")]) == {}  # nothing asked


def test_usrmerge_alias() -> None:
    assert usrmerge_alias("/usr/bin/ssh") == "/bin/ssh"
    assert usrmerge_alias("/usr/sbin/sshd") == "/sbin/sshd"
    assert usrmerge_alias("/usr/local/bin/x") is None
    assert usrmerge_alias("/opt/bin/x") is None


# ------------------------------------------------------------------ the snippet, for real


def _probe(
    shell: list[str], search: list[str], edits: dict[str, str] | None = None
) -> tuple[dict[str, PackageAnswer], Section]:
    """The software fact alone over `search`, the script edited as `edits` says; the
    package of every program found, by path."""
    options = ProbeOptions(search_path=tuple(search))
    script = build_script(options, (SoftwareFact(),))
    for old, new in (edits or {}).items():
        assert old in script
        script = script.replace(old, new)
    done = run_script(shell, script, path="/usr/bin:/bin")
    assert done.stderr == b"", done.stderr
    stdout = done.stdout.decode()
    section = split_output(stdout, options.nonce).section("software") or Section("software")
    facts = parse_probe_output(
        stdout, options.nonce, collected_at=datetime.now(UTC), log_days=7,
        owner_of=lambda address: None, facts=(SoftwareFact(),),
    )  # fmt: skip
    return {s.path or "": s.package for s in facts.software or ()}, section


def _dpkg_owner(path: str) -> Package | None:
    """What dpkg itself says (`dpkg-query -S`, then `-W`), for comparison."""
    real = os.path.realpath(path)
    for candidate in (real, usrmerge_alias(real)):
        if candidate is None:
            continue
        done = subprocess.run(
            ["dpkg-query", "-S", candidate], capture_output=True, text=True, check=False
        )
        if done.returncode == 0:
            name = done.stdout.split(":", 1)[0].split(",")[0].strip()
            version = subprocess.run(
                ["dpkg-query", "-W", "-f", "${Version}", name],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            return Package("dpkg", name, version)
    return None


@pytest.fixture
def hand_installed(tmp_path: Path) -> Path:
    program = tmp_path / "opt" / "nginx" / "sbin" / "nginx"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\necho 'nginx version: nginx/1.25.99'\n")
    program.chmod(0o755)
    return program


@pytest.mark.skipif(not IS_ROOT or not HAS_DPKG, reason="needs root (programs run) and dpkg")
@pytest.mark.parametrize("shell", sorted(SHELLS), ids=str)
def test_on_debian_the_packages_are_dpkg_s_and_a_hand_installed_one_is_null(
    shell: str, hand_installed: Path
) -> None:
    sh = SHELLS[shell]
    if shutil.which(sh[0]) is None:
        pytest.skip(f"{shell} is not installed")
    found, section = _probe(sh, ["/usr/bin", str(hand_installed.parent)])
    assert found[str(hand_installed)] is None
    packaged = {path: answer for path, answer in found.items() if path.startswith("/usr/bin/")}
    assert packaged, found  # ssh, openssl, python3: Debian's own
    for path, answer in packaged.items():
        assert answer == _dpkg_owner(path), path
    # What the cache keeps: each run with its answer.
    kept = {run.path: run.package for run in version_runs(section)}
    assert kept[str(hand_installed)] is None
    assert all(kept[path] == answer for path, answer in packaged.items() if path in kept)


NOWHERE = "/nonexistent/auditor-test"


@pytest.mark.skipif(not IS_ROOT, reason="the programs must be owned by root to run")
@pytest.mark.parametrize("shell", sorted(SHELLS), ids=str)
def test_the_other_branches_rpm_apk_and_none(shell: str, hand_installed: Path) -> None:
    sh = SHELLS[shell]
    if shutil.which(sh[0]) is None:
        pytest.skip(f"{shell} is not installed")
    search = ["/usr/bin", str(hand_installed.parent)]
    openssl = "/usr/bin/openssl"
    if not Path(openssl).exists():
        pytest.skip("no openssl here")
    no_dpkg = {"-d /var/lib/dpkg/info": f"-d {NOWHERE}"}

    # No package manager at all: unknown, not hand-installed.
    none = {
        **no_dpkg,
        "-d /var/lib/rpm": f"-d {NOWHERE}",
        "-r /lib/apk/db/installed": f"-r {NOWHERE}",
    }
    found, _ = _probe(sh, search, none)
    assert found[str(hand_installed)] == NO_PACKAGE_MANAGER
    assert found[openssl] == NO_PACKAGE_MANAGER

    # An apk database (the golden one, where openssl 3.1.4-r5 owns /usr/bin/openssl).
    apk_db = str(FIXTURES / "apk_installed_alpine318.txt")
    apk = {
        **no_dpkg,
        "-d /var/lib/rpm": f"-d {NOWHERE}",
        "-r /lib/apk/db/installed": f"-r {apk_db}",
        " /lib/apk/db/installed 2>/dev/null": f" {apk_db} 2>/dev/null",
    }
    found, _ = _probe(sh, search, apk)
    assert found[openssl] == Package("apk", "openssl", "3.1.4-r5")
    assert found[str(hand_installed)] is None

    # rpm (Debian's, with its empty database): everything is "not owned".
    if shutil.which("rpm") is None or not Path("/var/lib/rpm").is_dir():
        return
    found, _ = _probe(sh, search, no_dpkg)
    assert found[str(hand_installed)] is None
    assert found[openssl] is None


@pytest.mark.skipif(not IS_ROOT or not HAS_DPKG, reason="needs root (programs run) and dpkg")
def test_a_warm_run_asks_nothing_and_keeps_the_answers(hand_installed: Path) -> None:
    """The version cache keeps each run's package answer: handed back as known, unchanged
    programs are neither run nor asked about, and the facts say the same."""
    search = ["/usr/bin", str(hand_installed.parent)]
    cold_found, cold = _probe(SHELLS["dash"], search)
    learned = version_runs(cold)
    options = ProbeOptions(
        search_path=tuple(search), known_versions=tuple((r.path, r.identity) for r in learned)
    )
    done = run_script(
        SHELLS["dash"], build_script(options, (SoftwareFact(),)), path="/usr/bin:/bin"
    )
    stdout = done.stdout.decode()
    warm = split_output(stdout, options.nonce).section("software") or Section("software")
    assert not [p.name for p in warm.parts if p.name.startswith("package/")]
    facts = parse_probe_output(
        stdout, options.nonce, collected_at=datetime.now(UTC), log_days=7,
        owner_of=lambda address: None, facts=(SoftwareFact(),),
        cached_versions={r.path: r for r in learned},
    )  # fmt: skip
    warm_found = {s.path or "": s.package for s in facts.software or ()}
    assert warm_found == cold_found
    assert warm_found[str(hand_installed)] is None


@pytest.mark.skipif(not IS_ROOT or not HAS_DPKG, reason="needs root (programs run) and dpkg")
def test_a_dpkg_database_that_does_not_list_dpkg_is_not_the_system_s(hand_installed: Path) -> None:
    """dpkg installed on an rpm system (EPEL's dpkg on RHEL) has a /var/lib/dpkg of its own:
    it is not asked what the system's packages are; rpm (or whatever comes next) is."""
    search = ["/usr/bin", str(hand_installed.parent)]
    # This machine's dpkg lists itself; pretend it does not, as on such a RHEL box.
    sentinel = '*"${NL}dpkg.list:/usr/bin/dpkg$NL"*'
    _, section = _probe(SHELLS["dash"], search, {sentinel: '*"${NL}nobody.list:/nothing$NL"*'})
    names = {p.name for p in section.parts if p.name.startswith("package/")}
    assert "package/dpkg" not in names
    assert names & {"package/rpm", "package/apk", "package/none"}, names
    # ... while this machine's own dpkg is asked.
    _, section = _probe(SHELLS["dash"], search)
    assert "package/dpkg" in {p.name for p in section.parts}


@pytest.mark.skipif(not HAS_DPKG, reason="needs dpkg")
@pytest.mark.parametrize("awk", AWKS, ids=awk_id)
def test_the_status_file_awk_says_what_dpkg_query_says(awk: list[str]) -> None:
    """For every package this machine's dpkg lists files of (names as the .list files spell
    them, `libssl3:amd64` too), the awk over /var/lib/dpkg/status prints the lines of
    `dpkg-query -W -f '${Package} ${Version} ${Architecture}\\n'`, in the same order."""
    names = sorted(p.name[: -len(".list")] for p in Path("/var/lib/dpkg/info").glob("*.list"))
    assert len(names) > 50
    fmt = "${Package} ${Version} ${Architecture}\\n"
    expected = subprocess.run(
        ["dpkg-query", "-W", "-f", fmt, *names], capture_output=True, text=True, check=True
    ).stdout
    got = subprocess.run(
        [*awk, "-v", f"want= {' '.join(names)} ", AWK_DPKG, "/var/lib/dpkg/status"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert got == expected
    # A few names only: just their lines.
    few = [n for n in names if n.startswith(("dpkg", "libc6", "openssl"))]
    got = subprocess.run(
        [*awk, "-v", f"want= {' '.join(few)} ", AWK_DPKG, "/var/lib/dpkg/status"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert (
        got
        == subprocess.run(
            ["dpkg-query", "-W", "-f", fmt, *few], capture_output=True, text=True, check=True
        ).stdout
    )


@pytest.mark.skipif(not IS_ROOT or not HAS_DPKG, reason="needs root (programs run) and dpkg")
def test_with_dpkg_journal_entries_pending_dpkg_query_answers(
    hand_installed: Path, tmp_path: Path
) -> None:
    """Entries in /var/lib/dpkg/updates are not in the status file yet (dpkg was stopped):
    then dpkg-query, which reads them, gives the versions (the same answers here); without
    any, the awk alone does."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    journal = tmp_path / "updates"
    journal.mkdir()
    (journal / "0001").write_text("")
    options = ProbeOptions(search_path=("/usr/bin", str(hand_installed.parent)))
    script = build_script(options, (SoftwareFact(),))
    pending = script.replace("/var/lib/dpkg/updates/[0-9]*", f"{journal}/[0-9]*")
    assert pending != script
    bodies = []
    for text, asked in ((script, "awk"), (pending, "dpkg-query")):
        execs, stdout = traced_execs(
            ["/bin/sh", "-s"], text, tmp_path / "trace", env={"PATH": "/usr/bin:/bin", "HOME": "/"}
        )
        names = program_names(execs)
        assert asked in names and ({"awk", "dpkg-query"} - {asked}).isdisjoint(names), names
        section = split_output(stdout.decode(), options.nonce).section("software")
        assert section is not None
        part = section.get("package/dpkg-query")
        assert part is not None and part.status == 0 and part.body
        bodies.append(part.body)
    assert bodies[0] == bodies[1]
