"""Integration fixtures: the lab fleet (network namespaces + sshd + moto), once per session.

`lab` brings the demo lab up (or reuses one that is already up and healthy, and then
leaves it up), yields its `LabState`, and takes it down at the end of the session, also
when tests fail or the run is interrupted (finalizer + atexit). Tests that need it are
marked `@pytest.mark.lab`. Set AUDITOR_LAB_KEEP=1 to leave the lab up for a look afterwards.

Network safety: tests talk only to the lab's addresses (10.250.77.0/24, in namespaces the
lab created) and to 127.0.0.1.
"""

from __future__ import annotations

import atexit
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.errors import LabError
from auditor.lab import LabState, demo_spec, lab_down, lab_up, load_state
from tests.integration.moto_server import lab_aws_env

LAB_DOWN_MARK = "lab_down"
LAB_FIRST_MARK = "lab_first"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{LAB_DOWN_MARK}: takes the session's lab down; runs after every other test"
    )
    config.addinivalue_line(
        "markers",
        f"{LAB_FIRST_MARK}: builds and removes a lab of its own; runs before the session's lab",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The lab is shared by the whole session: the test that takes it down must come last,
    # and a test with a lab of another shape must be done before the session's is built.
    first = [i for i in items if i.get_closest_marker(LAB_FIRST_MARK)]
    last = [i for i in items if i.get_closest_marker(LAB_DOWN_MARK)]
    middle = [i for i in items if i not in first and i not in last]
    items[:] = first + middle + last


def lab_skip_reason() -> str | None:
    """Why the lab cannot run here, or None."""
    if os.geteuid() != 0:
        return (
            "the lab needs root (it creates network namespaces, veth links and a bridge, "
            "and mounts overlays); run the integration tests as root"
        )
    missing = [t for t in ("ip", "unshare", "mount") if shutil.which(t) is None]
    if not Path("/usr/sbin/sshd").exists():
        missing.append("/usr/sbin/sshd (openssh-server)")
    if missing:
        return f"the lab needs {', '.join(missing)}"
    return None


class _LabSession:
    def __init__(self) -> None:
        self.spec = demo_spec()
        self.state: LabState | None = None
        self.preexisting = False
        self.down = False

    def up(self) -> LabState:
        previous = load_state(self.spec.state_dir)
        self.state = lab_up(self.spec)
        # lab_up left a healthy lab of the same shape as it was: not ours to take down.
        self.preexisting = previous is not None and previous == self.state
        return self.state

    def teardown(self) -> None:
        if self.down or self.preexisting or os.environ.get("AUDITOR_LAB_KEEP") == "1":
            return
        self.down = True
        try:
            lab_down(self.spec.state_dir)
        except LabError as exc:  # atexit/finalizer: report, do not mask the test outcome
            print(f"lab teardown failed: {exc}")


@pytest.fixture(scope="session")
def lab_session() -> Iterator[_LabSession]:
    reason = lab_skip_reason()
    if reason:
        pytest.skip(reason)
    session = _LabSession()
    atexit.register(session.teardown)
    try:
        session.up()
        yield session
    finally:
        session.teardown()


@pytest.fixture(scope="session")
def lab(lab_session: _LabSession) -> LabState:
    """The running demo lab (see auditor/lab/spec.py DEMO_HOSTS)."""
    assert lab_session.state is not None
    return lab_session.state


@pytest.fixture(scope="module")
def aws_env() -> Iterator[None]:
    """The lab's AWS environment (moto_server.LAB_AWS_ENV) for a test module that reads the
    lab's moto server: set from the first test that asks until the module's end."""
    with lab_aws_env():
        yield
