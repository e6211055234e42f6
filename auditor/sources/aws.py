"""EC2 instances from AWS, read with boto3: every configured account and region, every state.

Credentials come from boto3's own chain (the `profile`, then env, SSO, instance role ...),
so auditor behaves like the aws CLI. With `assume_role`, each role ARN is one account read
through `sts:AssumeRole`; the base credentials are then only used to assume the roles, their
own account is NOT read (list its role too if you want it). Without roles, the base
credentials' account is read.

`get_instances` is the dumb I/O (paginated `describe_instances`, raises SourceError with a
translated cause) and `to_observations` the pure transform. `Ec2Source.collect` loops over
accounts and regions: a denied or unreachable region/account is an entry in
`SourceResult.errors` and the rest goes on. `ok` is True only when every account and region
was read (a partial read could make Terraform-managed instances look "missing"); what was
read and what failed is in `details["scope"]`.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import boto3
import botocore.exceptions
import botocore.parsers
from botocore.config import Config as BotoConfig

from auditor.config import AwsConfig
from auditor.errors import SourceError
from auditor.model import (
    ID_AWS,
    ID_DNS,
    ID_IP,
    ID_MAC,
    ID_NAME,
    Observation,
    SourceKind,
    SourceResult,
    ident,
)
from auditor.parallel import parallel_map

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_sts.client import STSClient

log = logging.getLogger(__name__)

ALIVE_STATES = frozenset({"pending", "running"})
ROLE_SESSION_NAME = "auditor"
# describe_regions has to be asked somewhere before we know the regions.
DEFAULT_HOME_REGION = "us-east-1"

# Error codes that mean "you may not look here" rather than "something broke".
DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthFailure",
        "OptInRequired",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "SignatureDoesNotMatch",
    }
)

# Access key ids look like this; never let one reach an error message or a log line.
_ACCESS_KEY_RE = re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{12,}\b")


@dataclass(frozen=True)
class AwsClientSettings:
    """botocore client behaviour: adaptive retries (client-side rate limiting, so reading
    many regions does not trip EC2's API throttling) and bounded timeouts, so a black-holed
    endpoint costs seconds, not the botocore default of minutes."""

    max_attempts: int = 5
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    retry_mode: Literal["standard", "adaptive"] = "adaptive"

    def botocore_config(self) -> BotoConfig:
        return BotoConfig(
            retries={"mode": self.retry_mode, "max_attempts": self.max_attempts},
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
        )


DEFAULT_CLIENT_SETTINGS = AwsClientSettings()


@dataclass(frozen=True)
class AccountSession:
    """The credentials for one account, and how to name it in errors."""

    account: str  # 12-digit account id
    label: str  # "account 123456789012" or "account 123456789012 (role arn:...)"
    session: boto3.Session


# --------------------------------------------------------------------------- errors


def describe_aws_error(exc: BaseException) -> str:
    """A cause a person can act on, from a boto3/botocore exception. Never includes
    credentials: only the error code and AWS's message, with access key ids masked."""
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Unknown")
        message = error.get("Message", "") or str(exc)
        if code in ("OptInRequired",):
            text = f"region not enabled for this account ({code}): {message}"
        elif code in ("InvalidClientTokenId", "UnrecognizedClientException", "AuthFailure"):
            text = f"credentials rejected ({code}): {message}"
        elif code in ("ExpiredToken", "ExpiredTokenException", "RequestExpired"):
            text = f"credentials expired ({code}): refresh them (aws sso login?): {message}"
        elif code in DENIED_CODES:
            text = f"access denied ({code}): {message}"
        elif code in ("Throttling", "ThrottlingException", "RequestLimitExceeded"):
            text = f"throttled by AWS even after retries ({code}): {message}"
        else:
            text = f"AWS error {code}: {message}"
    elif isinstance(exc, botocore.exceptions.NoCredentialsError):
        text = (
            "no AWS credentials found (set 'profile', AWS_PROFILE, AWS_ACCESS_KEY_ID, "
            "or run 'aws sso login')"
        )
    elif isinstance(exc, botocore.exceptions.ProfileNotFound):
        text = f"AWS profile not found: {exc}"
    elif isinstance(exc, botocore.exceptions.TokenRetrievalError | botocore.exceptions.SSOError):
        text = f"SSO login needed or expired ('aws sso login'): {exc}"
    elif isinstance(exc, botocore.exceptions.EndpointConnectionError):
        text = f"unreachable: {exc}"
    elif isinstance(
        exc, botocore.exceptions.ConnectTimeoutError | botocore.exceptions.ReadTimeoutError
    ):
        text = f"timed out: {exc}"
    elif isinstance(exc, botocore.parsers.ResponseParserError):
        # What a wrong endpoint (or moto given an unknown region) answers: an HTML error page.
        text = "the endpoint did not answer like AWS (HTML or garbage instead of XML/JSON)"
    elif isinstance(exc, botocore.exceptions.ParamValidationError):
        text = f"invalid request: {exc}"
    elif isinstance(exc, botocore.exceptions.BotoCoreError):
        text = f"{type(exc).__name__}: {exc}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return _ACCESS_KEY_RE.sub("<access-key>", " ".join(text.split()))


# ResponseParserError is not a BotoCoreError, but a wrong endpoint raises it.
BOTO_ERRORS = (
    botocore.exceptions.BotoCoreError,
    botocore.exceptions.ClientError,
    botocore.parsers.ResponseParserError,
)


# --------------------------------------------------------------------------- I/O

REGION_POOL = 4  # account x region reads at once (EC2 throttles per account and region)
_CLIENTS = threading.Lock()


@contextmanager
def aws_errors(what: str) -> Iterator[None]:
    """The one place a boto3/botocore failure becomes a SourceError: "<what>: <cause>"."""
    try:
        yield
    except BOTO_ERRORS as exc:
        raise SourceError(f"{what}: {describe_aws_error(exc)}") from exc


def read_pages(client: Any, operation: str, key: str, what: str, **paginate: Any) -> list[Any]:
    """The items under `key` of every page of a paginated read-only `operation`.

    All or nothing: a failure on any page raises SourceError naming `what` (a half-read
    listing would make the resources on the missing pages look gone)."""
    with aws_errors(what):
        pages = client.get_paginator(operation).paginate(**paginate)
        return [item for page in pages for item in page[key]]


def ec2_client(
    session: boto3.Session,
    region: str,
    *,
    endpoint_url: str | None = None,
    settings: AwsClientSettings = DEFAULT_CLIENT_SETTINGS,
) -> EC2Client:
    with _CLIENTS:  # a boto3 Session is not thread-safe while it makes a client
        return session.client(
            "ec2", region_name=region, endpoint_url=endpoint_url, config=settings.botocore_config()
        )


def sts_client(
    session: boto3.Session,
    *,
    endpoint_url: str | None = None,
    settings: AwsClientSettings = DEFAULT_CLIENT_SETTINGS,
) -> STSClient:
    region = session.region_name or DEFAULT_HOME_REGION
    return session.client(
        "sts", region_name=region, endpoint_url=endpoint_url, config=settings.botocore_config()
    )


def get_instances(
    session: boto3.Session,
    region: str,
    page_size: int | None,
    *,
    endpoint_url: str | None = None,
    settings: AwsClientSettings = DEFAULT_CLIENT_SETTINGS,
    what: str | None = None,
) -> list[dict[str, Any]]:
    """Every instance of one region, in every state, across all pages (all or nothing: a
    SourceError naming `what`, by default the region)."""
    client = ec2_client(session, region, endpoint_url=endpoint_url, settings=settings)
    # EC2 refuses MaxResults outside 5..1000 (InvalidParameterValue).
    pagination = {"PageSize": min(max(page_size, 5), 1000)} if page_size else {}
    reservations = read_pages(
        client, "describe_instances", "Reservations", what or f"region {region}",
        PaginationConfig=pagination,
    )  # fmt: skip
    return [dict(i) for reservation in reservations for i in reservation["Instances"]]


def get_enabled_regions(
    session: boto3.Session,
    *,
    endpoint_url: str | None = None,
    settings: AwsClientSettings = DEFAULT_CLIENT_SETTINGS,
) -> tuple[str, ...]:
    """Regions enabled for the account (opt-in regions only when opted in)."""
    home = session.region_name or DEFAULT_HOME_REGION
    client = ec2_client(session, home, endpoint_url=endpoint_url, settings=settings)
    with aws_errors("cannot list regions"):
        regions = client.describe_regions(AllRegions=False)["Regions"]
    return tuple(sorted(r["RegionName"] for r in regions))


def get_caller_account(
    session: boto3.Session,
    *,
    endpoint_url: str | None = None,
    settings: AwsClientSettings = DEFAULT_CLIENT_SETTINGS,
) -> str:
    with aws_errors("cannot identify the account"):
        client = sts_client(session, endpoint_url=endpoint_url, settings=settings)
        return client.get_caller_identity()["Account"]


def assume_role_session(
    base: boto3.Session,
    role_arn: str,
    *,
    endpoint_url: str | None = None,
    settings: AwsClientSettings = DEFAULT_CLIENT_SETTINGS,
) -> AccountSession:
    """A session with the temporary credentials of `role_arn` (the base session's region)."""
    with aws_errors(f"role {role_arn}: cannot assume"):
        response = sts_client(base, endpoint_url=endpoint_url, settings=settings).assume_role(
            RoleArn=role_arn, RoleSessionName=ROLE_SESSION_NAME
        )
    credentials = response["Credentials"]
    # arn:aws:sts::123456789012:assumed-role/name/session -> the account the role lives in.
    account = response["AssumedRoleUser"]["Arn"].split(":")[4]
    session = boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=base.region_name,
    )
    return AccountSession(account, f"account {account} (role {role_arn})", session)


