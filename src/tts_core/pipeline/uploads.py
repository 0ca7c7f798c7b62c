"""S3 uploads as an entry point: `inbox/<name>.txt` (UTF-8 text, default voice) or
`inbox/<name>.json` (a request body, as for the API) becomes one synthesis; the outcome is
`outputs/<name>.wav` + `outputs/<name>.json`, or `failed/<name>.json` with a stable code.

Exactly once: S3 delivers events at least once, and EventBridge cannot name the execution it
starts. So the rule targets the ingest_upload Lambda, which names the execution after the object
(bucket, key, ETag): Step Functions refuses a second Standard execution of the same name for 90 days,
atomically, so a duplicate event never synthesizes twice, and there is no marker to write or clean.
A bad upload never starts an execution: its failed/ record is written here, the same way each time.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Literal
from urllib.parse import unquote, unquote_plus

from pydantic import AliasChoices, BaseModel, Field

from tts_core.config import IngestSettings
from tts_core.errors import (
    EmptyUploadError,
    InvalidEncodingError,
    InvalidInputError,
    MalformedJsonError,
    NotFoundError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from tts_core.models import MAX_REQUEST_BYTES, Attempt, SynthesisRequest, SynthesisResult, UploadSource, parse_request
from tts_core.pipeline import jobs
from tts_core.platform import storage
from tts_core.platform.observability import logger

MAX_NAME_CHARS = 100
_UNSAFE = re.compile(r"[^\w.-]+")  # \w is Unicode: 你好.txt keeps its name


# ---- the event ----------------------------------------------------------------------------------
class _Bucket(BaseModel):
    name: str


class _Object(BaseModel):
    key: str
    size: int = Field(ge=0)
    etag: str = Field(validation_alias=AliasChoices("etag", "eTag"))


class _Detail(BaseModel):
    bucket: _Bucket
    object: _Object


class ObjectCreatedEvent(BaseModel):
    """EventBridge's "Object Created" event from S3 (only the fields used)."""

    id: str
    detail_type: Literal["Object Created"] = Field(alias="detail-type")
    detail: _Detail


IngestStatus = Literal["started", "duplicate", "rejected", "ignored", "gone"]


class IngestOutcome(BaseModel):
    status: IngestStatus
    key: str
    name: str | None = None
    request_id: str | None = None
    code: str | None = None


# ---- names --------------------------------------------------------------------------------------
def output_name(key: str) -> str:
    """A flat, safe name for outputs/ and failed/: percent-decoded, path segments joined by `_`
    (so `..`, `/abs` or `%2e%2e%2f` can never leave the prefix), other unsafe characters replaced."""
    relative = key.removeprefix(storage.INBOX_PREFIX)
    decoded = unquote(relative)
    suffix = PurePosixPath(decoded).suffix
    stem = decoded[: -len(suffix)] if suffix else decoded
    segments = [s for s in re.split(r"[/\\]+", stem) if s not in ("", ".", "..")]
    name = _UNSAFE.sub("_", "_".join(segments)).strip("._-")[:MAX_NAME_CHARS]
    return name or "upload"


def execution_name(bucket: str, key: str, etag: str) -> str:
    """The same object (same content at the same key) always gets the same execution name."""
    digest = hashlib.sha256(f"{bucket}/{key}/{etag}".encode()).hexdigest()
    return f"upload-{digest[:32]}"


# ---- reading an upload --------------------------------------------------------------------------
def _read(bucket: str, key: str, etag: str) -> tuple[str, bytes]:
    """The object as of this event. Keys in S3 events may arrive URL-encoded: try both spellings."""
    spellings = dict.fromkeys([key, unquote_plus(key)])
    for spelling in spellings:
        try:
            return spelling, storage.get_object(bucket, spelling, etag=etag)
        except NotFoundError:
            continue
    raise NotFoundError(f"s3://{bucket}/{key} (ETag {etag}) is gone or was replaced")


