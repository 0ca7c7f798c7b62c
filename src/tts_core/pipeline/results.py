"""The end of every execution: one result record in S3, success or failure, listing every attempt."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Literal

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel

from tts_core.errors import DeliveryError, StorageError, VoiceNotFoundError
from tts_core.models import (
    Attempt,
    EngineName,
    EngineOutput,
    SegmentPart,
    SynthesisRequest,
    SynthesisResult,
    UploadSource,
)
from tts_core.pipeline import cache, uploads
from tts_core.pipeline.attempts import read_attempts
from tts_core.pipeline.deliver import deliver
from tts_core.platform import storage
from tts_core.platform.config import ResultSettings
from tts_core.platform.observability import logger, new_metrics
from tts_core.routing import signals as routing
from tts_core.routing.route_store import RouteStore
from tts_core.tenancy import budget

ALL_ENGINES_FAILED = "ALL_ENGINES_FAILED"


class RecordTask(BaseModel):
    """What the state machine sends to the record_result Lambda."""

    outcome: Literal["succeeded", "failed"]
    execution_arn: str
    request_id: str
    correlation_id: str
    request: SynthesisRequest
    submitted_at: str
    engine_result: EngineOutput | None = None
    upload: UploadSource | None = None  # set when the request came from an object under inbox/
    owner: str | None = None  # the API key that started it (its budget's slot is freed here)


class Failure(BaseModel, frozen=True):
    """Why an execution ended without its own record (tts_core.pipeline.ended_executions)."""

    code: str
    message: str


def record_result(task: RecordTask, settings: ResultSettings, failure: Failure | None = None) -> SynthesisResult:
    """The record of one execution: by its own record step, or with `failure` by the ended-execution rule,
    which writes only where no record exists (the step's record wins a race) and leaves the metrics and
    the breaker alone (the execution's end is no engine's failure; AWS/States metrics count it)."""
    # The record step runs after every engine state, so an attempt still open was abandoned: a failing
    # segment stopped the Map while others were in flight.
    attempts = [a if a.outcome != "running" else a.model_copy(update={"outcome": "abandoned"})
                for a in read_attempts(task.execution_arn)]
    total_ms = int((datetime.now(UTC) - datetime.fromisoformat(task.submitted_at)).total_seconds() * 1000)
    failed = [a for a in attempts if a.outcome in ("failed", "timed_out")]
    out, delivery_error = _delivered(task, settings)
    if out is not None:
        result = SynthesisResult(
            request_id=task.request_id, correlation_id=task.correlation_id, status="succeeded",
            engine_used=out.engine, bucket=out.bucket, audio_key=out.audio_key, sample_rate=out.sample_rate,
            duration_s=out.duration_s, attempts=attempts, total_ms=total_ms, request=task.request,
            cache_hit=out.cached, segments=_with_attempts(out.segments, attempts), format=out.format,
            content_type=out.content_type, bitrate_kbps=out.bitrate_kbps, captions=out.captions,
            loudness=out.loudness, marks=out.marks)
    elif delivery_error is not None:
        result = SynthesisResult(
            request_id=task.request_id, correlation_id=task.correlation_id, status="failed",
            engine_used=task.engine_result.engine if task.engine_result else None, bucket=settings.bucket_name,
            error_code=delivery_error.code, error_message=delivery_error.message, attempts=attempts,
            total_ms=total_ms, request=task.request)
    else:
        code, message = (failure.code, failure.message) if failure else _failure(task.request, failed)
        result = SynthesisResult(
            request_id=task.request_id, correlation_id=task.correlation_id, status="failed",
            bucket=settings.bucket_name, error_code=code, error_message=message, attempts=attempts,
            total_ms=total_ms, request=task.request)
    key = storage.result_key(task.request_id)
    try:
        storage.put_json(settings.bucket_name, key, result.model_dump(mode="json"), if_absent=failure is not None)
    except storage.WriteConflictError:  # the record step wrote it meanwhile: it knows better
        return SynthesisResult.model_validate(storage.get_json(settings.bucket_name, key))
    if task.upload is not None:
        uploads.record_outcome(result, task.upload)
    if out is not None:
        _keep_in_cache(task.request, out, settings)
    if failure is None:
        _emit_metrics(result)
        _passive_signal(result, settings, routing.failure_source(task.owner, task.upload is not None))
    if task.upload is None:  # an API job: its key may start another (uploads are the operators', unbudgeted)
        budget.end_job(settings.tenant_usage_table, task.owner, task.request_id)
    logger.info("request finished", extra={"status": result.status, "engine_used": result.engine_used,
                                           "attempts": len(attempts), "total_ms": total_ms,
                                           "error_code": result.error_code, "cache_hit": result.cache_hit,
                                           "segments": len(result.segments or ())})
    return result


def _failure(request: SynthesisRequest, failed: list[Attempt]) -> tuple[str, str]:
    """Why a request failed: its voice deleted while it ran (a caller's doing: every voice was checked
    when it was accepted, so an engine that cannot find one saw it vanish), else an outage of every engine."""
    summary = "; ".join(f"{a.engine}: {a.code}" for a in failed) or "no engine could be run"
    if any(a.code == VoiceNotFoundError.code for a in failed):
        voices = " or ".join(f"'{v}'" for v in request.voice_ids)
        return VoiceNotFoundError.code, f"the voice {voices} was deleted while the job ran ({summary})"
    return ALL_ENGINES_FAILED, f"every engine failed ({summary})"


def _delivered(task: RecordTask, settings: ResultSettings) -> tuple[EngineOutput | None, DeliveryError | None]:
    """The engine's output delivered (mastered, encoded, described), or why it could not be. S3's
    transient errors propagate (the state machine retries the record step); anything else is a bug in
    delivery, recorded as a failure rather than an output that is not what was asked."""
    if task.outcome != "succeeded" or task.engine_result is None:
        return None, None
    try:
        return deliver(task.request_id, task.request, task.engine_result, settings), None
    except StorageError:
        raise
    except Exception as exc:
        logger.exception("delivery failed")
        return None, DeliveryError(f"the audio could not be delivered as asked: {type(exc).__name__}: {exc}")


def _with_attempts(parts: list[SegmentPart] | None, attempts: list[Attempt]) -> list[SegmentPart] | None:
    """Each segment's number of attempts, on any engine (the attempts themselves name their segment)."""
    if parts is None:
        return None
    per_segment = Counter(a.segment for a in attempts if a.segment is not None)
    return [p.model_copy(update={"attempts": per_segment[p.index]}) for p in parts]


def _keep_in_cache(request: SynthesisRequest, output: EngineOutput, settings: ResultSettings) -> None:
    """The cache is an optimisation: failing to store an entry never fails the request."""
    try:
        cache.store(request, output, settings)
    except Exception:
        logger.exception("could not store the audio in the cache")


def _emit_metrics(result: SynthesisResult) -> None:
    metrics = new_metrics()
    metrics.add_dimension(name="engine", value=result.engine_used or "none")
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    # RequestFailed is the outage that AllEnginesFailedAlarm pages on; a failure the caller caused is not one.
    outage = result.status == "failed" and result.error_code == ALL_ENGINES_FAILED
    metrics.add_metric(name="RequestFailed", unit=MetricUnit.Count, value=int(outage))
    refused = result.status == "failed" and not outage
    metrics.add_metric(name="RequestRefused", unit=MetricUnit.Count, value=int(refused))
    metrics.add_metric(name="Attempts", unit=MetricUnit.Count, value=len(result.attempts))
    metrics.add_metric(name="CacheHits", unit=MetricUnit.Count, value=int(result.cache_hit))
    metrics.add_metric(name="Failovers", unit=MetricUnit.Count,
                       value=int(result.engine_used not in (None, EngineName.PRIMARY)))
    metrics.add_metric(name="LatencyMs", unit=MetricUnit.Milliseconds, value=result.total_ms)
    metrics.flush_metrics()


def _passive_signal(result: SynthesisResult, settings: ResultSettings, source: str) -> None:
    """Tell the breaker when a real request failed on the primary. Advisory: it never fails the record."""
    try:
        routing.record_request_failure(result, settings, RouteStore(settings.route_parameter_name), source=source)
    except Exception:
        logger.exception("could not record the primary's failure on the route document")

