"""The options commands share, in one place: which config (with discovery), report folder,
--fail-on, --quiet, --notify, --format, --dry-run, --nmap-xml (audit, discover, drift), the
history store (history, diff, report), the SSH settings (inspect, premigrate), and what
their values become (a config with the command line's SSH settings on top, an open store)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from auditor.config import HOST_KEY_POLICIES, Config, SshSettings
from auditor.errors import ConfigError
from auditor.model import SEVERITY_NAMES

if TYPE_CHECKING:
    from auditor.store import Store
    from auditor.storedb import StoreLocation


def _found_config(_ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path:
    from auditor.config import find_config
    from auditor.errors import ConfigError

    try:
        return find_config(value)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def config_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--config", "-c", "config_path", callback=_found_config,
        type=click.Path(dir_okay=False, path_type=Path),
        help="The audit.toml to run (default: $AUDITOR_CONFIG, ./audit.toml, "
        "~/.config/auditor/audit.toml, /etc/auditor/audit.toml).",
    )(func)  # fmt: skip


def out_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--out", "-o", "out_dir", type=click.Path(file_okay=False, path_type=Path),
        help="Report folder (default: [audit] reports in the config).",
    )(func)  # fmt: skip


def fail_on_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--fail-on", type=click.Choice(SEVERITY_NAMES, case_sensitive=False), default=None,
        help="Exit 1 when a finding has this severity or worse (default: [audit] fail_on).",
    )(func)  # fmt: skip


def quiet_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")(func)


def notify_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--notify", "notify_url", metavar="URL",
        help="POST a JSON summary (Slack-compatible) when the run has new findings.",
    )(func)  # fmt: skip


def format_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--format", "output_format", type=click.Choice(["text", "json"]), default="text",
        help="json: print the run's report.json to stdout (for jq); progress and the summary "
        "stay on stderr. Reports are written as usual.",
    )(func)  # fmt: skip


def dry_run_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--dry-run", is_flag=True,
        help="Print the sources it would read, the exact nmap commands and the hosts it would "
        "probe (and why), without sending a packet; exit 0. With --format json, as JSON.",
    )(func)  # fmt: skip


def nmap_xml_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--nmap-xml", "nmap_xml", multiple=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="Import an nmap XML scan made elsewhere (repeatable); adds to [[network]].",
    )(func)  # fmt: skip


def run_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options `audit` and `discover` share (everything `_run` takes but `probe`)."""
    for option in reversed((
        config_option, out_option, fail_on_option, quiet_option, nmap_xml_option,
        notify_option, format_option, dry_run_option,
    )):  # fmt: skip
        func = option(func)
    return func


def print_report_json(written: Mapping[str, Path]) -> None:
    """report.json as written, to stdout: the same document, byte for byte."""
    sys.stdout.write(written["json"].read_text(encoding="utf-8"))
    sys.stdout.flush()


# --------------------------------------------------------------------------- history store


