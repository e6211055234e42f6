"""The SSH connection layer: sessions that run one sh script per channel, and connectors.

- `RemoteSession`, `CommandResult`, `Connector`: the contract (`session.py`).
- `ParamikoConnector`: real SSH with jump hosts, host key policy, legacy algorithms.
- `LocalShellConnector`: local `/bin/sh`, for `--dry-run` and tests.
- `ScriptedConnector`: canned answers, for tests (`scripted.py`).
- `HostKeyPolicy`: strict / tofu known_hosts checking (`hostkeys.py`).
- Failures: `auditor.remote.errors` (all ProbeError subclasses, each with a `kind`).
"""

import importlib
from typing import TYPE_CHECKING, Any

from auditor.remote.errors import (
    AuthError,
    ChangedHostKeyError,
    ConnectError,
    FailureKind,
    HostCertificateError,
    JumpHostError,
    KeyFileError,
    RemoteError,
    SessionError,
    SshProtocolError,
    UnknownHostKeyError,
    failure_kind,
)
from auditor.remote.local import LocalShellConnector, LocalShellSession
from auditor.remote.scripted import Fail, Reply, ScriptedConnector, ScriptedSession
from auditor.remote.session import (
    DEFAULT_MAX_OUTPUT,
    CommandResult,
    Connector,
    RemoteSession,
    default_ports,
)

if TYPE_CHECKING:
    from auditor.remote.hostkeys import HostKeyPolicy, default_tofu_file, fingerprint
    from auditor.remote.paramiko_connector import ParamikoConnector, ParamikoSession

# paramiko (~0.2 s of imports) only when a real SSH part is asked for: the contract, the
# errors and the fakes stay light for discover, reports and tests.
_LAZY = {
    "HostKeyPolicy": "auditor.remote.hostkeys",
    "default_tofu_file": "auditor.remote.hostkeys",
    "fingerprint": "auditor.remote.hostkeys",
    "ParamikoConnector": "auditor.remote.paramiko_connector",
    "ParamikoSession": "auditor.remote.paramiko_connector",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "DEFAULT_MAX_OUTPUT",
    "AuthError",
    "ChangedHostKeyError",
    "CommandResult",
    "ConnectError",
    "Connector",
    "Fail",
    "FailureKind",
    "HostCertificateError",
    "HostKeyPolicy",
    "JumpHostError",
    "KeyFileError",
    "LocalShellConnector",
    "LocalShellSession",
    "ParamikoConnector",
    "ParamikoSession",
    "RemoteError",
    "RemoteSession",
    "Reply",
    "ScriptedConnector",
    "ScriptedSession",
    "SessionError",
    "SshProtocolError",
    "UnknownHostKeyError",
    "default_ports",
    "default_tofu_file",
    "failure_kind",
    "fingerprint",
]
