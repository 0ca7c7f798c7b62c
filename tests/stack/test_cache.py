"""The cache on the real state machine: an identical request on the same engine is served from S3
without synthesis, the result says so, and a request can opt out."""

from __future__ import annotations

import json

import boto3
import pytest

from tts_core.models import SynthesisRequest
from tts_core.platform import storage
from tts_local.doubles import ToneEngine

pytestmark = pytest.mark.stack

REQUEST = SynthesisRequest(text="缓存测试。Cache me.", voice="zh-male", speed=1.2)


def engines(stack) -> list[str]:
    return [name for name, _ in stack.invocations if name in ("primary", "fallback", "offline")]


def states(stack, request_id: str) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in stack.execution_history(request_id)
            if e["type"].endswith("StateEntered")]


@pytest.fixture
def stack(local_stack):
    with local_stack(engines={"primary": ToneEngine("primary"), "fallback": ToneEngine("fallback")}) as stack:
        yield stack


def test_given_an_identical_request_then_it_is_served_from_the_cache(stack) -> None:
    first = stack.wait(stack.submit(REQUEST)).result
    # Spelled differently, said the same: defaults written out, extra spaces trimmed.
    same = SynthesisRequest.model_validate({"text": f"  {REQUEST.text}  ", "voice": "zh-male", "speed": 1.2,
                                            "volume": 50, "style": "default"})
    job = stack.wait(stack.submit(same))
    second = job.result

    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert engines(stack) == ["primary"]  # the engine ran once
    assert second.engine_used == "primary" and second.attempts == []
    assert second.audio_key.startswith("cache/primary/") and second.duration_s == first.duration_s
    assert storage.get_bytes(stack.bucket, second.audio_key) == storage.get_bytes(stack.bucket, first.audio_key)
    assert "ServeFromCache" in states(stack, job.request_id) and "Primary" not in states(stack, job.request_id)
    assert storage.get_json(stack.bucket, storage.result_key(job.request_id))["cache_hit"] is True


def test_given_cache_false_then_it_is_synthesized_again_and_not_stored(stack) -> None:
    stack.wait(stack.submit(REQUEST))
    opted_out = REQUEST.model_copy(update={"cache": False})
    result = stack.wait(stack.submit(opted_out)).result

    assert result.cache_hit is False and engines(stack) == ["primary", "primary"]
    fresh = SynthesisRequest(text="Never cached.", cache=False)
    stack.wait(stack.submit(fresh))
    stack.wait(stack.submit(fresh))
    assert engines(stack).count("primary") == 4
    cached = boto3.client("s3").list_objects_v2(Bucket=stack.bucket, Prefix="cache/")["KeyCount"]
    assert cached == 2  # REQUEST's WAV and metadata only


def test_given_another_option_then_a_miss(stack) -> None:
    stack.wait(stack.submit(REQUEST))
    result = stack.wait(stack.submit(REQUEST.model_copy(update={"speed": 1.3}))).result
    assert result.cache_hit is False and engines(stack) == ["primary", "primary"]


def test_given_the_route_on_the_fallback_then_the_primarys_entry_is_not_served(stack) -> None:
    stack.wait(stack.submit(REQUEST))
    boto3.client("ssm").put_parameter(Name=stack.route_parameter, Type="String", Overwrite=True,
                                      Value=json.dumps({"route": "fallback", "state": "open"}))
    first = stack.wait(stack.submit(REQUEST)).result
    second = stack.wait(stack.submit(REQUEST)).result

    assert (first.engine_used, first.cache_hit) == ("fallback", False)  # the engine is part of the key
    assert (second.engine_used, second.cache_hit) == ("fallback", True)
    assert engines(stack) == ["primary", "fallback"]


def test_given_a_broken_cache_lookup_then_the_request_is_synthesized(local_stack, monkeypatch) -> None:
    monkeypatch.setenv("TTS_LOCAL_FAULTS", "cache_lookup=error")
    with local_stack(engines={"primary": ToneEngine("primary")}) as stack:
        stack.wait(stack.submit(REQUEST))
        job = stack.wait(stack.submit(REQUEST))

        assert job.status == "succeeded" and job.result.cache_hit is False
        assert engines(stack) == ["primary", "primary"]


def test_given_only_the_last_resort_speaking_then_nothing_is_cached(local_stack, monkeypatch) -> None:
    monkeypatch.setenv("TTS_LOCAL_FAULTS", "primary=error,fallback=error")
    with local_stack(engines={"primary": ToneEngine("primary"), "fallback": ToneEngine("fallback")}) as stack:
        result = stack.wait(stack.submit(REQUEST)).result  # spoken by the offline last resort

        assert result.engine_used == "offline"
        assert boto3.client("s3").list_objects_v2(Bucket=stack.bucket, Prefix="cache/")["KeyCount"] == 0
