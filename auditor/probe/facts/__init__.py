"""The facts the probe collects, in script order. Each module holds one `<Thing>Fact`."""

from __future__ import annotations

from auditor.probe.facts.auth_log import AuthLogFact
from auditor.probe.facts.cron import CronFact
from auditor.probe.facts.inspection import INSPECT_FACTS, InspectFacts
from auditor.probe.facts.log_activity import LogActivityFact
from auditor.probe.facts.logins import LoginsFact
from auditor.probe.facts.machine import MachineFact
from auditor.probe.facts.os_release import OsReleaseFact
from auditor.probe.facts.services import ServicesFact
from auditor.probe.facts.sockets import SocketsFact
from auditor.probe.facts.software import SoftwareFact
from auditor.probe.facts.system import SystemFact
from auditor.probe.facts.web_logs import WebLogsFact
from auditor.probe.interface import ProbeFact

# Unprivileged facts run first in the login shell; the privileged ones then run together in
# one root shell. WebLogsFact uses $PIDS from SocketsFact (the web servers' command lines
# name their config files), so it comes after it.
ALL_FACTS: tuple[ProbeFact, ...] = (
    SystemFact(),
    OsReleaseFact(),
    LoginsFact(),
    SoftwareFact(),
    SocketsFact(),
    LogActivityFact(),
    CronFact(),
    WebLogsFact(),
)

__all__ = [
    "ALL_FACTS",
    "INSPECT_FACTS",
    "AuthLogFact",
    "CronFact",
    "InspectFacts",
    "LogActivityFact",
    "LoginsFact",
    "MachineFact",
    "OsReleaseFact",
    "ServicesFact",
    "SocketsFact",
    "SoftwareFact",
    "SystemFact",
    "WebLogsFact",
]
