"""The lab: a real fleet of SSH hosts on this one machine, for the demo and integration tests.

One bridge (`audlab0`, 10.250.77.1/24 by default), one network namespace per host with its
own hostname, PID namespace and private mount namespace in which /etc, /usr, /var are
overlaid (so every host can look like another distribution without touching the machine's
files), one Debian OpenSSH sshd per host, and a moto server on 127.0.0.1 for AWS.

    state = lab_up(demo_spec())       # needs root; idempotent
    lab_status(state_dir).healthy
    lab_down(state_dir)

CLI: `python -m auditor.lab up|down|status`.
"""

from auditor.lab.core import HostHealth, LabStatus, lab_down, lab_status, lab_up
from auditor.lab.spec import (
    DEFAULT_MOTO_PORT,
    DEFAULT_STATE_DIR,
    DEFAULT_SUBNET,
    HostSpec,
    LabSpec,
    Profile,
    demo_spec,
)
from auditor.lab.state import AwsInstance, AwsState, HostState, LabState, load_state

__all__ = [
    "DEFAULT_MOTO_PORT",
    "DEFAULT_STATE_DIR",
    "DEFAULT_SUBNET",
    "AwsInstance",
    "AwsState",
    "HostHealth",
    "HostSpec",
    "HostState",
    "LabSpec",
    "LabState",
    "LabStatus",
    "Profile",
    "demo_spec",
    "lab_down",
    "lab_status",
    "lab_up",
    "load_state",
]
