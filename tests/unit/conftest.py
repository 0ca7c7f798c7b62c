"""Unit tests' AWS: moto in-process, with fake credentials and the project's clients made anew."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tts_core.platform import aws


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Any]:
    """An S3 client on moto with the test module's BUCKET created."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    with mock_aws():
        aws.reset_clients()
        client = boto3.client("s3")
        client.create_bucket(Bucket=request.module.BUCKET)
        yield client
    aws.reset_clients()