def parse_upload(key: str, data: bytes, *, max_text_chars: int) -> SynthesisRequest:
    """An uploaded file as a request, or an InvalidInputError with a stable code."""
    kind = PurePosixPath(key).suffix.lower()
    if kind not in (".txt", ".json"):
        raise UnsupportedMediaTypeError(f"upload a .txt (text) or .json (request body) file, not '{kind or key}'")
    if not data:
        raise EmptyUploadError("the uploaded file is empty")
    if len(data) > MAX_REQUEST_BYTES:
        raise PayloadTooLargeError(f"the uploaded file has {len(data)} bytes; the limit is {MAX_REQUEST_BYTES}")
    if b"\x00" in data:
        raise InvalidEncodingError("the uploaded file is binary, not UTF-8 text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidEncodingError(f"the uploaded file is not valid UTF-8 (byte {exc.start})") from None
    if kind == ".txt":
        return parse_request({"text": text}, max_text_chars=max_text_chars)
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise MalformedJsonError(f"the uploaded file is not valid JSON: {exc}") from None
    except RecursionError:
        raise MalformedJsonError("the uploaded file nests too deeply to parse") from None
    return parse_request(raw, max_text_chars=max_text_chars)


# ---- the ingest step ----------------------------------------------------------------------------
def ingest(event: ObjectCreatedEvent, settings: IngestSettings) -> IngestOutcome:
    """One upload event -> one execution (or a failed/ record). Transient errors (S3, Step
    Functions) propagate: the Lambda's asynchronous retries and its dead-letter queue take over."""
    bucket, obj = event.detail.bucket.name, event.detail.object
    if not obj.key.startswith(storage.INBOX_PREFIX):
        return IngestOutcome(status="ignored", key=obj.key)
    upload = UploadSource(bucket=bucket, key=obj.key, etag=obj.etag.strip('"'), name=output_name(obj.key))
    request_id = execution_name(bucket, obj.key, upload.etag)
    base = {"key": obj.key, "name": upload.name, "request_id": request_id}
    logged = {"key": obj.key, "output_name": upload.name, "request_id": request_id}  # LogRecord owns "name"
    try:
        if obj.size > MAX_REQUEST_BYTES:  # refused before reading it
            raise PayloadTooLargeError(f"the uploaded file has {obj.size} bytes; the limit is {MAX_REQUEST_BYTES}")
        key, data = _read(bucket, obj.key, upload.etag)
        upload = upload.model_copy(update={"key": key})
        request = parse_upload(key, data, max_text_chars=settings.max_text_chars)
    except NotFoundError:
        logger.info("upload gone or replaced before it was read; a later event covers it", extra=logged)
        return IngestOutcome(status="gone", **base)
    except InvalidInputError as exc:
        record_rejection(upload, exc)
        logger.info("upload rejected", extra=logged | {"code": exc.code, "error": exc.message})
        return IngestOutcome(status="rejected", code=exc.code, **base)
    try:
        jobs.start(settings.state_machine_arn, request, correlation_id=event.id, request_id=request_id,
                   upload=upload)
    except jobs.AlreadyStartedError:
        logger.info("duplicate upload event: the execution already exists", extra=logged)
        return IngestOutcome(status="duplicate", **base)
    logger.info("upload accepted", extra=logged)
    return IngestOutcome(status="started", **base)


# ---- the outcome: outputs/ or failed/ -----------------------------------------------------------
class UploadRecord(BaseModel):
    """outputs/<name>.json or failed/<name>.json."""

    status: Literal["succeeded", "failed"]
    name: str
    source: UploadSource
    request_id: str | None = None
    code: str | None = None
    message: str | None = None
    engine_used: str | None = None
    cache_hit: bool | None = None
    audio_key: str | None = None
    duration_s: float | None = None
    sample_rate: int | None = None
    total_ms: int | None = None
    attempts: list[Attempt] = []
    finished_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())


def _put(record: UploadRecord, key: str) -> None:
    storage.put_json(record.source.bucket, key, record.model_dump(mode="json", exclude_none=True))


def record_rejection(upload: UploadSource, error: InvalidInputError) -> None:
    _put(UploadRecord(status="failed", name=upload.name, source=upload, code=error.code, message=error.message),
         storage.failed_key(upload.name))


def record_outcome(result: SynthesisResult, upload: UploadSource) -> str:
    """Called by the record step for a request that came from an upload; returns the record's key."""
    record = UploadRecord(
        status=result.status, name=upload.name, source=upload, request_id=result.request_id,
        code=result.error_code, message=result.error_message, engine_used=result.engine_used,
        cache_hit=result.cache_hit, duration_s=result.duration_s, sample_rate=result.sample_rate,
        total_ms=result.total_ms, attempts=result.attempts)
    if result.status == "failed" or not result.audio_key:
        _put(record, storage.failed_key(upload.name))
        return storage.failed_key(upload.name)
    wav_key, record_key = storage.output_keys(upload.name)
    storage.copy(result.bucket, result.audio_key, wav_key)  # the WAV first: the record says it is done
    _put(record.model_copy(update={"audio_key": wav_key}), record_key)
    storage.delete(upload.bucket, storage.failed_key(upload.name))  # an earlier failure of this name is over
    return record_key
