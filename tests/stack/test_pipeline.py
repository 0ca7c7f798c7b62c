"""The real state machine on the local stack, path by path, asserting on the result record, the
execution history and the S3 objects."""

from __future__ import annotations

import json

import boto3
import pytest

from tts_core.audio import TARGET_LOUDNESS_DBFS, gated_loudness_dbfs, read_wav, wav_info
from tts_core.errors import EngineThrottledError, EngineUnavailableError
from tts_core.models import SynthesisRequest
from tts_core.pipeline import jobs
from tts_core.platform import storage
from tts_local.doubles import ToneEngine

pytestmark = pytest.mark.stack

REQUEST = SynthesisRequest(text="你好，世界。Hello, world.")


def engines_called(stack) -> list[str]:
    return [name for name, _ in stack.invocations if name in ("primary", "fallback", "offline")]


def states_entered(stack, request_id: str) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in stack.execution_history(request_id)
            if e["type"].endswith("StateEntered")]


def test_primary_success_writes_contract_wav_and_a_result_record(local_stack) -> None:
    with local_stack(engines={"primary": ToneEngine("primary"), "fallback": ToneEngine("fallback")}) as stack:
        job = stack.wait(stack.submit(REQUEST, correlation_id="corr-1"))
        result = job.result

        assert job.status == "succeeded" and result is not None
        assert result.engine_used == "primary"
        assert [(a.engine, a.outcome) for a in result.attempts] == [("primary", "succeeded")]
        assert engines_called(stack) == ["primary"]
        assert result.correlation_id == "corr-1"
        assert all(event["correlation_id"] == "corr-1" for _, event in stack.invocations if "correlation_id" in event)

        wav = storage.get_bytes(stack.bucket, result.audio_key)
        info = wav_info(wav)
        assert (info.sample_rate, info.channels, info.subtype) == (22050, 1, "PCM_16")
        assert info.duration_s == pytest.approx(result.duration_s, abs=0.01)
        samples, rate = read_wav(wav)
        # The double speaks far below the target: the contract's loudness matching lifted it.
        assert gated_loudness_dbfs(samples, rate) == pytest.approx(TARGET_LOUDNESS_DBFS, abs=0.5)

        record = storage.get_json(stack.bucket, storage.result_key(result.request_id))
        assert record["status"] == "succeeded" and record["audio_key"] == result.audio_key


def test_requested_sample_rate_is_honoured(local_stack) -> None:
    with local_stack(engines={"primary": ToneEngine("primary")}) as stack:
        job = stack.wait(stack.submit(REQUEST.model_copy(update={"sample_rate": 16000})))
        assert wav_info(storage.get_bytes(stack.bucket, job.result.audio_key)).sample_rate == 16000


def test_transient_primary_error_is_retried_then_succeeds(local_stack) -> None:
    primary = ToneEngine("primary", failures=[EngineThrottledError("slow down")])
    with local_stack(engines={"primary": primary, "fallback": ToneEngine("fallback")}) as stack:
        job = stack.wait(stack.submit(REQUEST))

        assert job.result.engine_used == "primary"
        assert [(a.engine, a.outcome, a.code) for a in job.result.attempts] == [
            ("primary", "failed", "ENGINE_THROTTLED"), ("primary", "succeeded", None)]
        assert len(primary.calls) == 2
        assert [e["retry_count"] for n, e in stack.invocations if n == "primary"] == [0, 1]


def test_retries_stop_after_max_attempts_then_fallback(local_stack) -> None:
    primary = ToneEngine("primary", failures=[EngineUnavailableError("down")] * 5)
    with local_stack(engines={"primary": primary, "fallback": ToneEngine("fallback")},
                     PrimaryRetryMaxAttempts="2") as stack:
        job = stack.wait(stack.submit(REQUEST))

        assert [(a.engine, a.code) for a in job.result.attempts] == [
            ("primary", "ENGINE_UNAVAILABLE")] * 3 + [("fallback", None)]
        assert job.result.engine_used == "fallback"


def test_hard_primary_error_goes_to_fallback_without_retry(local_stack, monkeypatch) -> None:
    monkeypatch.setenv("TTS_LOCAL_FAULTS", "primary=error")
    with local_stack(engines={"primary": ToneEngine("primary"), "fallback": ToneEngine("fallback")}) as stack:
        job = stack.wait(stack.submit(REQUEST))

        assert job.result.engine_used == "fallback"
        assert [(a.engine, a.outcome, a.code) for a in job.result.attempts] == [
            ("primary", "failed", "ENGINE_ERROR"), ("fallback", "succeeded", None)]
        assert job.result.audio_key == storage.audio_key(job.request_id, "fallback")


