"""Dossier output: JSON shape, inert HTML, escaped Markdown, plain terminal text; built from
a whole real probe run of the lab's CentOS 5 host (tests/fixtures/inspect/probe_output)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

from rich.console import Console

from auditor.config import Config, OwnerRule
from auditor.eol import load_eol_data
from auditor.inspect.dossier import Gathered, build_dossier
from auditor.inspect.model import DOSSIER_SCHEMA, Dossier, HttpFront, KnownBy, RepoSearch
from auditor.inspect.probe import parse_inspect_output
from auditor.inspect.render import (
    dossier_to_dict,
    render_html,
    render_json,
    render_markdown,
    render_terminal,
)
from auditor.model import (
    Host,
    HostOwner,
    HostStatus,
    NetworkUse,
    Package,
    PeerGroup,
    Software,
    SshOutcome,
    TeamUse,
    UnknownPackage,
)
from auditor.probe import parse_probe_output
from auditor.probing import add_eol
from tests.builders import Page

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "inspect" / "probe_output"
OWNERS = Config(path=None, owners=(OwnerRule("10.20.0.0/16", "team-payments"),
                                   OwnerRule("10.30.0.0/16", "team-data")))  # fmt: skip
HOSTILE = '<script>alert("x")</script>[bold red]boom[/] | `tick` *em* <img src=x onerror=alert(1)>'


def lab_dossier(title: str = "ACME Billing", software: tuple[Software, ...] | None = None) -> Dossier:
    args = json.loads((FIXTURE / "lab_centos5_sudo.json").read_text())["args"]
    stdout = (FIXTURE / "lab_centos5_sudo.txt").read_text()
    at = datetime.fromisoformat(args["collected_at"])

    def owner_of(address: str) -> str | None:
        return OWNERS.owner_of(address)

    facts = parse_probe_output(
        stdout, args["nonce"], collected_at=at, log_days=7, owner_of=owner_of
    )
    if software is not None:
        facts = replace(facts, software=software)
    facts = add_eol(facts, at.date(), load_eol_data())
    deep = parse_inspect_output(
        stdout, args["nonce"], collected_at=at, log_days=7, owner_of=owner_of
    )
    host = Host("ip:10.250.77.10", ("10.250.77.10",), (), ("ip:10.250.77.10",), (),
                HostStatus.UNMANAGED, "inspected directly")  # fmt: skip
    gathered = Gathered(
        address="10.250.77.10", host=host, outcome=SshOutcome("ok", address="10.250.77.10", port=22),
        facts=facts, deep=deep, now=at + timedelta(seconds=2), window_days=7, login_user="auditor",
        own_addresses=("10.250.77.1",),
        http={80: HttpFront("http://10.250.77.10/", 200, "OK", "Apache/1.3.42 (Unix)", title)},
        known=KnownBy(checked=True, sources_run=("network:network-1",)),
        references=RepoSearch(searched=True, repos=("/src/iac",), terms=("10.250.77.10",)),
    )  # fmt: skip
    return build_dossier(gathered, owner_of)


def test_json_has_the_documented_shape() -> None:
    data = json.loads(render_json([lab_dossier()]))
    assert data["schema"] == DOSSIER_SCHEMA
    for key in ("host", "identity", "services", "clients", "logins", "known_by", "references",
                "verdict", "next_steps"):  # fmt: skip
        assert key in data
    assert data["host"] == "legacy-billing01" and data["verdict"]["state"] == "in use"
    web = next(s for s in data["services"] if s["port"] == 80)
    for key in ("port", "process", "exe", "cwd", "user", "package", "started_by", "logs", "http"):
        assert key in web
    assert web["process"] == "httpd" and web["http"]["server"] == "Apache/1.3.42 (Unix)"
    assert web["package"] is None and web["package_note"] == "not owned by any package"
    assert "/var/log/httpd/access_log" in web["logs"]
    client = data["clients"][0]
    assert set(client) >= {"address", "requests", "owner", "last_seen"}
    assert {c["owner"] for c in data["clients"]} == {"team-payments", "team-data"}
    assert all(c["address"] != "10.250.77.1" for c in data["clients"])
    assert data["known_by"]["checked"] and data["known_by"]["listed_by"] == []
    assert data["references"] == [] and data["repo_search"]["searched"]
    assert any(lg["user"] == "deploy" and lg["from"].startswith("10.20.") for lg in data["logins"])
    assert (
        data["identity"]["os_eol"] == "eol" and data["identity"]["uptime_seconds"] >= 2000 * 86400
    )


def test_several_dossiers_are_a_list() -> None:
    data = json.loads(render_json([lab_dossier(), lab_dossier()]))
    assert isinstance(data, list) and len(data) == 2


def hostile_dossier() -> Dossier:
    d = lab_dossier(title=HOSTILE)
    return replace(d, host=HOSTILE, cron=(*d.cron, f"/etc/cron.d/x: * * * * * root {HOSTILE}"))


def test_html_is_self_contained_and_inert() -> None:
    page = render_html([hostile_dossier()])
    parsed = Page(page)
    assert "script" not in parsed.tags and "img" not in parsed.tags
    assert not any(name.startswith("on") for name, _ in parsed.attributes)
    assert HOSTILE in "".join(parsed.text)  # shown as text
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert "http://" not in page.replace("http://10.250.77.10/", "")  # nothing loaded
    assert "No repository mentions it" in page and "No inventory, state or cloud" in page


def test_markdown_escapes_host_strings() -> None:
    text = render_markdown([hostile_dossier()])
    # Code spans are literal in Markdown, and a backtick cannot close one early.
    outside_code = re.sub(r"`[^`\n]*`", "", text)
    assert "<script>" not in outside_code and "\\<script\\>" in text
    assert "`/etc/cron.d/x: * * * * * root <script>" in text and "'tick'" in text
    assert "**no repository mentions it**" in text
    assert text.startswith("# \\<script\\>")


def test_terminal_prints_markup_as_text() -> None:
    out = StringIO()
    render_terminal([hostile_dossier()], Console(file=out, width=200, color_system=None))
    printed = out.getvalue()
    assert "[bold red]boom[/]" in printed
    assert "no repository mentions it" in printed and "IN USE" in printed


def test_dict_round_trips_through_json() -> None:
    data: dict[str, Any] = dossier_to_dict(lab_dossier())
    assert json.loads(json.dumps(data)) == data


def test_the_software_list_says_who_installed_each_program() -> None:
    """On the CentOS 5 box (past support) the upstream cycles count, and the dossier says
    where each program came from."""
    dossier = lab_dossier(software=(
        Software("httpd", "1.3.42", "Server version: Apache/1.3.42 (Unix)",
                 path="/usr/sbin/httpd", package=None),
        Software("openssl", "0.9.8e", "OpenSSL 0.9.8e-fips-rhel5 01 Jul 2008",
                 path="/usr/bin/openssl", package=Package("rpm", "openssl", "0.9.8e-40.el5_11")),
        Software("python", "2.4.3", "Python 2.4.3", path="/usr/bin/python",
                 package=UnknownPackage("rpm -qf timed out")),
    ))  # fmt: skip
    assert dossier.software == (
        "httpd 1.3.42 (eol, hand-installed)",
        "openssl 0.9.8e (eol, rpm package openssl)",
        "python 2.4.3",  # no python 2.4 cycle in the data, and nobody said whose it is
    )


def test_who_uses_it_leads_with_the_team_table() -> None:
    last = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    d = replace(
        lab_dossier(),
        teams=(TeamUse("team-payments", 300, 3, last), TeamUse(HOSTILE, 100, 50, last)),
        networks=(NetworkUse("198.51.100.0/24", 100, 9, last),),
        peer_groups=(PeerGroup(5432, None, "198.51.100.0/24", 2),),
    )
    data = dossier_to_dict(d)
    assert [(t["team"], t["share"]) for t in data["teams"]] == [("team-payments", 60), (HOSTILE, 20)]
    assert data["networks"][0]["share"] == 20 and data["connection_teams"][0]["peers"] == 2
    page = render_html([d])
    who = page[page.index("3. Who uses it?") : page.index("4. Who knows about it?")]
    assert who.index("team-payments") < who.index("Top client addresses")
    assert "<b>team-payments</b></td><td class=\"num\">300</td>" in who.replace("\n", "")
    assert "<script>" not in page and "&lt;script&gt;" in who
    assert "--crit:#b3261e" in page  # the main report's stylesheet
    text = render_markdown([d])
    assert "| team-payments | 300 | 60% | 3 | 2026-11-28 12:00 |" in text
    assert "| 198.51.100.0/24 (no team) | 100 | 20% | 9 |" in text
    assert "Owner: none known" in text and data["owner"] is None
    owned = replace(d, owner=HostOwner(HOSTILE, "clients", "inferred from clients, 75% ..."))
    page = render_html([owned])
    assert "<script>" not in page and "Owner: &lt;script&gt;" in page
    assert dossier_to_dict(owned)["owner"]["source"] == "clients"
    out = StringIO()
    render_terminal([d], Console(file=out, width=200, color_system=None))
    assert "team-payments: 300 requests (60%) from 3 clients" in out.getvalue()
