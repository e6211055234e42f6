"""The data index.html's script draws the host table and host details from: one compact JSON
block, so the page stays small and fast at 10,000 hosts.

Layout (`PAGE_DATA_VERSION`):

    {"v": 1,
     "rf": [row field names], "rows": [[value index, ...] per host],
     "df": [detail field names], "details": [[value index | [value index, ...], ...] per host],
     "groups": [[host row number, ...] per finding group shown in the findings table],
     "values": [every distinct value, once]}

Every cell is an index into `values`: a fleet of near-identical hosts repeats the same OS,
the same listeners and the same findings, and each is written once. List fields of a detail
(findings, listeners, software ...) are lists of indices, one per item.

Safety: the block sits in `<script type="application/json">`, which the browser never runs.
Strings are `visible` (control characters and bidi overrides written as `\\x1b`, `\\u202e`).
`<`, `>` and `&` are written as JSON `\\u003c`-style escapes, so no host string can close the
element (`</script>`) or open a comment; the script reads it with JSON.parse and writes
every value with textContent.
"""

from __future__ import annotations

import ipaddress
import json
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from auditor.model import Changes, HostOwner
from auditor.report.view import (
    HostRow,
    counted,
    human_duration,
    listener_text,
    os_text,
    owner_text,
    short_time,
)
from auditor.spool import Records
from auditor.visible import visible_data

PAGE_DATA_VERSION = 1
ROW_FIELDS = (
    "label", "addresses", "status", "owner", "os", "eol", "eol_days", "uptime", "uptime_text",
    "ssh", "worst", "findings", "first_seen", "addr_key", "changes",
)  # fmt: skip
DETAIL_FIELDS = (
    "id", "status_reason", "hostnames", "identifiers", "sources", "open_ports", "ssh_state",
    "ssh_where", "ssh_reason", "cloud", "probed", "os", "os_eol", "os_source", "os_raw",
    "kernel", "hostname", "uptime", "boot", "logs", "log_files", "findings", "changes",
    "listeners", "clients", "web_logs", "logins", "software", "cron", "errors",
    "owner_detail", "teams", "peers",
)  # fmt: skip
LIST_FIELDS = frozenset({"findings", "changes", "listeners", "clients", "web_logs", "logins",
                         "software", "cron", "teams", "peers"})  # fmt: skip
MAX_LOGINS = 20
MAX_CRON = 30
MAX_CLIENTS = 50


class ValueTable:
    """Distinct JSON values, each stored once; `index` returns a value's position.

    The values live in an unlinked temp file (`auditor.spool.Records`), each as its key (a
    type tag and the value: a string's text, a container's sorted JSON, a scalar's repr)
    and the JSON text the page writes for it. In memory stay only each value's 64-bit
    hash (`_hashes`) and an open-addressing table of value numbers (`_slots`, at most half
    full): ~30 bytes a value against ~130 for a string kept as a value and as a dict key
    (issue 14: ~70,000 values at 10,000 hosts, most of them one host's id, name, address).
    A hash that matches is checked against the stored key, so a collision never merges
    two values. The first values found again (`_HOT`: in practice the ones many hosts share,
    the OS, the listeners, the findings, met from the first hosts on) are also kept in a
    dict, so most look-ups read nothing from the file."""

    _HOT = 4096

    def __init__(self) -> None:
        self._hot: dict[str | bytes, int] = {}
        self._records = Records()
        self._hashes = array("q")
        self._slots = array("i", [-1]) * 64
        self._mask = 63

    def __len__(self) -> int:
        return len(self._hashes)

    def index(self, value: Any) -> int:
        if type(value) is str:
            hot = self._hot.get(value)
            if hot is not None:
                return hot
            key = b"s" + value.encode("utf-8", "surrogatepass")
            digest = hash(value)  # cached on the string
        else:
            # Other scalars key by type and value (1, 1.0 and True stay apart); containers by
            # their sorted JSON.
            if isinstance(value, dict | list):
                text = "j" + json.dumps(value, sort_keys=True, ensure_ascii=False)
            else:
                text = f"v{type(value).__name__}:{value!r}"
            key = text.encode("utf-8", "surrogatepass")
            digest = hash(key)
            hot = self._hot.get(key)
            if hot is not None:
                return hot
        slots, mask, hashes = self._slots, self._mask, self._hashes
        slot = digest & mask
        while (found := slots[slot]) >= 0:
            if hashes[found] == digest and self._key(found) == key:
                if len(self._hot) < self._HOT:
                    self._hot[value if type(value) is str else key] = found
                return found
            slot = (slot + 1) & mask
        found = len(hashes)
        page = _compact(visible_data(value)).encode("utf-8", "surrogatepass")
        self._records.append(len(key).to_bytes(4, "little") + key + page)
        hashes.append(digest)
        slots[slot] = found
        if 2 * len(hashes) > len(slots):
            self._grow()
        return found

    def _key(self, number: int) -> bytes:
        record = self._records.read(number)
        return record[4 : 4 + int.from_bytes(record[:4], "little")]

    def _grow(self) -> None:
        slots = array("i", [-1]) * (2 * len(self._slots))
        mask = len(slots) - 1
        for number, digest in enumerate(self._hashes):
            slot = digest & mask
            while slots[slot] >= 0:
                slot = (slot + 1) & mask
            slots[slot] = number
        self._slots, self._mask = slots, mask

    def texts(self) -> Iterator[str]:
        """Each value's JSON text, made visible (control characters show as \\x1b, never
        act), in order: the page's `values`, written one at a time."""
        for number in range(len(self._hashes)):
            record = self._records.read(number)
            yield record[4 + int.from_bytes(record[:4], "little") :].decode(
                "utf-8", "surrogatepass"
            )

    def decoded(self) -> list[Any]:
        """The values as JSON values (as the page reads them)."""
        return [json.loads(text) for text in self.texts()]


