"""report.json: the contract users and other tools rely on (schema `auditor/report@1`).

The field names here are public API: add fields freely, never rename. The JSON Schema that
describes them ships beside this module (report.schema.json) and tests validate against it.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from importlib import resources
from typing import Any

from auditor.model import (
    AuditRun,
    Changes,
    Facts,
    Finding,
    FindingChange,
    FindingLike,
    Host,
    HostStatus,
    Severity,
    SshOutcome,
    SshState,
)
from auditor.report.groups import group_findings
from auditor.spool import FactsSpool, MadeRows, json_chunks, plain

SCHEMA_ID = "auditor/report@1"


_FIELDS: dict[type, tuple[str, ...]] = {}
_PLAIN = frozenset({str, int, float, bool})


def _field_names(cls: type) -> tuple[str, ...] | None:
    """A dataclass's field names (looked up once per class: jsonable runs per value), or
    None for any other class."""
    names = _FIELDS.get(cls)
    if names is None and cls not in _FIELDS:
        is_data = dataclasses.is_dataclass(cls)
        names = tuple(f.name for f in dataclasses.fields(cls)) if is_data else None
        _FIELDS[cls] = names  # type: ignore[assignment]
    return names


def jsonable(value: Any) -> Any:
    """Dataclasses, enums, dates and mappings -> plain JSON values."""
    if value is None or type(value) in _PLAIN:  # exact types: a str enum is not plain
        return value
    names = _field_names(type(value))
    if names is not None:
        return {name: jsonable(getattr(value, name)) for name in names}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value


def facts_to_dict(facts: Facts) -> dict[str, Any]:
    data: dict[str, Any] = jsonable(facts)
    # "from" is the documented key for a login's origin; the dataclass can't use a keyword.
    for key in ("logins", "sessions"):
        if data.get(key) is not None:
            data[key] = [{"user": x["user"], "from": x["source"], "at": x["at"]} for x in data[key]]
    return data


def ssh_to_dict(ssh: SshOutcome) -> dict[str, Any]:
    """A host's `ssh` entry. `interrupted` is not written: `kind` "interrupted" says it (and
    report.json keeps the keys it always had)."""
    data: dict[str, Any] = jsonable(ssh)
    del data["interrupted"]
    return data


def host_to_dict(host: Host, ssh: SshOutcome | None, facts: Facts | None) -> dict[str, Any]:
    return {
        "id": host.id,
        "label": host.label,
        "addresses": list(host.addresses),
        "hostnames": list(host.hostnames),
        "identifiers": list(host.identifiers),
        "sources": [s.value for s in host.sources],
        "status": host.status.value,
        "status_reason": host.status_reason,
        "alive": host.alive or (ssh is not None and ssh.state in (SshState.OK, SshState.PARTIAL)),
        "owner": jsonable(host.owner) if host.owner is not None else None,
        "open_ports": list(host.open_ports),
        "cloud": jsonable(host.cloud) if host.cloud is not None else None,
        "ssh": ssh_to_dict(ssh) if ssh else {"state": "not-attempted", "reason": "probe not run"},
        "facts": _with_vantage(facts_to_dict(facts), ssh) if facts is not None else None,
        "observations": [
            {
                "source": o.source.value,
                "source_name": o.source_name,
                "identifiers": list(o.identifiers),
                "alive": o.alive,
                "observed_at": o.observed_at.isoformat(),
                "attributes": jsonable(o.attributes),
            }
            for o in host.observations
        ],
    }


def _with_vantage(facts: dict[str, Any], ssh: SshOutcome | None) -> dict[str, Any]:
    """With an [engine], the vantage whose worker collected the facts."""
    return {**facts, "vantage": ssh.vantage} if ssh is not None and ssh.vantage else facts


def vantage_counts(run: AuditRun) -> dict[str, dict[str, int]]:
    """Per vantage, its hosts by SSH state (engine runs only; empty otherwise)."""
    counts: dict[str, Counter[str]] = {}
    for outcome in run.ssh.values():
        if outcome.vantage:
            counts.setdefault(outcome.vantage, Counter())[outcome.state] += 1
    return {
        vantage: {"hosts": sum(c.values()), **dict(sorted(c.items()))}
        for vantage, c in sorted(counts.items())
    }


def summarize(run: AuditRun) -> dict[str, Any]:
    statuses = Counter(h.status.value for h in run.hosts)
    counted = [f for f in run.findings if f.counts]  # accepted findings are reported apart
    severities = Counter(f.severity.value for f in counted)
    ssh_states = Counter(o.state for o in run.ssh.values())
    worst = max((f.severity for f in counted), key=lambda s: s.rank, default=None)
    return {
        "hosts": len(run.hosts),
        "by_status": {s.value: statuses.get(s.value, 0) for s in HostStatus},
        "findings": len(run.findings),
        "findings_by_severity": {s.value: severities.get(s.value, 0) for s in Severity},
        "worst_severity": worst.value if worst else None,
        "accepted": len(run.findings) - len(counted),
        "probed": ssh_states.get(SshState.OK, 0),
        "skipped": ssh_states.get(SshState.SKIPPED, 0),
        "partial": ssh_states.get(SshState.PARTIAL, 0),
        "sources_failed": sum(1 for s in run.sources if not s.ok),
    }


def finding_brief(finding: FindingLike) -> dict[str, Any]:
    """A finding in brief, as `changes` and the webhook list it: rule, severity, host, title."""
    return {
        "rule": finding.rule,
        "severity": finding.severity.value,
        "host": finding.host,
        "title": finding.title,
    }


def finding_change_to_dict(change: FindingChange) -> dict[str, Any]:
    return {**finding_brief(change), "label": change.label}


def changes_to_dict(changes: Changes) -> dict[str, Any]:
    """report.json's `changes` (its keys and their order are the published ones: a status
    change's `before`/`after` are written `from`/`to`)."""
    return {
        "previous_run": changes.previous_run,
        "previous_started_at": changes.previous_started_at,
        "new_hosts": [
            {"host": h.host, "label": h.label, "status": h.status.value} for h in changes.new_hosts
        ],
        "gone_hosts": [jsonable(h) for h in changes.gone_hosts],
        "returned_hosts": [jsonable(h) for h in changes.returned_hosts],
        "status_changed": [
            {"host": c.host, "label": c.label, "from": c.before.value, "to": c.after.value}
            for c in changes.status_changed
        ],
        "fact_changes": [jsonable(c) for c in changes.fact_changes],
        "new_findings": [finding_change_to_dict(f) for f in changes.new_findings],
        "resolved_findings": [finding_change_to_dict(f) for f in changes.resolved_findings],
        "first_seen": dict(changes.first_seen),
    }


