"""POST /api/synthesize and GET /api/jobs/{id}, and the wait for a started synthesis.

The route starts the execution and answers 202 with the job; the API handler then waits for that job
(`wait_for_audio`) up to SyncWaitSeconds, outside the resolver, and answers 200, 202 or 502."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from botocore.exceptions import BotoCoreError, ClientError

from tts_core.api import books
from tts_core.api.http import (
    API_KEY,
    base_url,
    budget_limits,
    check_raw_body,
    documented,
    json_answer,
    owner,
    settings,
)
from tts_core.api.schemas import CaptionUrls, JobBody
from tts_core.books import jobs as book_jobs
from tts_core.delivery import formats
from tts_core.errors import InvalidInputError, NotFoundError, TtsError, error_class_with_code
from tts_core.models import SynthesisRequest, check_limits
from tts_core.pipeline import front, jobs
from tts_core.pipeline.jobs import Job
from tts_core.platform import storage
from tts_core.platform.observability import logger
from tts_core.tenancy import budget
from tts_core.voices import directory

SYNTHESIZE_PATH = "/api/synthesize"
MAX_IDEMPOTENCY_KEY_CHARS = 255
router = Router()


def status_url(base: str, request_id: str) -> str:
    return f"{base}/api/jobs/{request_id}"


def job_body(job: Job, base: str) -> JobBody:
    fields: dict[str, Any] = {"request_id": job.request_id, "status_url": status_url(base, job.request_id)}
    result = job.result
    if result is None:  # running, or ended without a record (e.g. aborted by an operator)
        return JobBody(status="accepted" if job.status == "running" else "failed", progress=job.progress, **fields)
    fields |= {"engine_used": result.engine_used, "total_ms": result.total_ms, "attempts": result.attempts,
               "cache_hit": result.cache_hit}
    if result.status == "succeeded" and result.audio_key:
        expires = settings().presign_expiry_seconds
        url = storage.presigned_url(result.bucket, result.audio_key, expires, result.content_type)
        captions = None if result.captions is None else CaptionUrls(**{
            kind: storage.presigned_url(result.bucket, key, expires, storage.CAPTION_KINDS[kind][1])
            for kind, key in result.captions.model_dump().items()})
        return JobBody(status="success", duration_s=result.duration_s, sample_rate=result.sample_rate,
                       audio_key=result.audio_key, audio_url=url, segments=result.segments, format=result.format,
                       content_type=result.content_type, bitrate_kbps=result.bitrate_kbps, captions=captions,
                       loudness=result.loudness, marks=result.marks or None, **fields)
    return JobBody(status="error", code=result.error_code, message=result.error_message, **fields)


@router.post(SYNTHESIZE_PATH, enable_validation=True, security=API_KEY, summary="Synthesize speech",
             description="Waits up to SyncWaitSeconds: 200 with the audio, 202 while it runs on, 502 if every "
                         "engine failed. An identical request is served from the cache unless `cache` is false. "
                         "The audio is delivered as `format`, mastered to `mastering`, with captions if asked. "
                         "With an `Idempotency-Key` header, a retry with the same key returns the first request's "
                         "job.",
             responses=documented({200: ("the audio is ready", JobBody),
                                   202: ("still running: poll status_url", JobBody),
                                   502: ("every engine failed; the attempts say why", JobBody)},
                                  (400, 404, 413, 415, 422, 429)))
def synthesize(request: Annotated[SynthesisRequest, Body(description="what to say and how")]) -> Response[str]:
    event = router.current_event
    check_raw_body(event)  # powertools also accepts form bodies; this API speaks JSON only
    conf = settings()
    caller = owner(event)
    request = check_limits(request, max_text_chars=conf.max_text_chars,
                           voice_exists=lambda voice: directory.lookup(conf.bucket_name, voice, caller))
    request = front.prepare(request, bucket=conf.bucket_name, owner=caller, lexicon_owner=caller)
    formats.for_request(request, conf.audio_sample_rate)  # a format, rate or bitrate it cannot have: 400
    correlation_id = logger.get_correlation_id() or jobs.new_request_id()
    retry_of = idempotency_key(event)
    request_id = jobs.idempotent_request_id(caller, retry_of) if retry_of else jobs.new_request_id()
    if retry_of and (earlier := _existing_job(request_id, caller)) is not None:
        return json_answer(202, job_body(earlier, base_url(event)), exclude_none=True)  # a retry pays nothing
    budget.start_job(conf.tenant_usage_table, caller, request_id, len(request.text), budget_limits())
    try:
        jobs.start(conf.state_machine_arn, request, correlation_id, request_id=request_id, owner=caller)
    except jobs.AlreadyStartedError:  # the same retry, racing: the first one's job is the answer
        budget.end_job(conf.tenant_usage_table, caller, request_id)
        earlier = jobs.Job(request_id=request_id, status="running", execution_status="RUNNING")
        return json_answer(202, job_body(earlier, base_url(event)), exclude_none=True)
    except Exception:  # not started: the slot it took is free again (the error itself answers as usual)
        budget.end_job(conf.tenant_usage_table, caller, request_id)
        raise
    logger.info("synthesis started", extra={"request_id": request_id, "voice": request.voice,
                                            "chars": len(request.text)})
    job = jobs.Job(request_id=request_id, status="running", execution_status="RUNNING")
    return json_answer(202, job_body(job, base_url(event)), exclude_none=True)


def idempotency_key(event: Any) -> str | None:
    """The client's Idempotency-Key header: a retried POST with the same one returns the same job."""
    value = next((v for k, v in (event.headers or {}).items() if k.lower() == "idempotency-key"), None)
    if value is None:
        return None
    if not 1 <= len(value) <= MAX_IDEMPOTENCY_KEY_CHARS or not value.isprintable():
        raise InvalidInputError(f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY_CHARS} printable characters")
    return str(value)


