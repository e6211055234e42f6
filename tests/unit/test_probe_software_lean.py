"""The software snippet's cheap paths, for real: `sh -s` with the script on stdin (dash,
BusyBox ash, `bash --posix`), fake programs in a temp dir, real processes in /proc.

- A run reports the program's identity (`stat -L`: dev ino size mtime ctime); handed back as
  known, an unchanged program is not run (its fake logs every run to a file the test reads),
  a `software/cache/hit` part stands for it, and the parser reads the kept output.
- A changed size, content or mtime runs it again; the owner/mode check still comes first.
- Running servers are found by the shell's walk of /proc/PID/comm plus one `tr` per
  command line (3 lowest pids per name), `ps | awk` only where /proc has no comm files.
- `stat -c` missing: the `find` owner check, no identities, programs run as before.
- ProbeOptions refuses known versions that could carry shell syntax.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditor.model import Facts
from auditor.probe import ProbeOptions, build_script, parse_probe_output, split_output
from auditor.probe.facts import SoftwareFact
from auditor.probe.facts.software import CACHE_HIT, STAT_FORMAT, cache_hits, version_runs
from auditor.probe.options import is_known_version
from auditor.probe.parsers.software import VersionRun
from auditor.probe.sections import Part, Section
from tests.unit.probe_run import (
    SHELLS,
    FactRun,
    busybox_dir,
    program_names,
    run_fact,
    traced_execs,
)

IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="the programs must be owned by root to run")


def _shell(name: str) -> list[str]:
    if shutil.which(SHELLS[name][0]) is None:
        pytest.skip(f"{name} is not installed")
    return SHELLS[name]


def _fake_program(path: Path, output: str, log: Path, mode: int = 0o755) -> Path:
    """A program printing `output` when run (whatever its arguments) that appends its own
    path to `log` first, so the test knows each time it ran."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho \"$0\" >>'{log}'\nprintf '%s\\n' '{output}'\n")
    path.chmod(mode)
    return path