def address_key(addresses: Sequence[str]) -> str:
    """Sorts addresses as numbers (10.0.0.9 before 10.0.0.10), IPv4 before IPv6, names last."""
    if not addresses:
        return "9"
    text = str(addresses[0])
    try:
        ip = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return "8" + text.lower()
    return f"{ip.version}{int(ip):032x}"


def _row(row: HostRow) -> list[Any]:
    h = row.host
    eol = row.eol or {}
    days = row.uptime_days
    return [
        row.label,
        ", ".join(h.addresses),
        h.status.value,
        owner_text(row.data.get("owner")),  # as written: a report's bare team name stays bare
        row.os,
        eol.get("status") or "",
        eol.get("days_past"),
        round(days, 2) if days is not None else None,
        human_duration(days),
        row.ssh_state,
        row.worst or "",
        len(counted(row.findings)),
        short_time(row.first_seen),
        address_key(h.addresses),
        list(row.changes),
    ]


def _system(row: HostRow) -> dict[str, Any]:
    """What the probe learned, flat: each field is stored apart, so the parts hosts share
    (the OS, its end-of-life data, the kernel) are written once however many hosts have them.
    `probed` is None for a host that was not probed."""
    facts = row.facts or {}
    os: Mapping[str, Any] = facts["os"] if isinstance(facts.get("os"), Mapping) else {}
    logs = facts.get("log_activity") or {}
    return {
        "probed": short_time(facts.get("collected_at")) if facts else None,
        "os": os_text(facts),
        "os_eol": dict(row.eol) if row.eol else None,
        "os_source": os.get("source"),
        "os_raw": os.get("raw"),
        "kernel": " ".join(str(x) for x in (facts.get("kernel"), facts.get("arch")) if x),
        "hostname": " ".join(
            str(x) for x in (facts.get("hostname"), facts.get("fqdn") and f"({facts['fqdn']})") if x
        ),
        "uptime": human_duration(row.uptime_days),
        "boot": short_time(facts.get("boot_time")),
        "logs": short_time(logs.get("latest_write")) if logs else None,
        "log_files": len(logs.get("files") or ()) if logs else None,
    }


def _host_changes(host_id: str, changes: Changes | None) -> list[str]:
    if changes is None or not changes.previous_run:
        return []
    out = [f"status {c.before} → {c.after}" for c in changes.status_changed if c.host == host_id]
    for c in changes.fact_changes:
        if c.host != host_id:
            continue
        before = "none" if c.before is None else c.before
        after = "gone" if c.after is None else c.after
        out.append(f"{c.fact}: {before} → {after}")
    return out


