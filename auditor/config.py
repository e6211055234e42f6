"""TOML config -> frozen dataclasses.

Every error names the file, the key and what was expected; unknown keys are errors (a typo
must not silently disable a check). Relative paths resolve against the config file's folder.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from auditor.errors import ConfigError, TargetError
from auditor.model import Severity
from auditor.storedb import StoreLocation, check_postgres_url, is_postgres_url, store_location
from auditor.targets import validate_target
from auditor.urls import check_url, is_http_state, shown

DEFAULT_PORTS: tuple[int, ...] = (
    22, 80, 443, 2222, 3306, 5432, 6379, 8080, 8443, 9200, 27017, 3389, 5900, 11211,
)  # fmt: skip
HOST_KEY_POLICIES = ("strict", "tofu")


@dataclass(frozen=True)
class AuditSettings:
    name: str = "audit"
    store: StoreLocation | None = None  # SQLite file or PostgresUrl; None: no history
    reports: Path = Path("reports")
    fail_on: Severity = Severity.HIGH
    uptime_days: int = 365  # longer uptime than this is a finding (unpatched kernel)
    gone_after_days: int = 7  # a host unseen this long is reported "gone" (once)
    silent_days: int = 30  # no log written for this long: the host is "silent"
    expected_ports: tuple[int, ...] = (22,)  # listeners on these ports are never "unexpected"
    expected_ports_by_group: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    notify: str | None = None  # webhook URL posted when a run has new findings
    notify_timeout: float = 10.0
    baseline: Path | None = None  # a file of [[accept]] entries (`auditor accept` appends)
    metrics: Path | None = None  # Prometheus textfile (node_exporter's textfile collector)
    # Cloud tags naming a host's owning team, first found wins (after [owners]).
    owner_tags: tuple[str, ...] = ("Owner", "owner", "Team", "team")


@dataclass(frozen=True)
class NetworkConfig:
    name: str
    targets: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    ports: tuple[int, ...] = DEFAULT_PORTS
    service_detection: bool = False
    nmap_xml: tuple[Path, ...] = ()  # scans made elsewhere, imported instead of / besides sweeping
    host_timeout: int = 120  # seconds nmap may spend on one host
    vantage: str | None = None  # with an [engine]: the [[vantage]] that sweeps these targets
    # Sweep once more the addresses that stayed silent: a burst of lost packets on a busy
    # segment can eat every discovery probe of a live host in one pass (nmap's retries come
    # within a second); the second pass is later and costs only the silent addresses.
    second_look: bool = True


@dataclass(frozen=True)
class AwsConfig:
    name: str
    profile: str | None = None
    regions: tuple[str, ...] = ()  # empty: every enabled region
    endpoint_url: str | None = None
    assume_role: tuple[str, ...] = ()  # role ARNs, one account each
    page_size: int | None = None


@dataclass(frozen=True)
class AnsibleConfig:
    name: str
    inventory: tuple[Path, ...] = ()
    resolve_timeout: float = 2.0


@dataclass(frozen=True)
class TerraformConfig:
    name: str
    state: tuple[str, ...] = ()  # files, folders, globs or s3://bucket/key
    config: tuple[Path, ...] = ()  # .tf folders, for intent-vs-live drift
    s3_endpoint_url: str | None = None  # for s3:// state on moto or S3-compatible stores
    s3_profile: str | None = None


@dataclass(frozen=True)
class SshSettings:
    enabled: bool = True
    user: str | None = None
    key_file: Path | None = None
    known_hosts: Path | None = None
    host_key_policy: str = "strict"
    tofu_known_hosts: Path | None = None  # where tofu records keys (default: ~/.local/share)
    ports: tuple[int, ...] = (22,)
    concurrency: int = 16
    timeout: float = 10.0  # connect / auth timeout
    deadline: float = 90.0  # whole probe of one host
    sudo: bool = False  # the privileged half in one `sudo -n sh -s` (a root shell)
    # [ssh] sudo = "commands": no root shell; only the fixed read-only commands of
    # auditor.probe.privileged_commands run through `sudo -n` (docs/ssh.md)
    sudo_commands: bool = False
    jump_host: str | None = None
    # sessions through one jump host at once; with an engine, all workers together
    jump_host_concurrency: int | None = None
    proxy_command: str | None = None  # e.g. aws ssm start-session ... (%h %p %r %n)
    legacy_algorithms: tuple[str, ...] = ()  # host patterns allowed to use CentOS 5-era algorithms
    use_ssh_config: bool = True
    log_days: int = 7  # window for access-log and login activity
    software_cache: bool = True  # skip version runs of programs unchanged since last audit


BROKER_ENV = "AUDITOR_BROKER_URL"  # the broker URL (credentials, TLS options) kept out of files
BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps")
LIMITER_ENV = "AUDITOR_LIMITER_URL"  # the session limits' leases, when not in the broker
LIMITER_SCHEMES = ("redis://", "rediss://", "postgresql://", "postgres://")


@dataclass(frozen=True)
class EngineSettings:
    """[engine]: sweeps and probes run by Celery workers at vantage points (auditor.engine).

    The broker and limiter URLs are read when a command uses the engine (`audit`, `worker`,
    `audit --dry-run`: `broker_url()`, `limiter_url()`), not when the config is loaded:
    `history`, `diff` and `report` with the controller's config never need
    $AUDITOR_BROKER_URL. Both may hold credentials: messages show them through
    `auditor.urls.shown` only."""

    # `[engine] broker` as the file gives it; $AUDITOR_BROKER_URL wins (broker_url()).
    broker: str | None = None
    worker_timeout: float = 60.0  # seconds a vantage may take to start its first task
    batch_size: int = 8  # hosts per probe task (results come back per batch)
    queue_prefix: str = "auditor"  # queues are <prefix>.<vantage>
    # Redis: a task of a worker that died is handed to another after this many seconds (set
    # it above the longest batch: a task still running then is run twice, counted once).
    redelivery_after: float = 300.0
    # Where the session limits' leases live (auditor.engine.limits): a Redis or a PostgreSQL
    # URL as the file gives it ($AUDITOR_LIMITER_URL wins); unset, the broker when it is Redis.
    limiter: str | None = None
    lease: float = 30.0  # a slot not renewed for this long (its worker died) comes back
    origin: str = "[engine]"  # where messages say the section is: "<config file>: [engine]"

    def broker_url(self) -> str:
        """$AUDITOR_BROKER_URL, else `broker`; ConfigError when neither is a broker URL."""
        url = os.environ.get(BROKER_ENV) or self.broker or ""
        if url.partition("://")[0] not in BROKER_SCHEMES:  # not shown: it may hold a password
            raise ConfigError(
                f"{self.origin} key 'broker' (or ${BROKER_ENV}): expected a "
                + " or ".join(f"{s}://" for s in BROKER_SCHEMES)
                + " URL (the value is not shown: it may hold a secret)"
                + ("" if url else f"; none is set: set ${BROKER_ENV} or 'broker'")
            )
        return url

    def limiter_url(self) -> str | None:
        """$AUDITOR_LIMITER_URL, else `limiter` (None if neither); ConfigError when it is
        neither a Redis nor a PostgreSQL URL."""
        url = os.environ.get(LIMITER_ENV) or self.limiter
        if url is not None and not url.startswith(LIMITER_SCHEMES):
            raise ConfigError(
                f"{self.origin} key 'limiter' (or ${LIMITER_ENV}): expected a "
                + " or ".join(LIMITER_SCHEMES)
                + " URL (the value is not shown: it may hold a secret)"
            )
        return url

    def __repr__(self) -> str:  # the broker URL may carry a password: never in a repr
        from auditor.urls import shown

        return f"EngineSettings(broker={shown(self.broker or '')!r}, ...)"


@dataclass(frozen=True)
class VantageConfig:
    """[[vantage]]: a point inside a segment whose workers sweep and probe `networks`."""

    name: str
    networks: tuple[str, ...]  # CIDRs and VPC ids (vpc-...)
    concurrency: int = 16  # hosts probed at once by all of this vantage's workers together


@dataclass(frozen=True)
class OwnerRule:
    match: str  # CIDR, address, or hostname pattern
    team: str

    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
        try:
            return ipaddress.ip_network(self.match, strict=False)
        except ValueError:
            return None


@dataclass(frozen=True)
class OwnershipRule:
    """Hosts carrying this tag belong to a system we don't read (an ASG, a node pool)."""

    tag: str  # "key" or "key=value" (the value may be a glob pattern)
    system: str

    def matches(self, tags: Mapping[str, Any]) -> bool:
        import fnmatch

        key, has_value, value = self.tag.partition("=")
        return key in tags and (not has_value or fnmatch.fnmatchcase(str(tags[key]), value))


