"""`auditor accept RULE TARGET --reason TEXT --expires DATE`: accept a finding.

Appends one `[[accept]]` entry to the `[audit] baseline` file when the config names one
(creating it), else to the config itself. The file is never rewritten from parsed data: the
entry is appended as text, so comments and layout stay; the whole new text is parsed and
validated (the config loads, the entry is there) before it atomically replaces the old file.
Exit codes: 0 written, 2 usage or config error (nothing written).
"""

from __future__ import annotations

import json
import stat
from datetime import date
from pathlib import Path
from typing import NoReturn

import click

from auditor import fileio
from auditor.config import AcceptRule, load_config, parse_accept, parse_config
from auditor.errors import ConfigError
from auditor.exitcodes import EXIT_OK, run_guarded

MAX_REASON = 500
BASELINE_HEADER = (
    "# auditor baseline: accepted findings, one [[accept]] table each (see docs/reports.md).\n"
    "# `auditor accept` appends here; edit or delete entries by hand as you like.\n"
)


def toml_string(text: str) -> str:
    """A TOML basic string. JSON's escapes are TOML's (\\", \\\\, \\n, \\uXXXX); DEL, which
    TOML wants escaped and JSON does not, is escaped by hand."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def accept_entry(entry: AcceptRule, today: date) -> str:
    """The text appended for `entry` (a leading blank line, a comment saying when)."""
    target = "host" if entry.host is not None else "resource"
    value = entry.host if entry.host is not None else entry.resource
    return (
        f"\n[[accept]]  # added by `auditor accept` on {today.isoformat()}\n"
        f"rule = {toml_string(entry.rule)}\n"
        f"{target} = {toml_string(value or '')}\n"
        f"reason = {toml_string(entry.reason)}\n"
        f"expires = {entry.expires.isoformat()}\n"
    )


def validate_entry(entry: AcceptRule, today: date, known_rules: tuple[str, ...]) -> None:
    if entry.rule not in known_rules:
        raise ConfigError(f"unknown rule '{entry.rule}' (rules: {', '.join(known_rules)})")
    if not entry.reason.strip():
        raise ConfigError("--reason must say why the finding is accepted")
    if len(entry.reason) > MAX_REASON:
        raise ConfigError(f"--reason is {len(entry.reason)} characters; at most {MAX_REASON}")
    if entry.expires < today:
        raise ConfigError(f"--expires {entry.expires} is in the past")
    target = entry.host if entry.host is not None else entry.resource
    if not target or not target.strip():
        raise ConfigError("the host or resource pattern is empty")


def append_accept(config_path: Path, entry: AcceptRule, today: date) -> tuple[Path, int]:
    """Append `entry` to the baseline (or the config); returns the file and the entry's
    number among its [[accept]] tables. Raises ConfigError, writing nothing, when the
    result would not load."""
    config = load_config(config_path)  # the current config must be valid to begin with
    target = config.audit.baseline or config_path
    old = target.read_text("utf-8") if target.exists() else BASELINE_HEADER
    new = old + ("" if old.endswith("\n") or not old else "\n") + accept_entry(entry, today)
    try:
        import tomllib

        data = tomllib.loads(new)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{target}: appending would not be valid TOML ({exc}); "
                          "nothing written") from None  # fmt: skip
    if target == config_path:
        written = parse_config(data, config_path).accept
    else:
        if set(data) - {"accept"}:
            raise ConfigError(f"{target}: a baseline holds only [[accept]] tables")
        written = parse_accept(data, target, target.resolve().parent)
    ours = [r for r in written if (r.rule, r.host, r.resource, r.reason, r.expires)
            == (entry.rule, entry.host, entry.resource, entry.reason, entry.expires)]  # fmt: skip
    if not ours:
        raise ConfigError(f"{target}: the appended entry did not read back; nothing written")
    mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o644
    fileio.write_atomic(target, new, mode=mode)
    local = [r for r in written if r.source.startswith(f"{target.name} ")]
    return target, len(local)


@click.command("accept")
@click.argument("rule")
@click.argument("target")
@click.option(
    "--config", "-c", "config_path", required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The audit.toml (its [audit] baseline, if set, is where the entry goes).",
)  # fmt: skip
@click.option("--reason", required=True, help="Why this finding may stay (shown in reports).")
@click.option(
    "--expires", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Until when (YYYY-MM-DD); after it the finding counts again and says so.",
)  # fmt: skip
@click.option(
    "--resource", "is_resource", is_flag=True,
    help="TARGET is a resource pattern (a Terraform address or cloud id a finding names), "
    "not a host pattern.",
)  # fmt: skip
def accept(
    rule: str, target: str, config_path: Path, reason: str, expires: object, is_resource: bool
) -> NoReturn:
    """Accept finding RULE on TARGET (a host pattern: name, address, CIDR, instance id, glob).

    Example: auditor accept eol-os 'web-*' -c audit.toml --reason "replaced in Q1 (OPS-42)"
    --expires 2027-03-31
    """
    from datetime import datetime

    from auditor.rules import RULE_IDS

    def body() -> int:
        assert isinstance(expires, datetime)
        today = date.today()
        entry = AcceptRule(
            rule=rule, reason=reason, expires=expires.date(),
            host=None if is_resource else target, resource=target if is_resource else None,
        )  # fmt: skip
        validate_entry(entry, today, RULE_IDS)
        written, number = append_accept(config_path, entry, today)
        click.echo(
            f"accepted {rule} on {entry.target} until {entry.expires}: "
            f"{written} [[accept]] #{number}"
        )
        return EXIT_OK

    run_guarded(body)
