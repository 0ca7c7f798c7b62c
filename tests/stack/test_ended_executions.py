"""No accepted job ends without a record (issue 23, items 8 and 9): an execution that passes
JobTimeoutSeconds, is aborted, or whose record step fails gets its failure record from the
ended-execution rule (template.yaml), independently of the state machine's own path."""

from __future__ import annotations

import time

import boto3
import pytest

from tts_core.errors import AwsServiceError, EngineError
from tts_core.models import SynthesisRequest
from tts_core.pipeline import jobs
from tts_core.pipeline.attempts import read_attempts
from tts_core.platform import storage
from tts_local.doubles import ToneEngine

pytestmark = pytest.mark.stack

SLOW = "Take your time, please."  # one primary task (no segments): 4.6 s at 0.2 s a character


def _rule_deliveries(stack, at_least: int = 0) -> list:
    """What the ended-execution rule delivered: it runs just after the execution's end, as in AWS."""
    deadline = time.monotonic() + 15
    while True:
        found = [d for d in stack.deliveries if d.function == "record_result"]
        if len(found) >= at_least or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def _recorded(stack, request_id: str) -> jobs.Job:
    """The job once its record is there: the rule runs just after the execution's end, as in AWS."""
    deadline = time.monotonic() + 15
    while not storage.exists(stack.bucket, storage.result_key(request_id)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return stack.wait(request_id)


def test_a_job_past_its_deadline_is_recorded_as_timed_out(local_stack) -> None:
    slow = ToneEngine("primary", seconds_per_char=0.2)
    with local_stack(engines={"primary": slow, "fallback": ToneEngine("fallback")}, JobTimeoutSeconds="1",
                     PrimaryTimeoutSeconds="30") as stack:
        job = _recorded(stack, stack.submit(SynthesisRequest(text=SLOW)))

        assert job.execution_status == "TIMED_OUT" and job.status == "failed"
        assert job.result is not None and job.result.error_code == "JOB_TIMED_OUT"  # the rule wrote it


def test_an_aborted_job_is_recorded_as_aborted(local_stack) -> None:
    slow = ToneEngine("primary", seconds_per_char=0.2)
    with local_stack(engines={"primary": slow}, PrimaryTimeoutSeconds="30") as stack:
        request_id = stack.submit(SynthesisRequest(text=SLOW))
        time.sleep(1.5)  # inside the primary's task
        boto3.client("stepfunctions", region_name="us-east-1").stop_execution(
            executionArn=jobs.execution_arn(stack.state_machine_arn, request_id))
        job = _recorded(stack, request_id)
        assert job.execution_status == "ABORTED"
        assert job.result is not None and job.result.error_code == "JOB_ABORTED"


def test_a_job_whose_record_step_failed_gets_its_record_from_the_rule(local_stack, monkeypatch) -> None:
    with local_stack(engines={"primary": ToneEngine("primary")}) as stack:
        monkeypatch.setenv("TTS_LOCAL_FAULTS", "record_result=flaky:1")  # the record step fails, not retried
        job = _recorded(stack, stack.submit(SynthesisRequest(text="Hello.")))

        assert job.execution_status == "FAILED"
        assert job.result is not None and job.result.error_code == "RESULT_NOT_RECORDED"
        assert [a.engine for a in job.result.attempts] == ["primary"]  # the attempts are still listed


def test_an_execution_with_its_own_record_is_left_as_it_recorded_itself(local_stack) -> None:
    fail = {"Hello": EngineError("no")}
    with local_stack(engines={"primary": ToneEngine("primary", fail_on=fail),
                              "fallback": ToneEngine("fallback", fail_on=fail)},
                     LastResortEnabled="false") as stack:
        job = stack.wait(stack.submit(SynthesisRequest(text="Hello.")))

        assert job.execution_status == "FAILED" and job.result is not None
        assert job.result.error_code == "ALL_ENGINES_FAILED"
        (delivery,) = _rule_deliveries(stack, at_least=1)
        assert delivery.error is None and delivery.answer is None  # it found the record and wrote nothing


def test_a_history_that_cannot_be_read_is_a_retryable_error(local_stack) -> None:
    with local_stack() as stack:
        missing = jobs.execution_arn(stack.state_machine_arn, "20260101T000000Z-000000000000")
        with pytest.raises(AwsServiceError) as raised:
            read_attempts(missing)
        assert raised.value.retryable


class _DeadlineSeen(ToneEngine):
    def __init__(self) -> None:
        super().__init__("primary")
        self.remaining_s: list[float] = []

    def synthesize(self, request, deadline):  # type: ignore[no-untyped-def]
        self.remaining_s.append(deadline.remaining())
        return super().synthesize(request, deadline)


def test_the_engine_stops_at_the_states_timeout_not_the_lambdas(local_stack) -> None:
    """The primary Lambda may run 900 s; the state gives up at PrimaryTimeoutSeconds, and so does its engine."""
    primary = _DeadlineSeen()
    with local_stack(engines={"primary": primary}, PrimaryTimeoutSeconds="7") as stack:
        assert stack.wait(stack.submit(SynthesisRequest(text="Hello."))).status == "succeeded"
    (remaining,) = primary.remaining_s
    assert 1.0 <= remaining <= 7.0
