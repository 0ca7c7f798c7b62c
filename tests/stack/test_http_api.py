"""The REST API over HTTP through the local API Gateway front (`tts-local serve`'s server)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tts_core import storage
from tts_core.audio import read_wav
from tts_local.doubles import ToneEngine
from tts_local.http_api import ApiServer

pytestmark = pytest.mark.stack


@pytest.fixture
def api(local_stack) -> Iterator[tuple[ApiServer, Any]]:
    with local_stack(engines={"primary": ToneEngine("primary"), "fallback": ToneEngine("fallback")}) as stack:
        server = ApiServer(stack, port=0)
        server.start()
        try:
            yield server, stack
        finally:
            server.stop()


def call(server: ApiServer, method: str, path: str, body: bytes | None = None,
         content_type: str = "application/json") -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(server.url + path, data=body, method=method,
                                     headers={"Content-Type": content_type} if body is not None else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def executions(stack) -> int:
    return len(boto3.client("stepfunctions").list_executions(stateMachineArn=stack.state_machine_arn)["executions"])


def test_synthesize_then_fetch_the_audio_and_the_job(api) -> None:
    server, stack = api
    status, body = call(server, "POST", "/api/synthesize", json.dumps({"text": "Hello 你好"}).encode())

    assert status == 200 and body["status"] == "success", body
    assert body["engine_used"] == "primary" and body["attempts"][0]["outcome"] == "succeeded"
    assert body["audio_key"] in body["audio_url"] and "Signature=" in body["audio_url"]
    samples, rate = read_wav(storage.get_bytes(stack.bucket, body["audio_key"]))
    assert rate == 22050 and len(samples) > 0

    status, job = call(server, "GET", f"/api/jobs/{body['request_id']}")
    assert status == 200 and job["status"] == "success" and job["audio_key"] == body["audio_key"]


def test_voices_and_health(api) -> None:
    server, _ = api
    status, body = call(server, "GET", "/api/voices")
    assert status == 200 and {v["id"] for v in body["voices"]} >= {"zh-female", "en-male"}
    status, body = call(server, "GET", "/api/health")
    assert status == 200 and body["route"]["route"] == "primary"


@pytest.mark.parametrize(("body", "content_type", "status", "code"), [
    (b'{"text": ""}', "application/json", 400, "INVALID_INPUT"),
    (b'{"text": "   \\n "}', "application/json", 400, "INVALID_INPUT"),
    (json.dumps({"text": "x" * 5001}).encode(), "application/json", 413, "TEXT_TOO_LONG"),
    (b'{"text": "hi", "voice": "nobody"}', "application/json", 404, "VOICE_NOT_FOUND"),
    (b'{"text": "hi", "speed": 9}', "application/json", 400, "INVALID_INPUT"),
    (b'{"text": "hi", "volume": -1}', "application/json", 400, "INVALID_INPUT"),
    (b'{"text": "hi", "sample_rate": 12345}', "application/json", 400, "INVALID_INPUT"),
    (b'{"text": "hi", "colour": "blue"}', "application/json", 400, "INVALID_INPUT"),
    (b'{"text": "a\\u0000b"}', "application/json", 400, "INVALID_INPUT"),
    (b'{"text": ', "application/json", 400, "MALFORMED_JSON"),
    (b'["hi"]', "application/json", 400, "INVALID_INPUT"),
    (b"text=hi", "application/x-www-form-urlencoded", 415, "UNSUPPORTED_MEDIA_TYPE"),
    (b'{"text": "' + b"x" * 300_000 + b'"}', "application/json", 413, "PAYLOAD_TOO_LARGE"),
])
def test_bad_input_gets_a_stable_code_and_starts_nothing(api, body: bytes, content_type: str, status: int,
                                                         code: str) -> None:
    server, stack = api
    got_status, answer = call(server, "POST", "/api/synthesize", body, content_type)

    assert (got_status, answer["status"], answer["code"]) == (status, "error", code), answer
    assert answer["message"]
    assert executions(stack) == 0


def test_unknown_job_and_malformed_job_id(api) -> None:
    server, _ = api
    assert call(server, "GET", "/api/jobs/20261123T120000Z-0123456789ab") == (
        404, {"status": "error", "code": "NOT_FOUND", "message": "no job 20261123T120000Z-0123456789ab"})
    status, body = call(server, "GET", "/api/jobs/..%2F..%2Fetc")
    assert (status, body["code"]) == (400, "INVALID_INPUT")


def test_unknown_route_is_refused_like_api_gateway(api) -> None:
    server, _ = api
    assert call(server, "GET", "/api/nothing") == (403, {"message": "Missing Authentication Token"})
    assert call(server, "GET", "/api/synthesize")[0] == 403


def test_operator_override_through_the_api(api) -> None:
    server, _ = api
    status, body = call(server, "PUT", "/api/route", json.dumps({"override": "fallback"}).encode())
    assert status == 200 and body["route"]["route"] == "fallback" and body["route"]["override"] == "fallback"
    status, body = call(server, "POST", "/api/synthesize", json.dumps({"text": "hi"}).encode())
    assert body["engine_used"] == "fallback"
    assert [a["engine"] for a in body["attempts"]] == ["fallback"]

    status, body = call(server, "PUT", "/api/route", json.dumps({"override": None}).encode())
    assert status == 200 and body["route"]["route"] == "primary"
    status, health = call(server, "GET", "/api/health")
    assert health["route"]["override"] is None and health["engines"]["primary"] == "in service"


@pytest.mark.parametrize("body", [b'{"override": "sideways"}', b"{}", b'{"override": "fallback", "x": 1}'])
def test_bad_override_is_refused(api, body: bytes) -> None:
    server, _ = api
    status, answer = call(server, "PUT", "/api/route", body)
    assert (status, answer["code"]) == (400, "INVALID_INPUT")
