"""An execution that ended FAILED, TIMED_OUT or ABORTED gets its failure record here if it has none.

Independent of the state machine's own path: an EventBridge rule on Step Functions' status changes
(template.yaml, RecordResultFunction's ExecutionEnded event) sends every such end to the record
function. An execution whose record step ran (ALL_ENGINES_FAILED) already has its record and is left
alone; one stopped by JobTimeoutSeconds, aborted by an operator, or whose record step failed
(RESULT_NOT_RECORDED) gets a failed record with a code saying which, and an upload its failed/."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tts_core.models import SynthesisResult
from tts_core.pipeline import jobs
from tts_core.pipeline.results import Failure, RecordTask, record_result
from tts_core.platform import storage
from tts_core.platform.config import ResultSettings
from tts_core.platform.observability import logger

JOB_TIMED_OUT = "JOB_TIMED_OUT"
JOB_ABORTED = "JOB_ABORTED"
RESULT_NOT_RECORDED = "RESULT_NOT_RECORDED"  # the ASL's Fail state of that name
JOB_FAILED = "JOB_FAILED"  # any other failure of the execution itself
ENDED_CODES = (JOB_TIMED_OUT, JOB_ABORTED, RESULT_NOT_RECORDED, JOB_FAILED)
EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change"


class _Detail(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    execution_arn: str = Field(alias="executionArn")
    status: Literal["FAILED", "TIMED_OUT", "ABORTED"]
    error: str | None = None
    cause: str | None = None


class ExecutionEnded(BaseModel):
    """The EventBridge event (only the fields used)."""

    model_config = ConfigDict(populate_by_name=True)

    detail_type: Literal["Step Functions Execution Status Change"] = Field(alias="detail-type")
    detail: _Detail


def is_event(event: dict[str, object]) -> bool:
    return event.get("detail-type") == EXECUTION_STATUS_CHANGE


def failure_of(detail: _Detail) -> Failure:
    if detail.status == "TIMED_OUT":
        return Failure(code=JOB_TIMED_OUT, message="the job ran past its deadline (JobTimeoutSeconds)")
    if detail.status == "ABORTED":
        return Failure(code=JOB_ABORTED, message="the job was stopped before it finished")
    if detail.error == RESULT_NOT_RECORDED:
        return Failure(code=RESULT_NOT_RECORDED, message="the job ended but its record step failed")
    # The execution's own error names a state or a service; clients see the code, the log sees the rest.
    logger.warning("execution failed outside its record path", extra={"error": detail.error, "cause": detail.cause})
    return Failure(code=JOB_FAILED, message="the job failed before it could be recorded")


def record_ended(event: ExecutionEnded, settings: ResultSettings) -> SynthesisResult | None:
    """The execution's failure record, or None when it has its own record already."""
    document = jobs.input_of(event.detail.execution_arn)
    request_id = str(document["request_id"])
    logger.append_keys(request_id=request_id)
    if storage.exists(settings.bucket_name, storage.result_key(request_id)):
        logger.info("ended execution already recorded", extra={"status": event.detail.status})
        return None
    task = RecordTask.model_validate(document | {"outcome": "failed", "execution_arn": event.detail.execution_arn})
    result = record_result(task, settings, failure_of(event.detail))
    logger.info("ended execution recorded", extra={"status": event.detail.status, "code": result.error_code})
    return result
