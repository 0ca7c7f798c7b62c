"""The fault matrix: each fault on the local stack, its outcome (audio from which engine, or a
failure with a stable code), every attempt, and that no accepted request ends silently."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import boto3
import pytest

from tts_core.audio import wav_info
from tts_core.models import SynthesisRequest
from tts_core.pipeline import jobs
from tts_core.platform import storage
from tts_local.doubles import ToneEngine

pytestmark = pytest.mark.stack
REQUEST = SynthesisRequest(text="你好。Hello, world.")


@dataclass(frozen=True)
class Case:
    faults: str
    engine_used: str | None  # None: the request fails
    attempts: list[tuple[str, str | None]]  # (engine, code) in order
    parameters: dict[str, str] = field(default_factory=dict)


MATRIX = {
    "primary crash": Case("primary=crash", "fallback", [("primary", "ENGINE_CRASHED"), ("fallback", None)]),
    "primary timeout": Case("primary=timeout", "fallback", [("primary", "ENGINE_TIMEOUT"), ("fallback", None)],
                            {"PrimaryTimeoutSeconds": "1"}),
    "primary slow within timeout": Case("primary=slow:0.5", "primary", [("primary", None)]),
    "primary intermittent": Case("primary=intermittent", "primary",
                                 [("primary", "ENGINE_UNAVAILABLE"), ("primary", None)]),
    "primary throttled by Lambda": Case("primary=lambda-throttle", "fallback",
                                        [("primary", "LAMBDA_THROTTLED")] * 3 + [("fallback", None)]),
    "fallback throttled": Case("primary=error,fallback=throttle", "offline",
                               [("primary", "ENGINE_ERROR"), ("fallback", "ENGINE_THROTTLED"),
                                ("fallback", "ENGINE_THROTTLED"), ("offline", None)]),
    "fallback hanging": Case("primary=error,fallback=timeout", "offline",
                             [("primary", "ENGINE_ERROR"), ("fallback", "ENGINE_TIMEOUT"), ("offline", None)],
                             {"FallbackTimeoutSeconds": "1"}),
    "both engines down, last resort on": Case("primary=error,fallback=error", "offline",
                                              [("primary", "ENGINE_ERROR"), ("fallback", "ENGINE_ERROR"),
                                               ("offline", None)]),
    "both engines down, last resort off": Case("primary=error,fallback=error", None,
                                               [("primary", "ENGINE_ERROR"), ("fallback", "ENGINE_ERROR")],
                                               {"LastResortEnabled": "false"}),
    "every engine down": Case("primary=crash,fallback=unavailable,offline=error", None,
                              [("primary", "ENGINE_CRASHED"), ("fallback", "ENGINE_UNAVAILABLE"),
                               ("fallback", "ENGINE_UNAVAILABLE"), ("offline", "ENGINE_ERROR")]),
    "SSM unavailable": Case("ssm=unavailable", "primary", [("primary", None)]),
    "health probe failing": Case("health_probe=crash", "primary", [("primary", None)]),
}


@pytest.mark.parametrize("name", list(MATRIX))
def test_fault_matrix(local_stack, monkeypatch, name: str) -> None:
    case = MATRIX[name]
    engines = {"primary": ToneEngine("primary"), "fallback": ToneEngine("fallback")}
    with local_stack(engines=engines, **case.parameters) as stack:
        monkeypatch.setenv("TTS_LOCAL_FAULTS", case.faults)
        if "health_probe" in case.faults:
            with pytest.raises(RuntimeError, match=r"Runtime\.ExitError"):
                stack.invoke("health_probe", {})
        job = stack.wait(stack.submit(REQUEST), timeout_s=90)
        monkeypatch.delenv("TTS_LOCAL_FAULTS")
        result = job.result

        assert result is not None, "the request ended without a result record"
        assert [(a.engine, a.code) for a in result.attempts] == case.attempts
        record = storage.get_json(stack.bucket, storage.result_key(job.request_id))
        assert record["status"] == result.status
        if case.engine_used:
            assert (job.status, result.engine_used) == ("succeeded", case.engine_used)
            assert wav_info(storage.get_bytes(stack.bucket, result.audio_key)).frames > 0
        else:
            assert (job.status, result.error_code, job.execution_status) == ("failed", "ALL_ENGINES_FAILED", "FAILED")


def test_s3_down_ends_as_a_failed_execution_not_a_silent_one(local_stack, monkeypatch) -> None:
    """With S3 down nothing can be written, not even the record: the execution itself carries the failure."""
    with local_stack(engines={"primary": ToneEngine("primary"), "fallback": ToneEngine("fallback")}) as stack:
        request_id = stack.submit(REQUEST)
        monkeypatch.setenv("TTS_LOCAL_FAULTS", "s3=unavailable")
        described = _wait_final(stack, request_id)
        monkeypatch.delenv("TTS_LOCAL_FAULTS")

        assert (described["status"], described["error"]) == ("FAILED", "RESULT_NOT_RECORDED")
        job = jobs.status(stack.state_machine_arn, stack.bucket, request_id)
        assert (job.status, job.execution_status, job.result) == ("failed", "FAILED", None)
        codes = [e["taskFailedEventDetails"]["error"] for e in stack.execution_history(request_id)
                 if e["type"] == "TaskFailed"]
        assert "StorageError" in codes  # the engines' S3 writes failed with the stable class, and were retried


def _wait_final(stack, request_id: str) -> dict:
    sfn = boto3.client("stepfunctions")
    arn = jobs.execution_arn(stack.state_machine_arn, request_id)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.1)
    raise AssertionError("execution still running")
