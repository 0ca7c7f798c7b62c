"""The real fallback Lambda (real dashscope SDK, key from Secrets Manager) behind a primary failure,
against the local server that speaks DashScope's protocol."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tts_core.audio import wav_info
from tts_core.models import SynthesisRequest
from tts_core.platform import storage
from tts_local.dashscope_server import DashScopeServer

pytestmark = pytest.mark.stack
KEY = "sk-local-test-key"
REQUEST = SynthesisRequest(text="你好，世界。Hello, world.", voice="zh-male")


@pytest.fixture
def dashscope() -> Iterator[DashScopeServer]:
    with DashScopeServer(valid_keys={KEY}) as server:
        yield server


@pytest.fixture
def stack_with_fallback(local_stack, dashscope, monkeypatch):
    monkeypatch.setenv("TTS_LOCAL_FAULTS", "primary=error")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")

    def make(**parameters: str):
        return local_stack(secrets={"DashScopeSecretArn": json.dumps({"api_key": KEY})},
                           environment={"DASHSCOPE_WEBSOCKET_URL": dashscope.url}, **parameters)

    return make


def test_primary_failure_falls_back_to_sambert(stack_with_fallback, dashscope) -> None:
    with stack_with_fallback() as stack:
        job = stack.wait(stack.submit(REQUEST))

        assert job.result.engine_used == "fallback", job.result
        assert [(a.engine, a.code) for a in job.result.attempts] == [("primary", "ENGINE_ERROR"), ("fallback", None)]
        (task,) = dashscope.requests
        assert task.model == "sambert-zhinan-v1" and task.api_key == KEY and task.text == REQUEST.text
        info = wav_info(storage.get_bytes(stack.bucket, job.result.audio_key))
        # Sambert answered at 48 kHz; the contract brought it to the service's rate.
        assert task.parameters["sample_rate"] == 48000 and info.sample_rate == 22050 and info.channels == 1


@pytest.mark.parametrize(("scenario", "codes"), [
    ("throttle", ["ENGINE_THROTTLED", "ENGINE_THROTTLED"]),
    ("invalid_key", ["ENGINE_AUTH_FAILED"]),
    ("content_rejected", ["ENGINE_REJECTED"]),
    ("drop", ["ENGINE_UNAVAILABLE", "ENGINE_UNAVAILABLE"]),
    ("partial_then_fail", ["ENGINE_UNAVAILABLE", "ENGINE_UNAVAILABLE"]),  # partial audio is never used
])
def test_sambert_failures_have_their_codes_and_retries(stack_with_fallback, dashscope, scenario: str,
                                                       codes: list[str]) -> None:
    dashscope.scenario = scenario
    with stack_with_fallback() as stack:
        job = stack.wait(stack.submit(REQUEST))

        fallback_codes = [a.code for a in job.result.attempts if a.engine == "fallback"]
        assert fallback_codes == codes
        assert job.result.engine_used == "offline"  # the last resort is on in local runs


def test_a_silent_sambert_connection_ends_at_the_engine_deadline(stack_with_fallback, dashscope) -> None:
    dashscope.scenario = "hang"
    # The fallback Lambda has 5 s; the engine keeps 3 s of margin, so it gives up after ~2 s itself.
    with stack_with_fallback(FallbackTimeoutSeconds="5", FallbackRetryMaxAttempts="0") as stack:
        job = stack.wait(stack.submit(REQUEST), timeout_s=60)

        (attempt,) = [a for a in job.result.attempts if a.engine == "fallback"]
        assert (attempt.outcome, attempt.code) == ("failed", "ENGINE_TIMEOUT")
        assert 1500 <= attempt.duration_ms < 5000