@dataclass(frozen=True)
class IgnoreRule:
    match: str  # address, CIDR, instance id, or name pattern
    reason: str
    expires: date | None = None


@dataclass(frozen=True)
class AcceptRule:
    """A finding someone looked at and accepted, with why and until when. `host` patterns
    match a host's id, names and addresses (or a CIDR); `resource` patterns match what a
    run-level finding names (a Terraform address, a cloud id)."""

    rule: str  # a finding's rule id, e.g. eol-os
    reason: str
    expires: date
    host: str | None = None
    resource: str | None = None
    source: str = ""  # "audit.toml [[accept]] #2": where it was written, for the report

    @property
    def target(self) -> str:
        return f"host {self.host}" if self.host is not None else f"resource {self.resource}"


@dataclass(frozen=True)
class PolicyTables:
    """The [[policy]] entries as written (`value`: the TOML value, normally an array of
    tables), with the file they came from and the folder an included `file = ...` is
    relative to. Their grammar is auditor.drift.policy's: `config_policies(config)` parses
    them, so this module needs nothing of drift's."""

    value: Any = None
    file: Path | None = None
    base: Path | None = None


@dataclass(frozen=True)
class Config:
    path: Path | None
    audit: AuditSettings = field(default_factory=AuditSettings)
    network: tuple[NetworkConfig, ...] = ()
    aws: tuple[AwsConfig, ...] = ()
    ansible: tuple[AnsibleConfig, ...] = ()
    terraform: tuple[TerraformConfig, ...] = ()
    ssh: SshSettings = field(default_factory=SshSettings)
    owners: tuple[OwnerRule, ...] = ()
    ownership: tuple[OwnershipRule, ...] = ()
    ignore: tuple[IgnoreRule, ...] = ()
    policy: PolicyTables = field(default_factory=PolicyTables)  # [[policy]] guard rails
    accept: tuple[AcceptRule, ...] = ()  # [[accept]] here and in [audit] baseline
    engine: EngineSettings | None = None  # [engine]: None is the single-machine audit
    vantage: tuple[VantageConfig, ...] = ()

    def owner_of(self, address: str | None, names: tuple[str, ...] = ()) -> str | None:
        """The team owning an address (most specific CIDR wins) or, failing that, a name."""
        rule = self.owner_rule_of(address, names)
        return rule.team if rule is not None else None

    def owner_rule_of(self, address: str | None, names: tuple[str, ...] = ()) -> OwnerRule | None:
        """The [owners] rule that decides `owner_of`."""
        import fnmatch

        best: tuple[int, OwnerRule] | None = None
        if address:
            try:
                ip = ipaddress.ip_address(address)
            except ValueError:
                ip = None
            for rule in self.owners:
                net = rule.network()
                if (
                    ip is not None
                    and net is not None
                    and ip.version == net.version
                    and ip in net
                    and (best is None or net.prefixlen > best[0])
                ):
                    best = (net.prefixlen, rule)
        if best:
            return best[1]
        for rule in self.owners:
            if rule.network() is None and any(fnmatch.fnmatch(n, rule.match) for n in names):
                return rule
        return None


