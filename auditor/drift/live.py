"""The live cloud, read-only: each supported resource type of each account and region.

`get_live_*` are the dumb I/O: one type in one region, every page, raising SourceError with
a cause a person can act on (all or nothing per type and region, like `get_instances`: a
half-read region would make resources on the missing pages look deleted). `read_live` loops
over the [[aws]] sections' accounts, regions and types; a failure is an error entry and the
rest goes on. Only Describe/List calls are made here.

Every client gets the [[aws]] section's `endpoint_url` (moto in tests and the lab).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
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
    describe_aws_error,
    get_caller_account,
    get_enabled_regions,
    get_instances,
)

if TYPE_CHECKING:
    from mypy_boto3_autoscaling.client import AutoScalingClient
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_rds.client import RDSClient

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- one type, one region


def _client(
    session: boto3.Session,
    service: str,
    region: str,
    endpoint_url: str | None,
    settings: AwsClientSettings,
) -> Any:
    return session.client(  # type: ignore[call-overload]
        service, region_name=region, endpoint_url=endpoint_url, config=settings.botocore_config()
    )


def get_live_dynamodb_tables(
    session: boto3.Session,
    region: str,
    *,
    endpoint_url: str | None = None,
    settings: AwsClientSettings = DEFAULT_CLIENT_SETTINGS,
) -> list[dict[str, Any]]:
    """describe_table of every table, each with its "Tags" (list_tags_of_resource)."""
    client: DynamoDBClient = _client(session, "dynamodb", region, endpoint_url, settings)
    tables: list[dict[str, Any]] = []
    try:
        names = [
            name
            for page in client.get_paginator("list_tables").paginate()
            for name in page.get("TableNames", [])
        ]
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
    except BOTO_ERRORS as exc:
        raise SourceError(f"aws_dynamodb_table in {region}: {describe_aws_error(exc)}") from exc
    return tables


def get_live_autoscaling_groups(
    session: boto3.Session,
    region: str,
    *,
    endpoint_url: str | None = None,
    settings: AwsClientSettings = DEFAULT_CLIENT_SETTINGS,
) -> list[dict[str, Any]]:
    client: AutoScalingClient = _client(session, "autoscaling", region, endpoint_url, settings)
    try:
        return [
            dict(group)
            for page in client.get_paginator("describe_auto_scaling_groups").paginate()
            for group in page["AutoScalingGroups"]
        ]
    except BOTO_ERRORS as exc:
        raise SourceError(f"aws_autoscaling_group in {region}: {describe_aws_error(exc)}") from exc


def get_live_security_groups(
    session: boto3.Session,
    region: str,
    *,
    endpoint_url: str | None = None,
    settings: AwsClientSettings = DEFAULT_CLIENT_SETTINGS,
) -> list[dict[str, Any]]:
    client: EC2Client = _client(session, "ec2", region, endpoint_url, settings)
    try:
        return [
            dict(group)
            for page in client.get_paginator("describe_security_groups").paginate()
            for group in page["SecurityGroups"]
        ]
    except BOTO_ERRORS as exc:
        raise SourceError(f"aws_security_group in {region}: {describe_aws_error(exc)}") from exc


def get_live_db_instances(
    session: boto3.Session,
    region: str,
    *,
    endpoint_url: str | None = None,
    settings: AwsClientSettings = DEFAULT_CLIENT_SETTINGS,
) -> list[dict[str, Any]]:
    client: RDSClient = _client(session, "rds", region, endpoint_url, settings)
    try:
        return [
            dict(db)
            for page in client.get_paginator("describe_db_instances").paginate()
            for db in page["DBInstances"]
        ]
    except BOTO_ERRORS as exc:
        raise SourceError(f"aws_db_instance in {region}: {describe_aws_error(exc)}") from exc


def get_live_instances(
    session: boto3.Session,
    region: str,
    *,
    endpoint_url: str | None = None,
    settings: AwsClientSettings = DEFAULT_CLIENT_SETTINGS,
    page_size: int | None = None,
) -> list[dict[str, Any]]:
    try:
        return get_instances(
            session, region, page_size, endpoint_url=endpoint_url, settings=settings
        )
    except SourceError as exc:
        raise SourceError(f"aws_instance in {str(exc).removeprefix('region ')}") from exc


Reader = Callable[..., list[dict[str, Any]]]

READERS: dict[str, Reader] = {
    "aws_autoscaling_group": get_live_autoscaling_groups,
    "aws_db_instance": get_live_db_instances,
    "aws_dynamodb_table": get_live_dynamodb_tables,
    "aws_instance": get_live_instances,
    "aws_security_group": get_live_security_groups,
}


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
                kwargs: dict[str, Any] = {"endpoint_url": aws.endpoint_url, "settings": settings}
                if type_ == "aws_instance":
                    kwargs["page_size"] = aws.page_size
                try:
                    items = READERS[type_](account.session, region, **kwargs)
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
