"""Terraform state (format v4, terraform 0.12 and later) from files, folders, globs or S3.

Terraform itself is not needed: the state JSON is read directly. A location is a file, a
folder (its `*.tfstate` files and its `terraform.tfstate.d/<workspace>/terraform.tfstate`
workspaces; `*.tfstate.backup` is not state), a glob, `s3://bucket/key` (a key ending
in `/` or holding `*?[` lists matching `.tfstate` objects), or an `https://` address of the
`http` backend (GitLab-managed state; auditor.sources.tfhttp).

The S3 client uses boto3's credential chain. Its endpoint is `AUDITOR_S3_ENDPOINT_URL` when
set, else whatever boto3 itself configures (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, the
`services` section of ~/.aws/config); its profile is `AUDITOR_S3_PROFILE` when set.

`read_state` is the I/O (raises SourceError naming the file), `parse_state` validates and
flattens a state into `StateResource`s, `to_observations` turns `aws_instance`s (with the
addresses of the ENIs and EIPs attached to them) into Observations. Every managed resource
stays available to the drift rules through `load_state_resources` and
`SourceResult.details["resources"]`.
"""

from __future__ import annotations

import fnmatch
import glob
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from auditor.config import TerraformConfig
from auditor.errors import SourceError
from auditor.launchers import DefinedLauncher, defined_launcher
from auditor.model import (
    ID_AWS,
    ID_DNS,
    ID_IP,
    ID_MAC,
    ID_NAME,
    ID_TF,
    Observation,
    SourceKind,
    SourceResult,
    ident,
)
from auditor.sources.aws import (
    BOTO_ERRORS,
    DEFAULT_CLIENT_SETTINGS,
    AwsClientSettings,
    describe_aws_error,
)
from auditor.sources.tfhttp import fetch_state
from auditor.urls import is_http_state, shown

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

SUPPORTED_STATE_VERSION = 4
S3_ENDPOINT_ENV = "AUDITOR_S3_ENDPOINT_URL"
S3_PROFILE_ENV = "AUDITOR_S3_PROFILE"
GLOB_CHARS = frozenset("*?[")
REDACTED = "(sensitive)"


@dataclass(frozen=True)
class StateResource:
    """One object of one managed resource in a state, e.g. `module.app.aws_instance.web[0]`.

    `attributes` are the provider's attributes as the state holds them, with the values
    terraform marks sensitive replaced by "(sensitive)". `deposed` is set for an object that
    create_before_destroy replaced but has not destroyed yet (it still exists in the cloud).
    """

    address: str
    type: str
    name: str
    module: str | None
    index: int | str | None
    provider: str
    attributes: Mapping[str, Any] = field(compare=False)
    state_file: str
    deposed: str | None = None
    status: str | None = None  # "tainted" when terraform will replace it

    @property
    def id(self) -> str | None:
        value = self.attributes.get("id")
        return str(value) if value else None


@dataclass(frozen=True)
class StateFile:
    location: str
    workspace: str  # "default" unless the path or key says otherwise
    terraform_version: str | None
    serial: int | None
    lineage: str | None
    resources: tuple[StateResource, ...]

    def summary(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "workspace": self.workspace,
            "terraform_version": self.terraform_version,
            "serial": self.serial,
            "lineage": self.lineage,
            "resources": len(self.resources),
        }


# --------------------------------------------------------------------------- addresses


def resource_address(type_: str, name: str, module: str | None, index: int | str | None) -> str:
    """Terraform's own address syntax: `module.a["x"].aws_instance.web[0]`."""
    address = f"{module}.{type_}.{name}" if module else f"{type_}.{name}"
    return address + index_suffix(index)


def index_suffix(index: int | str | None) -> str:
    if index is None:
        return ""
    if isinstance(index, int):
        return f"[{index}]"
    return f"[{json.dumps(index, ensure_ascii=False)}]"