# --------------------------------------------------------------------------- reading


class _Table:
    """Typed, error-naming access to one TOML table; `finish` rejects unknown keys."""

    def __init__(self, file: Path, where: str, data: Any, base: Path) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{file}: {where} must be a table, got {_type_name(data)}")
        self.file, self.where, self.data, self.base = file, where, data, base
        self.used: set[str] = set()

    def _err(self, key: str, expected: str, value: Any) -> ConfigError:
        return ConfigError(
            f"{self.file}: {self.where} key '{key}': expected {expected}, "
            f"got {_type_name(value)} {value!r}"
        )

    def _get(self, key: str) -> Any:
        self.used.add(key)
        return self.data.get(key)

    def get_str(self, key: str, default: str | None = None) -> str | None:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, str) or not value.strip():
            raise self._err(key, "a non-empty string", value)
        return value

    def get_choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.get_str(key, default) or default
        if value not in choices:
            raise self._err(key, "one of " + ", ".join(choices), value)
        return value

    def get_bool(self, key: str, default: bool) -> bool:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._err(key, "true or false", value)
        return value

    def get_sudo(self, key: str) -> str:
        """`false` (off), `true` (shell: a root shell for the privileged half) or
        `"commands"` (only the fixed read-only commands through sudo)."""
        value = self._get(key)
        if value is None or value is False:
            return "off"
        if value is True:
            return "shell"
        if value == "commands":
            return "commands"
        raise self._err(key, 'true, false or "commands"', value)

    # Every number has a sane range: a typo (an extra zero, a minus) or `inf` / `nan` (TOML
    # has both) is refused at load, not discovered when a hung host hangs the whole audit.
    def get_int(self, key: str, default: int, *, minimum: int, maximum: int) -> int:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._err(key, "an integer", value)
        if not minimum <= value <= maximum:
            raise self._err(key, f"an integer between {minimum} and {maximum}", value)
        return value

    def get_float(self, key: str, default: float, *, maximum: float) -> float:
        """A positive, finite number of at most `maximum` (seconds, mostly)."""
        value = self._get(key)
        if value is None:
            return default
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not 0 < value <= maximum
        ):
            raise self._err(key, f"a number > 0 and at most {maximum:g}", value)
        return float(value)

    def get_strs(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self._err(key, "a string or a list of non-empty strings", value)
        return tuple(value)

    def get_ports(self, key: str, default: tuple[int, ...]) -> tuple[int, ...]:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list) or not value:
            raise self._err(key, "a non-empty list of TCP ports (1-65535)", value)
        for port in value:
            if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
                raise self._err(key, "a list of TCP ports (1-65535)", port)
        return tuple(dict.fromkeys(value))

    def get_path(self, key: str, default: Path | None = None) -> Path | None:
        value = self.get_str(key)
        if value is None:
            return default
        return self.resolve(value)

    def get_paths(self, key: str) -> tuple[Path, ...]:
        return tuple(self.resolve(v) for v in self.get_strs(key))

    def resolve(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base / path)

    def get_date(self, key: str) -> date | None:
        value = self._get(key)
        if value is None:
            return None
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise self._err(key, "a date (YYYY-MM-DD)", value)

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used))
            raise ConfigError(
                f"{self.file}: {self.where}: unknown key '{unknown[0]}' (known keys: {known})"
            )


