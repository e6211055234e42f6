"""The output format (markers, nonce), the script's shape, and parse_probe_output's contract."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditor.model import Facts
from auditor.probe import ALL_FACTS, ProbeOptions, build_script, parse_probe_output, split_output
from auditor.probe.sections import Part

NONCE = "0123456789abcdefABCDEF01"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "probe" / "probe_output"
WHEN = datetime(2026, 11, 28, 23, 0, 5, tzinfo=UTC)


def part(name: str, body: str, status: int | None = 0, how: str = "root") -> str:
    text = f"\n@@AUDITOR {NONCE} BEGIN {name}@@\n{body}\n"
    if status is not None:
        text += f"\n@@AUDITOR {NONCE} END {name} {status} {how}@@\n"
    return text


def parse(stdout: str) -> Facts:
    return parse_probe_output(
        stdout, NONCE, collected_at=WHEN, log_days=7, owner_of=lambda address: None
    )


# ------------------------------------------------------------------------- split_output


def test_parts_are_grouped_by_fact_with_status_and_how() -> None:
    out = split_output(
        part("system/hostname", "web1") + part("system/fqdn", "oops", 1, "user") + "\n"
        f"@@AUDITOR {NONCE} DONE@@\n",
        NONCE,
    )
    system = out.section("system")
    assert system is not None and out.finished
    assert system.get("hostname") == Part("hostname", "web1", 0, "root")
    assert system.get("fqdn") == Part("fqdn", "oops", 1, "user")


def test_markers_with_another_nonce_are_body_text() -> None:
    body = "\n".join(
        [
            "@@AUDITOR ffffffffffffffff END system/hostname 0 root@@",
            "@@AUDITOR ffffffffffffffff DONE@@",
            f"@@AUDITOR {NONCE}0 BEGIN sockets/ss@@",
            f"x @@AUDITOR {NONCE} DONE@@",
        ]
    )
    out = split_output(part("system/hostname", body), NONCE)
    hostname = out.section("system").get("hostname")  # type: ignore[union-attr]
    assert hostname is not None and hostname.body == body
    assert not out.finished
    assert out.section("sockets") is None


def test_a_part_without_end_is_incomplete() -> None:
    out = split_output(part("weblogs/report", "F 10 0 /var/log/x", None), NONCE)
    report = out.section("weblogs").get("report")  # type: ignore[union-attr]
    assert report is not None and report.status is None and not report.complete


def test_begin_inside_a_part_closes_it_as_cut_off() -> None:
    text = f"\n@@AUDITOR {NONCE} BEGIN a/x@@\nhalf\n" + part("b/y", "whole")
    out = split_output(text, NONCE)
    assert out.section("a").get("x").status is None  # type: ignore[union-attr]
    assert out.section("b").get("y").body == "whole"  # type: ignore[union-attr]


def test_only_newline_splits_lines() -> None:
    body = "a\rb\x1cc\u2028d\x0be"
    out = split_output(part("cron/tables", body), NONCE)
    assert out.section("cron").get("tables").lines == [body]  # type: ignore[union-attr]


def test_a_retried_part_name_keeps_the_last() -> None:
    text = part("sockets/netstat", "usage", 1) + part("sockets/netstat", "tcp ...", 0)
    netstat = split_output(text, NONCE).section("sockets").get("netstat")  # type: ignore[union-attr]
    assert netstat is not None and netstat.ok and netstat.body == "tcp ..."


# ---------------------------------------------------------------------------- the script


def test_script_shape() -> None:
    options = ProbeOptions(nonce=NONCE, sudo=True)
    script = build_script(options)
    # One brace group read whole before it runs; stdin of every command is /dev/null.
    assert script.startswith("{\n") and script.rstrip().endswith("} </dev/null")
    # The nonce is assigned once and only printf (a builtin) uses it: never in an argv.
    assert script.count(NONCE) == 1 and f"N={NONCE}\n" in script
    # No here-documents (bash 3.2 writes them to /tmp) and no leftover placeholders.
    assert "<<" not in script
    assert not re.search(r"@[A-Z][A-Z0-9_]*@", script)
    assert "sudo -n" in script


def test_every_fact_has_a_snippet_and_distinct_name() -> None:
    names = [f.name for f in ALL_FACTS]
    assert len(names) == len(set(names))
    fields = [field for f in ALL_FACTS for field in f.fields]
    assert len(fields) == len(set(fields))
    assert set(fields) | {"collected_at", "errors"} == set(Facts.__dataclass_fields__)
    for fact in ALL_FACTS:
        assert f"{fact.name}/" in fact.snippet(ProbeOptions())


@pytest.mark.parametrize(
    "bad",
    [
        {"nonce": "short"},
        {"nonce": "has space 0123456789"},
        {"log_days": 0},
        {"max_log_bytes": True},
        {"search_path": ("relative/bin",)},
        {"search_path": ("/bin'; rm -rf /",)},
    ],
)
def test_options_reject_values_that_would_break_the_script(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ProbeOptions(**bad)  # type: ignore[arg-type]


def test_options_from_settings() -> None:
    from auditor.config import SshSettings

    options = ProbeOptions.from_settings(SshSettings(sudo=True, log_days=30), top_n=5)
    assert (options.sudo, options.log_days, options.top_n) == (True, 30, 5)
    assert options.nonce != ProbeOptions.from_settings(SshSettings()).nonce


# ------------------------------------------------------------------- parse_probe_output


def test_empty_output_gives_every_fact_none_with_a_reason() -> None:
    facts = parse("")
    for fact in ALL_FACTS:
        for field in fact.fields:
            assert getattr(facts, field) is None
            assert facts.errors[field]
    assert "no probe output" in facts.errors["probe"]


def test_collected_at_must_be_aware() -> None:
    with pytest.raises(ValueError):
        parse_probe_output("", NONCE, collected_at=datetime(2026, 1, 1), log_days=7, owner_of=str)


def test_output_cut_at_any_point_never_raises() -> None:
    text = (FIXTURES / "centos5_legacy_billing_sudo.txt").read_text()
    nonce = "5f0c2a9e81d34b7a6c1e0f92"
    for cut in range(0, len(text), 97):
        facts = parse_probe_output(
            text[:cut], nonce, collected_at=WHEN, log_days=7, owner_of=lambda a: None
        )
        assert "probe" in facts.errors
        for fact in ALL_FACTS:
            for field in fact.fields:
                if getattr(facts, field) is None:
                    assert field in facts.errors, (cut, field)


def test_wrong_nonce_reads_nothing() -> None:
    text = (FIXTURES / "centos5_legacy_billing_sudo.txt").read_text()
    facts = parse_probe_output(
        text, "ffffffffffffffffffffffff", collected_at=WHEN, log_days=7, owner_of=lambda a: None
    )
    assert facts.hostname is None and facts.listeners is None


def test_needs_root_is_explained_when_sudo_was_refused() -> None:
    stdout = (
        part("meta/privilege", "uid=1000\nuser=audit\nsudo=denied\n"
             "sudo_message=sudo: sorry, you must have a tty to run sudo\ntimeout=none\nnow=",
             how="user")
        + part("sockets/netstat",
               "tcp        0      0 0.0.0.0:80              0.0.0.0:*               LISTEN      -",
               how="user")
        + part("meta/privileged", "user", how="user")
        + f"\n@@AUDITOR {NONCE} DONE@@\n"
    )  # fmt: skip
    facts = parse(stdout)
    assert facts.listeners and facts.listeners[0].pid is None
    reason = facts.errors["listeners.process"]
    assert "needs root" in reason and "must have a tty" in reason
    assert "must have a tty" in facts.errors["probe.sudo"]


@pytest.mark.parametrize(
    ("uname", "hostname", "kernel"),
    [
        ("web01 6.1.0-28-amd64 x86_64", "web01", "6.1.0-28-amd64"),
        # a node name may hold spaces (the lab's intranet01 is markup): release and machine
        # never do, so they are the last two words
        ("<img src=x onerror=alert(1)>\"'&intranet 6.18.4 x86_64",
         "<img src=x onerror=alert(1)>\"'&intranet", "6.18.4"),
    ],
)  # fmt: skip
def test_the_host_name_is_unames_node_name(uname: str, hostname: str, kernel: str) -> None:
    facts = parse(
        part("system/uname", uname) + part("system/fqdn", "localhost")
        + part("system/uptime", "12.5") + f"\n@@AUDITOR {NONCE} DONE@@\n"
    )  # fmt: skip
    assert (facts.hostname, facts.kernel, facts.arch) == (hostname, kernel, "x86_64")
    assert "hostname" not in facts.errors and "kernel" not in facts.errors


def test_hostname_runs_only_when_uname_fails() -> None:
    """An old-style run (a `system/hostname` part) still parses; without uname, the
    `hostname` part names the host and kernel/arch say why they are missing."""
    facts = parse(
        part("system/uname", "uname: command not found", 127)
        + part("system/hostname", "legacy01") + f"\n@@AUDITOR {NONCE} DONE@@\n"
    )  # fmt: skip
    assert facts.hostname == "legacy01" and facts.kernel is None
    assert "command not found" in facts.errors["kernel"]


# ------------------------------------------------------------------------- a stopped script


def test_a_stop_marker_names_the_step_and_keeps_the_parts_before_it() -> None:
    # What the script's TERM trap prints when the controller stops it at the deadline:
    # the parts it still held, then STOP with the step it was in (root half first).
    stdout = (
        part("system/hostname", "web1")
        + part("sockets/ss", "half a listing", None)
        + f"\n@@AUDITOR {NONCE} STOP sockets/ss@@\n"
        + f"\n@@AUDITOR {NONCE} STOP meta/privileged@@\n"
        + "\n@@AUDITOR other STOP forged@@\n"
    )
    out = split_output(stdout, NONCE)
    assert out.stopped_in == "sockets/ss" and not out.finished
    assert out.sections["system"].get("hostname") == Part("hostname", "web1")
    ss = out.sections["sockets"].get("ss")
    assert ss is not None and not ss.complete
    facts = parse(stdout)
    assert facts.hostname == "web1"
    assert facts.errors["probe"] == "the script was stopped in sockets/ss"


def test_without_a_stop_marker_the_first_fact_that_did_not_arrive_is_named() -> None:
    facts = parse(part("system/hostname", "web1"))
    assert facts.errors["probe"] == "output ended before the script finished, in os"


def test_the_script_traps_term_and_names_each_fact_as_its_step() -> None:
    script = build_script(ProbeOptions(nonce=NONCE))
    assert "trap '_fl; printf" in script and "STOP %s" in script
    steps = re.findall(r"^_sf (\S+)$", script, re.M)
    assert steps == [f.name for f in sorted(ALL_FACTS, key=lambda f: f.privileged)]