def _package(software: Mapping[str, Any]) -> str | None:
    """Who maintains the program: 'nginx 1.22.1-9 (dpkg)', 'hand-installed', or None when
    the probe did not say (older reports)."""
    if "package" not in software:
        return None
    package = software["package"]
    if package is None:
        return "hand-installed"
    if "unknown" in package:
        return f"unknown: {package['unknown']}"
    version = f" {package['version']}" if package.get("version") else ""
    return f"{package.get('name')}{version} ({package.get('manager')})"


def _detail(row: HostRow, changes: Changes | None) -> dict[str, Any]:
    h, host, facts = row.data, row.host, row.facts or {}
    ssh = h.get("ssh") or {}
    logins = [{"user": x.get("user"), "from": x.get("from"), "at": short_time(x.get("at")),
               "now": True} for x in facts.get("sessions") or ()]  # fmt: skip
    logins += [{"user": x.get("user"), "from": x.get("from"), "at": short_time(x.get("at")),
                "now": False} for x in (facts.get("logins") or ())[:MAX_LOGINS]]  # fmt: skip
    return {
        "id": host.id,
        "status_reason": h.get("status_reason"),
        "hostnames": ", ".join(host.hostnames),
        "identifiers": ", ".join(host.identifiers),
        "sources": ", ".join(host.sources),
        "open_ports": ", ".join(str(p) for p in host.open_ports),
        "ssh_state": ssh.get("state"),
        "ssh_where": f"{ssh['address']}:{ssh.get('port') or 22}" if ssh.get("address") else None,
        "ssh_reason": ssh.get("reason"),
        "cloud": h.get("cloud"),
        **_system(row),
        "findings": [
            {k: f.get(k) for k in ("severity", "title", "rule", "evidence", "accepted")}
            for f in row.findings
        ],
        "changes": _host_changes(row.id, changes),
        "listeners": [
            {
                "listen": listener_text(x),
                "process": x.get("process"),
                "pid": x.get("pid"),
                "user": x.get("user"),
                "cmdline": x.get("cmdline") or x.get("exe") or "",
            }
            for x in facts.get("listeners") or ()
        ],
        "clients": [
            {
                "address": c.get("address"),
                "owner": c.get("owner"),
                "requests": c.get("requests"),
                "last_seen": short_time(c.get("last_seen")),
            }
            for c in (facts.get("clients") or ())[:MAX_CLIENTS]
        ],
        "web_logs": [
            {
                "path": w.get("path"),
                "requests": w.get("requests"),
                "clients": w.get("clients"),
                "top_paths": [
                    [p.get("path"), p.get("requests")] for p in w.get("top_paths", ())[:6]
                ],
                "admin_paths": [
                    [p.get("path"), p.get("requests")] for p in w.get("admin_paths", ())[:6]
                ],
                "period": f"{short_time(w.get('first_seen'))} → {short_time(w.get('last_seen'))}",
            }
            for w in facts.get("web_logs") or ()
        ],
        "logins": logins,
        "software": [
            {
                "name": s.get("name"),
                "version": s.get("version"),
                "package": _package(s),
                "eol": s.get("eol"),
                "raw": s.get("raw") or "",
            }
            for s in facts.get("software") or ()
        ],
        "cron": list((facts.get("cron") or ())[:MAX_CRON]),
        "errors": dict(facts.get("errors") or {}) or None,
        "owner_detail": _owner_detail(row.owner),
        "teams": _who_uses_it(facts),
        "peers": [
            {k: g.get(k) for k in ("port", "team", "network", "peers")}
            for g in facts.get("connection_teams") or ()
        ],
    }


def _owner_detail(owner: HostOwner | None) -> str | None:
    """How the owner is known: "clients: inferred from clients, 80% of requests ..."."""
    if owner is None or not owner.detail:
        return None
    return f"{owner.source}: {owner.detail}"


