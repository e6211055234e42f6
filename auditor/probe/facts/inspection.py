"""The deeper facts `auditor inspect` adds to the probe, kept out of the audit's probe so
that one stays as light as it is.

`build_script(options, (*ALL_FACTS, *INSPECT_FACTS))` makes one script for both; the audit
facts are parsed into `Facts` by `parse_probe_output` as always, these into `InspectFacts`
(by `auditor.inspect.probe.parse_inspect_output`). ServicesFact reads SocketsFact's
`$PIDS`, so INSPECT_FACTS must come after ALL_FACTS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from auditor.probe.facts.auth_log import AcceptedLogin, AuthLogFact
from auditor.probe.facts.machine import MachineFact, MachineHints
from auditor.probe.facts.services import ServiceProcess, ServicesFact
from auditor.probe.interface import ProbeFact

INSPECT_FACTS: tuple[ProbeFact, ...] = (MachineFact(), ServicesFact(), AuthLogFact())


@dataclass(frozen=True)
class InspectFacts:
    """What the deeper facts learned. A fact that could not be read is None with a reason
    in `errors` (same convention as `Facts`)."""

    machine: MachineHints | None = None
    services: tuple[ServiceProcess, ...] | None = None
    accepted_logins: tuple[AcceptedLogin, ...] | None = None
    errors: Mapping[str, str] = field(default_factory=dict, compare=False)