# --------------------------------------------------------------------------- transform


def to_observations(
    instances: Sequence[Mapping[str, Any]],
    region: str,
    account: str,
    now: datetime,
    *,
    source_name: str = "aws",
) -> tuple[Observation, ...]:
    """Pure: one Observation per EC2 instance (boto3 `describe_instances` shape).

    `InstanceId` and `State.Name` are required (KeyError on bad data, on purpose); every
    other field is optional because terminated instances lose their network."""
    out = [_instance_observation(i, region, account, now, source_name) for i in instances]
    return tuple(sorted(out, key=lambda o: o.identifiers))


def _instance_observation(
    instance: Mapping[str, Any], region: str, account: str, now: datetime, source_name: str
) -> Observation:
    instance_id: str = instance["InstanceId"]
    state: str = instance["State"]["Name"]
    tags = {t["Key"]: t.get("Value", "") for t in instance.get("Tags") or ()}
    name = tags.get("Name") or None

    private_ips: list[str] = []
    public_ips: list[str] = []
    ipv6: list[str] = []
    macs: list[str] = []
    dns: list[str] = []
    interfaces: list[dict[str, Any]] = []

    # The primary address first: reconcile uses the first address as the one to probe.
    _add(private_ips, instance.get("PrivateIpAddress"))
    _add(public_ips, instance.get("PublicIpAddress"))
    _add(dns, instance.get("PrivateDnsName"))
    _add(dns, instance.get("PublicDnsName"))
    enis = sorted(
        instance.get("NetworkInterfaces") or (),
        key=lambda n: (n.get("Attachment", {}).get("DeviceIndex", 0), n.get("NetworkInterfaceId")),
    )
    for eni in enis:
        eni_private: list[str] = []
        eni_public: list[str] = []
        _add(eni_private, eni.get("PrivateIpAddress"))
        _add(eni_public, (eni.get("Association") or {}).get("PublicIp"))
        for address in eni.get("PrivateIpAddresses") or ():
            _add(eni_private, address.get("PrivateIpAddress"))
            _add(dns, address.get("PrivateDnsName"))
            association = address.get("Association") or {}
            _add(eni_public, association.get("PublicIp"))
            _add(dns, association.get("PublicDnsName"))
        eni_ipv6 = [
            a["Ipv6Address"] for a in eni.get("Ipv6Addresses") or () if a.get("Ipv6Address")
        ]
        mac = (eni.get("MacAddress") or "").lower() or None
        _add(macs, mac)
        for ip in eni_private:
            _add(private_ips, ip)
        for ip in eni_public:
            _add(public_ips, ip)
        for ip in eni_ipv6:
            _add(ipv6, ip)
        interfaces.append(
            {
                "id": eni.get("NetworkInterfaceId"),
                "mac": mac,
                "device_index": (eni.get("Attachment") or {}).get("DeviceIndex"),
                "private_ips": eni_private,
                "public_ips": eni_public,
                "ipv6": eni_ipv6,
                "subnet_id": eni.get("SubnetId"),
                "vpc_id": eni.get("VpcId"),
                "security_groups": [g["GroupId"] for g in eni.get("Groups") or ()],
            }
        )

    identifiers = [ident(ID_AWS, instance_id)]
    identifiers += [ident(ID_IP, ip) for ip in [*private_ips, *public_ips, *ipv6]]
    identifiers += [ident(ID_MAC, mac) for mac in macs]
    identifiers += [ident(ID_DNS, d.lower()) for d in dns]
    if name:
        identifiers.append(ident(ID_NAME, name))

    profile = instance.get("IamInstanceProfile") or {}
    launch_time = instance.get("LaunchTime")
    attributes: dict[str, Any] = {
        "account": account,
        "region": region,
        "instance_id": instance_id,
        "state": state,
        "state_reason": instance.get("StateTransitionReason") or None,
        "name": name,
        "tags": dict(sorted(tags.items())),
        "instance_type": instance.get("InstanceType"),
        "image_id": instance.get("ImageId"),
        "launch_time": _iso(launch_time),
        "availability_zone": (instance.get("Placement") or {}).get("AvailabilityZone"),
        "vpc_id": instance.get("VpcId"),
        "subnet_id": instance.get("SubnetId"),
        # Platform is only set for Windows; PlatformDetails names the rest ("Linux/UNIX").
        "platform": instance.get("Platform") or instance.get("PlatformDetails"),
        "key_name": instance.get("KeyName"),
        "instance_profile": profile.get("Arn"),
        "security_groups": [g["GroupId"] for g in instance.get("SecurityGroups") or ()],
        "private_ips": private_ips,
        "public_ips": public_ips,
        "ipv6": ipv6,
        "private_dns": instance.get("PrivateDnsName") or None,
        "public_dns": instance.get("PublicDnsName") or None,
        "network_interfaces": interfaces,
        "lifecycle": instance.get("InstanceLifecycle"),  # "spot" / "scheduled"; None: on-demand
    }
    return Observation(
        source=SourceKind.AWS,
        source_name=source_name,
        identifiers=tuple(dict.fromkeys(identifiers)),
        observed_at=now,
        alive=state in ALIVE_STATES,
        attributes=attributes,
    )


