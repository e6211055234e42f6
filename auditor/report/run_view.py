"""report.json read back as frozen dataclasses: what the renderers, history and notify share
instead of each walking the dicts on its own.

`read_changes` is report.json's `changes` as `auditor.model.Changes` (the inverse of
`json_report.changes_to_dict`). Parsing is strict about shape (a missing key or a wrong type
raises ValueError naming it) and never about content: a hostile hostname stays the string
it was, whatever it looks like. A report written before a key existed reads with its
default (`returned_hosts`, `previous_started_at`, a finding change's `label`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditor.model import (
    Changes,
    FactChange,
    FindingChange,
    HostLastSeen,
    HostStatus,
    NewHost,
    Severity,
    StatusChange,
)


def text(data: Mapping[str, Any], key: str) -> str:
    """A string that must be there."""
    value = data.get(key)
    if not isinstance(value, str):
        raise ValueError(f"report.json: {key!r} is {type(value).__name__}, not a string")
    return value


def maybe_text(data: Mapping[str, Any], key: str) -> str | None:
    """A string, or null / absent."""
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"report.json: {key!r} is {type(value).__name__}, not a string")
    return value


def items(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    """A list of objects, empty when absent or null."""
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(x, Mapping) for x in value):
        raise ValueError(f"report.json: {key!r} is not a list of objects")
    return value


def read_finding_change(data: Mapping[str, Any]) -> FindingChange:
    return FindingChange(
        rule=text(data, "rule"),
        severity=Severity(text(data, "severity")),
        host=maybe_text(data, "host"),
        title=text(data, "title"),
        label=maybe_text(data, "label"),
    )


def _last_seen(data: Mapping[str, Any]) -> HostLastSeen:
    return HostLastSeen(text(data, "host"), text(data, "label"), maybe_text(data, "last_seen"))


def read_changes(data: Mapping[str, Any] | None) -> Changes | None:
    """report.json's `changes` (None: no history store, nothing compared)."""
    if data is None:
        return None
    first_seen = data.get("first_seen") or {}
    if not isinstance(first_seen, Mapping):
        raise ValueError("report.json: 'first_seen' is not an object")
    return Changes(
        previous_run=maybe_text(data, "previous_run"),
        previous_started_at=maybe_text(data, "previous_started_at"),
        new_hosts=tuple(
            NewHost(text(h, "host"), text(h, "label"), HostStatus(text(h, "status")))
            for h in items(data, "new_hosts")
        ),
        gone_hosts=tuple(_last_seen(h) for h in items(data, "gone_hosts")),
        returned_hosts=tuple(_last_seen(h) for h in items(data, "returned_hosts")),
        status_changed=tuple(
            StatusChange(
                text(c, "host"),
                text(c, "label"),
                HostStatus(text(c, "from")),
                HostStatus(text(c, "to")),
            )
            for c in items(data, "status_changed")
        ),
        fact_changes=tuple(
            FactChange(
                text(c, "host"),
                text(c, "label"),
                text(c, "fact"),
                maybe_text(c, "before"),
                maybe_text(c, "after"),
            )
            for c in items(data, "fact_changes")
        ),
        new_findings=tuple(read_finding_change(f) for f in items(data, "new_findings")),
        resolved_findings=tuple(read_finding_change(f) for f in items(data, "resolved_findings")),
        first_seen={str(k): v if isinstance(v, str) else None for k, v in first_seen.items()},
    )
