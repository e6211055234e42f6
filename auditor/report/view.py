"""Read-side helpers over report.json data, shared by the HTML, CSV, Markdown and terminal
renderers. Every renderer works from the report dict (never from the live run), so a run
stored in the history renders exactly like a fresh one."""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from auditor.model import SEVERITIES, SEVERITY_RANK, Changes, HostOwner, HostStatus
from auditor.report.run_view import HostView, read_changes, read_host

STATUSES = tuple(s.value for s in HostStatus)
EOL_STATUSES = ("eol", "extended-support", "security-only", "supported", "unknown")
UPTIME_BUCKETS: tuple[tuple[str, float], ...] = (
    ("<1w", 7),
    ("1-4w", 30),
    ("1-3m", 91),
    ("3-6m", 182),
    ("6-12m", 365),
    ("1-2y", 730),
    ("2-5y", 1826),
    (">5y", float("inf")),
)


def holds(accepted: Any) -> bool:
    """An acceptance (a finding's `accepted` in report.json) that still holds: the finding
    is shown, marked accepted, but does not count (severity cards, worst severity)."""
    return isinstance(accepted, Mapping) and not accepted.get("expired")


def counted(findings: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [f for f in findings if not holds(f.get("accepted"))]


def os_text(facts: Mapping[str, Any] | None) -> str:
    if not facts or not isinstance(facts.get("os"), Mapping):
        return ""
    os = facts["os"]
    text = os.get("pretty_name") or " ".join(
        str(p) for p in (os.get("name") or os.get("id"), os.get("version")) if p
    )
    return str(text or "")


def os_family(facts: Mapping[str, Any] | None) -> str:
    """OS name and major version, to group the EOL chart: 'CentOS 5', 'Ubuntu 22.04'."""
    if not facts or not isinstance(facts.get("os"), Mapping):
        return "unknown"
    os = facts["os"]
    eol = os.get("eol") or {}
    name = os.get("name") or os.get("id") or eol.get("product") or "unknown"
    cycle = eol.get("cycle") or (str(os.get("version") or "").split(".")[0] or None)
    return f"{name} {cycle}" if cycle else str(name)


def eol_of(facts: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if not facts or not isinstance(facts.get("os"), Mapping):
        return None
    eol = facts["os"].get("eol")
    return eol if isinstance(eol, Mapping) else None


def uptime_days(facts: Mapping[str, Any] | None) -> float | None:
    if not facts or not isinstance(facts.get("uptime_seconds"), int | float):
        return None
    return float(facts["uptime_seconds"]) / 86400


def human_duration(days: float | None) -> str:
    if days is None:
        return ""
    if days < 1:
        return f"{days * 24:.0f} h"
    if days < 365 * 2:
        return f"{days:.0f} d"
    return f"{days / 365.25:.1f} y"


def short_time(text: str | None) -> str:
    """'2026-11-28T12:00:00+00:00' -> '2026-11-28 12:00'."""
    if not text:
        return ""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return str(text)
    return value.strftime("%Y-%m-%d %H:%M")


def listener_text(listener: Mapping[str, Any]) -> str:
    address = str(listener.get("address", ""))
    if ":" in address:
        address = f"[{address}]"
    return f"{listener.get('proto', 'tcp')} {address}:{listener.get('port')}"


def owner_text(owner: Any) -> str:
    """A host's owner for a table cell: a team name, or {team, source, detail}."""
    if isinstance(owner, Mapping):
        team = str(owner.get("team") or "")
        return f"{team} ({owner['source']})" if team and owner.get("source") else team
    return str(owner or "")


def client_teams(facts: Mapping[str, Any] | None) -> list[str]:
    """The teams whose clients use the host: every client counted (`client_teams`), else,
    in a report from before that fact, the top addresses' owners."""
    if not facts:
        return []
    if facts.get("client_teams") is not None:
        return sorted({str(t["team"]) for t in facts["client_teams"]})
    clients = list(facts.get("clients") or ())
    return sorted({str(c["owner"]) for c in clients if c.get("owner")})


@dataclass(frozen=True)
class HostRow:
    """One host, flattened for tables (HTML, CSV, terminal). `host` is its entry read once
    (`read_host`, made by `iter_host_rows`): every property below reads that, never the
    report's dict again (a spooled row is decoded once per pass, not once per property)."""

    index: int
    data: Mapping[str, Any]  # the entry as written: the few cells that show it verbatim
    host: HostView
    findings: Sequence[Mapping[str, Any]]
    first_seen: str | None
    changes: Sequence[str] = field(default_factory=tuple)

    @property
    def facts(self) -> Mapping[str, Any] | None:
        return self.host.facts

    @property
    def id(self) -> str:
        return self.host.id

    @property
    def label(self) -> str:
        return self.host.label

    @property
    def anchor(self) -> str:
        return f"h{self.index}"  # ids from hosts are hostile: anchors are ours

    @property
    def worst(self) -> str | None:
        ranks = [f["severity"] for f in counted(self.findings)]
        return max(ranks, key=lambda s: SEVERITY_RANK.get(s, 0), default=None)

    @property
    def findings_key(self) -> int:
        """Sorts by worst severity, then by how many findings."""
        return SEVERITY_RANK.get(self.worst or "", 0) * 100000 + len(self.findings)

    @property
    def os(self) -> str:
        return os_text(self.facts)

    @property
    def owner(self) -> HostOwner | None:
        return self.host.owner

    @property
    def eol(self) -> Mapping[str, Any] | None:
        return eol_of(self.facts)

    @property
    def uptime_days(self) -> float | None:
        return uptime_days(self.facts)

    @property
    def ssh_state(self) -> str:
        return self.host.ssh.state.value


class _Picked(Sequence[Mapping[str, Any]]):
    """Some of the report's findings, by their place in it: a host's findings read from the
    report's own (a large run's are made when read), never a second copy of them."""

    def __init__(self, findings: Sequence[Mapping[str, Any]], places: Sequence[int]) -> None:
        self._findings, self._places = findings, places

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self._findings[n] for n in self._places[index]]
        return self._findings[self._places[index]]

    def __len__(self) -> int:
        return len(self._places)


def host_rows(report: Mapping[str, Any]) -> list[HostRow]:
    return list(iter_host_rows(report))


class HostRows(Iterable[HostRow]):
    """The report's host rows, made anew (`iter_host_rows`) on each iteration: a renderer
    that reads them more than once holds none of them (issue 14)."""

    def __init__(self, report: Mapping[str, Any]) -> None:
        self._report = report

    def __iter__(self) -> Iterator[HostRow]:
        return iter_host_rows(self._report)


def iter_host_rows(report: Mapping[str, Any]) -> Iterator[HostRow]:
    """The hosts' rows one at a time, made as read (issue 14: a table of 10,000 hosts is
    written without a row object per host held at once)."""
    findings = report.get("findings", ())
    if not isinstance(findings, Sequence):
        findings = list(findings)
    # Each host's findings by their place in the report, 4 bytes a place (issue 14).
    places: dict[str, array[int]] = {}
    for n, finding in enumerate(findings):
        host = str(finding.get("host"))
        found = places.get(host)
        if found is None:
            found = places[host] = array("I")
        found.append(n)
    changes = read_changes(report.get("changes"))
    first_seen = changes.first_seen if changes is not None else {}
    notes: dict[str, list[str]] = {}
    if changes is not None:
        for new in changes.new_hosts:
            notes.setdefault(new.host, []).append("new")
        for back in changes.returned_hosts:
            notes.setdefault(back.host, []).append("back")
        for status in changes.status_changed:
            notes.setdefault(status.host, []).append(f"was {status.before}")
        for fact in changes.fact_changes:
            notes.setdefault(fact.host, []).append(fact.fact)
    hosts = report.get("hosts", ())
    # Spooled hosts (a large run) are decoded one at a time as iterated, and each once a
    # pass: the row holds its decoded entry only until the next is made (memory flat in
    # fleet size), and every reader of the row reads that, not the spool again.
    for i, h in enumerate(hosts, start=1):
        numbers = places.get(h["id"])
        yield HostRow(
            index=i,
            data=h,
            host=read_host(h, i - 1),  # once a row and pass, whatever reads it
            findings=_Picked(findings, numbers) if numbers is not None else [],
            first_seen=first_seen.get(h["id"]),
            changes=tuple(dict.fromkeys(notes.get(h["id"], []))),
        )


def status_counts(report: Mapping[str, Any]) -> list[tuple[str, int]]:
    by_status = (report.get("summary") or {}).get("by_status") or {}
    return [(s, int(by_status.get(s, 0))) for s in STATUSES]


def severity_counts(report: Mapping[str, Any]) -> list[tuple[str, int]]:
    # One finding at a time: a large run's findings are made as read (60,000 dicts, ~20 MB
    # as one list at 10,000 hosts).
    findings = report.get("findings", ())
    counts = Counter(f["severity"] for f in findings if not holds(f.get("accepted")))
    return [(s, counts.get(s, 0)) for s in SEVERITIES]


def eol_by_os(report: Mapping[str, Any]) -> list[tuple[str, dict[str, int]]]:
    """[(os family, {eol status: hosts})], the families with the most hosts first."""
    table: dict[str, Counter[str]] = {}
    for h in report.get("hosts", ()):
        facts = h.get("facts")
        if not facts or not facts.get("os"):
            continue
        eol = eol_of(facts)
        status = str(eol.get("status")) if eol else "unknown"
        table.setdefault(os_family(facts), Counter())[status] += 1
    ordered = sorted(table.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    return [(name, {s: c.get(s, 0) for s in EOL_STATUSES}) for name, c in ordered]


def uptime_histogram(report: Mapping[str, Any]) -> list[tuple[str, int]]:
    counts = [0] * len(UPTIME_BUCKETS)
    for h in report.get("hosts", ()):
        days = uptime_days(h.get("facts"))
        if days is None:
            continue
        for i, (_, limit) in enumerate(UPTIME_BUCKETS):
            if days < limit:
                counts[i] += 1
                break
    return [(label, counts[i]) for i, (label, _) in enumerate(UPTIME_BUCKETS)]


def eol_host_count(report: Mapping[str, Any], status: str) -> int:
    """Hosts whose OS has this end-of-life status ('eol', 'extended-support' ...): end of
    life and paid extended support are different conversations, so they are counted apart."""
    return sum(
        1 for h in report.get("hosts", ()) if (eol_of(h.get("facts")) or {}).get("status") == status
    )


def labels(report: Mapping[str, Any]) -> dict[str, str]:
    return {h["id"]: str(h.get("label") or h["id"]) for h in report.get("hosts", ())}


def change_counts(changes: Changes | None) -> dict[str, int]:
    return (changes or Changes(None, None)).counts()