def _type_name(value: Any) -> str:
    return {
        str: "string", int: "integer", float: "number", bool: "boolean",
        list: "list", dict: "table",
    }.get(type(value), type(value).__name__)  # fmt: skip


def _array_of_tables(file: Path, data: Mapping[str, Any], key: str, base: Path) -> list[_Table]:
    value = data.get(key)
    if value is None:
        return []
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError(f"{file}: [[{key}]] must be an array of tables, got {_type_name(value)}")
    return [_Table(file, f"[[{key}]] #{i + 1}", item, base) for i, item in enumerate(value)]


def _group_ports(t: _Table, key: str) -> dict[str, tuple[int, ...]]:
    """A table of inventory group -> list of ports, e.g. `{ web = [80, 443] }`."""
    value = t._get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise t._err(key, "a table of group = [ports]", value)
    sub = _Table(t.file, f"{t.where} {key}", value, t.base)
    out = {group: sub.get_ports(group, ()) for group in value}
    sub.finish()
    return out


KNOWN_SECTIONS = (
    "audit", "network", "aws", "ansible", "terraform", "ssh", "owners", "ownership", "ignore",
    "policy", "accept", "engine", "vantage",
)  # fmt: skip


CONFIG_ENV = "AUDITOR_CONFIG"


def config_search_path(env: Mapping[str, str], cwd: Path, home: Path) -> tuple[Path, ...]:
    """Where a config is looked for when --config is not given, in order (pure)."""
    xdg = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    return (cwd / "audit.toml", xdg / "auditor" / "audit.toml", Path("/etc/auditor/audit.toml"))


