"""Dossiers for tools and people: JSON (schema `auditor/dossier@1`), Markdown, one
self-contained HTML file (autoescaped, no script at all) and the terminal (rich Text, never
markup). Everything a host said is hostile until escaped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import jinja2
from markupsafe import Markup
from rich.console import Console
from rich.table import Table
from rich.text import Text

from auditor.inspect.model import DOSSIER_SCHEMA, Dossier, UseState
from auditor.inspect.usage import is_custom_job
from auditor.model import NetworkUse, TeamUse
from auditor.report.html_report import REPORT_STYLE
from auditor.report.json_report import jsonable
from auditor.report.markdown_report import md_escape
from auditor.visible import visible_data, visible_in_html

# --------------------------------------------------------------------------- JSON


def dossier_to_dict(dossier: Dossier) -> dict[str, Any]:
    """The dossier as JSON data (the `--json` file; field names are public API)."""
    d = dossier
    data: dict[str, Any] = {
        "schema": DOSSIER_SCHEMA,
        "host": d.host,
        "address": d.address,
        "generated_at": d.generated_at.isoformat(),
        "window_days": d.window_days,
        "probe": {"state": d.probe_state, "reason": d.probe_reason},
        "identity": jsonable(d.identity),
        "services": [jsonable(s) for s in d.services],
        "teams": _with_shares(d.teams, d.networks, "team"),
        "networks": _with_shares(d.teams, d.networks, "network"),
        "connection_teams": [jsonable(g) for g in d.peer_groups],
        "owner": jsonable(d.owner) if d.owner is not None else None,
        "clients": [jsonable(c) for c in d.clients],
        "logins": [
            {
                "user": lg.user,
                "from": lg.source,
                "at": _iso(lg.at),
                "via": lg.via,
                "owner": lg.owner,
            }
            for lg in d.logins
        ],
        "cron": list(d.cron),
        "software": list(d.software),
        "last_log_write": _iso(d.last_log_write),
        "known_by": {
            "checked": d.known_by.checked,
            "sources": [jsonable(m) for m in d.known_by.mentions],
            "listed_by": [jsonable(m) for m in d.known_by.listed_by],
            "status": d.known_by.status,
            "status_reason": d.known_by.status_reason,
            "sources_run": list(d.known_by.sources_run),
            "source_errors": list(d.known_by.source_errors),
        },
        "references": [jsonable(r) for r in d.references.references],
        "repo_search": {
            "searched": d.references.searched,
            "repos": list(d.references.repos),
            "terms": list(d.references.terms),
            "truncated": list(d.references.truncated),
            "errors": list(d.references.errors),
        },
        "verdict": {"state": d.verdict.state.value, "evidence": list(d.verdict.evidence)},
        "next_steps": [jsonable(s) for s in d.next_steps],
        "errors": dict(d.errors),
    }
    return data


def _with_shares(
    teams: Sequence[TeamUse], networks: Sequence[NetworkUse], which: str
) -> list[dict[str, Any]]:
    """Teams' or networks' use with `share`: their percentage of all requests."""
    total = sum(t.requests for t in teams) + sum(n.requests for n in networks)
    rows: Sequence[TeamUse | NetworkUse] = teams if which == "team" else networks
    return [{**jsonable(r), "share": round(100 * r.requests / total) if total else 0} for r in rows]


def _owner_line(owner: Mapping[str, Any] | None) -> str:
    """Plain text (each renderer escapes it its own way)."""
    if not owner:
        return (
            "Owner: none known ([owners] matches nothing, no owner tag, no team among its clients)"
        )
    return f"Owner: {owner['team']} ({owner['source']}: {owner['detail']})"


def render_json(dossiers: Sequence[Dossier]) -> str:
    """One dossier: its object; several: a list of them."""
    items = [dossier_to_dict(d) for d in dossiers]
    return json.dumps(items[0] if len(items) == 1 else items, indent=2) + "\n"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _short(moment: Any) -> str:
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            return str(moment)
    if isinstance(moment, datetime):
        return moment.strftime("%Y-%m-%d %H:%M")
    return str(moment)


def _days(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return ""
    days = seconds / 86400
    return f"{days:.0f} days" if days < 730 else f"{days:.0f} days ({days / 365.25:.1f} years)"


# --------------------------------------------------------------------------- Markdown


def render_markdown(dossiers: Sequence[Dossier]) -> str:
    return "\n\n---\n\n".join(_markdown_one(dossier_to_dict(d)) for d in dossiers) + "\n"


def _e(value: Any, limit: int = 300) -> str:
    return md_escape("" if value is None else value, limit)


def _markdown_one(d: Mapping[str, Any]) -> str:
    ident, verdict = d["identity"], d["verdict"]
    out = [
        f"# {_e(d['host'])} ({_e(d['address'])}): {_e(verdict['state']).upper()}",
        "",
        f"Dossier of {_short(d['generated_at'])} UTC; activity window {d['window_days']} days; "
        f"probe {_e(d['probe']['state'])}"
        + (f" ({_e(d['probe']['reason'])})" if d["probe"]["reason"] else "")
        + ".",
        "",
        "## Verdict",
        "",
        *[f"- {_e(e)}" for e in verdict["evidence"]],
        "",
        "## 1. What is it?",
        "",
    ]
    rows = [
        ("names", ", ".join(ident["hostnames"])),
        ("OS", ident["os"]),
        ("end of life", " ".join(str(x) for x in (ident["os_eol"], ident["os_eol_date"]) if x)),
        ("kernel", " ".join(x for x in (ident["kernel"], ident["arch"]) if x)),
        ("uptime", _days(ident["uptime_seconds"])),
        ("runs on", _runs_on(ident)),
        ("cloud", " · ".join([ident["cloud"] or "", *ident["cloud_details"]]).strip(" ·")),
        ("reached as", ident["reached_as"]),
    ]
    out += [f"- **{k}**: {_e(v)}" for k, v in rows if v]
    out += ["", "## 2. What runs on it?", ""]
    if not d["services"]:
        out.append("- no listening service could be read")
    for s in d["services"]:
        out.append(f"### {_e(s['proto'])}/{s['port']}: {_e(s['process'] or 'unknown process')}")
        out.append("")
        out += [f"- **{k}**: {_e(v)}" for k, v in _service_rows(s) if v]
        out.append("")
    out += ["## 3. Who uses it?", ""]
    if d["teams"] or d["networks"]:
        out += ["| team | requests | share | clients | last seen |", "|---|---|---|---|---|"]
        out += [
            f"| {_e(t.get('team') or t.get('network'))}{'' if t.get('team') else ' (no team)'} "
            f"| {t['requests']} | {t['share']}% | {t['clients']} | {_short(t['last_seen'])} |"
            for t in [*d["teams"], *d["networks"]]
        ]
        out.append("")
    if d["connection_teams"]:
        out += ["| port | connected from | peers |", "|---|---|---|"]
        out += [
            f"| {g['port']} | {_e(g['team'] or g['network'])}{'' if g['team'] else ' (no team)'}"
            f" | {g['peers']} |"
            for g in d["connection_teams"]
        ]
        out.append("")
    if d["clients"]:
        out += ["Top client addresses:", ""]
        out += ["| client | requests | team | last seen | via |", "|---|---|---|---|---|"]
        for c in d["clients"][:50]:
            name = f" ({_e(c['name'])})" if c.get("name") else ""
            out.append(
                f"| {_e(c['address'])}{name} | {c['requests'] if c['requests'] is not None else ''}"
                f" | {_e(c['owner'] or '')} | {_short(c['last_seen'])} | {_e(c['via'])} |"
            )
        if len(d["clients"]) > 50:
            out.append(f"| … {len(d['clients']) - 50} more | | | | |")
    else:
        out.append("- no clients seen")
    out.append("")
    if d["logins"]:
        out.append("Logins:")
        out.append("")
        for lg in d["logins"][:20]:
            team = f" [{_e(lg['owner'])}]" if lg["owner"] else ""
            out.append(
                f"- {_e(lg['user'])} from {_e(lg['from'] or '?')}{team} at "
                f"{_short(lg['at']) or '?'} ({_e(lg['via'])})"
            )
        out.append("")
    custom = [c for c in d["cron"] if is_custom_job(c)]
    if custom:
        out += ["Its own cron jobs:", "", *[f"- `{_code(c)}`" for c in custom], ""]
    out += ["## 4. Who knows about it?", "", _owner_line(d["owner"]), ""]
    known = d["known_by"]
    if not known["checked"]:
        out.append("- sources not consulted (no --config with sources)")
    else:
        out += [
            f"- {_e(m['kind'])} `{_code(m['name'])}`: {_e(m['detail'])}" for m in known["sources"]
        ]
        if not known["listed_by"]:
            ran = _e(", ".join(known["sources_run"]))
            out.append(f"- **no inventory, state or cloud account lists it** ({ran})")
    search = d["repo_search"]
    if not search["searched"]:
        out.append("- repositories not searched (no --repos)")
    elif d["references"]:
        for r in d["references"][:60]:
            out.append(
                f"- `{_code(r['repo'])}:{_code(r['path'])}:{r['line']}` {_e(r['text'], 200)}"
            )
    else:
        out.append(
            f"- **no repository mentions it** (searched {len(search['repos'])} for "
            f"{_e(', '.join(search['terms']))})"
        )
    out += [f"- search problem: {_e(x)}" for x in search["errors"]]
    out += ["", "## 5. Next steps", ""]
    out += [f"- [ ] **{_e(s['kind'])}**: {_e(s['text'], 600)}" for s in d["next_steps"]]
    if d["errors"]:
        out += ["", "## Not read", ""]
        out += [f"- `{_code(k)}`: {_e(v)}" for k, v in d["errors"].items()]
    return "\n".join(out)


def _code(text: Any) -> str:
    return " ".join(str(text).replace("`", "'").split())[:300]


def _runs_on(ident: Mapping[str, Any]) -> str:
    parts = []
    if ident.get("virtualization"):
        parts.append(f"{ident['virtualization']} (by {ident.get('virtualization_source')})")
    if ident.get("hardware"):
        parts.append(str(ident["hardware"]))
    if ident.get("cpus"):
        parts.append(f"{ident['cpus']} CPUs")
    if ident.get("memory_mb"):
        parts.append(f"{ident['memory_mb']} MB")
    return ", ".join(parts)


def _service_rows(s: Mapping[str, Any]) -> list[tuple[str, Any]]:
    http = s.get("http") or {}
    page = ""
    if http:
        page = http.get("error") or " · ".join(
            str(x)
            for x in (
                http.get("status"),
                http.get("server"),
                f"“{http['title']}”" if http.get("title") else None,
                f"→ {http['location']}" if http.get("location") else None,
            )
            if x
        )
    started = s.get("started_by") or {}
    admin = ", ".join(f"{p['path']} ×{p['requests']}" for p in s["admin_paths"])
    return [
        ("bound to", s["bound"]),
        ("software", s["software"]),
        ("front page", f"{http.get('url')}: {page}" if http else ""),
        ("process", f"pid {s['pid']} as {s['user']}" if s["pid"] else s["user"]),
        ("program", s["program"] or s["exe"]),
        ("command", s["cmdline"]),
        ("cwd", s["cwd"]),
        ("started", _short(s["started_at"])),
        ("package", s["package"] or s["package_note"]),
        ("started by", f"{started.get('kind')}: {started.get('detail')}" if started else ""),
        ("parent", " ← ".join(s["tree"])),
        ("children", f"{s['children']} ({', '.join(s['child_names'])})" if s["children"] else ""),
        ("logs", ", ".join(s["logs"])),
        ("configs", ", ".join(s["configs"])),
        ("clients", s["clients"] or ""),
        (
            "admin pages in its logs",
            admin,
        ),
    ]


# --------------------------------------------------------------------------- HTML

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'"
)


def _identity_rows(ident: Mapping[str, Any]) -> list[tuple[str, str]]:
    eol = " ".join(str(x) for x in (ident["os_eol"], ident["os_eol_date"]) if x)
    booted = f" (booted {_short(ident['boot_time'])})" if ident.get("boot_time") else ""
    return [
        ("names", ", ".join(ident["hostnames"])),
        ("OS", (ident["os"] or "") + (f" · end of life: {eol}" if eol else "")),
        ("kernel", " ".join(x for x in (ident["kernel"], ident["arch"]) if x)),
        ("uptime", _days(ident["uptime_seconds"]) + booted),
        ("runs on", _runs_on(ident)),
        ("cloud", " · ".join([ident["cloud"] or "none known", *ident["cloud_details"]])),
        ("reached as", ident["reached_as"] or ""),
    ]


_ENV = jinja2.Environment(
    finalize=visible_in_html,  # control characters show as \x1b, never act
    loader=jinja2.PackageLoader("auditor.report", "templates"),  # dossier.html.j2
    autoescape=True,  # every value from a host is text, never markup
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["short"] = _short
_ENV.filters["days"] = _days
_ENV.tests["custom"] = is_custom_job


def render_html(dossiers: Sequence[Dossier]) -> str:
    return _ENV.get_template("dossier.html.j2").render(
        csp=Markup(CSP),  # our own constant: its quotes must stay quotes
        style=Markup(REPORT_STYLE),  # our own stylesheet: quotes and `>` stay as they are
        identity_rows=_identity_rows,
        dossiers=[dossier_to_dict(d) for d in dossiers],
        runs_on=_runs_on,
        service_rows=_service_rows,
        owner_line=_owner_line,
    )


# --------------------------------------------------------------------------- terminal

_STATE_STYLE = {
    UseState.IN_USE.value: "bold white on red",
    UseState.IDLE.value: "bold white on green",
    UseState.UNKNOWN.value: "bold white on grey50",
}


def render_terminal(dossiers: Sequence[Dossier], console: Console) -> None:
    for dossier in dossiers:
        _terminal_one(visible_data(dossier_to_dict(dossier)), console)


def _terminal_one(d: Mapping[str, Any], console: Console) -> None:
    state = d["verdict"]["state"]
    console.print(
        Text.assemble(
            (f" {state.upper()} ", _STATE_STYLE.get(state, "bold")),
            " ",
            (str(d["host"]), "bold"),
            f"  {d['address']}",
        )
    )
    for evidence in d["verdict"]["evidence"]:
        console.print(Text(f"  · {evidence}"))
    ident = d["identity"]
    console.print(Text("1. What is it?", style="bold"))
    for key, value in (
        (
            "OS",
            " ".join(
                str(x) for x in (ident["os"], ident["os_eol"] and f"[{ident['os_eol']}]") if x
            ),
        ),
        ("kernel", " ".join(x for x in (ident["kernel"], ident["arch"]) if x)),
        ("uptime", _days(ident["uptime_seconds"])),
        ("runs on", _runs_on(ident)),
        ("cloud", " · ".join([ident["cloud"] or "", *ident["cloud_details"]]).strip(" ·")),
    ):
        if value:
            console.print(Text(f"   {key:<8} {value}"))
    console.print(Text("2. What runs on it?", style="bold"))
    table = Table(box=None, header_style="bold", pad_edge=False, show_edge=False)
    for column in ("port", "process", "user", "package", "started by", "front page"):
        table.add_column(column, overflow="fold")
    for s in d["services"]:
        http = s.get("http") or {}
        page = http.get("error") or " ".join(
            x
            for x in (http.get("server") or "", f"“{http['title']}”" if http.get("title") else "")
            if x
        )
        started = s.get("started_by") or {}
        table.add_row(
            Text(f"{s['proto']}/{s['port']}"),
            Text(f"{s['process'] or '?'} (pid {s['pid']})" if s["pid"] else s["process"] or "?"),
            Text(s["user"] or ""),
            Text(s["package"] or s["package_note"] or ""),
            Text(started.get("kind", "")),
            Text(page),
        )
    console.print(table)
    console.print(Text("3. Who uses it?", style="bold"))
    for t in d["teams"]:
        console.print(
            Text(
                f"   {t['team']}: {t['requests']} requests ({t['share']}%) from "
                f"{t['clients']} clients, last {_short(t['last_seen'])}"
            )
        )
    unowned = [n for n in d["networks"] if n["requests"]]
    if unowned:
        console.print(
            Text(
                f"   no team: {sum(n['requests'] for n in unowned)} requests "
                f"({sum(n['share'] for n in unowned)}%) from "
                f"{sum(n['clients'] for n in unowned)} clients"
            )
        )
    # Only connection peers, or a dossier from before the per-team totals: tally addresses.
    teams: dict[str, int] = {}
    for c in d["clients"]:
        teams[c["owner"] or "(no team)"] = teams.get(c["owner"] or "(no team)", 0) + 1
    if teams and not (d["teams"] or d["networks"]):
        console.print(
            Text("   clients: " + ", ".join(f"{team} ×{n}" for team, n in sorted(teams.items())))
        )
    elif not teams:
        console.print(Text("   no clients seen"))
    users = sorted({lg["user"] for lg in d["logins"]})
    if users:
        console.print(Text(f"   logins by: {', '.join(users)}"))
    console.print(Text("4. Who knows about it?", style="bold"))
    console.print(Text("   " + _owner_line(d["owner"])))
    known = d["known_by"]
    if not known["checked"]:
        console.print(Text("   sources not consulted"))
    else:
        for m in known["sources"]:
            console.print(Text(f"   {m['kind']} {m['name']}: {m['detail']}"))
        if not known["listed_by"]:
            console.print(
                Text("   no inventory, state or cloud account lists it", style="bold red")
            )
    search = d["repo_search"]
    if search["searched"] and not d["references"]:
        console.print(Text("   no repository mentions it", style="bold red"))
    for r in d["references"][:10]:
        console.print(Text(f"   {r['repo']}:{r['path']}:{r['line']}: {r['text'][:100]}"))
    if len(d["references"]) > 10:
        console.print(Text(f"   ... {len(d['references']) - 10} more references"))
    console.print(Text("5. Next steps", style="bold"))
    for step in d["next_steps"]:
        console.print(Text(f"   [ ] {step['kind']}: {step['text']}"))
    console.print()
