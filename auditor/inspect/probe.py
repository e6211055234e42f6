"""The inspect probe: the audit's script plus the deeper facts, in one SSH round trip.

`InspectProbe` is a `collect` probe (session, host) -> Facts, like `auditor.probing`'s, that
also keeps each host's `InspectFacts` and the auditor's address as the host saw it.
`parse_inspect_output` is pure.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from auditor.config import Config
from auditor.eol import EolData
from auditor.model import Facts, Host
from auditor.probe import ALL_FACTS, ProbeOptions, build_script
from auditor.probe.facts import INSPECT_FACTS, InspectFacts
from auditor.probe.interface import ProbeFact
from auditor.probe.parse import parse_context, parse_facts
from auditor.probe.sections import ProbeOutput, split_output
from auditor.probing import finish_facts, probe_session
from auditor.remote.session import RemoteSession
from auditor.software_cache import SoftwareCache


def inspect_script(options: ProbeOptions) -> str:
    """The audit probe with the inspect facts appended (they read its `$PIDS`)."""
    return build_script(options, (*ALL_FACTS, *INSPECT_FACTS))


def parse_inspect_output(
    stdout: str,
    nonce: str,
    *,
    collected_at: datetime,
    log_days: int,
    owner_of: Callable[[str], str | None],
    facts: Sequence[ProbeFact] = INSPECT_FACTS,
) -> InspectFacts:
    """The deeper facts from the same stdout `parse_probe_output` reads. Never raises."""
    return parse_inspect_sections(
        split_output(stdout, nonce),
        collected_at=collected_at,
        log_days=log_days,
        owner_of=owner_of,
        facts=facts,
    )


def parse_inspect_sections(
    output: ProbeOutput,
    *,
    collected_at: datetime,
    log_days: int,
    owner_of: Callable[[str], str | None],
    facts: Sequence[ProbeFact] = INSPECT_FACTS,
) -> InspectFacts:
    """`parse_inspect_output` for output already split."""
    context = parse_context(output, collected_at=collected_at, log_days=log_days, owner_of=owner_of)
    values, errors = parse_facts(output, facts, context)
    return replace(InspectFacts(), **values, errors=dict(sorted(errors.items())))


class InspectProbe:
    """A `collect` probe that runs the inspect script and keeps the deeper facts per host
    (`deep[host.id]`). One instance per inspect run; thread-safe."""

    def __init__(
        self,
        config: Config,
        eol_data: EolData | None,
        log_days: int,
        software_cache: SoftwareCache | None = None,
    ) -> None:
        self.config = config
        self.eol_data = eol_data
        self.log_days = log_days
        self.software_cache = software_cache
        self.deep: dict[str, InspectFacts] = {}
        self._lock = threading.Lock()

    def __call__(self, session: RemoteSession, host: Host) -> Facts:
        run = probe_session(
            session,
            host,
            self.config,
            script=inspect_script,
            software_cache=self.software_cache,
            log_days=self.log_days,
        )
        deep = parse_inspect_sections(
            run.output,
            collected_at=run.collected_at,
            log_days=self.log_days,
            owner_of=self.config.owner_of,
        )
        with self._lock:
            self.deep[host.id] = deep
        return finish_facts(run.facts, run.result, run.collected_at.date(), self.eol_data)