def _host_rows(run: AuditRun) -> Sequence[dict[str, Any]]:
    """The hosts' entries: a list, or, for a run whose facts are spooled on disk, spooled
    rows made once per run (auditor.spool: memory flat in the fleet's size)."""

    def rows() -> Iterator[dict[str, Any]]:
        for h in run.hosts:
            yield host_to_dict(h, run.ssh.get(h.id), run.facts.get(h.id))

    if isinstance(run.facts, FactsSpool):
        return run.facts.report_rows(run.id, rows)
    return list(rows())


def finding_to_dict(f: Finding) -> dict[str, Any]:
    """report.json's finding: its brief, then evidence and acceptance (keys in this order)."""
    return {**finding_brief(f), "evidence": list(f.evidence), "accepted": jsonable(f.accepted)}


def _finding_rows(run: AuditRun) -> Sequence[dict[str, Any]]:
    """The findings' entries: a list, or, for a run whose facts are spooled (a real audit),
    made from the run's findings each time they are read (auditor.spool.MadeRows): a large
    run never holds them in both forms."""
    if isinstance(run.facts, FactsSpool):
        return MadeRows(run.findings, finding_to_dict)
    return [finding_to_dict(f) for f in run.findings]


def run_to_dict(run: AuditRun) -> dict[str, Any]:
    data: dict[str, Any] = {
        "schema": SCHEMA_ID,
        "run": {
            "id": run.id,
            "started_at": run.started_at.isoformat(),
            "finished_at": run.finished_at.isoformat(),
            "config": run.config_path,
            "sources": [
                {
                    "kind": s.kind.value,
                    "name": s.name,
                    "ok": s.ok,
                    "error": s.error,
                    "errors": list(s.errors),
                    "count": s.count,
                    "details": jsonable(s.details),
                }
                for s in run.sources
            ],
            **({"vantages": vantages} if (vantages := vantage_counts(run)) else {}),
        },
        "summary": summarize(run),
        "hosts": _host_rows(run),
        "findings": _finding_rows(run),
        "changes": changes_to_dict(run.changes) if run.changes is not None else None,
    }
    data["finding_groups"] = group_findings(data["findings"])
    for key, value in run.extra.items():
        data.setdefault(key, jsonable(value))
    if run.interrupted:
        data["interrupted"] = True
    return data


def render_json(run: AuditRun) -> str:
    return "".join(json_chunks(run_to_dict(run)))


def load_schema() -> dict[str, Any]:
    text = resources.files("auditor.report").joinpath("report.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_report(data: Mapping[str, Any]) -> None:
    """Raise jsonschema.ValidationError when `data` breaks the published schema."""
    import jsonschema

    jsonschema.validate(instance=plain(data), schema=load_schema())