def find_config(given: Path | None, env: Mapping[str, str] | None = None) -> Path:
    """The config to use: `given` (--config), else $AUDITOR_CONFIG, else the first file of
    `config_search_path`. A path named explicitly is returned as it is (load_config says if
    it is missing); otherwise ConfigError lists every place tried."""
    env = os.environ if env is None else env
    if given is not None:
        return given
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    tried = config_search_path(env, Path.cwd(), Path.home())
    for candidate in tried:
        if candidate.is_file():
            return candidate
    places = ", ".join(str(p) for p in tried)
    raise ConfigError(
        f"no config: none given with --config or ${CONFIG_ENV}, and none at {places} "
        "(write one with `auditor init`)"
    )


def load_config(path: Path) -> Config:
    """Read and validate a config file. Raises ConfigError naming the file and key."""
    path = Path(path)
    return parse_config(read_toml(path, "config"), path)


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """A TOML file's data; ConfigError naming the file when it cannot be read or parsed."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror or exc}") from exc
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc


def _store(t: _Table) -> StoreLocation | None:
    """`[audit] store`: a SQLite file, or a postgresql:// URL (never shown: it may carry a
    password; see auditor.storedb)."""
    text = t.get_str("store")
    if text is None or not is_postgres_url(text):
        return t.get_path("store")
    why = check_postgres_url(text)
    if why is not None:
        raise ConfigError(  # not `_err`: the value may hold a password
            f"{t.file}: {t.where} key 'store': {why} (the value is not shown: it may hold a "
            "password)"
        )
    return store_location(text)


def parse_config(data: Mapping[str, Any], path: Path) -> Config:
    base = path.resolve().parent
    for key in data:
        if key not in KNOWN_SECTIONS:
            raise ConfigError(
                f"{path}: unknown section '{key}' (known: {', '.join(KNOWN_SECTIONS)})"
            )

    t = _Table(path, "[audit]", data.get("audit", {}), base)
    fail_on_text = t.get_str("fail_on", "high") or "high"
    try:
        fail_on = Severity.parse(fail_on_text)
    except ValueError as exc:
        raise ConfigError(f"{path}: [audit] key 'fail_on': {exc}") from None
    audit = AuditSettings(
        name=t.get_str("name", "audit") or "audit",
        store=_store(t),
        reports=t.get_path("reports") or base / "reports",
        fail_on=fail_on,
        uptime_days=t.get_int("uptime_days", 365, minimum=1, maximum=36500),
        gone_after_days=t.get_int("gone_after_days", 7, minimum=0, maximum=3650),
        silent_days=t.get_int("silent_days", 30, minimum=1, maximum=3650),
        expected_ports=t.get_ports("expected_ports", (22,)),
        expected_ports_by_group=_group_ports(t, "expected_ports_by_group"),
        notify=t.get_str("notify"),
        notify_timeout=t.get_float("notify_timeout", 10.0, maximum=300),
        baseline=t.get_path("baseline"),
        metrics=t.get_path("metrics"),
        owner_tags=t.get_strs("owner_tags", AuditSettings.owner_tags),
    )
    if audit.notify and not audit.notify.startswith(("http://", "https://")):
        raise ConfigError(  # not `_err`: the value is a secret (a token in the URL)
            f"{t.file}: {t.where} key 'notify': expected an http:// or https:// URL (the "
            "value is not shown: it may hold a secret; or set $AUDITOR_NOTIFY_URL instead)"
        )
    t.finish()

    networks = []
    for i, t in enumerate(_array_of_tables(path, data, "network", base)):
        net = NetworkConfig(
            name=t.get_str("name") or f"network-{i + 1}",
            targets=t.get_strs("targets"),
            exclude=t.get_strs("exclude"),
            ports=t.get_ports("ports", DEFAULT_PORTS),
            service_detection=t.get_bool("service_detection", False),
            nmap_xml=t.get_paths("nmap_xml"),
            host_timeout=t.get_int("host_timeout", 120, minimum=1, maximum=86400),
            vantage=t.get_str("vantage"),
            second_look=t.get_bool("second_look", True),
        )
        for key in ("targets", "exclude"):
            for target in getattr(net, key):
                try:
                    validate_target(target)
                except TargetError as exc:
                    raise ConfigError(f"{path}: {t.where} key '{key}': {exc}") from exc
        t.finish()
        if not net.targets and not net.nmap_xml:
            raise ConfigError(f"{path}: {t.where}: needs 'targets' or 'nmap_xml'")
        networks.append(net)

    aws = []
    for i, t in enumerate(_array_of_tables(path, data, "aws", base)):
        page_size = t.get_int("page_size", 0, minimum=0, maximum=1000)
        aws.append(
            AwsConfig(
                name=t.get_str("name") or f"aws-{i + 1}",
                profile=t.get_str("profile"),
                regions=t.get_strs("regions"),
                endpoint_url=t.get_str("endpoint_url"),
                assume_role=t.get_strs("assume_role"),
                page_size=page_size or None,
            )
        )
        t.finish()

    ansible = []
    for i, t in enumerate(_array_of_tables(path, data, "ansible", base)):
        src = AnsibleConfig(
            name=t.get_str("name") or f"ansible-{i + 1}",
            inventory=t.get_paths("inventory"),
            resolve_timeout=t.get_float("resolve_timeout", 2.0, maximum=60),
        )
        t.finish()
        if not src.inventory:
            raise ConfigError(f"{path}: {t.where}: key 'inventory' is required")
        ansible.append(src)

    terraform = []
    for i, t in enumerate(_array_of_tables(path, data, "terraform", base)):
        states = tuple(
            s if s.startswith("s3://") or is_http_state(s) else str(t.resolve(s))
            for s in t.get_strs("state")
        )
        for s in states:
            if is_http_state(s) and (problem := check_url(s)) is not None:
                raise ConfigError(f"{path}: {t.where}: state {shown(s)}: {problem}")
        tf = TerraformConfig(
            name=t.get_str("name") or f"terraform-{i + 1}",
            state=states,
            config=t.get_paths("config"),
            s3_endpoint_url=t.get_str("s3_endpoint_url"),
            s3_profile=t.get_str("s3_profile"),
        )
        t.finish()
        if not tf.state and not tf.config:
            raise ConfigError(f"{path}: {t.where}: needs 'state' or 'config'")
        terraform.append(tf)

    t = _Table(path, "[ssh]", data.get("ssh", {}), base)
    sudo = t.get_sudo("sudo")
    ssh = SshSettings(
        enabled=t.get_bool("enabled", True),
        user=t.get_str("user"),
        key_file=t.get_path("key_file"),
        known_hosts=t.get_path("known_hosts"),
        host_key_policy=t.get_choice("host_key_policy", HOST_KEY_POLICIES, "strict"),
        tofu_known_hosts=t.get_path("tofu_known_hosts"),
        ports=t.get_ports("ports", (22,)) if "ports" in t.data else t.get_ports("port", (22,)),
        concurrency=t.get_int("concurrency", 16, minimum=1, maximum=512),
        timeout=t.get_float("timeout", 10.0, maximum=300),
        deadline=t.get_float("deadline", 90.0, maximum=3600),
        sudo=sudo == "shell",
        sudo_commands=sudo == "commands",
        jump_host=t.get_str("jump_host"),
        jump_host_concurrency=(
            t.get_int("jump_host_concurrency", 0, minimum=1, maximum=4096)
            if "jump_host_concurrency" in t.data
            else None
        ),
        proxy_command=t.get_str("proxy_command"),
        legacy_algorithms=t.get_strs("legacy_algorithms"),
        use_ssh_config=t.get_bool("use_ssh_config", True),
        log_days=t.get_int("log_days", 7, minimum=1, maximum=3650),
        software_cache=t.get_bool("software_cache", True),
    )
    t.used.update({"port", "ports"})
    t.finish()

    owners_table = data.get("owners", {})
    if not isinstance(owners_table, dict):
        raise ConfigError(f'{path}: [owners] must be a table of "CIDR or host" = "team"')
    owners = []
    for match, team in owners_table.items():
        if not isinstance(team, str) or not team:
            raise ConfigError(
                f"{path}: [owners] key '{match}': expected a team name (string), "
                f"got {_type_name(team)} {team!r}"
            )
        if "/" in match:
            try:
                ipaddress.ip_network(match, strict=False)
            except ValueError:
                raise ConfigError(
                    f"{path}: [owners] key '{match}': not a valid CIDR (e.g. 10.20.0.0/16)"
                ) from None
        owners.append(OwnerRule(match=match, team=team))

    ownership = []
    for t in _array_of_tables(path, data, "ownership", base):
        tag, system = t.get_str("tag"), t.get_str("system")
        t.finish()
        if not tag or not system:
            raise ConfigError(f"{path}: {t.where}: keys 'tag' and 'system' are required")
        ownership.append(OwnershipRule(tag=tag, system=system))

    ignore = []
    for t in _array_of_tables(path, data, "ignore", base):
        match, reason, expires = t.get_str("match"), t.get_str("reason"), t.get_date("expires")
        t.finish()
        if not match or not reason:
            raise ConfigError(
                f"{path}: {t.where}: keys 'match' and 'reason' are required "
                "(say why the host is ignored)"
            )
        ignore.append(IgnoreRule(match=match, reason=reason, expires=expires))

    engine, vantages = parse_engine(data, path, base, networks)
    policy = PolicyTables(data.get("policy"), path, base)
    accept = parse_accept(data, path, base)
    if audit.baseline is not None:
        accept += load_baseline(audit.baseline)

    return Config(
        path=path,
        audit=audit,
        network=tuple(networks),
        aws=tuple(aws),
        ansible=tuple(ansible),
        terraform=tuple(terraform),
        ssh=ssh,
        owners=tuple(owners),
        ownership=tuple(ownership),
        ignore=tuple(ignore),
        policy=policy,
        accept=accept,
        engine=engine,
        vantage=vantages,
    )


_VANTAGE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_VPC_ID = re.compile(r"vpc-[0-9a-f]{8,17}")


def parse_engine(
    data: Mapping[str, Any], path: Path, base: Path, networks: list[NetworkConfig]
) -> tuple[EngineSettings | None, tuple[VantageConfig, ...]]:
    """[engine] and [[vantage]]; a [[network]] `vantage` must name one of them. The broker
    URL is read later, by the commands that use it (EngineSettings.broker_url)."""
    vantages: list[VantageConfig] = []
    for t in _array_of_tables(path, data, "vantage", base):
        name = t.get_str("name") or ""
        if not _VANTAGE_NAME.fullmatch(name):
            raise t._err("name", "a name of a-z, 0-9, - and _ (it names a queue)", name or None)
        vantage = VantageConfig(
            name=name,
            networks=t.get_strs("networks"),
            concurrency=t.get_int("concurrency", 16, minimum=1, maximum=4096),
        )
        t.finish()
        if not vantage.networks:
            raise ConfigError(f"{path}: {t.where}: key 'networks' is required (CIDRs, VPC ids)")
        for net in vantage.networks:
            if not _VPC_ID.fullmatch(net):
                try:
                    ipaddress.ip_network(net, strict=False)
                except ValueError:
                    raise t._err("networks", "CIDRs or VPC ids (vpc-0abc...)", net) from None
        if any(v.name == name for v in vantages):
            raise ConfigError(f"{path}: {t.where}: vantage '{name}' is defined twice")
        vantages.append(vantage)
    names = {v.name for v in vantages}
    for i, section in enumerate(networks):
        if section.vantage is not None and section.vantage not in names:
            raise ConfigError(
                f"{path}: [[network]] #{i + 1} key 'vantage': no [[vantage]] is named "
                f"'{section.vantage}' (known: {', '.join(sorted(names)) or 'none'})"
            )
    if "engine" not in data:
        return None, tuple(vantages)
    t = _Table(path, "[engine]", data["engine"], base)
    # The broker and limiter URLs are only kept here: the commands that use the engine read
    # and check them (EngineSettings.broker_url), so `history -c` never needs the broker.
    settings = EngineSettings(
        broker=t.get_str("broker"),
        worker_timeout=t.get_float("worker_timeout", 60.0, maximum=86400),
        batch_size=t.get_int("batch_size", 8, minimum=1, maximum=1000),
        queue_prefix=t.get_str("queue_prefix", "auditor") or "auditor",
        redelivery_after=t.get_float("redelivery_after", 300.0, maximum=86400),
        limiter=t.get_str("limiter"),
        lease=t.get_float("lease", 30.0, maximum=3600),
        origin=f"{path}: [engine]",
    )
    t.finish()
    if settings.lease < 3:
        renewed = "at least 3 seconds (it is renewed every third of it)"
        raise t._err("lease", renewed, settings.lease)
    if not _VANTAGE_NAME.fullmatch(settings.queue_prefix):
        raise t._err("queue_prefix", "a name of a-z, 0-9, - and _", settings.queue_prefix)
    return settings, tuple(vantages)


def parse_accept(data: Mapping[str, Any], path: Path, base: Path) -> tuple[AcceptRule, ...]:
    """The [[accept]] tables of one file (the config, or a baseline)."""
    rules = []
    for t in _array_of_tables(path, data, "accept", base):
        rule, reason, expires = t.get_str("rule"), t.get_str("reason"), t.get_date("expires")
        host, resource = t.get_str("host"), t.get_str("resource")
        t.finish()
        if not rule or not reason or expires is None:
            raise ConfigError(
                f"{path}: {t.where}: keys 'rule', 'reason' and 'expires' are required "
                "(say which finding, why it is accepted, and until when)"
            )
        if (host is None) == (resource is None):
            raise ConfigError(
                f"{path}: {t.where}: give exactly one of 'host' (a host pattern) or "
                "'resource' (a resource pattern)"
            )
        rules.append(AcceptRule(rule, reason, expires, host, resource, f"{path.name} {t.where}"))
    return tuple(rules)


def load_baseline(path: Path) -> tuple[AcceptRule, ...]:
    """[audit] baseline: a TOML file of [[accept]] tables only. A baseline that does not
    exist yet accepts nothing (`auditor accept` creates it)."""
    if not path.exists():
        return ()
    data = read_toml(path, "baseline")
    unknown = sorted(set(data) - {"accept"})
    if unknown:
        raise ConfigError(f"{path}: a baseline holds only [[accept]] tables, not '{unknown[0]}'")
    return parse_accept(data, path, path.resolve().parent)
