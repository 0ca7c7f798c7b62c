"""Starting a synthesis and reading its state: the only code that talks to Step Functions' API."""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from tts_core.errors import AwsServiceError, InvalidInputError, NotFoundError, StorageError
from tts_core.models import SynthesisRequest, SynthesisResult, UploadSource
from tts_core.platform import aws, storage
from tts_core.voices.directory import ANY_OWNER, Owner

JobStatus = Literal["running", "succeeded", "failed"]
# API requests: time-sortable and random; uploads: derived from the object (see tts_core.pipeline.uploads).
# Matched whole (fullmatch): `$` also matches before a final newline.
_REQUEST_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}|upload-[0-9a-f]{32}|idem-[0-9a-f]{32}")
_FINAL = {"SUCCEEDED": "succeeded", "FAILED": "failed", "TIMED_OUT": "failed", "ABORTED": "failed"}


class AlreadyStartedError(Exception):
    """Step Functions refused a second execution of that name (the same request, seen again)."""


class Progress(BaseModel):
    segments_done: int
    segments_total: int


class Job(BaseModel):
    request_id: str
    status: JobStatus
    execution_status: str
    result: SynthesisResult | None = None
    progress: Progress | None = None  # a running long text: its segments done so far


def new_request_id(now: datetime | None = None) -> str:
    """Sortable by time, unique, and safe as an S3 key part and a Step Functions execution name."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:12]}"


def idempotent_request_id(owner: str | None, idempotency_key: str) -> str:
    """The request id of a POST sent with an Idempotency-Key: the same key of the same API key names the
    same execution, which Step Functions starts once (names are unique for 90 days)."""
    return "idem-" + hashlib.sha256(f"{owner or ''}\n{idempotency_key}".encode()).hexdigest()[:32]


def execution_input(request: SynthesisRequest, request_id: str, correlation_id: str,
                    upload: UploadSource | None = None, owner: str | None = None) -> dict[str, Any]:
    """The one input every entry point gives the state machine (`upload` is null unless it came from S3;
    `owner` is the API key id that started it, null for uploads and where no key is in use)."""
    return {"request_id": request_id, "correlation_id": correlation_id,
            "submitted_at": datetime.now(UTC).isoformat(), "request": request.model_dump(mode="json"),
            "upload": upload.model_dump(mode="json") if upload else None, "owner": owner}


def start(state_machine_arn: str, request: SynthesisRequest, correlation_id: str,
          request_id: str | None = None, upload: UploadSource | None = None, owner: str | None = None) -> str:
    """Start one execution named by the request id. Standard workflows keep names unique for 90 days,
    so starting a name again raises AlreadyStartedError instead of synthesizing twice."""
    request_id = request_id or new_request_id()
    try:
        aws.client("stepfunctions").start_execution(
            stateMachineArn=state_machine_arn, name=request_id,
            input=json.dumps(execution_input(request, request_id, correlation_id, upload, owner)))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
            raise AlreadyStartedError(request_id) from exc
        raise
    return request_id


def input_of(execution_arn: str) -> dict[str, Any]:
    """The input an execution was started with (execution_input's document)."""
    try:
        described = aws.client("stepfunctions").describe_execution(executionArn=execution_arn)
    except (ClientError, BotoCoreError) as exc:
        raise AwsServiceError(f"could not describe execution {execution_arn.rsplit(':', 1)[-1]}: "
                              f"{type(exc).__name__}") from exc
    document: dict[str, Any] = json.loads(described["input"])
    return document


def execution_arn(state_machine_arn: str, request_id: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{request_id}"


def status(state_machine_arn: str, bucket: str, request_id: str, owner: Owner = ANY_OWNER) -> Job:
    """The job, if `owner` may see it: another key's job is NotFoundError, as if it did not exist."""
    if not _REQUEST_ID.fullmatch(request_id):
        raise InvalidInputError("request_id is not of the form this service issues")
    try:
        described = aws.client("stepfunctions").describe_execution(
            executionArn=execution_arn(state_machine_arn, request_id))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            raise NotFoundError(f"no job {request_id}") from exc
        raise
    if owner is not ANY_OWNER and json.loads(described.get("input") or "{}").get("owner") != owner:
        raise NotFoundError(f"no job {request_id}")
    execution_status = described["status"]
    final = _FINAL.get(execution_status)
    if final is None:
        return Job(request_id=request_id, status="running", execution_status=execution_status,
                   progress=progress(bucket, request_id))
    try:
        result = SynthesisResult.model_validate(storage.get_json(bucket, storage.result_key(request_id)))
    except NotFoundError:
        result = None  # the execution ended before it could record (e.g. aborted by an operator)
    return Job(request_id=request_id, status=result.status if result else "failed",
               execution_status=execution_status, result=result)


def progress(bucket: str, request_id: str) -> Progress | None:
    """Segments done / total of a running long text; None for a job that was not cut (or not yet).

    Read from S3 (the plan's count and the segment WAVs written so far), not from the execution
    history: GetExecutionHistory is throttled per account, and a web page polls this every second.
    Advisory: a failed read means no progress to show, never a failed status call."""
    try:
        total = int(storage.get_json(bucket, storage.plan_key(request_id))["count"])
        keys = storage.list_keys(bucket, storage.segments_prefix(request_id))
    except (NotFoundError, StorageError, KeyError, TypeError, ValueError):
        return None
    done = {storage.segment_index(key) for key in keys} - {None}
    return Progress(segments_done=min(len(done), total), segments_total=total)


def wait(state_machine_arn: str, bucket: str, request_id: str, timeout_s: float,
         poll_s: float = 0.1) -> Job:
    """Poll until the job ends or the time is up (then it is still running: the caller answers 202)."""
    deadline = time.monotonic() + timeout_s
    while True:
        job = status(state_machine_arn, bucket, request_id)
        if job.status != "running" or time.monotonic() >= deadline:
            return job
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
        poll_s = min(poll_s * 1.5, 1.0)
