"""SecretKeyProvider on moto's Secrets Manager (and botocore's Stubber for errors moto cannot make)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from tts_core.deadline import Deadline
from tts_core.engines.sambert import SambertEngine
from tts_core.errors import EngineNotConfiguredError, EngineUnavailableError
from tts_core.models import SynthesisRequest
from tts_core.platform.secrets import SecretKeyProvider, parse_secret
from tts_local.dashscope_server import DashScopeServer

KEY = "sk-0123456789abcdef"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A moto Secrets Manager with fake credentials; yields a client to create secrets with."""
    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # the SDK's aiohttp session trusts proxy env vars
    with mock_aws():
        yield boto3.client("secretsmanager")


def make_secret(client: Any, value: str, name: str = "tts/dashscope") -> str:
    return str(client.create_secret(Name=name, SecretString=value)["ARN"])


@pytest.mark.parametrize("stored", [KEY, f"  {KEY}\n", json.dumps({"api_key": KEY}),
                                    json.dumps({"api_key": KEY, "note": "rotated monthly"})])
def test_given_a_plain_or_json_secret_then_the_key(aws: Any, stored: str) -> None:
    assert SecretKeyProvider(make_secret(aws, stored))() == KEY


@pytest.mark.parametrize("stored", ["   ", json.dumps({"other": KEY}), json.dumps({"api_key": ""}),
                                    json.dumps(["not", "an", "object"]), "{not json"])
def test_given_a_secret_without_a_key_then_none(aws: Any, stored: str) -> None:
    assert SecretKeyProvider(make_secret(aws, stored))() is None


def test_given_a_binary_secret_then_the_key(aws: Any) -> None:
    arn = aws.create_secret(Name="bin", SecretBinary=json.dumps({"api_key": KEY}).encode())["ARN"]
    assert SecretKeyProvider(arn)() == KEY


def test_given_no_such_secret_then_none_and_not_cached(aws: Any) -> None:
    provider = SecretKeyProvider("tts/missing")
    assert provider() is None
    make_secret(aws, KEY, name="tts/missing")
    assert provider() == KEY  # a secret created later is found without a refresh


def test_given_a_cached_key_then_no_second_read_until_refresh(
        aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = make_secret(aws, KEY)
    created: list[str] = []
    real_client = boto3.client

    def counting_client(service: str, *args: Any, **kwargs: Any) -> Any:
        created.append(service)
        return real_client(service, *args, **kwargs)

    monkeypatch.setattr(boto3, "client", counting_client)
    provider = SecretKeyProvider(arn)
    assert created == []  # lazily: nothing until the first call

    assert provider() == KEY
    aws.put_secret_value(SecretId=arn, SecretString="sk-rotated")
    assert provider() == KEY  # cached
    assert provider(refresh=True) == "sk-rotated"
    assert provider() == "sk-rotated"
    assert created == ["secretsmanager"]  # one client for all reads


def test_the_key_is_never_logged(aws: Any, caplog: pytest.LogCaptureFixture) -> None:
    arn = make_secret(aws, json.dumps({"api_key": KEY}))
    provider = SecretKeyProvider(arn)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("botocore").setLevel(logging.DEBUG)
        assert provider() == KEY
        assert provider(refresh=True) == KEY
        assert SecretKeyProvider("tts/missing")() is None
    assert any(r.name.startswith("botocore") for r in caplog.records)  # botocore did log at DEBUG
    assert KEY not in caplog.text
    assert KEY not in repr(provider)


@pytest.mark.parametrize(("code", "error"), [
    ("AccessDeniedException", EngineNotConfiguredError),
    ("DecryptionFailure", EngineNotConfiguredError),
    ("ThrottlingException", EngineUnavailableError),
    ("InternalServiceError", EngineUnavailableError),
])
def test_given_a_service_error_then_error_by_class(aws: Any, code: str, error: type[Exception]) -> None:
    client = boto3.client("secretsmanager")
    with Stubber(client) as stub:
        stub.add_client_error("get_secret_value", service_error_code=code, http_status_code=400)
        with pytest.raises(error) as caught:
            SecretKeyProvider("tts/dashscope", client=client)()
    assert caught.value.detail == code  # type: ignore[attr-defined]


def test_parse_secret() -> None:
    assert parse_secret(None) is None
    assert parse_secret(b"  abc ") == "abc"
    assert parse_secret('{"key": "abc"}', field="key") == "abc"
    assert parse_secret('{"api_key": 5}') is None


def test_given_a_key_rotated_in_secrets_manager_then_the_engine_recovers(aws: Any) -> None:
    """End to end: the engine holds a stale cached key, DashScope says 401, the refresh reads the new one."""
    arn = make_secret(aws, "sk-old")
    provider = SecretKeyProvider(arn)
    assert provider() == "sk-old"  # warm cache, as in a reused Lambda sandbox
    aws.put_secret_value(SecretId=arn, SecretString=json.dumps({"api_key": "sk-new"}))

    with DashScopeServer(valid_keys={"sk-new"}) as server:
        audio = SambertEngine(provider, server.url).synthesize(SynthesisRequest(text="密钥已轮换。"),
                                                              Deadline.in_seconds(10))
        assert len(audio.samples) > 0
        assert server.handshakes == 2
        assert [r.api_key for r in server.requests] == ["sk-new"]