def test_primary_timeout_goes_to_fallback(local_stack, monkeypatch) -> None:
    monkeypatch.setenv("TTS_LOCAL_FAULTS", "primary=timeout")
    with local_stack(engines={"primary": ToneEngine("primary"), "fallback": ToneEngine("fallback")},
                     PrimaryTimeoutSeconds="1") as stack:
        job = stack.wait(stack.submit(REQUEST))

        primary, fallback = job.result.attempts
        assert (primary.engine, primary.outcome, primary.error, primary.code) == (
            "primary", "timed_out", "States.Timeout", "ENGINE_TIMEOUT")
        assert primary.duration_ms >= 900
        assert (fallback.engine, fallback.outcome) == ("fallback", "succeeded")


def test_route_fallback_never_invokes_the_primary(local_stack) -> None:
    with local_stack(engines={"primary": ToneEngine("primary"), "fallback": ToneEngine("fallback")}) as stack:
        boto3.client("ssm").put_parameter(Name=stack.route_parameter, Type="String", Overwrite=True,
                                          Value=json.dumps({"route": "fallback", "state": "open"}))
        job = stack.wait(stack.submit(REQUEST))

        assert job.result.engine_used == "fallback"
        assert engines_called(stack) == ["fallback"]
        assert "Primary" not in states_entered(stack, job.request_id)


@pytest.mark.parametrize("damage", ["delete", "malformed"])
def test_unreadable_route_document_means_primary(local_stack, damage: str) -> None:
    with local_stack(engines={"primary": ToneEngine("primary"), "fallback": ToneEngine("fallback")}) as stack:
        ssm = boto3.client("ssm")
        if damage == "delete":
            ssm.delete_parameter(Name=stack.route_parameter)
        else:
            ssm.put_parameter(Name=stack.route_parameter, Value="{route: fallback", Type="String", Overwrite=True)
        job = stack.wait(stack.submit(REQUEST))

        assert job.result.engine_used == "primary"
        assert engines_called(stack) == ["primary"]


def test_every_engine_failing_ends_as_a_recorded_failure(local_stack, monkeypatch) -> None:
    monkeypatch.setenv("TTS_LOCAL_FAULTS", "primary=error,fallback=throttle,offline=crash")
    with local_stack(engines={"primary": ToneEngine("primary"), "fallback": ToneEngine("fallback")}) as stack:
        request_id = stack.submit(REQUEST)
        job = stack.wait(request_id)

        assert job.execution_status == "FAILED" and job.status == "failed"
        result = job.result
        assert result.error_code == "ALL_ENGINES_FAILED"
        assert [(a.engine, a.code) for a in result.attempts] == [
            ("primary", "ENGINE_ERROR"), ("fallback", "ENGINE_THROTTLED"), ("fallback", "ENGINE_THROTTLED"),
            ("offline", "ENGINE_CRASHED")]
        assert "primary: ENGINE_ERROR" in result.error_message
        described = boto3.client("stepfunctions").describe_execution(
            executionArn=jobs.execution_arn(stack.state_machine_arn, request_id))
        assert described["error"] == "ALL_ENGINES_FAILED"
        assert storage.get_json(stack.bucket, storage.result_key(request_id))["status"] == "failed"


def test_last_resort_disabled_skips_the_offline_engine(local_stack, monkeypatch) -> None:
    monkeypatch.setenv("TTS_LOCAL_FAULTS", "primary=error,fallback=error")
    with local_stack(engines={"primary": ToneEngine("primary"), "fallback": ToneEngine("fallback")},
                     LastResortEnabled="false") as stack:
        job = stack.wait(stack.submit(REQUEST))

        assert job.status == "failed"
        assert "offline" not in engines_called(stack)
        assert [a.engine for a in job.result.attempts] == ["primary", "fallback"]


def test_fresh_machine_without_weights_or_key_still_speaks_through_the_offline_engine(local_stack) -> None:
    """No doubles at all: the real primary (no weights here), the real fallback (no key), real eSpeak NG."""
    with local_stack() as stack:
        job = stack.wait(stack.submit(REQUEST))

        assert job.result.engine_used == "offline"
        assert [(a.engine, a.code) for a in job.result.attempts] == [
            ("primary", "MODEL_UNAVAILABLE"), ("fallback", "ENGINE_NOT_CONFIGURED"), ("offline", None)]
        samples, rate = read_wav(storage.get_bytes(stack.bucket, job.result.audio_key))
        assert rate == 22050 and len(samples) / rate > 0.5
        assert gated_loudness_dbfs(samples, rate) == pytest.approx(TARGET_LOUDNESS_DBFS, abs=1.0)