def _add(values: list[str], value: str | None) -> None:
    if value and value not in values:
        values.append(value)


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value) if value else None


def _known_failure(result: Any) -> Any:
    """A read's answer, or its SourceError (data: that read failed); any other exception is
    raised again, as when the reads ran one after another."""
    if isinstance(result, Exception) and not isinstance(result, SourceError):
        raise result
    return result


# --------------------------------------------------------------------------- the source


class Ec2Source:
    """An [[aws]] section: EC2 instances of its accounts and regions."""

    kind = SourceKind.AWS

    def __init__(
        self, config: AwsConfig, *, client_settings: AwsClientSettings | None = None
    ) -> None:
        self.config = config
        self.name = config.name
        self._settings = client_settings or DEFAULT_CLIENT_SETTINGS

    def collect(self, now: datetime) -> SourceResult:
        errors: list[str] = []
        read: list[dict[str, str]] = []
        failed: list[dict[str, str]] = []
        observations: dict[tuple[str, str], Observation] = {}
        try:
            accounts = self._account_sessions(errors, failed)
        except SourceError as exc:
            return self._result(False, (), str(exc), [str(exc)], read, failed)

        known_regions = _known_regions()
        for account, regions in self._read_regions(accounts):
            if isinstance(regions, SourceError):
                errors.append(f"{account.label}: {regions}")
                failed.append({"account": account.account, "region": "*", "error": str(regions)})
                log.warning("aws %s: %s: %s", self.name, account.label, regions)
                continue
            for region, instances in regions:
                if isinstance(instances, SourceError):
                    message = f"{account.label}: {instances}"
                    if known_regions and region not in known_regions:
                        message += " (botocore knows no region of that name: a typo?)"
                    errors.append(message)
                    failed.append(
                        {"account": account.account, "region": region, "error": str(instances)}
                    )
                    log.warning("aws %s: %s", self.name, message)
                    continue
                read.append({"account": account.account, "region": region})
                # Two roles into the same account would report each instance twice.
                for obs in to_observations(
                    instances, region, account.account, now, source_name=self.name
                ):
                    observations.setdefault((account.account, obs.identifiers[0]), obs)

        complete = not errors
        error = None
        if not read:
            error = errors[0] if errors else "no account or region to read"
            if len(errors) > 1:
                error = f"nothing could be read ({len(errors)} failures); first: {errors[0]}"
        elif errors:
            error = f"{len(errors)} of {len(read) + len(errors)} reads failed; first: {errors[0]}"
        ordered = tuple(sorted(observations.values(), key=lambda o: o.identifiers))
        return self._result(complete, ordered, error, errors, read, failed)

    def _read_regions(self, accounts: Sequence[AccountSession]) -> list[tuple[AccountSession, Any]]:
        """Each account with its regions' instances, `[(region, instances or SourceError)]`,
        or the SourceError of listing its regions. Read REGION_POOL at a time (each read
        waits on the network), answered in the order of accounts and regions: errors, scope
        and the first sighting of an instance come out as when read one after another."""

        def regions_of(n: int) -> Sequence[str]:
            return self.config.regions or get_enabled_regions(
                accounts[n].session, endpoint_url=self.config.endpoint_url, settings=self._settings
            )

        def instances(job: tuple[int, str]) -> list[dict[str, Any]]:
            return get_instances(
                accounts[job[0]].session,
                job[1],
                self.config.page_size,
                endpoint_url=self.config.endpoint_url,
                settings=self._settings,
            )

        numbers = range(len(accounts))
        listed = {n: _known_failure(r) for n, r in self._pool(regions_of, numbers).items()}
        jobs = [
            (n, r) for n in numbers if not isinstance(listed[n], SourceError) for r in listed[n]
        ]
        read = {job: _known_failure(r) for job, r in self._pool(instances, jobs).items()}
        return [
            (
                accounts[n],
                regions if isinstance(regions, SourceError) else [(r, read[n, r]) for r in regions],
            )
            for n, regions in listed.items()
        ]

    @staticmethod
    def _pool(call: Callable[[Any], Any], items: Iterable[Any]) -> dict[Any, Any]:
        return parallel_map(call, items, timeout=None, name="auditor-aws", workers=REGION_POOL)

    def _account_sessions(
        self, errors: list[str], failed: list[dict[str, str]]
    ) -> list[AccountSession]:
        """One session per account. Raises SourceError when the base credentials are unusable
        (nothing else can work then); a role that cannot be assumed is an error entry."""
        try:
            base = boto3.Session(profile_name=self.config.profile)
        except BOTO_ERRORS as exc:
            raise SourceError(describe_aws_error(exc)) from exc
        endpoint, settings = self.config.endpoint_url, self._settings
        if not self.config.assume_role:
            account = get_caller_account(base, endpoint_url=endpoint, settings=settings)
            return [AccountSession(account, f"account {account}", base)]
        sessions = []
        for role_arn in self.config.assume_role:
            try:
                sessions.append(
                    assume_role_session(base, role_arn, endpoint_url=endpoint, settings=settings)
                )
            except SourceError as exc:
                errors.append(str(exc))
                failed.append({"account": _arn_account(role_arn), "region": "*", "error": str(exc)})
                log.warning("aws %s: %s", self.name, exc)
        return sessions

    def _result(
        self,
        ok: bool,
        observations: tuple[Observation, ...],
        error: str | None,
        errors: Iterable[str],
        read: list[dict[str, str]],
        failed: list[dict[str, str]],
    ) -> SourceResult:
        return SourceResult(
            kind=self.kind,
            name=self.name,
            ok=ok,
            observations=observations,
            error=error,
            errors=tuple(errors),
            details={
                "profile": self.config.profile,
                "regions": list(self.config.regions) or "all enabled",
                "assume_role": list(self.config.assume_role),
                "endpoint_url": self.config.endpoint_url,
                "scope": {"read": read, "failed": failed},
            },
        )


def _known_regions() -> frozenset[str]:
    """Regions in botocore's bundled endpoint data (local, no API call). Only used to hint
    at typos: a region newer than the installed botocore is still read."""
    try:
        session = boto3.Session()
        return frozenset(
            region
            for partition in session.get_available_partitions()
            for region in session.get_available_regions("ec2", partition_name=partition)
        )
    except BOTO_ERRORS:
        return frozenset()  # no hint then


def _arn_account(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 and parts[4] else "?"