def _who_uses_it(facts: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every access-log client's team (then the networks of no team) with its share."""
    teams = list(facts.get("client_teams") or ())
    networks = list(facts.get("client_networks") or ())
    total = sum(int(x.get("requests") or 0) for x in teams + networks)
    return [
        {
            "name": x.get("team") or x.get("network"),
            "team": "team" in x,
            "requests": x.get("requests"),
            "share": f"{round(100 * int(x.get('requests') or 0) / total)}%" if total else "",
            "clients": x.get("clients"),
            "last_seen": short_time(x.get("last_seen")),
        }
        for x in teams + networks
    ]


def page_data(
    rows: Iterable[HostRow],
    group_hosts: Sequence[Sequence[str]],
    changes: Changes | None,
) -> dict[str, Any]:
    """The page's data block (see the module docstring). `group_hosts` are the host ids of
    each finding group the findings table shows, in its order.

    `rows` is read three times and no host's row or detail is held (issue 14: memory flat
    in fleet size): once to enter every value of the details, then of the rows, in the
    table (details first: the order the values were always numbered in), and again host
    by host as the block is written (`Encoded`), made anew from the rows."""
    table = ValueTable()
    for row in rows:
        _detail_indices(row, changes, table)
    # The groups' own host id strings key their row numbers (no fresh string a host).
    row_number: dict[str, int] = {h: -1 for hosts in group_hosts for h in hosts}
    for n, row in enumerate(rows):
        _row_indices(row, table)
        if row.id in row_number:
            row_number[row.id] = n
    return {
        "v": PAGE_DATA_VERSION,
        "rf": list(ROW_FIELDS),
        "rows": Encoded(_Made(lambda: (_compact(_row_indices(row, table)) for row in rows))),
        "df": list(DETAIL_FIELDS),
        "details": Encoded(
            _Made(lambda: (_compact(_detail_indices(row, changes, table)) for row in rows))
        ),
        "groups": [[row_number[h] for h in hosts if row_number[h] >= 0] for hosts in group_hosts],
        "values": Encoded(_Made(table.texts)),
    }


def _row_indices(row: HostRow, table: ValueTable) -> list[int]:
    return [table.index(value) for value in _row(row)]


def _detail_indices(row: HostRow, changes: Changes | None, table: ValueTable) -> list[Any]:
    detail = _detail(row, changes)
    return [
        [table.index(item) for item in detail[name]] if name in LIST_FIELDS
        else table.index(detail[name])
        for name in DETAIL_FIELDS
    ]  # fmt: skip


class _Made(Iterable[str]):
    """Texts made anew by `make` on each iteration, never held."""

    def __init__(self, make: Callable[[], Iterator[str]]) -> None:
        self._make = make

    def __iter__(self) -> Iterator[str]:
        return self._make()


class Encoded:
    """A JSON list held as its items' JSON texts, or made as they are read (`_Made`): a
    host's row or detail is a list of value indices, ~1.7 KB a host as Python lists against
    ~0.2 KB as text, and nothing when made as written (issue 14: memory flat in fleet size).
    `script_json` writes it as the list it encodes; `json.dumps` refuses it, so it cannot be
    written as anything else by mistake."""

    def __init__(self, items: Iterable[str]) -> None:
        self.items = items


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _page_pieces(data: Any) -> Iterator[str]:
    """`json.dumps(data, separators=(",", ":"), ensure_ascii=False)`, byte for byte, in
    pieces, where a top-level value may be Encoded: a top-level list comes item by item (an
    Encoded one as one host's row or detail), so the page's block is never one string (issue 14)."""
    if not isinstance(data, Mapping):
        yield _compact(data)
        return
    yield "{"
    for n, (key, value) in enumerate(data.items()):
        yield ("," if n else "") + _compact(str(key)) + ":"
        if isinstance(value, Encoded | list):  # item by item: `values` grows with the fleet
            yield "["
            for i, item in enumerate(value.items if isinstance(value, Encoded) else value):
                text = item if isinstance(value, Encoded) else _compact(item)
                yield "," + text if i else text
            yield "]"
        else:
            yield _compact(value)
    yield "}"


_SCRIPT_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                   ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))  # fmt: skip


def script_json_pieces(data: Any) -> Iterator[str]:
    """JSON for a `<script type="application/json">` element, in pieces: nothing in it can
    end the element or start markup (`<`, `>`, `&` escaped; U+2028/2029 too, for old
    parsers). Each escape replaces one character, so escaping piece by piece writes what
    escaping the whole text would."""
    for piece in _page_pieces(data):
        for char, escape in _SCRIPT_ESCAPES:
            piece = piece.replace(char, escape)
        yield piece


def script_json(data: Any) -> str:
    """`script_json_pieces` as one string."""
    return "".join(script_json_pieces(data))