def workspace_of(location: str) -> str:
    """The workspace a state belongs to, from where terraform puts it: local
    `terraform.tfstate.d/<ws>/terraform.tfstate`, S3 backend `env:/<ws>/<key>`."""
    parts = location.split("/")
    if "terraform.tfstate.d" in parts:
        position = parts.index("terraform.tfstate.d")
        if position + 1 < len(parts) - 1:
            return parts[position + 1]
    if location.startswith("s3://") and len(parts) > 4 and parts[3] == "env:":
        return parts[4]
    return "default"


# --------------------------------------------------------------------------- locations


def expand_location(pattern: str, s3: S3Client | None = None) -> tuple[str, ...]:
    """The state locations one configured entry stands for. Raises SourceError when it
    stands for nothing (a folder without state, a glob that matches no file)."""
    if is_http_state(pattern):
        return (pattern,)  # one state per address: the http backend has no listing
    if pattern.startswith("s3://"):
        bucket, key = split_s3_url(pattern)
        if key and not key.endswith("/") and not GLOB_CHARS & set(key):
            return (pattern,)
        if s3 is None:
            raise SourceError(f"{pattern}: listing S3 needs an S3 client")
        return list_s3_states(s3, bucket, key)
    if GLOB_CHARS & set(pattern):
        matches = sorted(p for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
        if not matches:
            raise SourceError(f"{pattern}: matches no state file")
        return tuple(matches)
    path = Path(pattern)
    if path.is_dir():
        found = sorted(str(p) for p in path.glob("*.tfstate") if p.is_file())
        found += sorted(str(p) for p in path.glob("terraform.tfstate.d/*/terraform.tfstate"))
        if not found:
            raise SourceError(f"{pattern}: no *.tfstate file and no workspace in this folder")
        return tuple(found)
    return (pattern,)  # a file; read_state says so if it is missing


def split_s3_url(url: str) -> tuple[str, str]:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise SourceError(f"{url}: expected s3://bucket/key")
    return bucket, key


def list_s3_states(s3: S3Client, bucket: str, pattern: str) -> tuple[str, ...]:
    """`prefix/` lists every `.tfstate` below it; a glob is matched against whole keys."""
    prefix = pattern
    for position, char in enumerate(pattern):
        if char in GLOB_CHARS:
            prefix = pattern[:position]
            break
    keys: list[str] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
    except BOTO_ERRORS as exc:
        raise SourceError(f"s3://{bucket}/{pattern}: {describe_aws_error(exc)}") from exc
    if GLOB_CHARS & set(pattern):
        keys = [k for k in keys if fnmatch.fnmatchcase(k, pattern)]
    else:
        keys = [k for k in keys if k.endswith(".tfstate")]
    if not keys:
        raise SourceError(f"s3://{bucket}/{pattern}: matches no state object")
    return tuple(f"s3://{bucket}/{k}" for k in sorted(keys))


# --------------------------------------------------------------------------- reading


def s3_client(
    endpoint_url: str | None = None,
    profile: str | None = None,
    settings: AwsClientSettings = DEFAULT_CLIENT_SETTINGS,
) -> S3Client:
    try:
        session = boto3.Session(profile_name=profile)
        # endpoint_url None lets boto3 apply AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL itself.
        return session.client("s3", endpoint_url=endpoint_url, config=settings.botocore_config())
    except BOTO_ERRORS as exc:
        raise SourceError(f"S3: {describe_aws_error(exc)}") from exc


def read_state(location: str, s3: S3Client | None = None) -> dict[str, Any]:
    """Read and decode one state (file, s3:// object or http backend URL). Raises
    SourceError naming it."""
    if is_http_state(location):
        return decode_state(fetch_state(location), shown(location))
    if location.startswith("s3://"):
        if s3 is None:
            raise SourceError(f"{location}: reading S3 needs an S3 client")
        bucket, key = split_s3_url(location)
        try:
            raw = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except BOTO_ERRORS as exc:
            raise SourceError(f"{location}: {describe_aws_error(exc)}") from exc
    else:
        try:
            raw = Path(location).read_bytes()
        except FileNotFoundError as exc:
            raise SourceError(f"{location}: no such state file") from exc
        except OSError as exc:
            raise SourceError(f"{location}: cannot read: {exc.strerror or exc}") from exc
    return decode_state(raw, location)


def decode_state(raw: bytes, location: str) -> dict[str, Any]:
    if not raw.strip():
        raise SourceError(f"{location}: empty file, not a Terraform state")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SourceError(f"{location}: not UTF-8 text, not a Terraform state") from exc
    except json.JSONDecodeError as exc:
        # An interrupted write or copy cuts the file: the parser then fails at the very end,
        # or inside a string that never ends.
        cut = exc.pos >= len(raw.rstrip()) - 1 or exc.msg.startswith("Unterminated string")
        hint = " (the file looks truncated)" if cut else ""
        raise SourceError(
            f"{location}: not valid JSON{hint}: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    if not isinstance(data, dict):
        raise SourceError(f"{location}: not a Terraform state (expected a JSON object)")
    return data


def parse_state(state: Mapping[str, Any], location: str) -> StateFile:
    """Pure: validate a decoded state and flatten its managed resources. Data sources are
    skipped. Raises SourceError naming the file on a version or shape it cannot read."""
    version = state.get("version")
    if "backend" in state and "resources" not in state:
        raise SourceError(
            f"{location}: this is terraform's backend settings file (.terraform/terraform.tfstate)"
            f", not a state; point at the state the '{state['backend'].get('type', '?')}' "
            "backend stores"
        )
    if not isinstance(version, int) or isinstance(version, bool):
        raise SourceError(f"{location}: not a Terraform state (no numeric 'version')")
    if version < SUPPORTED_STATE_VERSION:
        raise SourceError(
            f"{location}: state version {version} not supported, run terraform 0.12+ "
            "(a plan/apply with terraform 0.12 or later upgrades the state to version 4)"
        )
    if version > SUPPORTED_STATE_VERSION:
        raise SourceError(
            f"{location}: state version {version} is newer than this auditor understands "
            f"(version {SUPPORTED_STATE_VERSION}); upgrade auditor"
        )
    try:
        resources = tuple(
            resource
            for block in state["resources"]
            if block["mode"] == "managed"
            for resource in _block_resources(block, location)
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise SourceError(f"{location}: malformed state: missing or bad {exc}") from exc
    serial = state.get("serial")
    return StateFile(
        location=location,
        workspace=workspace_of(location),
        terraform_version=state.get("terraform_version"),
        serial=serial if isinstance(serial, int) else None,
        lineage=state.get("lineage"),
        resources=resources,
    )


def _block_resources(block: Mapping[str, Any], location: str) -> Iterable[StateResource]:
    type_, name, module = block["type"], block["name"], block.get("module")
    for instance in block["instances"]:
        index = instance.get("index_key")
        # Providers with legacy SDK schemas may store flat "attributes_flat" instead.
        attributes = instance.get("attributes")
        if attributes is None:
            attributes = instance["attributes_flat"]
        yield StateResource(
            address=resource_address(type_, name, module, index),
            type=type_,
            name=name,
            module=module,
            index=index,
            provider=block["provider"],
            attributes=_redact(attributes, instance.get("sensitive_attributes") or ()),
            state_file=location,
            deposed=instance.get("deposed"),
            status=instance.get("status"),
        )


def _redact(attributes: Mapping[str, Any], sensitive_paths: Sequence[Any]) -> dict[str, Any]:
    """Hide every top-level attribute a sensitive path starts in: reports must not carry
    the passwords and keys a state holds in clear text."""
    hidden = set()
    for path in sensitive_paths:
        steps = path if isinstance(path, list) else [path]
        first = steps[0] if steps else None
        if isinstance(first, dict) and first.get("type") == "get_attr":
            hidden.add(first.get("value"))
    return {k: (REDACTED if k in hidden else v) for k, v in attributes.items()}


def load_state(location: str, s3: S3Client | None = None) -> StateFile:
    # An http backend address is recorded as shown: its query string may hold a token.
    named = shown(location) if is_http_state(location) else location
    return parse_state(read_state(location, s3), named)


def load_state_resources(location: str, s3: S3Client | None = None) -> tuple[StateResource, ...]:
    """Every managed resource object in one state (file or s3:// object)."""
    return load_state(location, s3).resources


# --------------------------------------------------------------------------- transform


def to_observations(
    resources: Iterable[StateResource], *, source_name: str, now: datetime
) -> tuple[Observation, ...]:
    """Pure: one Observation per `aws_instance` object, with the addresses of the
    `aws_network_interface`s and `aws_eip`s attached to it (through their own attributes,
    `aws_network_interface_attachment` or `aws_eip_association`), across every state given.

    Only instances make hosts. An ENI or EIP attached to an instance that is in no state
    does not: Terraform manages the interface, not the machine, which would otherwise pass
    for managed (see `foreign_attachments`). `alive` is None: a state cannot tell whether the
    machine runs.
    """
    resources = tuple(resources)
    links = _attachments(resources)
    out = [
        _instance_observation(r, links.get(str(r.id), []), source_name, now)
        for r in resources
        if r.type == "aws_instance" and r.id
    ]
    return tuple(sorted(out, key=lambda o: o.identifiers))


def foreign_attachments(resources: Iterable[StateResource]) -> list[dict[str, Any]]:
    """Managed ENIs and EIPs attached to instances that no state given manages: a machine
    made by hand wearing Terraform's network, worth a drift finding."""
    resources = tuple(resources)
    managed = {r.id for r in resources if r.type == "aws_instance"}
    return [
        {"instance_id": instance_id, "attached": _attached_summary(attached)}
        for instance_id, attached in sorted(_attachments(resources).items())
        if instance_id not in managed
    ]


def _attachments(resources: Sequence[StateResource]) -> dict[str, list[StateResource]]:
    """instance id -> the ENIs and EIPs attached to it."""
    by_type: dict[str, list[StateResource]] = {}
    for r in resources:
        by_type.setdefault(r.type, []).append(r)
    eni_owner: dict[str, str] = {}  # ENI id -> instance id
    for r in by_type.get("aws_instance", []):
        if r.id and r.attributes.get("primary_network_interface_id"):
            eni_owner[r.attributes["primary_network_interface_id"]] = r.id
        for nic in r.attributes.get("network_interface") or ():
            if nic.get("network_interface_id") and r.id:
                eni_owner[nic["network_interface_id"]] = r.id
    for r in by_type.get("aws_network_interface", []):
        for attachment in r.attributes.get("attachment") or ():
            if r.id and attachment.get("instance"):
                eni_owner[r.id] = attachment["instance"]
    for r in by_type.get("aws_network_interface_attachment", []):
        eni, instance = r.attributes.get("network_interface_id"), r.attributes.get("instance_id")
        if eni and instance:
            eni_owner[eni] = instance
    eip_owner: dict[str, str] = {}  # allocation id -> instance id
    for r in by_type.get("aws_eip_association", []):
        allocation = r.attributes.get("allocation_id")
        owner = r.attributes.get("instance_id") or eni_owner.get(
            r.attributes.get("network_interface_id") or ""
        )
        if allocation and owner:
            eip_owner[allocation] = owner

    links: dict[str, list[StateResource]] = {}
    for r in by_type.get("aws_network_interface", []):
        if r.id in eni_owner:
            links.setdefault(eni_owner[r.id], []).append(r)
    for r in by_type.get("aws_eip", []):
        owner = (
            r.attributes.get("instance")
            or eni_owner.get(r.attributes.get("network_interface") or "")
            or eip_owner.get(r.id or "")
        )
        if owner:
            links.setdefault(owner, []).append(r)
    return links


def _instance_observation(
    r: StateResource, attached: Sequence[StateResource], source_name: str, now: datetime
) -> Observation:
    a = r.attributes
    tags = {**(a.get("tags_all") or {}), **(a.get("tags") or {})}
    name = tags.get("Name") or None
    addresses = [
        a.get("private_ip"),
        *(a.get("secondary_private_ips") or ()),
        a.get("public_ip"),
        *(a.get("ipv6_addresses") or ()),
    ]
    addresses += _attached_addresses(attached)
    dns = [a.get("private_dns"), a.get("public_dns")]
    dns += [x.attributes.get("private_dns_name") for x in attached]
    dns += [x.attributes.get("public_dns") for x in attached]
    macs = [x.attributes.get("mac_address") for x in attached]

    # A deposed object keeps its resource's address (tf: never merges hosts, so the old and
    # the new machine stay apart by instance id); attributes["deposed"] tells them apart.
    identifiers = [tf_identifier(r), ident(ID_AWS, str(r.id))]
    identifiers += _ids(ID_IP, addresses) + _ids(ID_MAC, macs, lower=True)
    identifiers += _ids(ID_DNS, dns, lower=True)
    if name:
        identifiers.append(ident(ID_NAME, name))
    region, account = _arn_region_account(a.get("arn"))
    attributes = {
        **_resource_attributes(r),
        "instance_id": r.id,
        "account": account,
        "region": region,
        "availability_zone": a.get("availability_zone"),
        "instance_type": a.get("instance_type"),
        "ami": a.get("ami"),
        "subnet_id": a.get("subnet_id"),
        "vpc_security_group_ids": sorted(a.get("vpc_security_group_ids") or ()),
        "key_name": a.get("key_name") or None,
        "iam_instance_profile": a.get("iam_instance_profile") or None,
        "instance_state": a.get("instance_state"),  # as of the last refresh, not now
        "private_ip": a.get("private_ip") or None,
        "public_ip": a.get("public_ip") or None,
        "private_dns": a.get("private_dns") or None,
        "public_dns": a.get("public_dns") or None,
        "tags": dict(sorted(tags.items())),
        "name": name,
        "primary_network_interface_id": a.get("primary_network_interface_id"),
        "attached": _attached_summary(attached),
    }
    return Observation(
        source=SourceKind.TERRAFORM,
        source_name=source_name,
        identifiers=tuple(dict.fromkeys(identifiers)),
        observed_at=now,
        alive=None,
        attributes=attributes,
    )


def tf_identifier(r: StateResource) -> str:
    """`tf:<address>`, plus `@<workspace>` outside the default workspace. Workspaces share
    their configuration, so their addresses repeat; the suffix keeps reports and [[ignore]]
    patterns unambiguous (tf: is a label, reconcile never merges hosts on it)."""
    workspace = workspace_of(r.state_file)
    suffix = "" if workspace == "default" else f"@{workspace}"
    return ident(ID_TF, r.address + suffix)


def _resource_attributes(r: StateResource) -> dict[str, Any]:
    return {
        "address": r.address,
        "type": r.type,
        "module": r.module,
        "provider": r.provider,
        "state_file": r.state_file,
        "workspace": workspace_of(r.state_file),
        "deposed": r.deposed,
        "status": r.status,
    }


def _attached_addresses(attached: Sequence[StateResource]) -> list[Any]:
    addresses: list[Any] = []
    for x in attached:
        a = x.attributes
        if x.type == "aws_network_interface":
            addresses += [a.get("private_ip"), *(a.get("private_ip_list") or ())]
            addresses += [*(a.get("private_ips") or ()), *(a.get("ipv6_address_list") or ())]
            addresses += list(a.get("ipv6_addresses") or ())
        else:  # aws_eip
            addresses += [a.get("private_ip"), a.get("public_ip")]
    return addresses


def _attached_summary(attached: Sequence[StateResource]) -> list[dict[str, Any]]:
    return [{"address": x.address, "type": x.type, "id": x.id} for x in attached]


def _ids(kind: str, values: Iterable[Any], *, lower: bool = False) -> list[str]:
    out = []
    for value in values:
        if isinstance(value, str) and value:
            out.append(ident(kind, value.lower() if lower else value))
    return out


def _arn_region_account(arn: Any) -> tuple[str | None, str | None]:
    # arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc
    parts = arn.split(":") if isinstance(arn, str) else []
    if len(parts) < 6 or parts[0] != "arn":
        return None, None
    return parts[3] or None, parts[4] or None


def defined_launchers(resources: Iterable[StateResource]) -> list[DefinedLauncher]:
    """The systems that launch instances of their own (ASGs, stacks, node groups ...) that
    these states define: an instance they launched is managed through them."""
    out = []
    for r in resources:
        found = defined_launcher(r.type, r.id, r.attributes)
        if found is None or r.deposed:
            continue
        region, account = _arn_region_account(r.attributes.get("arn") or r.id)
        out.append(DefinedLauncher(*found, r.address, r.state_file, account, region))
    return out


def resource_summaries(resources: Iterable[StateResource]) -> list[dict[str, Any]]:
    """JSON-able view of every managed resource, for drift checks and reports. No
    attribute values: they may be large or secret."""
    return [
        {
            "address": r.address,
            "type": r.type,
            "id": r.id,
            "state_file": r.state_file,
            **({"deposed": r.deposed} if r.deposed else {}),
        }
        for r in resources
    ]


# --------------------------------------------------------------------------- the source


class TerraformStateSource:
    """A [[terraform]] section: the instances its states manage, and every other resource.

    `ok` is True only when every configured location was read; a bad file is an error entry
    naming it and the other files still count.
    """

    kind = SourceKind.TERRAFORM

    def __init__(
        self,
        config: TerraformConfig,
        *,
        s3_endpoint_url: str | None = None,
        s3_profile: str | None = None,
        client_settings: AwsClientSettings | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self._s3_endpoint_url = s3_endpoint_url or os.environ.get(S3_ENDPOINT_ENV) or None
        self._s3_profile = s3_profile or os.environ.get(S3_PROFILE_ENV) or None
        self._settings = client_settings or DEFAULT_CLIENT_SETTINGS
        self._s3: S3Client | None = None

    def _s3_client(self) -> S3Client:
        if self._s3 is None:
            self._s3 = s3_client(self._s3_endpoint_url, self._s3_profile, self._settings)
        return self._s3

    def read_states(self) -> tuple[tuple[StateFile, ...], tuple[str, ...]]:
        """Every state this section names, and an error per location that failed."""
        errors: list[str] = []
        locations: list[str] = []
        for pattern in self.config.state:
            try:
                s3 = self._s3_client() if pattern.startswith("s3://") else None
                locations += expand_location(pattern, s3)
            except SourceError as exc:
                errors.append(str(exc))
        states: list[StateFile] = []
        for location in dict.fromkeys(_normalise(loc) for loc in locations):
            try:
                s3 = self._s3_client() if location.startswith("s3://") else None
                states.append(load_state(location, s3))
            except SourceError as exc:
                errors.append(str(exc))
        return tuple(states), tuple(errors)

    def load_resources(self) -> tuple[tuple[StateResource, ...], tuple[str, ...]]:
        """Every managed resource of every state (for drift checks), and the errors."""
        states, errors = self.read_states()
        return tuple(r for s in states for r in s.resources), errors

    def collect(self, now: datetime) -> SourceResult:
        states, errors = self.read_states()
        resources = [r for s in states for r in s.resources]
        observations = to_observations(resources, source_name=self.name, now=now)
        error = None
        if errors:
            error = errors[0] if len(errors) == 1 else f"{len(errors)} problems; first: {errors[0]}"
        return SourceResult(
            kind=self.kind,
            name=self.name,
            ok=not errors,
            observations=observations,
            error=error,
            errors=tuple(errors),
            details={
                "state_files": [s.summary() for s in states],
                "resources": resource_summaries(resources),
                "foreign_attachments": foreign_attachments(resources),
                "launchers": [d.to_json() for d in defined_launchers(resources)],
            },
        )


def _normalise(location: str) -> str:
    # One file reached through a folder and a glob is read once.
    remote = location.startswith("s3://") or is_http_state(location)
    return location if remote else os.path.normpath(location)
