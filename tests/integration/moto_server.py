"""A real moto server on 127.0.0.1 for tests: the AWS API without AWS.

`start_moto_server()` runs `moto_server` from the venv on a free loopback port and waits
until it answers; `MotoServer.stop()` ends it. Fixtures (import them into a test module or a
conftest):

- `moto_server`   session-wide server, started once.
- `moto_endpoint` function-scoped: resets the shared server's state, sets the test AWS
  environment, yields the endpoint URL.
- `aws_test_env`  dummy credentials, no instance metadata, no config files, and a dead
  loopback AWS_ENDPOINT_URL: a boto3 client that forgets `endpoint_url` fails loudly on
  127.0.0.1:9 instead of reaching real AWS.

A test that turns on moto's IAM enforcement (`enforce_iam`) changes server-wide state, so
start a private server for it with `running_moto_server()`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

LOOPBACK = "127.0.0.1"
# Nothing listens on the discard port; clients without an explicit endpoint hit this.
DEAD_ENDPOINT = f"http://{LOOPBACK}:9"
TEST_ACCOUNT = "123456789012"  # moto's default account

TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_ENDPOINT_URL": DEAD_ENDPOINT,
}
# The lab's AWS environment: its moto server takes any key (the lab config names its
# endpoint), and nothing of the developer's own AWS setup is read: no instance metadata, no
# config or credentials file.
LAB_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
# Variables from the developer's shell that would route or authenticate elsewhere.
CLEARED_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")


def _moto_server_binary() -> str:
    candidate = Path(sys.executable).parent / "moto_server"
    if not candidate.exists():
        pytest.skip("moto_server not installed in this venv (pip install 'moto[server]')")
    return str(candidate)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class MotoServer:
    endpoint: str
    process: subprocess.Popen[bytes]

    def _post(self, path: str, body: bytes = b"") -> bytes:
        # text/plain: moto reads the raw body; a form content type would be swallowed.
        request = urllib.request.Request(
            self.endpoint + path,
            data=body,
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            data: bytes = response.read()
            return data

    def reset(self) -> None:
        """Forget every resource (all accounts, all regions)."""
        self._post("/moto-api/reset")

    def enforce_iam(self, enabled: bool = True) -> None:
        """From now on, check signatures and IAM policies (unknown keys get AuthFailure,
        a role without ec2:DescribeInstances gets AccessDenied)."""
        self._post("/moto-api/reset-auth", b"0" if enabled else b"inf")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM when pytest dies, even from SIGKILL, so an aborted
    run leaves no moto_server behind."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def start_moto_server(timeout: float = 30.0, attempts: int = 3) -> MotoServer:
    """Start moto_server on a free loopback port; retry if another process took the port."""
    binary = _moto_server_binary()
    env = {k: v for k, v in os.environ.items() if k not in CLEARED_ENV}
    env.update(TEST_ENV)
    last_error = "not started"
    for _ in range(attempts):
        port = _free_port()
        process = subprocess.Popen(
            [binary, "-H", LOOPBACK, "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            preexec_fn=_die_with_parent,
        )
        server = MotoServer(f"http://{LOOPBACK}:{port}", process)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
                last_error = f"moto_server exited with {process.returncode}: {stderr[-500:]}"
                break
            try:
                with urllib.request.urlopen(server.endpoint + "/moto-api/", timeout=2):
                    # Nobody reads stderr from here on; don't let its pipe fill and block.
                    if process.stderr:
                        process.stderr.close()
                    return server
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        else:
            server.stop()
            last_error = f"moto_server did not answer on port {port} within {timeout}s"
    raise RuntimeError(last_error)


@contextmanager
def running_moto_server() -> Iterator[MotoServer]:
    server = start_moto_server()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def aws_environment() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name in CLEARED_ENV:
            patch.delenv(name, raising=False)
        for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL_")]:
            patch.delenv(name)
        for name, value in TEST_ENV.items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    with running_moto_server() as server:
        yield server


@pytest.fixture
def aws_test_env() -> Iterator[None]:
    with aws_environment():
        yield


@pytest.fixture
def moto_endpoint(moto_server: MotoServer, aws_test_env: None) -> str:
    moto_server.reset()
    return moto_server.endpoint


@contextmanager
def lab_aws_env() -> Iterator[None]:
    """LAB_AWS_ENV set in os.environ (CLI subprocesses inherit it), undone after."""
    patch = pytest.MonkeyPatch()
    for key, value in LAB_AWS_ENV.items():
        patch.setenv(key, value)
    try:
        yield
    finally:
        patch.undo()
