"""The REST API over HTTP through the local API Gateway front (`tts-local serve`'s server)."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from http_client import call

from tts_core.audio import read_wav
from tts_core.platform import storage
from tts_local.doubles import ToneEngine
from tts_local.http_api import ApiServer
from tts_local.template import ROOT

pytestmark = pytest.mark.stack
ADMIN = "local-admin-key"
AS_ADMIN = {"x-admin-key": ADMIN}


@contextmanager
def serving(local_stack, api_key: str | None = None, engines: dict | None = None, admin_key: str | None = ADMIN,
            **parameters: str) -> Iterator[tuple[ApiServer, Any]]:
    engines = engines or {"primary": ToneEngine("primary"), "fallback": ToneEngine("fallback")}
    with local_stack(engines=engines, **parameters) as stack:
        server = ApiServer(stack, port=0, api_key=api_key, admin_key=admin_key)
        server.start()
        try:
            yield server, stack
        finally:
            server.stop()


@pytest.fixture
def api(local_stack) -> Iterator[tuple[ApiServer, Any]]:
    with serving(local_stack) as served:
        yield served


def fetch(server: ApiServer, method: str, path: str, headers: dict[str, str] | None = None,
          body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(server.url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, dict(answer.headers.items()), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read()




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
    status, body = call(server, "PUT", "/api/route", json.dumps({"override": "fallback"}).encode(), headers=AS_ADMIN)
    assert status == 200 and body["route"]["route"] == "fallback" and body["route"]["override"] == "fallback"
    assert body["route"]["updated_by"] == "operator", body  # who it was is in the log only
    status, body = call(server, "POST", "/api/synthesize", json.dumps({"text": "hi"}).encode())
    assert body["engine_used"] == "fallback"
    assert [a["engine"] for a in body["attempts"]] == ["fallback"]

    status, body = call(server, "PUT", "/api/route", json.dumps({"override": None}).encode(), headers=AS_ADMIN)
    assert status == 200 and body["route"]["route"] == "primary"
    status, health = call(server, "GET", "/api/health")
    assert health["route"]["override"] is None and health["engines"]["primary"] == "in service"
    assert "updated_by" not in health["route"] and "arn:" not in json.dumps(health)


@pytest.mark.parametrize("body", [b'{"override": "sideways"}', b"{}", b'{"override": "fallback", "x": 1}'])
def test_bad_override_is_refused(api, body: bytes) -> None:
    server, _ = api
    status, answer = call(server, "PUT", "/api/route", body, headers=AS_ADMIN)
    assert (status, answer["code"]) == (400, "INVALID_INPUT")


def test_slow_synthesis_answers_202_then_the_job_is_polled_to_success(local_stack) -> None:
    slow = {"primary": ToneEngine("primary", seconds_per_char=0.1)}
    with serving(local_stack, engines=slow, SyncWaitSeconds="0") as (server, _):
        status, body = call(server, "POST", "/api/synthesize", json.dumps({"text": "Take your time."}).encode())
        assert status == 202 and body["status"] == "accepted" and "audio_url" not in body, body
        assert body["status_url"] == f"{server.url}/api/jobs/{body['request_id']}"

        deadline = time.monotonic() + 30
        while body["status"] == "accepted" and time.monotonic() < deadline:
            time.sleep(0.2)
            status, body = call(server, "GET", f"/api/jobs/{body['request_id']}")
        assert status == 200 and body["status"] == "success" and body["engine_used"] == "primary"


def test_a_long_job_reports_its_progress_then_its_segments(local_stack) -> None:
    slow = {"primary": ToneEngine("primary", seconds_per_char=0.02)}
    text = "The first sentence is longest. The second is shorter. A third one is here. Fourth, shorter."
    with serving(local_stack, engines=slow, SyncWaitSeconds="0", SegmentMaxConcurrency="1") as (server, _):
        status, body = call(server, "POST", "/api/synthesize", json.dumps({"text": text}).encode())
        assert status == 202, body
        progress = []
        deadline = time.monotonic() + 60
        while body["status"] == "accepted" and time.monotonic() < deadline:
            if body.get("progress"):
                progress.append((body["progress"]["segments_done"], body["progress"]["segments_total"]))
            time.sleep(0.1)
            status, body = call(server, "GET", f"/api/jobs/{body['request_id']}")

        assert status == 200 and body["status"] == "success", body
        assert {total for _, total in progress} == {4} and any(0 < done < 4 for done, _ in progress)
        assert [(s["index"], s["engine"], s["attempts"]) for s in body["segments"]] == [
            (i, "primary", 1) for i in range(4)]
        assert {a["segment"] for a in body["attempts"]} == {0, 1, 2, 3}


def test_every_engine_failing_answers_502_with_the_attempts(local_stack, monkeypatch) -> None:
    monkeypatch.setenv("TTS_LOCAL_FAULTS", "primary=error,fallback=error,offline=error")
    with serving(local_stack) as (server, _):
        status, body = call(server, "POST", "/api/synthesize", json.dumps({"text": "hi"}).encode())

        assert (status, body["status"], body["code"]) == (502, "error", "ALL_ENGINES_FAILED")
        assert [a["engine"] for a in body["attempts"]] == ["primary", "fallback", "offline"]
        assert "audio_url" not in body


def test_an_unexpected_failure_is_internal_error_without_a_traceback(local_stack, monkeypatch) -> None:
    with serving(local_stack) as (server, _):
        monkeypatch.setenv("TTS_LOCAL_FAULTS", "stepfunctions=unavailable")
        status, body = call(server, "POST", "/api/synthesize", json.dumps({"text": "hi"}).encode())
        assert (status, body["code"]) == (500, "INTERNAL_ERROR") and "Traceback" not in body["message"]

        monkeypatch.setenv("TTS_LOCAL_FAULTS", "ssm=unavailable")
        status, body = call(server, "GET", "/api/health")
        assert status == 200 and body["route"]["route"] == "primary" and "unreadable" in body["route"]["reason"]


def test_identical_requests_are_served_from_the_cache_unless_the_request_opts_out(api) -> None:
    server, stack = api
    request = {"text": "Say it once.", "voice": "en-female"}
    _, first = call(server, "POST", "/api/synthesize", json.dumps(request).encode())
    _, second = call(server, "POST", "/api/synthesize", json.dumps(request).encode())
    _, opted_out = call(server, "POST", "/api/synthesize", json.dumps(request | {"cache": False}).encode())

    assert (first["cache_hit"], second["cache_hit"], opted_out["cache_hit"]) == (False, True, False)
    assert second["status"] == "success" and second["attempts"] == [] and second["engine_used"] == "primary"
    assert "Signature=" in second["audio_url"]
    assert len(stack.function("primary").engine.calls) == 2


def test_the_page_and_the_openapi_document_need_no_key_and_the_api_does(local_stack) -> None:
    with serving(local_stack, api_key="local-key") as (server, _):
        status, headers, page = fetch(server, "GET", "/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert b'id="synthesize"' in page and b"x-api-key" in page

        status, headers, document = fetch(server, "GET", "/api/openapi.json")
        assert status == 200 and headers["Content-Type"] == "application/json"
        assert document.decode() == (ROOT / "docs" / "openapi.json").read_text()

        assert fetch(server, "GET", "/api/voices")[:1] == (403,)
        assert json.loads(fetch(server, "GET", "/api/voices", {"x-api-key": "wrong"})[2]) == {"message": "Forbidden"}
        status, _, voices = fetch(server, "GET", "/api/voices", {"x-api-key": "local-key"})
        assert status == 200 and json.loads(voices)["voices"]


def test_cors_preflight_and_answers_carry_the_allowed_origin(local_stack) -> None:
    with serving(local_stack, CorsAllowOrigin="https://app.example.com") as (server, _):
        status, headers, _ = fetch(server, "OPTIONS", "/api/synthesize",
                                   {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"})
        assert status == 200 and headers["Access-Control-Allow-Origin"] == "https://app.example.com"
        assert "X-Api-Key" in headers["Access-Control-Allow-Headers"]
        assert "POST" in headers["Access-Control-Allow-Methods"]

        _, headers, _ = fetch(server, "GET", "/api/voices", {"Origin": "https://app.example.com"})
        assert headers["Access-Control-Allow-Origin"] == "https://app.example.com"
        _, headers, _ = fetch(server, "GET", "/api/voices", {"Origin": "https://evil.example.net"})
        assert "Access-Control-Allow-Origin" not in headers
        _, headers, _ = fetch(server, "GET", "/api/nothing", {"Origin": "https://app.example.com"})
        assert headers["Access-Control-Allow-Origin"] == "https://app.example.com"  # API Gateway's own refusals too


def test_any_origin_by_default(api) -> None:
    server, _ = api
    _, headers, _ = fetch(server, "GET", "/api/health", {"Origin": "https://anywhere.example.org"})
    assert headers["Access-Control-Allow-Origin"] == "*"


def test_concurrent_requests_each_get_their_own_answer(local_stack) -> None:
    """Lambda runs one invocation per environment; the local front must not let concurrent
    requests share one (powertools' resolver keeps the current event on its app)."""
    with serving(local_stack, KeyMaxJobsInFlight="10") as (server, stack):  # one key, six jobs at once
        answers: dict[int, tuple[int, dict[str, Any]]] = {}

        def one(n: int) -> None:
            answers[n] = call(server, "POST", "/api/synthesize",
                              json.dumps({"text": f"Hello number {n}.", "cache": False}).encode())

        threads = [threading.Thread(target=one, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert sorted(status for status, _ in answers.values()) == [200] * 6, answers
        assert len({body["request_id"] for _, body in answers.values()}) == 6
        texts = {storage.get_json(stack.bucket, storage.result_key(body["request_id"]))["request"]["text"]
                 for _, body in answers.values()}
        assert texts == {f"Hello number {n}." for n in range(6)}
