"""The live cloud, read-only: each supported resource type of each account and region.

`get_live` is the dumb I/O: one type in one region (`LISTINGS` says which call lists it),
every page, raising SourceError with a cause a person can act on (all or nothing per type and
region, like `get_instances`: a half-read region would make resources on the missing pages
look deleted). `read_live` loops over the [[aws]] sections' accounts, regions and types; a
failure is an error entry and the rest goes on. Only Describe/List calls are made here.

Every client gets the [[aws]] section's `endpoint_url` (moto in tests and the lab).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import boto3

from auditor.config import AwsConfig
from auditor.drift.model import LiveResource, ReadScope
from auditor.drift.resources import SUPPORTED_TYPES, live_from_api
from auditor.errors import SourceError
from auditor.sources.aws import (
    BOTO_ERRORS,
    DEFAULT_CLIENT_SETTINGS,
    AccountSession,
    AwsClientSettings,
    assume_role_session,
    aws_errors,
    describe_aws_error,
    get_caller_account,
    get_enabled_regions,
    get_instances,
    read_pages,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- one type, one region


@dataclass(frozen=True)
class Listing:
    """How one resource type is listed: the service, its paginated read-only call and the
    key of the items on each page."""

    service: str
    operation: str
    key: str


LISTINGS: dict[str, Listing] = {
    "aws_autoscaling_group": Listing(
        "autoscaling", "describe_auto_scaling_groups", "AutoScalingGroups"
    ),
    "aws_db_instance": Listing("rds", "describe_db_instances", "DBInstances"),
    "aws_dynamodb_table": Listing("dynamodb", "list_tables", "TableNames"),  # then each described
    "aws_security_group": Listing("ec2", "describe_security_groups", "SecurityGroups"),
}


def get_live(
    type_: str,
    session: boto3.Session,
    region: str,
    *,
    endpoint_url: str | None = None,
    settings: AwsClientSettings = DEFAULT_CLIENT_SETTINGS,
    page_size: int | None = None,
) -> list[dict[str, Any]]:
    """Every resource of one supported type in one region, as the API describes it. Raises
    SourceError "<type> in <region>: <cause>" (all or nothing per type and region)."""
    what = f"{type_} in {region}"
    if type_ == "aws_instance":  # EC2's reservations, read as the ec2 source reads them
        return get_instances(
            session, region, page_size, endpoint_url=endpoint_url, settings=settings, what=what
        )
    listing = LISTINGS[type_]
    client = session.client(  # type: ignore[call-overload]
        listing.service,
        region_name=region,
        endpoint_url=endpoint_url,
        config=settings.botocore_config(),
    )
    items = read_pages(client, listing.operation, listing.key, what)
    if type_ == "aws_dynamodb_table":
        return _described_tables(client, items, what)
    return [dict(item) for item in items]


def _described_tables(client: DynamoDBClient, names: list[str], what: str) -> list[dict[str, Any]]:
    """describe_table of every listed table, each with its "Tags" (list_tags_of_resource,
    which has no paginator)."""
    tables: list[dict[str, Any]] = []
    with aws_errors(what):
        for name in names:
            try:
                table = dict(client.describe_table(TableName=name)["Table"])
            except client.exceptions.ResourceNotFoundException:
                continue  # deleted between the listing and now: it is gone, not unreadable
            tags: list[dict[str, Any]] = []
            token: str | None = None
            while True:
                kwargs: dict[str, Any] = {"ResourceArn": table["TableArn"]}
                if token:
                    kwargs["NextToken"] = token
                response = client.list_tags_of_resource(**kwargs)
                tags += [dict(t) for t in response.get("Tags", [])]
                token = response.get("NextToken")
                if not token:
                    break
            table["Tags"] = tags
            tables.append(table)
    return tables


Reader = Callable[..., list[dict[str, Any]]]

# One reader per supported type: (session, region, *, endpoint_url, settings) -> raw items.
READERS: dict[str, Reader] = {type_: partial(get_live, type_) for type_ in SUPPORTED_TYPES}


# --------------------------------------------------------------------------- accounts, regions


@dataclass(frozen=True)
class LiveRead:
    resources: tuple[LiveResource, ...]
    read: tuple[ReadScope, ...]
    errors: tuple[str, ...]


def read_live(
    aws: AwsConfig,
    regions_hint: Sequence[str] = (),
    *,
    types: Iterable[str] = SUPPORTED_TYPES,
    settings: AwsClientSettings = DEFAULT_CLIENT_SETTINGS,
) -> LiveRead:
    """Every supported resource of one [[aws]] section. Regions: the section's `regions`;
    when it has none, the regions the Terraform states name (`regions_hint`); when there are
    none either, every region enabled for the account. Never raises."""
    errors: list[str] = []
    resources: list[LiveResource] = []
    read: list[ReadScope] = []
    prefix = f"aws '{aws.name}'"
    try:
        accounts = _account_sessions(aws, settings, errors)
    except SourceError as exc:
        return LiveRead((), (), (f"{prefix}: {exc}",))
    for account in accounts:
        regions: Sequence[str] = aws.regions or tuple(sorted(set(regions_hint)))
        if not regions:
            try:
                regions = get_enabled_regions(
                    account.session, endpoint_url=aws.endpoint_url, settings=settings
                )
            except SourceError as exc:
                errors.append(f"{prefix}: {account.label}: {exc}")
                continue
        for region in regions:
            for type_ in types:
                try:
                    items = get_live(
                        type_,
                        account.session,
                        region,
                        endpoint_url=aws.endpoint_url,
                        settings=settings,
                        page_size=aws.page_size,
                    )
                except SourceError as exc:
                    errors.append(f"{prefix}: {account.label}: {exc}")
                    log.warning("drift: %s: %s: %s", prefix, account.label, exc)
                    continue
                try:
                    resources += live_from_api(type_, items, region, account.account)
                except (KeyError, TypeError) as exc:  # an answer without a required field
                    errors.append(
                        f"{prefix}: {account.label}: {type_} in {region}: unexpected answer "
                        f"(missing {exc})"
                    )
                    continue
                read.append(ReadScope(type_, account.account, region))
    return LiveRead(tuple(resources), tuple(read), tuple(errors))


def _account_sessions(
    aws: AwsConfig, settings: AwsClientSettings, errors: list[str]
) -> list[AccountSession]:
    """As `Ec2Source` does: the base credentials' account, or one account per role. Raises
    SourceError when the base credentials are unusable."""
    try:
        base = boto3.Session(profile_name=aws.profile)
    except BOTO_ERRORS as exc:
        raise SourceError(describe_aws_error(exc)) from exc
    if not aws.assume_role:
        account = get_caller_account(base, endpoint_url=aws.endpoint_url, settings=settings)
        return [AccountSession(account, f"account {account}", base)]
    sessions = []
    for role_arn in aws.assume_role:
        try:
            sessions.append(
                assume_role_session(
                    base, role_arn, endpoint_url=aws.endpoint_url, settings=settings
                )
            )
        except SourceError as exc:
            errors.append(f"aws '{aws.name}': {exc}")
    return sessions