def store_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--store PATH / --config FILE: the history store history, diff and report read."""
    func = click.option(
        "--store",
        "store_path",
        metavar="PATH|URL",
        help="The history store: a SQLite file or a postgresql:// URL (password: "
        "$AUDITOR_STORE_PASSWORD or $PGPASSWORD); default: [audit] store in --config.",
    )(func)
    return click.option(
        "--config",
        "-c",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="An audit.toml whose [audit] store (and reports) to use.",
    )(func)


def json_format_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """`--format text|json` as on audit/discover/drift (JSON alone on stdout, for jq), and
    the older `--json` flag it replaces, kept working but no longer listed."""
    func = click.option("--json", "as_json", is_flag=True, hidden=True)(func)
    return click.option(
        "--format", "output_format", type=click.Choice(["text", "json"]), default="text",
        help="json: print JSON to stdout (for jq) instead of a table.",
    )(func)  # fmt: skip


def store_path_of(store_path: str | None, config_path: Path | None) -> StoreLocation:
    """--store PATH, else [audit] store of --config FILE; neither is a usage error."""
    if store_path is not None:
        from auditor.storedb import store_location

        return store_location(store_path)
    if config_path is not None:
        from auditor.config import load_config

        config = load_config(config_path)
        if config.audit.store is None:
            raise ConfigError(f"{config_path}: [audit] has no 'store' (history is off)")
        return config.audit.store
    raise ConfigError("say which history store to read: --store PATH or --config FILE")


def open_history(store_path: str | None, config_path: Path | None) -> Store:
    """The store --store or --config names, read-only (no lock: it works while a cron
    audit runs)."""
    from auditor.store import open_store

    return open_store(store_path_of(store_path, config_path), readonly=True)


# --------------------------------------------------------------------------- SSH settings


@dataclass(frozen=True)
class SshFlags:
    """The SSH settings given on the command line (`ssh_options`): the config file, what
    overrides its [ssh] section, and the activity window."""

    config_path: Path | None
    ssh_user: str | None
    key_file: Path | None
    known_hosts: Path | None
    host_key_policy: str | None
    ports: tuple[int, ...]
    sudo: bool | None
    days: int | None

    def config(self) -> Config:
        """The config file (or an empty one) with these settings on top (`build_config`)."""
        return build_config(
            self.config_path, ssh_user=self.ssh_user, key_file=self.key_file,
            known_hosts=self.known_hosts, host_key_policy=self.host_key_policy,
            ports=self.ports, sudo=self.sudo,
        )  # fmt: skip


def ssh_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """SSH settings on the command line; they override the config's [ssh] section. The
    command gets them as one keyword argument, `ssh` (an SshFlags)."""
    names = [f.name for f in fields(SshFlags)]

    @functools.wraps(func)  # (its click options and help come along)
    def command(**kwargs: Any) -> Any:
        return func(ssh=SshFlags(**{n: kwargs.pop(n) for n in names}), **kwargs)

    options = [
        click.option("--config", "-c", "config_path",
                     type=click.Path(dir_okay=False, path_type=Path),
                     help="An audit.toml: its [ssh] section, [owners] and sources."),
        click.option("--ssh-user", help="Log in as this user (default: [ssh] user)."),
        click.option("--key", "key_file", type=click.Path(dir_okay=False, path_type=Path),
                     help="Private key file (default: [ssh] key_file, ~/.ssh/id_*)."),
        click.option("--known-hosts", type=click.Path(dir_okay=False, path_type=Path),
                     help="known_hosts file to trust (default: [ssh] known_hosts)."),
        click.option("--host-key-policy", type=click.Choice(HOST_KEY_POLICIES),
                     help="strict (default) or tofu."),
        click.option("--port", "ports", type=click.IntRange(1, 65535), multiple=True,
                     help="SSH port to try (repeatable; default: [ssh] ports)."),
        click.option("--sudo/--no-sudo", default=None,
                     help="Probe as root through `sudo -n` (default: [ssh] sudo)."),
        click.option("--days", type=click.IntRange(1, 3650), default=None,
                     help="Activity window in days (default: [ssh] log_days, 7)."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def build_config(
    config_path: Path | None,
    *,
    ssh_user: str | None = None,
    key_file: Path | None = None,
    known_hosts: Path | None = None,
    host_key_policy: str | None = None,
    ports: tuple[int, ...] = (),
    sudo: bool | None = None,
) -> Config:
    """The config file (or an empty one) with the command line's SSH settings on top."""
    from auditor.config import load_config

    config = load_config(config_path) if config_path is not None else Config(path=None)
    ssh: SshSettings = config.ssh
    overrides: dict[str, Any] = {}
    if ssh_user:
        overrides["user"] = ssh_user
    if key_file is not None:
        if not key_file.exists():
            raise ConfigError(f"--key {key_file}: no such file")
        overrides["key_file"] = key_file.expanduser().resolve()
    if known_hosts is not None:
        if not known_hosts.exists():
            raise ConfigError(f"--known-hosts {known_hosts}: no such file")
        overrides["known_hosts"] = known_hosts.expanduser().resolve()
    if host_key_policy:
        overrides["host_key_policy"] = host_key_policy
    if ports:
        overrides["ports"] = tuple(dict.fromkeys(ports))
    if sudo is not None:  # --sudo: the root shell; --no-sudo: no sudo at all
        overrides.update(sudo=sudo, sudo_commands=False)
    return replace(config, ssh=replace(ssh, **overrides)) if overrides else config
