"""Starting, reading, cancelling and retrying book jobs: the book state machine's side of Step Functions.

A book job's id starts with `book-` (GET /api/jobs/{id} tells the two machines apart by it). Its status is
read from S3 (the plan, the segment audio listed, the chapters encoded), never from the execution's
history: a page polls it every second, and GetExecutionHistory is throttled per account."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ValidationError

from tts_core.books import manuscript
from tts_core.books import plan as book_plan
from tts_core.books.models import BookInput, BookJob, BookRequest, BookResult, Chapter, Delivery, ManuscriptSource
from tts_core.catalogue import get_voice
from tts_core.delivery import formats
from tts_core.errors import InvalidInputError, NotFoundError, StorageError
from tts_core.models import UploadSource, validated
from tts_core.pipeline import jobs
from tts_core.pipeline.jobs import AlreadyStartedError
from tts_core.platform import aws, config, storage
from tts_core.platform.config import BookPlanSettings, StorageSettings

BOOK_ID_PREFIX = "book-"
MANUSCRIPT = "manuscript.json"
BookStatusName = Literal["running", "succeeded", "failed", "cancelled"]
_WAV_HEADER_BYTES = 44


class BookProgress(BaseModel):
    chapters_done: int
    chapters_total: int
    segments_done: int
    segments_total: int
    audio_seconds_done: float
    eta_seconds: float | None  # None until a segment is done


class BookStatus(BaseModel):
    request_id: str
    status: BookStatusName
    execution_status: str
    progress: BookProgress | None = None  # running, or cancelled (what was done)
    result: BookResult | None = None


def is_book_id(request_id: str) -> bool:
    return request_id.startswith(BOOK_ID_PREFIX)


def parse_book(raw: Any, *, voice_exists: Callable[[str], object] = get_voice) -> BookRequest:
    request = validated(BookRequest, raw)
    if (request.text is None) == (request.chapters is None):
        raise InvalidInputError("a book has `text` or `chapters`, not both and not neither")
    for voice_id in request.voice_ids:  # as check_limits does; the length is MaxBookChars, checked on the chapters
        voice_exists(voice_id)
    return request


def delivery_of(request: BookRequest, contract_rate: int) -> Delivery:
    chosen = formats.resolve(request.format, request.sample_rate or contract_rate, request.bitrate_kbps,
                             request.mastering, rate_requested=request.sample_rate is not None)
    return Delivery(format=chosen.format, sample_rate=chosen.sample_rate, bitrate_kbps=chosen.bitrate_kbps,
                    mastering=chosen.mastering)


def chapters_of(request: BookRequest) -> list[Chapter]:
    return manuscript.from_fields(request.title, request.text, [(c.title, c.text) for c in request.chapters or []])


def dry_run(request: BookRequest, settings: BookPlanSettings) -> dict[str, Any]:
    """The plan and its estimate, nothing written and nothing started (POST /api/books, dry_run)."""
    chapters = chapters_of(request)
    job = BookJob(title=request.title, manuscript=ManuscriptSource(bucket=settings.bucket_name, key="-", kind="json"),
                  options=request.options(), delivery=delivery_of(request, settings.audio_sample_rate),
                  output_name="-")
    made, _texts = book_plan.make_plan("dry-run", job, chapters, settings, "primary")
    return {"title": made.title, "characters": made.characters, "segments": made.segments_total,
            "chapters": [{"index": c.index, "title": c.title, "characters": c.characters, "segments": c.segments}
                         for c in made.chapters],
            "estimate": made.estimate.model_dump(mode="json")}


def submit(state_machine_arn: str, request: BookRequest, settings: BookPlanSettings, correlation_id: str) -> str:
    """Refuse a book over MaxBookChars at once (nothing written, nothing billed), else store its chapters
    as the manuscript (books/<id>/manuscript.json) and start its execution."""
    chapters = chapters_of(request)
    book_plan.check_size(chapters, settings.max_book_chars)
    request_id = BOOK_ID_PREFIX + jobs.new_request_id()
    key = storage.book_key(request_id, MANUSCRIPT)
    storage.put_json(settings.bucket_name, key, {"title": request.title,
                                                 "chapters": [c.model_dump() for c in chapters]})
    job = BookJob(title=request.title, manuscript=ManuscriptSource(bucket=settings.bucket_name, key=key, kind="json"),
                  options=request.options(), delivery=delivery_of(request, settings.audio_sample_rate),
                  output_name=request_id)
    return start(state_machine_arn, job, correlation_id, request_id)


def start(state_machine_arn: str, job: BookJob, correlation_id: str, request_id: str,
          upload: UploadSource | None = None) -> str:
    execution_input = BookInput(request_id=request_id, correlation_id=correlation_id,
                                submitted_at=datetime.now(UTC).isoformat(), book=job, upload=upload)
    try:
        aws.client("stepfunctions").start_execution(stateMachineArn=state_machine_arn, name=request_id,
                                                    input=execution_input.model_dump_json())
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
            raise AlreadyStartedError(request_id) from exc
        raise
    return request_id


def _describe(state_machine_arn: str, request_id: str) -> dict[str, Any]:
    if not is_book_id(request_id):
        raise InvalidInputError("request_id is not a book job's")
    try:
        return aws.client("stepfunctions").describe_execution(
            executionArn=jobs.execution_arn(state_machine_arn, request_id))  # type: ignore[no-any-return]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            raise NotFoundError(f"no job {request_id}") from exc
        raise


def status(state_machine_arn: str, bucket: str, request_id: str) -> BookStatus:
    described = _describe(state_machine_arn, request_id)
    execution_status = described["status"]
    if execution_status == "RUNNING":
        return BookStatus(request_id=request_id, status="running", execution_status=execution_status,
                          progress=progress(bucket, request_id, described.get("startDate")))
    if execution_status == "ABORTED":
        return BookStatus(request_id=request_id, status="cancelled", execution_status=execution_status,
                          progress=progress(bucket, request_id, None))
    try:
        result = BookResult.model_validate(storage.get_json(bucket, storage.result_key(request_id)))
    except NotFoundError:
        result = None
    return BookStatus(request_id=request_id, status=result.status if result else "failed",
                      execution_status=execution_status, result=result)


def progress(bucket: str, request_id: str, started: datetime | None) -> BookProgress | None:
    """Advisory, from S3: a failed read (or no plan yet) means no progress to show, never a failed status."""
    try:
        made = book_plan.load(bucket, request_id)
        sizes = storage.list_sizes(bucket, storage.segments_prefix(made.storage_id))
        chapters_done = len(storage.list_keys(bucket, storage.book_key(request_id, "chapters/")))
    except (NotFoundError, StorageError, ValidationError):
        return None
    rate = made.options.get("sample_rate") or _contract_rate()
    seconds: dict[int, float] = {}
    for key, size in sizes.items():
        found = storage.segment_of(key)
        if found is not None and found[0] < made.segments_total:
            seconds[found[0]] = max(0, size - _WAV_HEADER_BYTES) / (2 * rate)
    done = len(seconds)
    eta = None
    if started is not None and done:
        elapsed = (datetime.now(UTC) - started).total_seconds()
        eta = round(elapsed * (made.segments_total - done) / done, 1)
    return BookProgress(chapters_done=chapters_done, chapters_total=len(made.chapters), segments_done=done,
                        segments_total=made.segments_total, audio_seconds_done=round(sum(seconds.values()), 1),
                        eta_seconds=eta)


def _contract_rate() -> int:
    return config.load(StorageSettings).audio_sample_rate


def cancel(state_machine_arn: str, bucket: str, request_id: str) -> BookStatus:
    """Stop the execution: Step Functions stops its Map Runs and their child executions with it, so no
    engine is invoked after this; an engine already running finishes its segment (kept for a retry)."""
    described = _describe(state_machine_arn, request_id)
    if described["status"] != "RUNNING":
        return status(state_machine_arn, bucket, request_id)
    aws.client("stepfunctions").stop_execution(executionArn=described["executionArn"], error="CANCELLED",
                                               cause="cancelled by the caller")
    # Stopped, though describe may say RUNNING for a moment longer: the job is cancelled either way.
    return BookStatus(request_id=request_id, status="cancelled", execution_status="ABORTED",
                      progress=progress(bucket, request_id, None))


def retry(state_machine_arn: str, request_id: str, correlation_id: str) -> str:
    """A new execution of the same job (its input): only the segments with no audio yet are voiced."""
    described = _describe(state_machine_arn, request_id)
    if described["status"] == "RUNNING":
        raise InvalidInputError(f"job {request_id} is still running")
    previous = BookInput.model_validate(json.loads(described["input"]))
    new_id = BOOK_ID_PREFIX + jobs.new_request_id()
    job = previous.book.model_copy(update={"output_name": new_id} if previous.upload is None else {})
    return start(state_machine_arn, job, correlation_id, new_id, previous.upload)


def wait(state_machine_arn: str, bucket: str, request_id: str, timeout_s: float, poll_s: float = 0.2) -> BookStatus:
    deadline = time.monotonic() + timeout_s
    while True:
        current = status(state_machine_arn, bucket, request_id)
        if current.status != "running" or time.monotonic() >= deadline:
            return current
        time.sleep(poll_s)


def manifest(bucket: str, result: BookResult) -> dict[str, Any] | None:
    return storage.get_json(bucket, result.manifest_key) if result.manifest_key else None

