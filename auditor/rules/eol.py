"""End-of-life findings for the OS and for software, from the EolStatus the probe attached.

Severity (documented in docs/reports.md):

| EolStatus.status | severity |
|---|---|
| eol, more than 3 years past (days_past > 1095) | critical |
| eol, more than 1 year past (days_past > 365) | high |
| eol, less than a year past, or date unknown | medium |
| extended-support (paid extended support only) | medium |
| security-only (no more bug fixes) | low |
| supported, unknown | no finding |

A program that a package of a still maintained OS release installed is judged by the OS
(`EolStatus.judged_by` "distribution", see auditor.eol.software): it gets no finding of its
own, the host's eol-os finding (if any) is the one to act on.
"""

from __future__ import annotations

from collections.abc import Iterable

from auditor.eol.software import DISTRIBUTION
from auditor.model import EolStatus, Facts, Finding, Host, Severity
from auditor.rules.common import RuleContext, probed_at


def eol_severity(eol: EolStatus) -> Severity | None:
    if eol.status == "eol":
        past = eol.days_past
        if past is not None and past > 3 * 365:
            return Severity.CRITICAL
        if past is not None and past > 365:
            return Severity.HIGH
        return Severity.MEDIUM
    if eol.status == "extended-support":
        return Severity.MEDIUM
    if eol.status == "security-only":
        return Severity.LOW
    return None


def _phrase(eol: EolStatus) -> str:
    if eol.status == "eol":
        return "is end of life"
    if eol.status == "extended-support":
        return "is in extended support only"
    return "receives security fixes only"


def _eol_evidence(eol: EolStatus) -> str:
    cycle = f"{eol.product or '?'} {eol.cycle or '?'}"
    if eol.date and eol.days_past is not None:
        if eol.days_past >= 0:
            timing = f"end of life {eol.date} ({eol.days_past} days ago)"
        else:
            timing = f"end of life {eol.date} (in {-eol.days_past} days)"
    elif eol.date:
        timing = f"end of life {eol.date}"
    else:
        timing = "end-of-life date not given"
    return f"{cycle}: {eol.status}, {timing}; data: {eol.source}"


def eol_findings(ctx: RuleContext) -> Iterable[Finding]:
    for host, facts in ctx.probed():
        yield from _os_finding(host, facts)
        yield from _software_findings(host, facts)


def _os_finding(host: Host, facts: Facts) -> Iterable[Finding]:
    os = facts.os
    if os is None or os.eol is None:
        return
    severity = eol_severity(os.eol)
    if severity is None:
        return
    # The release cycle, not the point release: every Debian 12 host lands in one group.
    release = " ".join(x for x in (os.name or os.id, os.eol.cycle or os.version) if x) or "OS"
    seen = os.raw or os.pretty_name or release
    yield Finding(
        "eol-os",
        severity,
        host.id,
        f"{release} {_phrase(os.eol)}",
        (
            _eol_evidence(os.eol),
            f"seen: {seen!r} in {os.source or 'os identity'}, {probed_at(facts)}",
        ),
    )


def _software_findings(host: Host, facts: Facts) -> Iterable[Finding]:
    for sw in facts.software or ():
        if sw.eol is None or sw.eol.judged_by == DISTRIBUTION:
            continue
        severity = eol_severity(sw.eol)
        if severity is None:
            continue
        yield Finding(
            "eol-software",
            severity,
            host.id,
            f"{sw.name} {sw.eol.cycle or sw.version} {_phrase(sw.eol)}",
            (
                _eol_evidence(sw.eol),
                *((sw.eol.basis,) if sw.eol.basis else ()),
                f"seen: {(sw.raw or sw.name + ' ' + sw.version)!r}, {probed_at(facts)}",
            ),
        )
