"""facts_view: a host's report.json facts read through typed properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from auditor.facts_view import FactsView, ListenerView, parse_time
from auditor.report.json_report import facts_to_dict
from tests.builders import T0, mkfacts


def test_a_written_hosts_facts_read_back_typed() -> None:
    facts = mkfacts(T0, boot=T0 - timedelta(days=3), os="Ubuntu 22.04.4 LTS", teams=("team-a",))
    view = FactsView(facts_to_dict(facts))
    assert view.collected_at == T0
    assert view.boot == T0 - timedelta(days=3)
    assert view.os_text == "Ubuntu 22.04.4 LTS"
    assert view.client_teams == {"team-a"}
    assert view.collected("clients") and not view.collected("listeners")


def test_boot_is_the_boot_time_else_collected_less_uptime() -> None:
    at = "2026-12-01T06:00:00+00:00"
    assert FactsView({"boot_time": "2026-11-01T00:00:00+00:00", "collected_at": at,
                      "uptime_seconds": 60}).boot == datetime(2026, 11, 1, tzinfo=UTC)  # fmt: skip
    view = FactsView({"collected_at": at, "uptime_seconds": 3600})
    assert view.boot == datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    assert view.uptime_seconds == 3600.0
    # Stored reports are not trusted: a value of the wrong type reads as absent.
    odd = FactsView({"collected_at": 5, "uptime_seconds": "3600", "boot_time": "yesterday"})
    assert (odd.collected_at, odd.uptime_seconds, odd.boot) == (None, None, None)
    assert parse_time("") is None and parse_time(None) is None


def test_os_text_is_the_pretty_name_else_name_and_version() -> None:
    assert FactsView({"os": {"pretty_name": "Debian GNU/Linux 12 (bookworm)"}}).os_text == (
        "Debian GNU/Linux 12 (bookworm)"
    )
    assert FactsView({"os": {"id": "alpine", "version": "3.19"}}).os_text == "alpine 3.19"
    assert FactsView({"os": {"name": "CentOS", "id": "centos"}}).os_text == "CentOS"
    assert FactsView({"os": "debian"}).os_text is None
    assert FactsView({"os": {}}).os_text is None and FactsView({}).kernel is None


def test_listeners_software_and_client_teams_are_none_when_not_collected() -> None:
    empty = FactsView({"listeners": None, "software": None, "clients": None})
    assert (empty.listeners, empty.software, empty.client_teams) == (None, None, None)
    nothing = FactsView({"listeners": [], "software": [], "clients": []})
    assert (nothing.listeners, nothing.software, nothing.client_teams) == ((), {}, frozenset())


def test_a_listener_is_keyed_without_its_process_and_shown_as_people_read_it() -> None:
    view = FactsView({"listeners": [
        {"proto": "tcp", "address": "0.0.0.0", "port": 22, "process": "sshd"},
        {"proto": "tcp6", "address": "::", "port": "80", "process": None},
    ]})  # fmt: skip
    sshd, web = view.listeners or ()
    assert sshd.key == ("tcp", "0.0.0.0", 22) and sshd.text() == "tcp 0.0.0.0:22 sshd"
    assert web == ListenerView("tcp6", "::", 80) and web.text() == "tcp6 [::]:80"
    with pytest.raises(KeyError):
        ListenerView.of({"proto": "tcp", "port": 22})  # no address: no listener


def test_client_teams_counted_on_the_host_else_the_owners_of_its_clients() -> None:
    counted = FactsView({"clients": [{"owner": "team-a"}], "client_teams": [{"team": "team-b"}]})
    assert counted.client_teams == {"team-b"}
    owners = FactsView({
        "clients": [{"owner": "team-a"}, {"owner": None}],
        "web_logs": [{"top_clients": [{"owner": "team-web"}]}, {"top_clients": None}],
    })  # fmt: skip
    assert owners.client_teams == {"team-a", "team-web"}


def test_software_is_name_to_version() -> None:
    view = FactsView({"software": [{"name": "nginx", "version": "1.22.1"},
                                   {"name": "openssl", "version": 3}]})  # fmt: skip
    assert view.software == {"nginx": "1.22.1", "openssl": "3"}