def _runs_of(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def _identity(path: Path) -> str:
    st = path.stat()
    return f"{st.st_dev} {st.st_ino} {st.st_size} {int(st.st_mtime)} {int(st.st_ctime)}"


def _software(
    shell: Sequence[str],
    search: Sequence[Path],
    known: Sequence[VersionRun] = (),
    *,
    path: str = "/usr/bin:/bin",
    edit: tuple[str, str] | None = None,
) -> FactRun:
    """The software fact alone, run like the SSH session runs the probe, and parsed with
    `known` as the controller's cache."""
    options = ProbeOptions(
        search_path=tuple(str(p) for p in search),
        known_versions=tuple((run.path, run.identity) for run in known),
    )
    return run_fact(shell, options, SoftwareFact(), path=path, edit=edit, known=known)


def _versions(facts: Facts, name: str) -> set[str]:
    return {s.version for s in facts.software or () if s.name == name}


def _part_of(section: Section, program: Path) -> Part | None:
    """The version run part of `program` (parts are named by file name, not path)."""
    wanted = str(program)
    return next(
        (p for p in section.parts if p.body.split("\n", 1)[0].split("\t", 1)[0] == wanted), None
    )


def _part_paths(section: Section) -> set[str]:
    return {p.body.split("\n", 1)[0].split("\t", 1)[0] for p in section.parts}


# ------------------------------------------------------------------ the version cache


@needs_root
@pytest.mark.parametrize("shell", sorted(SHELLS), ids=str)
def test_a_known_unchanged_program_is_not_run_again(shell: str, tmp_path: Path) -> None:
    sh = _shell(shell)
    log = tmp_path / "ran"
    nginx = _fake_program(tmp_path / "bin" / "nginx", "nginx version: nginx/1.25.99", log)

    first = _software(sh, [nginx.parent])
    assert _runs_of(log) == [str(nginx)]
    part = first.section.get("nginx")
    assert part is not None and part.status == 0
    assert part.body.split("\n", 1)[0] == f"{nginx}\t{_identity(nginx)}"
    runs = [r for r in version_runs(first.section) if r.path == str(nginx)]
    # No package owns a file in a temp dir: hand-installed, asked once with the run.
    assert runs == [
        VersionRun(str(nginx), _identity(nginx), 0, "nginx version: nginx/1.25.99", None)
    ]
    assert _versions(first.facts, "nginx") == {"1.25.99"}

    second = _software(sh, [nginx.parent], runs)
    assert _runs_of(log) == [str(nginx)], "the unchanged program ran again"
    assert second.section.get("nginx") is None
    hit = second.section.get(CACHE_HIT)
    assert hit is not None and hit.body == f"{nginx}\t{_identity(nginx)}"
    assert (str(nginx), _identity(nginx)) in cache_hits(second.section)
    assert not [r for r in version_runs(second.section) if r.path == str(nginx)]
    assert _versions(second.facts, "nginx") == {"1.25.99"}
    assert not any(k.startswith(f"software:{nginx}") for k in second.facts.errors)

    # What the parser reports for a hit is the kept output, parsed again.
    kept = [VersionRun(str(nginx), _identity(nginx), 0, "nginx version: nginx/1.27.3")]
    third = _software(sh, [nginx.parent], kept)
    assert _runs_of(log) == [str(nginx)]
    assert _versions(third.facts, "nginx") == {"1.27.3"}


@needs_root
@pytest.mark.parametrize("shell", sorted(SHELLS), ids=str)
def test_a_warm_run_starts_only_stat_and_drops_other_names_of_a_cached_file(
    shell: str, tmp_path: Path
) -> None:
    """Everything known and unchanged (after a cold run taught the cache): one `stat`, no
    `readlink`, no `timeout`, nothing run; a second name of the same file (a symlink) is
    neither run nor called unsafe. This machine's own programs (postgres, a JDK read from
    its release file ...) take part as they are."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    sh = _shell(shell)
    log = tmp_path / "ran"
    nginx = _fake_program(tmp_path / "bin" / "nginx", "nginx version: nginx/1.25.99", log)
    (tmp_path / "sbin").mkdir()
    (tmp_path / "sbin" / "nginx").symlink_to(nginx)
    search = (str(nginx.parent), str(tmp_path / "sbin"))
    # Only these tools on PATH, and a PID namespace of its own: the servers this machine
    # runs (the lab's) are no candidates.
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in ("stat", "readlink", "tr", "timeout", "sed"):
        found = shutil.which(tool)
        assert found is not None
        (tools / tool).symlink_to(found)

    def run(options: ProbeOptions) -> tuple[list[str], Section]:
        execs, stdout = traced_execs(
            [shutil.which("unshare") or "unshare", "--pid", "--fork", "--mount-proc", *sh, "-s"],
            build_script(options, (SoftwareFact(),)),
            tmp_path / "trace",
            env={"PATH": str(tools), "HOME": "/"},
            timeout=120,
        )
        programs = program_names(execs)
        shell_at = max(i for i, name in enumerate(programs) if name in ("sh", "bash", "busybox"))
        section = split_output(stdout.decode(), options.nonce).section("software")
        return programs[shell_at + 1 :], section or Section("software")

    cold_programs, cold = run(ProbeOptions(search_path=search))
    assert "readlink" in cold_programs and _runs_of(log) == [str(nginx)]
    learned = version_runs(cold)
    assert str(nginx) in {r.path for r in learned}
    warm_programs, warm = run(
        ProbeOptions(
            search_path=search, known_versions=tuple((r.path, r.identity) for r in learned)
        )
    )
    assert warm_programs == ["stat"], warm_programs
    assert _runs_of(log) == [str(nginx)], "a known, unchanged program ran again"
    assert (str(nginx), _identity(nginx)) in cache_hits(warm)
    refused = [p for p in warm.parts if p.name != CACHE_HIT]
    assert refused == [] or all(p.status == 126 for p in refused), refused
    assert str(tmp_path / "sbin" / "nginx") not in _part_paths(warm)


@needs_root
@pytest.mark.parametrize("change", ["content", "mtime", "replaced"])
@pytest.mark.parametrize("shell", sorted(SHELLS), ids=str)
def test_a_changed_program_runs_again(shell: str, change: str, tmp_path: Path) -> None:
    sh = _shell(shell)
    log = tmp_path / "ran"
    php = _fake_program(tmp_path / "bin" / "php", "PHP 8.2.1 (cli)", log)
    runs = [r for r in version_runs(_software(sh, [php.parent]).section) if r.path == str(php)]
    old = _identity(php)
    assert [r.identity for r in runs] == [old]
    if change == "content":
        _fake_program(php, "PHP 8.2.29 (cli) (built: Jul  3 2025)", log)
    elif change == "mtime":
        st = php.stat()
        os.utime(php, (st.st_atime, st.st_mtime - 3600))
    else:  # an upgrade: a new file renamed over the old one, same size
        _fake_program(tmp_path / "new-php", "PHP 8.2.1 (cli)", log).replace(php)
    assert _identity(php) != old

    again = _software(sh, [php.parent], runs)
    assert _runs_of(log) == [str(php), str(php)]
    assert again.section.get(CACHE_HIT) is None
    part = again.section.get("php")
    assert part is not None and part.body.split("\n", 1)[0] == f"{php}\t{_identity(php)}"
    want = "8.2.29" if change == "content" else "8.2.1"
    assert _versions(again.facts, "php") == {want}


@needs_root
@pytest.mark.parametrize("shell", sorted(SHELLS), ids=str)
def test_the_owner_and_mode_check_comes_before_the_cache(shell: str, tmp_path: Path) -> None:
    """A program known to the cache with exactly its current identity is still refused
    when others could have planted it (group-writable, or not owned by root)."""
    sh = _shell(shell)
    log = tmp_path / "ran"
    bin_dir = tmp_path / "bin"
    mysqld = _fake_program(bin_dir / "mysqld", "mysqld  Ver 8.0.99 for Linux", log, mode=0o775)
    httpd = _fake_program(bin_dir / "httpd", "Server version: Apache/2.4.99 (Unix)", log)
    os.chown(httpd, 1000, 1000)
    known = [
        VersionRun(str(mysqld), _identity(mysqld), 0, "mysqld  Ver 8.0.1 for Linux"),
        VersionRun(str(httpd), _identity(httpd), 0, "Server version: Apache/2.4.1 (Unix)"),
    ]
    run = _software(sh, [bin_dir], known)
    assert _runs_of(log) == []
    assert run.section.get(CACHE_HIT) is None
    for program in (mysqld, httpd):
        # By path: the machine running the tests may have a mysqld of its own in /usr/sbin.
        part = _part_of(run.section, program)
        assert part is not None and part.status == 126
        assert "not run" in run.facts.errors[f"software:{program}"]
    # Neither the planted programs' answers nor the cache's stale ones are reported.
    assert not _versions(run.facts, "mysqld") & {"8.0.99", "8.0.1"}
    assert not _versions(run.facts, "httpd") & {"2.4.99", "2.4.1"}


@needs_root
@pytest.mark.parametrize("tools", ["gnu", "busybox"])
@pytest.mark.parametrize("shell", sorted(SHELLS), ids=str)
def test_one_stat_checks_owner_and_mode_after_symlinks(
    shell: str, tools: str, tmp_path: Path
) -> None:
    """What `find -L -type f -user 0 ! -perm -020 ! -perm -002` let through, `stat -L`
    does: root's and unwritable by group and others, setuid fine, the target's owner for a
    symlink; with GNU and with BusyBox `stat` (and their `readlink`, `tr`, `timeout`)."""
    sh = _shell(shell)
    path = "/usr/bin:/bin"
    if tools == "busybox":
        if shutil.which("busybox") is None:
            pytest.skip("busybox is not installed")
        path = busybox_dir(tmp_path)
    log = tmp_path / "ran"
    bin_dir, elsewhere = tmp_path / "bin", tmp_path / "elsewhere"
    ok = _fake_program(bin_dir / "httpd", "Server version: Apache/2.4.98 (Unix)", log)
    setuid = _fake_program(bin_dir / "openssl", "OpenSSL 3.0.98 1 Jan 2026", log, mode=0o4755)
    _fake_program(bin_dir / "nginx", "nginx version: nginx/0.0.1-RAN", log, mode=0o775)
    _fake_program(bin_dir / "php", "PHP 0.0.2-RAN (cli)", log, mode=0o757)
    _fake_program(bin_dir / "mysqld", "mysqld  Ver 0.0.3-RAN", log)
    os.chown(bin_dir / "mysqld", 1000, 0)
    target = _fake_program(elsewhere / "python3.99", "Python 3.99.1", log)
    (bin_dir / "python3").symlink_to(target)
    os.chown(bin_dir / "python3", 1000, 0, follow_symlinks=False)  # the link's owner: moot
    planted = _fake_program(elsewhere / "ssh-planted", "OpenSSH_0.0.4-RAN", log)
    os.chown(planted, 1000, 1000)
    (bin_dir / "ssh").symlink_to(planted)

    run = _software(sh, [bin_dir], path=path)
    assert "RAN" not in run.stdout
    assert sorted(_runs_of(log)) == sorted([str(ok), str(setuid), str(bin_dir / "python3")])
    assert _versions(run.facts, "httpd") == {"2.4.98"}
    assert _versions(run.facts, "openssl") == {"3.0.98"}
    assert _versions(run.facts, "python") == {"3.99.1"}
    for name in ("nginx", "php", "mysqld", "ssh"):
        assert "not run" in run.facts.errors[f"software:{bin_dir / name}"], name
    identities = {r.path: r.identity for r in version_runs(run.section)}
    assert identities[str(ok)] == _identity(ok)
    assert identities[str(bin_dir / "python3")] == _identity(target)  # after the symlink


@needs_root
@pytest.mark.parametrize("shell", sorted(SHELLS), ids=str)
def test_without_stat_c_the_find_check_runs_every_program(shell: str, tmp_path: Path) -> None:
    """A `stat` without `-c` (BSD, a BusyBox built without it) says nothing usable: the
    owner check falls back to `find`, runs carry no identity, and nothing is cached."""
    sh = _shell(shell)
    log = tmp_path / "ran"
    bin_dir = tmp_path / "bin"
    nginx = _fake_program(bin_dir / "nginx", "nginx version: nginx/1.25.98", log)
    _fake_program(bin_dir / "php", "PHP 0.0.2-RAN (cli)", log, mode=0o775)
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "stat").write_text("#!/bin/sh\necho 'stat: illegal option -- c' >&2\nexit 1\n")
    (tools / "stat").chmod(0o755)
    known = [VersionRun(str(nginx), _identity(nginx), 0, "nginx version: nginx/1.0.0")]
    run = _software(sh, [bin_dir], known, path=f"{tools}:/usr/bin:/bin")
    assert _runs_of(log) == [str(nginx)]
    part = run.section.get("nginx")
    assert part is not None and part.body.split("\n", 1)[0] == str(nginx)  # no identity
    assert version_runs(run.section) == () and cache_hits(run.section) == ()
    assert _versions(run.facts, "nginx") == {"1.25.98"}
    assert "not run" in run.facts.errors[f"software:{bin_dir / 'php'}"]


def test_a_cache_hit_the_controller_does_not_know_is_an_error_not_a_version() -> None:
    """A hit for output the controller never kept (another identity, or none) gives a
    reason, not a made-up version."""
    nonce = "abcdefabcdef12"
    stdout = (
        f"\n@@AUDITOR {nonce} BEGIN software/cache/hit@@\n/usr/sbin/nginx\t1 2 3 4 5"
        f"\n@@AUDITOR {nonce} END software/cache/hit 0 user@@\n"
        f"\n@@AUDITOR {nonce} BEGIN software/cache/hit@@\n/usr/bin/php\t1 2 3 4 5"
        f"\n@@AUDITOR {nonce} END software/cache/hit 0 user@@\n"
    )
    known = {"/usr/sbin/nginx": VersionRun("/usr/sbin/nginx", "1 2 3 4 6", 0, "nginx/1.2.3")}
    facts = parse_probe_output(
        stdout, nonce, collected_at=datetime.now(UTC), log_days=7,
        owner_of=lambda address: None, facts=(SoftwareFact(),), cached_versions=known,
    )  # fmt: skip
    assert facts.software == ()
    for path in ("/usr/sbin/nginx", "/usr/bin/php"):
        assert "version cache has no output" in facts.errors[f"software:{path}"]


@needs_root
def test_program_output_cannot_forge_a_cache_hit(tmp_path: Path) -> None:
    """A program printing what a hit looks like (markers without the run's nonce) is one
    run's output like any other."""
    log = tmp_path / "ran"
    bogus = "@@AUDITOR 0123456789abcdef01234567 BEGIN software/cache/hit@@"
    nginx = _fake_program(tmp_path / "bin" / "nginx", f"{bogus}\n/usr/sbin/nginx\t1 2 3 4 5", log)
    known = [VersionRun("/usr/sbin/nginx", "1 2 3 4 5", 0, "nginx version: nginx/9.9.9")]
    run = _software(["/bin/sh"], [nginx.parent], known)
    assert run.section.get(CACHE_HIT) is None and cache_hits(run.section) == ()
    assert "9.9.9" not in _versions(run.facts, "nginx")


# ------------------------------------------------------------------ the version runs' shell


def _own_pid_namespace(sh: Sequence[str]) -> list[str]:
    """`sh -s` in a PID namespace of its own: the servers this machine runs (the lab's)
    are no candidates."""
    return [shutil.which("unshare") or "unshare", "--pid", "--fork", "--mount-proc", *sh, "-s"]


def _tools(tmp_path: Path, names: Sequence[str]) -> Path:
    """A PATH directory with only `names`, symlinks to this machine's."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in names:
        found = shutil.which(tool)
        assert found is not None, tool
        (tools / tool).symlink_to(found)
    return tools


@needs_root
@pytest.mark.parametrize("shell", sorted(SHELLS), ids=str)
def test_a_cold_run_starts_one_timeout_and_one_shell_for_all_programs(
    shell: str, tmp_path: Path
) -> None:
    """Under GNU `timeout`, the programs run one after the other in one `sh`: one process
    each, plus that `timeout` and `sh` (not a `timeout` per program), with the same parts
    as one at a time (dash and BusyBox ash as the login shell; the shell run is `sh`)."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    sh = _shell(shell)
    log = tmp_path / "ran"
    bin_dir = tmp_path / "bin"
    programs = {
        "nginx": "nginx version: nginx/1.25.97",
        "php": "PHP 8.2.97 (cli) (built: Jan  1 2026 00:00:00) (NTS)",
        "python3": "Python 3.11.97",
    }
    for name, output in programs.items():
        _fake_program(bin_dir / name, output, log)
    tools = _tools(tmp_path, ("stat", "readlink", "tr", "timeout", "sed", "sh"))
    options = ProbeOptions(search_path=(str(bin_dir),))
    execs, stdout = traced_execs(
        _own_pid_namespace(sh),
        build_script(options, (SoftwareFact(),)),
        tmp_path / "trace",
        env={"PATH": str(tools), "HOME": "/"},
        timeout=120,
    )
    timeouts = [line for line in execs if '["timeout", ' in line]
    assert len(timeouts) == 2, timeouts  # the syntax question, then the one run
    assert '["timeout", "--help"]' in timeouts[0]
    assert '["timeout", "10", "sh", "-c", ' in timeouts[1]
    assert sum(', ["sh", "-c", ' in line for line in execs) == 1, execs
    ran = program_names(execs)
    assert [n for n in ran if n in programs] == sorted(programs, key=list(programs).index)
    assert _runs_of(log) == [str(bin_dir / name) for name in programs]
    section = split_output(stdout.decode(), options.nonce).section("software")
    assert section is not None
    for name, output in programs.items():
        part = section.get(name)
        assert part is not None and part.status == 0, (name, part)
        path = bin_dir / name
        assert part.body == f"{path}\t{_identity(path)}\n{output}"


@needs_root
def test_busybox_timeout_runs_each_program_on_its_own(tmp_path: Path) -> None:
    """BusyBox's `timeout` stops only its child, not what that child started: there each
    program keeps its own `timeout`, as before."""
    if shutil.which("strace") is None or shutil.which("busybox") is None:
        pytest.skip("strace or busybox is not installed")
    log = tmp_path / "ran"
    bin_dir = tmp_path / "bin"
    _fake_program(bin_dir / "nginx", "nginx version: nginx/1.25.96", log)
    _fake_program(bin_dir / "python3", "Python 3.11.96", log)
    options = ProbeOptions(search_path=(str(bin_dir),))
    execs, stdout = traced_execs(
        _own_pid_namespace(SHELLS["busybox-ash"]),
        build_script(options, (SoftwareFact(),)),
        tmp_path / "trace",
        env={"PATH": busybox_dir(tmp_path), "HOME": "/"},
        timeout=120,
    )
    assert not any(', ["sh", "-c", ' in line for line in execs), execs
    # BusyBox's timeout execs the program in its own process, after its own exec.
    before: dict[str, str] = {}
    for line in execs:
        pid, name = line.split()[0], line.split('"')[1]
        if name.startswith(str(bin_dir)):
            assert before.get(pid) == "timeout", (name, execs)
        before[pid] = name.rsplit("/", 1)[-1]
    facts = split_output(stdout.decode(), options.nonce).section("software")
    assert facts is not None and {p.name for p in facts.parts} >= {"nginx", "python3"}
    assert _runs_of(log) == [str(bin_dir / "nginx"), str(bin_dir / "python3")]


@needs_root
@pytest.mark.parametrize("shell", ["dash", "busybox-ash"], ids=str)
def test_a_program_that_hangs_is_run_again_on_its_own_and_the_rest_still_answer(
    shell: str, tmp_path: Path
) -> None:
    """The one `timeout` stops the shell and the hung program with it (its process group);
    what it had not finished runs one at a time under its own `timeout`: the hung program
    times out (124) as it did alone, the programs after it answer, nothing is left running."""
    sh = _shell(shell)
    log = tmp_path / "ran"
    bin_dir = tmp_path / "bin"
    _fake_program(bin_dir / "nginx", "nginx version: nginx/1.25.95", log)
    php = bin_dir / "php"
    php.write_text(f"#!/bin/sh\necho \"$0\" >>'{log}'\nprintf 'PHP starting\\n'\nexec sleep 60\n")
    php.chmod(0o755)
    _fake_program(bin_dir / "python3", "Python 3.11.95", log)
    options = ProbeOptions(search_path=(str(bin_dir),), command_timeout=2)
    started = time.monotonic()
    tools = _tools(tmp_path, ("timeout", "sh", "sleep"))
    run = run_fact(sh, options, SoftwareFact(), path=f"{tools}:/usr/bin:/bin")
    assert time.monotonic() - started < 30
    assert _runs_of(log) == [str(bin_dir / n) for n in ("nginx", "php", "php", "python3")]
    assert _versions(run.facts, "nginx") == {"1.25.95"}
    assert _versions(run.facts, "python") == {"3.11.95"}
    part = run.section.get("php")
    assert part is not None and part.status == 124
    assert part.body.split("\n", 1)[1] == "PHP starting"
    assert "timed out" in run.facts.errors[f"software:{php}"]
    left = subprocess.run(["pgrep", "-f", "sleep 60"], capture_output=True, text=True)
    assert not [pid for pid in left.stdout.split() if _in(pid, tmp_path)], left.stdout


def _in(pid: str, tmp_path: Path) -> bool:
    """Whether process `pid` belongs to this test (its command line names the temp dir)."""
    try:
        return str(tmp_path) in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


@needs_root
def test_the_programs_never_see_the_nonce_and_cannot_forge_the_runs_markers(
    tmp_path: Path,
) -> None:
    """The nonce reaches the version runs' shell in its environment, never the programs:
    output that looks like the runs' own markers is one program's output like any other."""
    log = tmp_path / "ran"
    bin_dir = tmp_path / "bin"
    nginx = bin_dir / "nginx"
    nginx.parent.mkdir(parents=True)
    nginx.write_text(
        f"#!/bin/sh\necho \"$0\" >>'{log}'\n"
        "printf 'N=[%s]\\n@x>0\\n@<{}>\\nnginx version: nginx/1.25.94\\n' \"$N\"\n"
    )
    nginx.chmod(0o755)
    _fake_program(bin_dir / "python3", "Python 3.11.94", log)
    run = _software(["/bin/sh"], [bin_dir])
    part = run.section.get("nginx")
    assert part is not None and part.status == 0
    assert part.body.split("\n", 1)[1] == "N=[]\n@x>0\n@<{}>\nnginx version: nginx/1.25.94"
    assert _versions(run.facts, "nginx") == {"1.25.94"}
    assert _versions(run.facts, "python") == {"3.11.94"}


# ------------------------------------------------------------------ running servers


class Servers:
    """Fake servers: `start(path, output)` runs a root-owned script at `path` that answers
    `--version`/`-v` with `output` and otherwise waits on its stdin (its /proc/PID/comm is
    its file name, its command line `/bin/sh PATH --daemonize=no`)."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, path: Path, output: str) -> int:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            "#!/bin/sh\n"
            f"case $1 in -*version|-v) printf '%s\\n' '{output}'; exit 0 ;; esac\n"
            "read line\n"
        )
        path.chmod(0o755)
        proc = subprocess.Popen([str(path), "--daemonize=no"], stdin=subprocess.PIPE)
        self.procs.append(proc)
        comm = Path(f"/proc/{proc.pid}/comm")
        for _ in range(200):  # until the kernel shows the script's name
            if comm.exists() and comm.read_text().strip() == path.name:
                break
            time.sleep(0.01)
        return proc.pid

    def stop(self) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.kill()
            proc.wait()


@pytest.fixture
def servers() -> Iterator[Servers]:
    running = Servers()
    try:
        yield running
    finally:
        running.stop()


def _comm_taken(name: str) -> bool:
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == name:
                return True
        except OSError:
            continue
    return False


def _cmdline_reads() -> int:
    """How many command lines the walk reads now: per server name, up to 3 processes."""
    groups: dict[str, int] = {}
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            name = comm.read_text().strip()
        except OSError:
            continue
        if name.startswith("php-fpm"):
            key = "php-fpm" if not name[7:].strip("0123456789.") else ""
        elif name.startswith("php"):
            key = "php" if not name[3:].strip("0123456789.") else ""
        else:
            servers = ("httpd", "apache2", "nginx", "java", "mysqld", "mariadbd", "postgres")
            key = name if name in (*servers, "postmaster") else ""
        if key:
            groups[key] = groups.get(key, 0) + 1
    return sum(min(3, n) for n in groups.values())


@needs_root
@pytest.mark.parametrize("shell", sorted(SHELLS), ids=str)
def test_a_server_running_off_path_is_found_in_proc(
    shell: str, tmp_path: Path, servers: Servers
) -> None:
    sh = _shell(shell)
    if _comm_taken("mariadbd"):
        pytest.skip("another mariadbd runs on this machine")
    program = tmp_path / "opt" / "mariadb" / "bin" / "mariadbd"
    servers.start(program, "mariadbd  Ver 10.11.99-MariaDB for debian-linux-gnu")
    empty = tmp_path / "empty"
    empty.mkdir()
    run = _software(sh, [empty])
    assert str(program) in _part_paths(run.section), run.stdout
    assert _versions(run.facts, "mariadbd") == {"10.11.99"}


@needs_root
def test_only_the_three_lowest_pids_of_a_name_are_read(tmp_path: Path, servers: Servers) -> None:
    """A pre-fork server's parent has the lowest pid; its children are not read one by one."""
    if _comm_taken("postmaster"):
        pytest.skip("another postmaster runs on this machine")
    pids = {}
    for n in range(5):
        program = tmp_path / f"pg{n}" / "bin" / "postmaster"
        pids[servers.start(program, f"postgres (PostgreSQL) 16.{n}")] = program
    lowest = {str(pids[pid]) for pid in sorted(pids)[:3]}
    empty = tmp_path / "empty"
    empty.mkdir()
    run = _software(["/bin/sh"], [empty])
    found = {p for p in _part_paths(run.section) if p.endswith("/postmaster")}
    assert found == lowest


@needs_root
def test_the_proc_walk_starts_no_ps_and_one_tr_per_server(tmp_path: Path, servers: Servers) -> None:
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    if _comm_taken("mariadbd"):
        pytest.skip("another mariadbd runs on this machine")
    program = tmp_path / "opt" / "mariadbd"
    servers.start(program, "mariadbd  Ver 10.11.98-MariaDB")
    most = _cmdline_reads()  # ours, and whatever else this machine runs under such names
    empty = tmp_path / "empty"
    empty.mkdir()
    options = ProbeOptions(search_path=(str(empty),))
    execs, _ = traced_execs(
        ["/bin/sh", "-s"],
        build_script(options, (SoftwareFact(),)),
        tmp_path / "trace",
        env={"PATH": "/usr/bin:/bin", "HOME": "/"},
    )
    programs = program_names(execs)
    assert "ps" not in programs and "awk" not in programs and "find" not in programs
    assert programs.count("stat") == 1 and programs.count("readlink") == 1
    assert 1 <= programs.count("tr") <= most + 1, (programs, most)


@needs_root
@pytest.mark.parametrize("shell", sorted(SHELLS), ids=str)
def test_without_proc_comm_files_ps_and_awk_find_the_server(
    shell: str, tmp_path: Path, servers: Servers
) -> None:
    """Kernels before 2.6.33 have no /proc/PID/comm: `ps -e -o args= | awk` as before."""
    sh = _shell(shell)
    program = tmp_path / "opt" / "mariadb" / "bin" / "mariadbd"
    servers.start(program, "mariadbd  Ver 10.11.97-MariaDB")
    empty = tmp_path / "empty"
    empty.mkdir()
    no_comm = ("[ -f /proc/self/comm ]", "[ -f /proc/self/no-such-file ]")
    run = _software(sh, [empty], edit=no_comm)
    assert str(program) in _part_paths(run.section)
    assert _versions(run.facts, "mariadbd") == {"10.11.97"}


# ------------------------------------------------------------------ ProbeOptions


VALID = ("/usr/sbin/nginx", "2049 1234 1290240 1700000000 1700000001")


def test_known_versions_reach_the_script_as_plain_text() -> None:
    options = ProbeOptions(known_versions=(VALID, ("/opt/php-8.2/sbin/php-fpm8.2", "1 2 3 4 5")))
    script = build_script(options, (SoftwareFact(),))
    assert "KC='/usr/sbin/nginx\t2049 1234 1290240 1700000000 1700000001\n" in script
    assert STAT_FORMAT in script
    assert build_script(ProbeOptions(), (SoftwareFact(),)).count("KC=''") == 1


@pytest.mark.parametrize(
    "path",
    [
        "usr/sbin/nginx", "", "/usr/sbin/ngi nx", "/usr/sbin/nginx'", '/usr/sbin/"nginx',
        "/usr/sbin/nginx\n/bin/true\t1 2 3 4 5", "/usr/sbin/$(reboot)", "/usr/sbin/`id`",
        "/usr/sbin/nginx;reboot", "/usr/sbin/*", "/usr/sbin/ng?nx", "/usr/sbin/[n]ginx",
        "/usr/sbin/nginx\\", "/usr/sbin/nginx&", "/usr/sbin/nginx|x", "/usr/sbin/nginx>x",
        "/usr/sbin/nginx\t", "/usr/sbin/nginx\r", "/usr/sbin/n\x00ginx", "/usr/sbin/ngïnx",
        "/" + "a" * 1100,
    ],
)  # fmt: skip
def test_known_version_paths_that_could_be_shell_are_refused(path: str) -> None:
    assert not is_known_version(path, VALID[1])
    with pytest.raises(ValueError, match="known_versions"):
        ProbeOptions(known_versions=((path, VALID[1]),))


@pytest.mark.parametrize(
    "identity",
    [
        "", "1 2 3 4", "1 2 3 4 5 6", "1 2 3 4 x", "1 2 3 4 5\n", "1 2 3 4 5;reboot",
        "1  2 3 4 5", " 1 2 3 4 5", "1\t2 3 4 5", "1 2 3 4 -5", "1 2 3 4 $(id)",
        "1 2 3 4 " + "9" * 21, "1 2 3 4 ٥",
    ],
)  # fmt: skip
def test_known_version_identities_other_than_five_numbers_are_refused(identity: str) -> None:
    assert not is_known_version(VALID[0], identity)
    with pytest.raises(ValueError, match="known_versions"):
        ProbeOptions(known_versions=((VALID[0], identity),))


def test_known_versions_must_be_pairs_and_few() -> None:
    with pytest.raises(ValueError):
        ProbeOptions(known_versions=((*VALID, "extra"),))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at most"):
        ProbeOptions(known_versions=tuple((f"/usr/bin/p{n}", "1 2 3 4 5") for n in range(300)))
    assert ProbeOptions(known_versions=(VALID,)).known_versions == (VALID,)
