"""The CLI as a user runs it: a subprocess, real files, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent.parent / "fixtures"


def auditor(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "auditor", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


@pytest.mark.parametrize("command", [[], ["audit"], ["discover"], ["init"], ["lab"]])
def test_help_is_clear(command: list[str]) -> None:
    result = auditor(*command, "--help")
    assert result.returncode == 0
    assert "Usage:" in result.stdout and len(result.stdout.splitlines()) > 4


def test_init_writes_a_loadable_config_and_refuses_to_overwrite(tmp_path: Path) -> None:
    assert auditor("init", str(tmp_path / "audit.toml")).returncode == 0
    again = auditor("init", str(tmp_path / "audit.toml"))
    assert again.returncode == 2 and "exists" in again.stderr


def test_config_error_exits_2_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "audit.toml"
    config.write_text("[ssh]\ntimout = 3\n")
    result = auditor("discover", "--config", str(config))
    assert result.returncode == 2
    assert "timout" in result.stderr and str(config) in result.stderr


def test_discover_from_imported_scan_writes_reports(tmp_path: Path) -> None:
    config = tmp_path / "audit.toml"
    config.write_text(
        f'[[network]]\nnmap_xml = ["{FIXTURES / "nmap" / "loopback-syn.xml"}"]\n'
        '[audit]\nfail_on = "critical"\n'
    )
    result = auditor("discover", "--config", str(config), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [h["status"] for h in report["hosts"]] == ["unmanaged"]
    assert (tmp_path / "out" / "index.html").exists()
    high = auditor("discover", "-c", str(config), "-o", str(tmp_path / "o2"), "--fail-on", "high")
    assert high.returncode == 1  # the unmanaged host is a high finding
    quiet = auditor("discover", "-c", str(config), "-o", str(tmp_path / "o3"), "-q")
    assert quiet.stdout == "" and quiet.stderr == ""


def test_nmap_xml_flag_imports_a_scan(tmp_path: Path) -> None:
    config = tmp_path / "audit.toml"
    config.write_text("[audit]\nfail_on = 'critical'\n")
    result = auditor("discover", "-c", str(config), "-o", str(tmp_path / "out"),
                     "--nmap-xml", str(FIXTURES / "nmap" / "loopback-syn.xml"))
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["hosts"][0]["addresses"] == ["127.0.0.1"]
    assert report["run"]["sources"][0]["name"] == "nmap-xml"


def test_eol_show_and_errors() -> None:
    shown = auditor("eol", "show", "centos", "5")
    assert shown.returncode == 0 and "2017-03-31" in shown.stdout
    typo = auditor("eol", "show", "centoss")
    assert typo.returncode == 2 and "did you mean centos" in typo.stderr


def test_eol_update_unreachable_is_a_clear_failure(tmp_path: Path) -> None:
    import os
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "auditor", "eol", "update", "--url", f"http://127.0.0.1:{port}/api/v1"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert result.returncode == 3
    assert f"127.0.0.1:{port}" in result.stderr and "nothing was written" in result.stderr


def test_history_changes_and_notify_through_the_cli(tmp_path: Path) -> None:
    import http.server
    import threading

    posts: list[dict] = []  # type: ignore[type-arg]

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/hook"
    config = tmp_path / "audit.toml"
    scans = FIXTURES / "nmap"

    def run(*xml: str) -> subprocess.CompletedProcess[str]:
        config.write_text(
            "[audit]\nstore = 'history.sqlite'\nfail_on = 'critical'\n[[network]]\n"
            f"nmap_xml = {json.dumps([str(scans / x) for x in xml])}\n"
        )
        return auditor("discover", "-c", str(config), "-o", str(tmp_path / "out"), "-q",
                       "--notify", url)

    try:
        assert run("loopback-syn.xml").returncode == 0
        assert len(posts) == 1 and "text" in posts[0]  # first run: every finding is new
        assert run("loopback-syn.xml").returncode == 0
        assert len(posts) == 1  # nothing new: no post
        assert run("loopback-syn.xml", "loopback2-syn.xml").returncode == 0
        assert len(posts) == 2  # a new unmanaged host
    finally:
        server.shutdown()
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [h["host"] for h in report["changes"]["new_hosts"]] == ["ip:127.0.0.2"]
    listing = auditor("history", "-c", str(config))
    assert listing.returncode == 0 and listing.stdout.count("\n") >= 3


def test_machine_output_on_stdout(tmp_path: Path) -> None:
    """--format json: stdout is report.json alone (pipe it into jq); the summary stays on
    stderr and the exit code still says whether findings passed --fail-on."""
    config = tmp_path / "audit.toml"
    config.write_text(
        f'[[network]]\nnmap_xml = ["{FIXTURES / "nmap" / "loopback-syn.xml"}"]\n'
        '[audit]\nfail_on = "high"\n'
    )
    result = auditor("discover", "-c", str(config), "-o", str(tmp_path / "out"), "--format", "json")
    assert result.returncode == 1, result.stderr  # the unmanaged host is a high finding
    assert json.loads(result.stdout) == json.loads((tmp_path / "out" / "report.json").read_text())
    assert "finding" in result.stderr  # the human summary, not mixed into the JSON
    eol = auditor("eol", "show", "centos", "5", "--format", "json")
    assert eol.returncode == 0, eol.stderr
    [cycle] = json.loads(eol.stdout)["cycles"]
    assert (cycle["cycle"], cycle["eol_date"], cycle["status"]) == ("5", "2017-03-31", "eol")


def test_version_flags() -> None:
    for flag in ("-V", "--version"):
        shown = auditor(flag)
        assert shown.returncode == 0 and shown.stdout.endswith("auditor, version 0.1.0\n")


def test_no_help_text_points_to_docs_the_installed_package_lacks() -> None:
    """docs/ ships with the repository, not the wheel: --help must stand on its own."""
    import click
    from click.testing import CliRunner

    from auditor.cli import main

    def commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
        found = [path]
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                found += commands(command, (*path, name))
            else:
                found.append((*path, name))
        return found

    main.main(["--help"], standalone_mode=False)  # registers the lazily added commands
    every = commands(main)
    assert ("premigrate",) in every and ("eol", "show") in every
    for path in every:
        shown = CliRunner().invoke(main, [*path, "--help"])
        assert shown.exit_code == 0, (path, shown.output)
        assert "docs/" not in shown.output, path


def _into_closed_pipe(*args: str) -> tuple[int, str]:
    """Run auditor with stdout a real pipe whose reader has gone (as `| head` once head has
    its line): every write to it fails with EPIPE."""
    proc = subprocess.Popen([sys.executable, "-m", "auditor", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the interpreter has even started: no write can get through
    err = proc.stderr.read()
    return proc.wait(timeout=120), err


def test_a_closed_stdout_pipe_ends_quietly_with_141(tmp_path: Path) -> None:
    # Before: "auditor: error: Broken pipe" and exit 3, which cron reads as a failed run.
    for args in (("eol", "show", "nginx"), ("eol", "show", "nginx", "--format", "json")):
        code, err = _into_closed_pipe(*args)
        assert (code, err) == (141, ""), args
    config = tmp_path / "audit.toml"
    config.write_text(
        f'[[network]]\nnmap_xml = ["{FIXTURES / "nmap" / "loopback-syn.xml"}"]\n'
        f'[audit]\nstore = "{tmp_path / "h.sqlite"}"\nfail_on = "critical"\n'
    )
    # The run's files are written before stdout is: the report and history are complete.
    code, err = _into_closed_pipe("discover", "-c", str(config), "-o", str(tmp_path / "out"),
                                  "--format", "json")  # fmt: skip
    assert code == 141 and "Broken pipe" not in err and "Traceback" not in err, err
    json.loads((tmp_path / "out" / "report.json").read_text())
    for args in (("history", "-c", str(config)), ("history", "-c", str(config), "--format", "json")):
        assert _into_closed_pipe(*args) == (141, ""), args
    # And through a shell pipe into head, the way people type it: one line, no complaint.
    piped = subprocess.run(
        f"'{sys.executable}' -m auditor history -c '{config}' --format json | head -n 1",
        shell=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert piped.stdout == "[\n" and piped.stderr == "", piped.stderr


def test_ssh_options_reach_the_command_as_one_set_of_flags(tmp_path: Path) -> None:
    """inspect and premigrate take the SSH settings through `ssh_options` as one SshFlags,
    whose config has them on top of the file's [ssh] section."""
    import click
    from click.testing import CliRunner

    from auditor.commands.options import SshFlags, ssh_options

    got: list[SshFlags] = []

    @click.command()
    @ssh_options
    @click.option("--other")
    def command(ssh: SshFlags, other: str | None) -> None:
        got.append(ssh)

    config = tmp_path / "audit.toml"
    config.write_text('[ssh]\nuser = "alice"\nports = [22]\n')
    argv = ["-c", str(config), "--ssh-user", "bob", "--port", "2222", "--days", "3", "--no-sudo"]
    done = CliRunner().invoke(command, [*argv, "--other", "x"])
    assert done.exit_code == 0, done.output
    (flags,) = got
    assert (flags.ssh_user, flags.ports, flags.days, flags.sudo) == ("bob", (2222,), 3, False)
    ssh = flags.config().ssh
    assert (ssh.user, ssh.ports, ssh.sudo) == ("bob", (2222,), False)
    assert SshFlags(config, None, None, None, None, (), None, None).config().ssh.user == "alice"
