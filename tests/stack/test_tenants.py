"""One API key among several on the local stack (issue 23): its jobs are its own, its budgets are its
own (429 QUOTA_EXCEEDED with Retry-After), its voice listing reads only its own prefix, and the page
refuses to be framed."""

from __future__ import annotations

import base64
import io
import json
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import numpy as np
import pytest
import soundfile as sf
from http_client import call

from tts_local.doubles import ToneEngine
from tts_local.http_api import ApiServer, api_key_id

pytestmark = pytest.mark.stack

KEY_A, KEY_B = "key-a-secret", "key-b-secret"


@contextmanager
def two_keys(local_stack, engines: dict | None = None, **parameters: str) -> Iterator[tuple[ApiServer, Any]]:
    engines = engines or {"primary": ToneEngine("primary"), "fallback": ToneEngine("fallback")}
    with local_stack(engines=engines, **parameters) as stack:
        server = ApiServer(stack, port=0, api_key=[KEY_A, KEY_B])
        server.start()
        try:
            yield server, stack
        finally:
            server.stop()


def as_key(key: str) -> dict[str, str]:
    return {"x-api-key": key}


def post(server: ApiServer, key: str, text: str,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
    request = urllib.request.Request(server.url + "/api/synthesize", data=json.dumps({"text": text}).encode(),
                                     method="POST",
                                     headers={"Content-Type": "application/json"} | as_key(key) | (headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read()), dict(answer.headers.items())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers.items())


def test_a_job_belongs_to_the_key_that_created_it(local_stack) -> None:
    with two_keys(local_stack) as (server, _):
        status, job, _ = post(server, KEY_A, "Mine alone.")
        assert status == 200
        path = f"/api/jobs/{job['request_id']}"

        assert call(server, "GET", path, headers=as_key(KEY_A))[0] == 200
        status, body = call(server, "GET", path, headers=as_key(KEY_B))
        assert (status, body["code"]) == (404, "NOT_FOUND") and "audio_url" not in body
        status, body = call(server, "GET", path + "%0A", headers=as_key(KEY_A))  # full match: no 500
        assert (status, body["code"]) == (400, "INVALID_INPUT")


def test_jobs_in_flight_are_bounded_per_key_with_retry_after(local_stack) -> None:
    slow = ToneEngine("primary", seconds_per_char=0.2)
    with two_keys(local_stack, engines={"primary": slow}, KeyMaxJobsInFlight="1", SyncWaitSeconds="0",
                  PrimaryTimeoutSeconds="30") as (server, _):
        first = post(server, KEY_A, "A slow job here.")
        second = post(server, KEY_A, "Another one.")
        other = post(server, KEY_B, "Mine runs.")

        assert first[0] == 202 and other[0] == 202
        assert (second[0], second[1]["code"]) == (429, "QUOTA_EXCEEDED")
        assert int(second[2]["Retry-After"]) > 0


def test_characters_per_day_are_bounded_per_key(local_stack) -> None:
    with two_keys(local_stack, KeyDailyCharacters="20") as (server, _):
        assert post(server, KEY_A, "Twelve chars")[0] == 200
        status, body, headers = post(server, KEY_A, "Nine more")
        assert (status, body["code"]) == (429, "QUOTA_EXCEEDED")
        assert 0 < int(headers["Retry-After"]) <= 86400
        assert post(server, KEY_B, "Nine more")[0] == 200  # the other key's day is untouched


def _recording() -> str:
    rate = 22050
    t = np.arange(int(rate * 4.0)) / rate
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), rate, format="WAV", subtype="PCM_16")
    return base64.b64encode(buf.getvalue()).decode()


def test_voices_are_bounded_per_key_listed_from_its_own_prefix_and_deleted_with_their_versions(local_stack) -> None:
    with two_keys(local_stack, KeyMaxVoices="1") as (server, stack):
        body = json.dumps({"name": "Me", "language": "en", "gender": "female", "audio_base64": _recording()})
        status, voice = call(server, "POST", "/api/voices", body.encode(), headers=as_key(KEY_A))
        assert status == 201
        status, refused = call(server, "POST", "/api/voices", body.encode(), headers=as_key(KEY_A))
        assert (status, refused["code"]) == (429, "QUOTA_EXCEEDED")
        assert call(server, "POST", "/api/voices", body.encode(), headers=as_key(KEY_B))[0] == 201

        stack.iam.calls.clear()
        status, listing = call(server, "GET", "/api/voices", headers=as_key(KEY_B))
        assert status == 200 and voice["id"] not in {v["id"] for v in listing["voices"]}
        listed = [prefix for _, _, action, prefix in stack.iam.calls if action == "s3:ListBucket"]
        assert f"voices/by-owner/{api_key_id(KEY_B)}/" in listed
        assert all(p.startswith(f"voices/by-owner/{api_key_id(KEY_B)}/") or not p.startswith("voices/by-owner/")
                   for p in listed) and "voices/" not in listed  # never every tenant's voices

        assert call(server, "DELETE", f"/api/voices/{voice['id']}", headers=as_key(KEY_A))[0] == 200
        versions = boto3.client("s3", region_name="us-east-1").list_object_versions(
            Bucket=stack.bucket, Prefix=f"voices/{voice['id']}.")
        assert versions.get("Versions", []) == [] and versions.get("DeleteMarkers", []) == []


def test_the_page_runs_only_its_own_script_and_is_never_framed(local_stack) -> None:
    with two_keys(local_stack) as (server, _), urllib.request.urlopen(server.url + "/", timeout=30) as answer:
        policy = answer.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'sha256-" in policy
        assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";", 1)[0]
        assert answer.headers["X-Frame-Options"] == "DENY"


def test_a_retried_post_with_an_idempotency_key_returns_the_same_job_and_pays_once(local_stack) -> None:
    with two_keys(local_stack, KeyDailyCharacters="30") as (server, stack):
        retry = {"Idempotency-Key": "order-42"}
        first = post(server, KEY_A, "Say it only once.", retry)  # 17 characters
        again = post(server, KEY_A, "Say it only once.", retry)
        assert first[0] == again[0] == 200 and first[1]["request_id"] == again[1]["request_id"]
        assert len(stack.function("primary").engine.calls) == 1
        other_key = post(server, KEY_B, "Say it only once.", retry)  # the same header from another key
        assert other_key[0] == 200 and other_key[1]["request_id"] != first[1]["request_id"]
        # Only the first charged key A's budget: 17 of 30 characters are used, 13 are left.
        assert post(server, KEY_A, "Thirteen char")[0] == 200
        assert post(server, KEY_A, "x", {"Idempotency-Key": "\x07bad"})[1]["code"] == "INVALID_INPUT"
