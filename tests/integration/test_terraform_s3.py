"""TerraformStateSource reading s3:// state from a real moto server on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from auditor.config import TerraformConfig
from auditor.sources.aws import AwsClientSettings
from auditor.sources.terraform import S3_ENDPOINT_ENV, TerraformStateSource
from tests.integration.moto_server import aws_test_env, moto_endpoint, moto_server

__all__ = ["aws_test_env", "moto_endpoint", "moto_server"]  # fixtures used by name below

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "terraform"
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
BUCKET = "acme-tfstate"
FAST = AwsClientSettings(max_attempts=1, connect_timeout=2, read_timeout=10)


@pytest.fixture
def state_bucket(moto_endpoint: str) -> str:
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket=BUCKET)
    uploads = {
        "prod/terraform.tfstate": "prod/terraform.tfstate",
        "env:/staging/app/terraform.tfstate": "workspaces/terraform.tfstate.d/staging/terraform.tfstate",
        "app/terraform.tfstate": "workspaces/terraform.tfstate",
        "broken/legacy.tfstate": "broken/legacy-v3.tfstate",
    }
    for key, fixture in uploads.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=(FIXTURES / fixture).read_bytes())
    s3.put_object(Bucket=BUCKET, Key="app/README.md", Body=b"not state")
    return moto_endpoint


def test_s3_state_with_auditor_endpoint_variable(
    state_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(S3_ENDPOINT_ENV, state_bucket)
    config = TerraformConfig(name="remote", state=(f"s3://{BUCKET}/prod/terraform.tfstate",))

    result = TerraformStateSource(config, client_settings=FAST).collect(NOW)

    assert result.ok, result.errors
    assert len(result.observations) == 7
    web0 = next(o for o in result.observations if "aws:i-0e0b00000000eb00" in o.identifiers)
    assert web0.identifiers[0] == "tf:module.app.aws_instance.web[0]"
    assert web0.attributes["state_file"] == f"s3://{BUCKET}/prod/terraform.tfstate"
    assert result.details["state_files"][0]["serial"] == 112


def test_boto3_native_service_endpoint_variable_works_too(
    state_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # AWS_ENDPOINT_URL (set by the fixture) points nowhere; the S3-specific one wins.
    monkeypatch.delenv(S3_ENDPOINT_ENV, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", state_bucket)
    config = TerraformConfig(name="remote", state=(f"s3://{BUCKET}/prod/terraform.tfstate",))

    result = TerraformStateSource(config, client_settings=FAST).collect(NOW)

    assert result.ok, result.errors
    assert len(result.observations) == 7


def test_s3_prefix_lists_states_and_workspace_keys(state_bucket: str) -> None:
    config = TerraformConfig(
        name="remote",
        state=(f"s3://{BUCKET}/app/", f"s3://{BUCKET}/env:/*/app/terraform.tfstate"),
    )

    result = TerraformStateSource(config, s3_endpoint_url=state_bucket).collect(NOW)

    assert result.ok, result.errors
    assert [s["location"] for s in result.details["state_files"]] == [
        f"s3://{BUCKET}/app/terraform.tfstate",
        f"s3://{BUCKET}/env:/staging/app/terraform.tfstate",
    ]
    assert sorted(o.values("tf")[0] for o in result.observations) == [
        "aws_instance.app",
        "aws_instance.app@staging",
    ]


def test_missing_and_bad_objects_are_error_entries(state_bucket: str) -> None:
    config = TerraformConfig(
        name="remote",
        state=(
            f"s3://{BUCKET}/prod/terraform.tfstate",
            f"s3://{BUCKET}/nope/terraform.tfstate",
            f"s3://{BUCKET}/broken/legacy.tfstate",
            "s3://no-such-bucket/x/terraform.tfstate",
            f"s3://{BUCKET}/empty-prefix/",
        ),
    )

    result = TerraformStateSource(
        config, s3_endpoint_url=state_bucket, client_settings=FAST
    ).collect(NOW)

    assert not result.ok
    assert len(result.observations) == 7  # prod still counts
    errors = "\n".join(result.errors)
    assert f"s3://{BUCKET}/nope/terraform.tfstate: AWS error NoSuchKey" in errors
    assert f"s3://{BUCKET}/broken/legacy.tfstate: state version 3 not supported" in errors
    assert "s3://no-such-bucket/x/terraform.tfstate: AWS error NoSuchBucket" in errors
    assert f"s3://{BUCKET}/empty-prefix/: matches no state object" in errors
    assert len(result.errors) == 4


def test_unreachable_s3_endpoint(aws_test_env: None) -> None:
    config = TerraformConfig(name="remote", state=(f"s3://{BUCKET}/prod/terraform.tfstate",))
    result = TerraformStateSource(
        config, s3_endpoint_url="http://127.0.0.1:9", client_settings=FAST
    ).collect(NOW)
    assert not result.ok
    assert result.error is not None and "unreachable" in result.error
