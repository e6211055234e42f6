"""The SSH layer against real OpenSSH servers on 127.0.0.1 (no lab needed).

Each test starts its own `sshd -D` on a free loopback port with a temp config, host key and
authorized_keys (key-only auth), and stops it in a finalizer. Needs root (sshd's privilege
separation) and /usr/sbin/sshd; skipped otherwise. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest

from auditor.collect import collect
from auditor.config import SshSettings
from auditor.model import Facts, Host, HostStatus, Observation, SourceKind
from auditor.remote import (
    AuthError,
    ChangedHostKeyError,
    ConnectError,
    FailureKind,
    JumpHostError,
    KeyFileError,
    ParamikoConnector,
    RemoteSession,
    SshProtocolError,
    UnknownHostKeyError,
)
from auditor.remote.session import stop_wait

SSHD = "/usr/sbin/sshd"
LOOPBACK = "127.0.0.1"
ProbeErrorT = TypeVar("ProbeErrorT", bound=Exception)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="a real sshd needs root (privilege separation)"),
    pytest.mark.skipif(
        not (Path(SSHD).exists() and shutil.which("ssh-keygen")),
        reason="OpenSSH server (/usr/sbin/sshd) or ssh-keygen is not installed",
    ),
    pytest.mark.timeout(120),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _keygen(path: Path, kind: str = "ed25519", passphrase: str = "") -> Path:
    args = ["ssh-keygen", "-q", "-t", kind, "-N", passphrase, "-C", "auditor-test", "-f", str(path)]
    if kind == "rsa":
        args[4:4] = ["-b", "2048"]
    subprocess.run(args, check=True)
    return path


def _fingerprint(pub: Path) -> str:
    out = subprocess.run(
        ["ssh-keygen", "-lf", str(pub)], check=True, capture_output=True, text=True
    ).stdout
    return out.split()[1]


@dataclass
class Sshd:
    """One throwaway OpenSSH server on 127.0.0.1."""

    root: Path
    port: int
    host_key: Path
    authorized_keys: Path
    extra: str = ""
    # DEBUG1 shows direct-tcpip requests, but also leaks debug lines into sessions' stderr.
    log_level: str = "VERBOSE"
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.root / "sshd.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, check: Callable[[str], bool], timeout: float = 5.0) -> str:
        """sshd's children log through its monitor, a little after the client moved on."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.log()
            if check(text) or time.monotonic() > deadline:
                return text
            time.sleep(0.05)

    def known_hosts_line(self) -> str:
        key_type, blob = Path(f"{self.host_key}.pub").read_text().split()[:2]
        return f"[{LOOPBACK}]:{self.port} {key_type} {blob}\n"

    def fingerprint(self) -> str:
        return _fingerprint(Path(f"{self.host_key}.pub"))

    def start(self) -> None:
        config = self.root / "sshd_config"
        config.write_text(
            f"Port {self.port}\n"
            f"ListenAddress {LOOPBACK}\n"
            f"HostKey {self.host_key}\n"
            f"PidFile {self.root / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {self.authorized_keys}\n"
            "StrictModes no\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            "PermitRootLogin prohibit-password\n"
            "AllowTcpForwarding yes\n"
            "UseDNS no\n"
            f"LogLevel {self.log_level}\n"
            f"{self.extra}\n"
        )
        subprocess.run([SSHD, "-t", "-f", str(config)], check=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((LOOPBACK, self.port), timeout=1) as sock:
                    if sock.recv(8).startswith(b"SSH-"):
                        return
            except OSError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"sshd did not start on port {self.port}:\n{self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self, host_key: Path | None = None) -> None:
        self.stop()
        if host_key is not None:
            self.host_key = host_key
        self.start()


@pytest.fixture
def user_key(tmp_path: Path) -> Path:
    return _keygen(tmp_path / "id_user")


@pytest.fixture
def make_sshd(
    tmp_path: Path, user_key: Path, known_hosts: Path
) -> Iterator[Callable[..., Sshd]]:
    """Starts sshd servers on loopback; `trusted=True` puts the host key in `known_hosts`."""
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    servers: list[Sshd] = []

    def make(
        name: str = "a",
        host_key_type: str = "ed25519",
        extra: str = "",
        authorized: tuple[Path, ...] = (),
        log_level: str = "VERBOSE",
        trusted: bool = False,
    ) -> Sshd:
        root = tmp_path / f"sshd-{name}"
        root.mkdir()
        authorized_keys = root / "authorized_keys"
        pubs = [Path(f"{k}.pub").read_text() for k in (user_key, *authorized)]
        authorized_keys.write_text("".join(pubs))
        server = Sshd(
            root=root,
            port=_free_port(),
            host_key=_keygen(root / f"host_{host_key_type}", host_key_type),
            authorized_keys=authorized_keys,
            extra=extra,
            log_level=log_level,
        )
        servers.append(server)
        server.start()
        if trusted:
            with known_hosts.open("a") as known:
                known.write(server.known_hosts_line())
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def known_hosts(tmp_path: Path) -> Path:
    path = tmp_path / "known_hosts"
    path.write_text("")
    return path


@pytest.fixture
def server(make_sshd: Callable[..., Sshd]) -> Sshd:
    """One started sshd whose host key known_hosts holds: strict checking accepts it."""
    return make_sshd(trusted=True)


@pytest.fixture
def settings(user_key: Path, known_hosts: Path) -> SshSettings:
    return SshSettings(
        user="root",
        key_file=user_key,
        known_hosts=known_hosts,
        host_key_policy="strict",
        ports=(22,),
        timeout=5.0,
        deadline=30.0,
        use_ssh_config=False,
        concurrency=4,
    )


@pytest.fixture
def connector(tmp_path: Path) -> Iterator[ParamikoConnector]:
    with ParamikoConnector(
        tofu_file=tmp_path / "auditor" / "known_hosts",
        allow_agent=False,  # the test's own key only, never the developer's agent
        ssh_config=tmp_path / "no-ssh-config",
    ) as conn:
        yield conn


def connect_error(
    connector: ParamikoConnector,
    port: int,
    settings: SshSettings,
    error: type[ProbeErrorT],
    label: str = "loopback",
) -> pytest.ExceptionInfo[ProbeErrorT]:
    """How connecting to 127.0.0.1:`port` fails: it must fail with `error`."""
    with pytest.raises(error) as caught, connector.connect(LOOPBACK, port, settings, label):
        pass
    return caught


def _host(port: int, name: str = "loopback") -> Host:
    seen = Observation(
        source=SourceKind.NETWORK,
        source_name="test",
        identifiers=(f"ip:{LOOPBACK}",),
        observed_at=datetime.now(UTC),
        alive=True,
    )
    return Host(
        id=name,
        addresses=(LOOPBACK,),
        hostnames=(),
        identifiers=(f"ip:{LOOPBACK}",),
        sources=(SourceKind.NETWORK,),
        status=HostStatus.UNMANAGED,
        status_reason="test",
        observations=(seen,),
        ssh_port=port,
    )


def _hostname_probe(session: RemoteSession, host: Host) -> Facts:
    result = session.run("uname -n; echo done >&2", timeout=10, max_output=4096)
    assert result.exit_status == 0, result
    return Facts(collected_at=datetime.now(UTC), hostname=result.stdout_text().strip())


# --------------------------------------------------------------------------- host keys


def test_strict_with_known_key_runs_the_script(
    server: Sshd,
    settings: SshSettings,
    connector: ParamikoConnector,
) -> None:
    with connector.connect(LOOPBACK, server.port, settings, "loopback") as session:
        result = session.run("echo out; echo err >&2; exit 7", timeout=10, max_output=1024)
    assert result.stdout == b"out\n"
    assert result.stderr == b"err\n"
    assert result.exit_status == 7
    assert not result.timed_out
    assert session.description == f"root@{LOOPBACK}:{server.port}"


def test_strict_refuses_an_unknown_host_key(
    make_sshd: Callable[..., Sshd], settings: SshSettings, connector: ParamikoConnector
) -> None:
    server = make_sshd()
    caught = connect_error(connector, server.port, settings, UnknownHostKeyError)
    assert "unknown host key" in str(caught.value)
    assert caught.value.fingerprint == server.fingerprint()
    # Refused before authentication: the server never saw our key.
    assert "Accepted publickey" not in server.log()

    results = collect([_host(server.port)], settings, _hostname_probe, connector=connector)
    outcome, facts = results["loopback"]
    assert outcome.state == "skipped" and facts is None
    assert outcome.reason is not None and "unknown host key" in outcome.reason


def test_tofu_records_the_key_then_trusts_it(
    make_sshd: Callable[..., Sshd],
    settings: SshSettings,
    connector: ParamikoConnector,
    tmp_path: Path,
) -> None:
    server = make_sshd()
    tofu = replace(settings, host_key_policy="tofu")
    for _ in range(2):
        with connector.connect(LOOPBACK, server.port, tofu, "loopback") as session:
            assert session.run("true", timeout=10, max_output=64).exit_status == 0
    recorded = (tmp_path / "auditor" / "known_hosts").read_text()
    assert recorded == server.known_hosts_line()
    # A fresh connector (a later run) reads the recorded key back.
    with (
        ParamikoConnector(tofu_file=tmp_path / "auditor" / "known_hosts", allow_agent=False) as c2,
        c2.connect(LOOPBACK, server.port, tofu, "loopback") as session,
    ):
        assert session.run("true", timeout=10, max_output=64).exit_status == 0


def test_tofu_file_from_the_ssh_config_section(
    make_sshd: Callable[..., Sshd], settings: SshSettings, tmp_path: Path
) -> None:
    server = make_sshd()
    own_file = tmp_path / "team" / "tofu_known_hosts"
    tofu = replace(settings, host_key_policy="tofu", tofu_known_hosts=own_file)
    with (
        ParamikoConnector(allow_agent=False) as connector,
        connector.connect(LOOPBACK, server.port, tofu, "loopback") as session,
    ):
        assert session.run("true", timeout=10, max_output=64).exit_status == 0
    assert own_file.read_text() == server.known_hosts_line()


def test_a_changed_key_is_refused_even_under_tofu(
    make_sshd: Callable[..., Sshd], settings: SshSettings, tmp_path: Path
) -> None:
    server = make_sshd()
    tofu = replace(settings, host_key_policy="tofu")
    store = tmp_path / "auditor" / "known_hosts"
    with (
        ParamikoConnector(tofu_file=store, allow_agent=False) as first,
        first.connect(LOOPBACK, server.port, tofu, "loopback"),
    ):
        pass
    old = server.fingerprint()
    server.restart(host_key=_keygen(server.root / "host_new", "ed25519"))
    new = server.fingerprint()
    assert old != new
    with ParamikoConnector(tofu_file=store, allow_agent=False) as second:
        caught = connect_error(second, server.port, tofu, ChangedHostKeyError)
        assert caught.value.known_fingerprint == old
        assert caught.value.offered_fingerprint == new
        assert old in str(caught.value) and new in str(caught.value)
        assert caught.value.known_at == f"{store}:1"
        results = collect([_host(server.port)], tofu, _hostname_probe, connector=second)
    outcome = results["loopback"][0]
    assert outcome.state == "skipped"
    assert outcome.reason is not None and "host key CHANGED" in outcome.reason
    assert store.read_text().count("\n") == 1  # the new key was not recorded


def test_host_known_by_rsa_is_recognised_although_it_prefers_ed25519(
    make_sshd: Callable[..., Sshd],
    settings: SshSettings,
    known_hosts: Path,
    connector: ParamikoConnector,
) -> None:
    server = make_sshd(host_key_type="rsa")
    ed25519 = _keygen(server.root / "host_ed25519", "ed25519")
    server.extra = f"HostKey {ed25519}"  # the server now holds both; OpenSSH prefers ed25519
    server.restart()
    known_hosts.write_text(server.known_hosts_line())  # only the RSA key is on record
    with connector.connect(LOOPBACK, server.port, settings, "loopback") as session:
        assert session.run("true", timeout=10, max_output=64).exit_status == 0


# --------------------------------------------------------------------------- failures


def test_wrong_key_is_an_auth_failure(
    server: Sshd,
    settings: SshSettings,
    connector: ParamikoConnector,
    tmp_path: Path,
) -> None:
    stranger = replace(settings, key_file=_keygen(tmp_path / "id_stranger"))
    caught = connect_error(connector, server.port, stranger, AuthError)
    assert caught.value.kind is FailureKind.AUTH
    assert "authentication failed for root@127.0.0.1" in str(caught.value)
    assert "id_stranger" in str(caught.value)


def test_encrypted_key_without_passphrase_is_a_clear_error(
    make_sshd: Callable[..., Sshd],
    settings: SshSettings,
    tmp_path: Path,
) -> None:
    secret = "correct horse battery staple"
    locked = _keygen(tmp_path / "id_locked", passphrase=secret)
    server = make_sshd(authorized=(locked,), trusted=True)
    locked_settings = replace(settings, key_file=locked)
    with ParamikoConnector(allow_agent=False) as no_passphrase:
        caught = connect_error(no_passphrase, server.port, locked_settings, KeyFileError)
        assert "is encrypted and no passphrase was given" in str(caught.value)
    with ParamikoConnector(allow_agent=False, key_passphrase="wrong " + secret) as wrong:
        caught = connect_error(wrong, server.port, locked_settings, KeyFileError)
        assert secret not in str(caught.value)
    with (
        ParamikoConnector(allow_agent=False, key_passphrase=secret) as right,
        right.connect(LOOPBACK, server.port, locked_settings, "loopback") as session,
    ):
        assert session.run("true", timeout=10, max_output=64).exit_status == 0


def test_closed_port_is_refused_and_the_next_port_is_tried(
    server: Sshd,
    settings: SshSettings,
    connector: ParamikoConnector,
) -> None:
    closed = _free_port()
    caught = connect_error(connector, closed, settings, ConnectError)
    assert caught.value.kind is FailureKind.REFUSED
    assert "connection refused" in str(caught.value)

    host = replace(_host(closed), ssh_port=closed)
    results = collect(
        [host], replace(settings, ports=(server.port,)), _hostname_probe, connector=connector
    )
    outcome, facts = results["loopback"]
    assert outcome.state == "ok" and outcome.port == server.port
    assert facts is not None and facts.hostname == socket.gethostname()

    results = collect([host], settings, _hostname_probe, connector=connector)  # 22: not ours
    outcome = results["loopback"][0]
    assert outcome.state == "skipped"
    assert (
        outcome.reason is not None and f"connection refused on 127.0.0.1:{closed}" in outcome.reason
    )


def test_a_port_that_is_not_ssh(settings: SshSettings, connector: ParamikoConnector) -> None:
    with socket.socket() as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        caught = connect_error(connector, port, replace(settings, timeout=1.0), SshProtocolError)
    assert caught.value.kind is FailureKind.NOT_SSH
    assert caught.value.another_port_may_help


def test_old_server_needs_legacy_algorithms(
    make_sshd: Callable[..., Sshd],
    settings: SshSettings,
    connector: ParamikoConnector,
    tmp_path: Path,
) -> None:
    rsa_user = _keygen(tmp_path / "id_rsa_user", "rsa")
    server = make_sshd(
        host_key_type="rsa",
        authorized=(rsa_user,),
        extra=(
            "KexAlgorithms diffie-hellman-group14-sha1\n"
            "HostKeyAlgorithms ssh-rsa\n"
            "Ciphers aes128-cbc\n"
            "MACs hmac-sha1\n"
            "PubkeyAcceptedAlgorithms ssh-rsa"
        ),
        trusted=True,
    )
    old = replace(settings, key_file=rsa_user)
    caught = connect_error(connector, server.port, old, SshProtocolError)
    assert caught.value.kind is FailureKind.NO_COMMON_ALGORITHMS
    assert "legacy_algorithms" in str(caught.value)

    legacy = replace(old, legacy_algorithms=("127.0.0.*",))
    with connector.connect(LOOPBACK, server.port, legacy, "loopback") as session:
        assert session.run("echo old", timeout=10, max_output=64).stdout == b"old\n"


def test_centos5_style_group1_and_dss_host_key(
    make_sshd: Callable[..., Sshd],
    settings: SshSettings,
    connector: ParamikoConnector,
) -> None:
    server = make_sshd(
        host_key_type="dsa",
        extra=(
            "KexAlgorithms diffie-hellman-group1-sha1,diffie-hellman-group-exchange-sha1\n"
            "HostKeyAlgorithms ssh-dss\n"
            "Ciphers 3des-cbc,aes256-cbc"
        ),
        trusted=True,
    )
    legacy = replace(settings, legacy_algorithms=("127.0.0.1",))
    with connector.connect(LOOPBACK, server.port, legacy, "loopback") as session:
        assert session.run("echo dss", timeout=10, max_output=64).stdout == b"dss\n"


# --------------------------------------------------------------------------- draining


def test_floods_are_drained_and_capped(
    server: Sshd,
    settings: SshSettings,
    connector: ParamikoConnector,
) -> None:
    with connector.connect(LOOPBACK, server.port, settings, "loopback") as session:
        # 10 MB on stderr, far past every window and pipe buffer, then a line on stdout.
        flood = session.run(
            "head -c 10000000 /dev/zero >&2; echo still-here", timeout=60, max_output=1 << 20
        )
        assert flood.exit_status == 0 and not flood.timed_out
        assert flood.stdout == b"still-here\n" and not flood.stdout_truncated
        assert len(flood.stderr) == 1 << 20 and flood.stderr_truncated

        # A big script on stdin while the remote writes a lot: neither side blocks.
        script = "".join(f"echo line-{i}\n" for i in range(50000))
        both = session.run(script, timeout=60, max_output=1 << 20)
        assert both.exit_status == 0 and both.stdout.startswith(b"line-0\n")
        assert both.stdout.endswith(b"line-49999\n") and both.cut is None

        # Endless stdout is stopped at the cap (and said so), not read until the timeout.
        started = time.monotonic()
        endless = session.run("yes", timeout=60, max_output=100)
        assert len(endless.stdout) == 100 and endless.stdout_truncated
        assert endless.cut is FailureKind.OUTPUT_CAP and not endless.timed_out
        # Cut at once, then the stop within its stated wait (a /proc scan: seconds under load).
        assert time.monotonic() - started < stop_wait(settings.timeout) + 3

        started = time.monotonic()
        slow = session.run("echo before; sleep 30", timeout=1.0, max_output=64)
        assert slow.timed_out and slow.cut is FailureKind.DEADLINE
        assert slow.stdout == b"before\n"
        assert time.monotonic() - started < 1.0 + stop_wait(settings.timeout) + 1  # not 30 s

        # The session is still usable after a timed-out channel.
        assert session.run("echo after", timeout=10, max_output=64).stdout == b"after\n"


def test_deadline_through_collect(
    server: Sshd,
    settings: SshSettings,
    connector: ParamikoConnector,
) -> None:

    def greedy_probe(session: RemoteSession, host: Host) -> Facts:
        session.run("sleep 30", timeout=600, max_output=64)
        return Facts(collected_at=datetime.now(UTC))

    started = time.monotonic()
    results = collect(
        [_host(server.port)], replace(settings, deadline=2.0), greedy_probe, connector=connector
    )
    outcome, facts = results["loopback"]
    # The probe returned what it had: the host is partial, its facts kept.
    assert outcome.state == "partial" and outcome.kind == "deadline" and facts is not None
    assert outcome.reason is not None and outcome.reason.startswith("deadline exceeded after 2s")
    assert time.monotonic() - started < 2.0 + stop_wait(settings.timeout) + 2  # not 30 s


# --------------------------------------------------------------------------- jump host


def test_through_a_jump_host(
    make_sshd: Callable[..., Sshd],
    settings: SshSettings,
    connector: ParamikoConnector,
) -> None:
    bastion = make_sshd("bastion", log_level="DEBUG1", trusted=True)
    target = make_sshd("target", trusted=True)
    via = replace(settings, jump_host=f"root@{LOOPBACK}:{bastion.port}", concurrency=10)
    with connector.connect(LOOPBACK, target.port, via, "target") as session:
        assert session.run("echo through", timeout=10, max_output=64).stdout == b"through\n"
        assert session.description.endswith(f"via root@{LOOPBACK}:{bastion.port}")
    opened = f"target 127.0.0.1 port {target.port}"  # bastion's log of the direct-tcpip open
    assert opened in bastion.wait_for_log(lambda log: opened in log)

    hosts = [replace(_host(target.port), id=f"t{i}") for i in range(12)]
    results = collect(hosts, via, _hostname_probe, connector=connector)
    assert {o.state for o, _ in results.values()} == {"ok"}
    # One shared transport to the bastion carried every target session.
    assert bastion.log().count("Accepted publickey") == 1
    accepted = target.wait_for_log(lambda log: log.count("Accepted publickey") >= 13)
    assert accepted.count("Accepted publickey") == 13


def test_through_a_chain_of_jump_hosts(
    make_sshd: Callable[..., Sshd],
    settings: SshSettings,
    connector: ParamikoConnector,
) -> None:
    outer = make_sshd("outer", log_level="DEBUG1", trusted=True)
    inner = make_sshd("inner", log_level="DEBUG1", trusted=True)
    target = make_sshd("target", trusted=True)
    chain = f"root@{LOOPBACK}:{outer.port},root@{LOOPBACK}:{inner.port}"
    via = replace(settings, jump_host=chain)
    with connector.connect(LOOPBACK, target.port, via, "target") as session:
        assert session.run("echo deep", timeout=10, max_output=64).stdout == b"deep\n"
    to_inner = f"target 127.0.0.1 port {inner.port}"
    to_target = f"target 127.0.0.1 port {target.port}"
    assert to_inner in outer.wait_for_log(lambda log: to_inner in log)
    assert to_target in inner.wait_for_log(lambda log: to_target in log)
    assert to_target not in outer.log()


def test_a_failing_jump_host_skips_its_targets_once(
    make_sshd: Callable[..., Sshd], settings: SshSettings, connector: ParamikoConnector
) -> None:
    bastion = make_sshd("bastion")  # its key is not in known_hosts: strict refuses it
    via = replace(settings, jump_host=f"{LOOPBACK}:{bastion.port}")
    hosts = [replace(_host(22), id=f"t{i}") for i in range(3)]
    results = collect(hosts, via, _hostname_probe, connector=connector)
    for outcome, _ in results.values():
        assert outcome.state == "skipped"
        assert outcome.reason is not None
        assert outcome.reason.startswith(
            f"jump host root@{LOOPBACK}:{bastion.port}: unknown host key"
        )
    caught = connect_error(connector, 22, via, JumpHostError, "t")
    assert caught.value.hop_kind is FailureKind.UNKNOWN_HOST_KEY


# --------------------------------------------------------------------------- proxy command


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs the OpenSSH client for ssh -W")
def test_proxy_command_ssh_w_through_a_bastion(
    make_sshd: Callable[..., Sshd],
    settings: SshSettings,
    known_hosts: Path,
    user_key: Path,
    connector: ParamikoConnector,
) -> None:
    """`ssh -W %h:%p bastion` as [ssh] proxy_command: the shape of every ProxyCommand recipe
    (AWS SSM's start-session too): the target is reached through the program's stdio."""
    bastion = make_sshd("bastion", log_level="DEBUG1", trusted=True)
    target = make_sshd("target", trusted=True)
    proxy = (
        f"ssh -F none -i {user_key} -o BatchMode=yes -o StrictHostKeyChecking=yes "
        f"-o UserKnownHostsFile={known_hosts} -p {bastion.port} -W %h:%p %r@{LOOPBACK}"
    )
    via = replace(settings, proxy_command=proxy)
    with connector.connect(LOOPBACK, target.port, via, "target") as session:
        assert session.run("echo proxied", timeout=10, max_output=64).stdout == b"proxied\n"
        assert "via proxy command ssh" in session.description
    opened = f"target 127.0.0.1 port {target.port}"
    assert opened in bastion.wait_for_log(lambda log: opened in log)
    # The proxy is gone with the session: no ssh -W left behind.
    leftovers = subprocess.run(
        ["pgrep", "-f", f"-W {LOOPBACK}:{target.port}"], capture_output=True, text=True
    )
    assert leftovers.stdout == ""


@pytest.mark.skipif(shutil.which("socat") is None, reason="needs socat")
def test_proxy_command_from_ssh_config(
    make_sshd: Callable[..., Sshd], settings: SshSettings, known_hosts: Path, tmp_path: Path
) -> None:
    target = make_sshd("target", trusted=True)
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(f"Host {LOOPBACK}\n  ProxyCommand socat - TCP:%h:%p\n")
    with (
        ParamikoConnector(allow_agent=False, ssh_config=ssh_config) as connector,
        connector.connect(LOOPBACK, target.port, replace(settings, use_ssh_config=True), "t")
        as session,
    ):
        assert session.run("echo socat", timeout=10, max_output=64).stdout == b"socat\n"
        assert "via proxy command socat" in session.description


def test_a_proxy_command_that_exits_says_why(
    settings: SshSettings, connector: ParamikoConnector
) -> None:
    broken = replace(
        settings,
        proxy_command="sh -c 'echo SessionManagerPlugin is not found >&2; exit 254'",
        timeout=3.0,
    )
    caught = connect_error(connector, 22, broken, ConnectError, "t")
    assert caught.value.kind is FailureKind.PROXY_COMMAND
    assert "status 254" in str(caught.value) and "SessionManagerPlugin" in str(caught.value)
    missing = replace(settings, proxy_command="/nonexistent/aws ssm start-session --target %h")
    caught = connect_error(connector, 22, missing, ConnectError, "t")
    assert "cannot start proxy command /nonexistent/aws" in str(caught.value)


@pytest.mark.skipif(shutil.which("socat") is None, reason="needs socat")
def test_the_instance_id_reaches_the_proxy_command_through_collect(
    make_sshd: Callable[..., Sshd],
    settings: SshSettings,
    connector: ParamikoConnector,
) -> None:
    """The AWS SSM shape (`--target %i`): collect hands the host's EC2 instance id over; the
    stand-in proxy refuses any other target, as `aws ssm start-session` would."""
    target = make_sshd("target", trusted=True)
    instance = "i-0abc12345678def00"
    via = replace(
        settings,
        proxy_command=f"sh -c 'test \"$1\" = {instance} && exec socat - TCP:%h:%p' ssm %i",
    )
    host = replace(_host(target.port), identifiers=(f"aws:{instance}", f"ip:{LOOPBACK}"))
    without_id = replace(_host(target.port), id="no-instance-id")
    results = collect([host, without_id], via, _hostname_probe, connector=connector)
    assert results[host.id][0].state == "ok"
    outcome = results[without_id.id][0]
    assert outcome.state == "skipped" and outcome.reason is not None
    assert "no source knows this host's instance id" in outcome.reason


def test_a_bastion_whose_key_changed_is_one_critical_root_cause(
    make_sshd: Callable[..., Sshd],
    settings: SshSettings,
    known_hosts: Path,
    connector: ParamikoConnector,
    tmp_path: Path,
) -> None:
    from auditor.config import Config
    from auditor.rules import RuleContext, ssh_findings

    bastion = make_sshd("bastion")
    impostor_key = _keygen(tmp_path / "old_bastion_key")  # what known_hosts remembers
    key_type, blob = Path(f"{impostor_key}.pub").read_text().split()[:2]
    known_hosts.write_text(f"[{LOOPBACK}]:{bastion.port} {key_type} {blob}\n")
    via = replace(settings, jump_host=f"root@{LOOPBACK}:{bastion.port}")
    hosts = [replace(_host(22), id=f"t{i}") for i in range(3)]
    results = collect(hosts, via, _hostname_probe, connector=connector)
    outcomes = {host_id: outcome for host_id, (outcome, _) in results.items()}
    assert {(o.kind, o.jump, o.jump_kind) for o in outcomes.values()} == {
        ("jump-host", f"root@{LOOPBACK}:{bastion.port}", "changed-host-key")
    }
    context = RuleContext(Config(path=None), datetime.now(UTC), tuple(hosts), outcomes, {})
    [finding] = ssh_findings(context)
    assert (finding.rule, finding.severity.value, finding.host) == ("ssh-jump-host", "critical", None)
    assert "3 hosts not probed" in finding.title