def _existing_job(request_id: str, caller: str | None) -> Job | None:
    try:
        return jobs.status(settings().state_machine_arn, settings().bucket_name, request_id, owner=caller)
    except NotFoundError:
        return None


@router.get("/api/jobs/<request_id>", security=API_KEY, summary="A job's status and result",
            responses=documented({200: ("the job (accepted, success or error); a book job (id book-…): "
                                         "tts_core.api.books.BookJobBody", JobBody)}, (400, 404)))
def job_status(request_id: str) -> Response[str]:
    if book_jobs.is_book_id(request_id):  # a book job: its own machine and answer (tts_core.api.books)
        return books.job_status(request_id)
    conf = settings()
    event = router.current_event
    job = jobs.status(conf.state_machine_arn, conf.bucket_name, request_id, owner=owner(event))  # another key's: 404
    return json_answer(200, job_body(job, base_url(event)), exclude_none=True)


def started_synthesis(event: dict[str, Any], answer: dict[str, Any]) -> JobBody | None:
    """The job a POST /api/synthesize answer started (its 202), or None for any other answer."""
    if event.get("httpMethod") != "POST" or str(event.get("path", "")).rstrip("/") != SYNTHESIZE_PATH:
        return None
    if answer.get("statusCode") != 202:
        return None
    return JobBody.model_validate_json(answer["body"])


def _final_status(job: Job) -> int:
    """200 with the audio; 502 when every engine failed; a failure the caller caused (the voice deleted
    while the job ran) has its own code's status."""
    if job.status == "succeeded":
        return 200
    known = error_class_with_code(job.result.error_code or "") if job.result else None
    return known.http_status if known is not None and known.http_status < 500 else 502


def wait_for_audio(started: JobBody, answer: dict[str, Any]) -> dict[str, Any]:
    """Wait for a started job up to SyncWaitSeconds: 200 with the audio, 502 if every engine failed, the
    202 as it was while it runs on. Once the execution has started, a failure to read its state is no
    reason for a 5xx (a retrying client would pay twice): the client gets the 202 and polls."""
    conf = settings()
    try:
        job = jobs.wait(conf.state_machine_arn, conf.bucket_name, started.request_id, conf.sync_wait_seconds)
    except (TtsError, ClientError, BotoCoreError) as exc:
        logger.warning("could not wait for the job; answering 202", extra={"request_id": started.request_id,
                                                                           "error": repr(exc)})
        return answer
    if job.status == "running":
        return answer
    base = started.status_url.removesuffix(f"/api/jobs/{started.request_id}")
    final = json_answer(_final_status(job), job_body(job, base), exclude_none=True)
    return answer | {"statusCode": final.status_code, "body": final.body}
