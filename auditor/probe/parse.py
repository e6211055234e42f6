"""`parse_probe_output`: the script's stdout -> `Facts`. Pure: no I/O, no clock."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from auditor.bounds import bounded_fields
from auditor.model import Facts
from auditor.probe.facts import ALL_FACTS
from auditor.probe.interface import ParseContext, Privilege, ProbeFact, missing_section
from auditor.probe.owners import ClientOwners
from auditor.probe.parsers.clock import from_epoch
from auditor.probe.parsers.software import VersionRun
from auditor.probe.sections import ProbeOutput, Section, split_output


def parse_probe_output(
    stdout: str,
    nonce: str,
    *,
    collected_at: datetime,
    log_days: int,
    owner_of: Callable[[str], str | None],
    facts: Sequence[ProbeFact] = ALL_FACTS,
    cached_versions: Mapping[str, VersionRun] | None = None,
    client_owners: ClientOwners | None = None,
) -> Facts:
    """Facts from one run's stdout. Never raises on bad output: a fact that could not be
    read is None with a reason in `errors[field]`; `errors["probe"]` says when the script
    did not run to its end. `cached_versions` are the version runs the script was told it
    knows (`ProbeOptions.known_versions`), by program path."""
    return parse_probe_sections(
        split_output(stdout, nonce),
        collected_at=collected_at,
        log_days=log_days,
        owner_of=owner_of,
        facts=facts,
        cached_versions=cached_versions,
        client_owners=client_owners,
    )


def parse_probe_sections(
    output: ProbeOutput,
    *,
    collected_at: datetime,
    log_days: int,
    owner_of: Callable[[str], str | None],
    facts: Sequence[ProbeFact] = ALL_FACTS,
    cached_versions: Mapping[str, VersionRun] | None = None,
    client_owners: ClientOwners | None = None,
) -> Facts:
    """`parse_probe_output` for output already split (a caller that reads other sections of
    the same output splits it once)."""
    context = parse_context(
        output,
        collected_at=collected_at,
        log_days=log_days,
        owner_of=owner_of,
        cached_versions=cached_versions,
        client_owners=client_owners,
    )
    values, errors = parse_facts(output, facts, context)
    meta = output.section("meta") or Section("meta")
    errors.update(_run_errors(output, meta, context.privilege, facts))
    return replace(
        Facts(collected_at=context.collected_at), **values, errors=dict(sorted(errors.items()))
    )


def parse_context(
    output: ProbeOutput,
    *,
    collected_at: datetime,
    log_days: int,
    owner_of: Callable[[str], str | None],
    cached_versions: Mapping[str, VersionRun] | None = None,
    client_owners: ClientOwners | None = None,
) -> ParseContext:
    """What every fact's parser is given: the clock, who the script ran as (meta)."""
    if collected_at.tzinfo is None:
        raise ValueError("collected_at must be timezone-aware")
    privilege, host_now = read_privilege(output.section("meta") or Section("meta"))
    return ParseContext(
        collected_at=collected_at.astimezone(UTC),
        log_days=log_days,
        owner_of=owner_of,
        privilege=privilege,
        host_now=host_now,
        cached_versions=dict(cached_versions or {}),
        client_owners=client_owners or ClientOwners(),
    )


def parse_facts(
    output: ProbeOutput, facts: Sequence[ProbeFact], context: ParseContext
) -> tuple[dict[str, Any], dict[str, str]]:
    """Each fact's field values and errors; a fact that printed nothing gets None with the
    reason (the script stopped before it, or it printed no part). Every string is bounded
    here, where facts enter (`auditor.bounds`): a host's answer can be of any length."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for fact in facts:
        section = output.section(fact.name)
        if section is None:
            update = missing_section(fact.fields, fact.name, output.finished)
        else:
            update = fact.parse(section, context)
        values.update(bounded_fields(dict(update.values)))
        errors.update(bounded_fields(dict(update.errors), "errors"))
    return values, errors


def read_privilege(meta: Section) -> tuple[Privilege, datetime | None]:
    part = meta.get("privilege")
    if part is None:
        return Privilege(sudo="unknown"), None
    values = dict(line.partition("=")[::2] for line in part.lines if "=" in line)
    uid_text = values.get("uid", "")
    sudo = values.get("sudo", "unknown") or "unknown"
    half = meta.get("privileged")
    if sudo == "ok" and half is not None and half.body.strip() != "sudo":
        sudo = "denied"  # cannot happen today; kept so a mismatch never claims root
    commands = meta.get("sudo-commands")
    answers = [line.partition(" ") for line in commands.lines] if commands else []
    return (
        Privilege(
            uid=int(uid_text) if uid_text.isdigit() else None,
            user=values.get("user") or None,
            sudo=sudo,
            sudo_message=values.get("sudo_message") or None,
            has_timeout=values.get("timeout", "none") != "none",
            sudo_ran=tuple(line for word, _, line in answers if word == "sudo"),
            sudo_refused=tuple(line for word, _, line in answers if word == "refused"),
        ),
        from_epoch(values.get("now", "")),
    )


def stopped_step(output: ProbeOutput, facts: Sequence[ProbeFact] = ALL_FACTS) -> str | None:
    """Where a script that did not finish stopped: the step its STOP marker names (it was
    stopped at the deadline), else the first part cut short, else the first fact, in script
    order, that printed nothing. None when it finished."""
    if output.finished:
        return None
    if output.stopped_in:
        return output.stopped_in
    for section in output.sections.values():
        for part in section.parts:
            if not part.complete:
                return f"{section.fact}/{part.name}"
    in_order = sorted(facts, key=lambda f: f.privileged)  # the script's order (stable)
    return next((f.name for f in in_order if output.section(f.name) is None), None)


def _run_errors(
    output: ProbeOutput, meta: Section, privilege: Privilege, facts: Sequence[ProbeFact]
) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not output.sections:
        errors["probe"] = "no probe output at all (the script did not run, or its output was lost)"
        return errors
    half = meta.get("privileged")
    if half is not None and half.status == 124:
        errors["probe.privileged"] = "the root half (sockets, logs, cron) hit its time limit"
    elif half is not None and half.status not in (0, None):
        errors["probe.privileged"] = f"the root half exited with status {half.status}"
    if output.stopped_in:
        errors["probe"] = f"the script was stopped in {output.stopped_in}"
    elif not output.finished:
        step = stopped_step(output, facts)
        errors["probe"] = "output ended before the script finished" + (
            f", in {step}" if step else ""
        )
    if privilege.sudo in ("denied", "absent"):
        errors["probe.sudo"] = privilege.why_not_root()
    if privilege.sudo == "commands" and privilege.sudo_refused:
        refused = privilege.sudo_refused
        errors["probe.sudo"] = (
            f"sudo refused {len(refused)} of the read-only commands ({'; '.join(refused[:3])}): "
            "they ran as the login user; the sudoers entry is in docs/ssh.md"
        )
    return errors
