"""S3 uploads as an entry point: `inbox/<name>.txt` (UTF-8 text, default voice, delivered in the
UploadTextFormat Parameter's format), `inbox/<name>.md` (a Markdown manuscript) and `inbox/<name>.ssml`
(an SSML document), delivered the same way, or `inbox/<name>.json` (a request body, as for the API: format,
bitrate_kbps, mastering and captions included) becomes one synthesis, through the same text front end as
the API (tts_core.pipeline.front); the outcome is `outputs/<name>.<wav|flac|mp3|opus>` (with `captions`,
`outputs/<name>.srt`, `.vtt` and `.marks.json` beside it) + `outputs/<name>.json`, or `failed/<name>.json`
with a stable code.

Exactly once: S3 delivers events at least once, and EventBridge cannot name the execution it
starts. So the rule targets the ingest_upload Lambda, which names the execution after the object
(bucket, key, version): Step Functions refuses a second Standard execution of the same name for 90
days, atomically, so a duplicate event never synthesizes twice, and there is no marker to write or clean.
A bad upload never starts an execution: its failed/ record is written here, the same way each time.

Newest wins: S3 delivers events in no particular order and runs take different times, so every write
under outputs/ and failed/ is conditional (If-Match on the ETag read, or If-None-Match) and carries the
upload's event sequencer (S3 orders the versions of one key by it): a run never replaces what a newer
version wrote. A run whose version is no longer the key's current one writes only
superseded/<name>/<version>.json, naming the version that replaced it. The bucket is versioned, so a
version replaced before it was read is still read, and still ends in a record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Literal
from urllib.parse import unquote_plus

from pydantic import AliasChoices, BaseModel, Field

from tts_core.catalogue import get_voice
from tts_core.delivery import formats
from tts_core.errors import (
    EmptyUploadError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    StorageError,
    UnsupportedMediaTypeError,
    quoted,
)
from tts_core.models import (
    MAX_REQUEST_BYTES,
    Attempt,
    AudioFormat,
    CaptionKeys,
    LoudnessReport,
    SynthesisRequest,
    SynthesisResult,
    TextType,
    UploadSource,
    parse_json,
    parse_request,
)
from tts_core.pipeline import front, jobs
from tts_core.pipeline.upload_encoding import decode_upload
from tts_core.platform import storage
from tts_core.platform.config import IngestSettings
from tts_core.platform.observability import logger
from tts_core.voices import directory

MAX_NAME_CHARS = 200
# What each kind of file is: a text of one text_type, or (.json) a request body.
_TEXT_KINDS: dict[str, TextType] = {".txt": "plain", ".md": "markdown", ".ssml": "ssml"}
_KINDS = (*_TEXT_KINDS, ".json")
_KEPT = frozenset("._-")
_SEQUENCER = "upload-sequencer"  # S3 object metadata on what a run writes: which version wrote it
_VERSION = "upload-version"
_WRITE_ATTEMPTS = 8


# ---- the event ----------------------------------------------------------------------------------
class _Bucket(BaseModel):
    name: str


class _Object(BaseModel):
    key: str
    size: int = Field(ge=0)
    etag: str = Field(validation_alias=AliasChoices("etag", "eTag"))
    version_id: str | None = Field(default=None, alias="version-id")  # absent unless the bucket is versioned
    sequencer: str | None = None


class _Detail(BaseModel):
    bucket: _Bucket
    object: _Object


class ObjectCreatedEvent(BaseModel):
    """EventBridge's "Object Created" event from S3 (only the fields used)."""

    id: str
    detail_type: Literal["Object Created"] = Field(alias="detail-type")
    detail: _Detail


IngestStatus = Literal["started", "duplicate", "rejected", "ignored", "gone", "superseded"]


class IngestOutcome(BaseModel):
    status: IngestStatus
    key: str
    name: str | None = None
    request_id: str | None = None
    code: str | None = None


# ---- names --------------------------------------------------------------------------------------
def output_name(key: str) -> str:
    """The name of a key's outputs: an injective function of the key, readable where it can be.

    The key after `inbox/`, extension included (`x.txt` and `x.json` differ); letters, digits (any
    script), `.`, `-` and `_` stay, every other character (`/`, `%`, space, `~`, ...) becomes %XX of its
    UTF-8 bytes, and so does a `.` that starts the name or follows another `.`. Percent-encoding decodes
    back to the key, so two keys never share a name; no name holds a `/` or `..`, or starts with `.`.
    A name over MAX_NAME_CHARS keeps its first characters and ends in `~` + the key's SHA-256 (`~`
    appears in no other name)."""
    relative = key.removeprefix(storage.INBOX_PREFIX)
    name = "".join(c if (c.isalnum() or c in _KEPT) and not (c == "." and relative[i - 1: i] in ("", "."))
                   else _escape(c) for i, c in enumerate(relative))
    if len(name) > MAX_NAME_CHARS:
        digest = hashlib.sha256(relative.encode()).hexdigest()
        name = f"{name[: MAX_NAME_CHARS - len(digest) - 1]}~{digest}"
    return name or "%"  # the key `inbox/` itself: `%` is no other key's name (it is always escaped)


def _escape(character: str) -> str:
    return "".join(f"%{byte:02X}" for byte in character.encode())


def execution_name(bucket: str, key: str, version: str) -> str:
    """The same version of an object (its version id; its ETag in an unversioned bucket) always gets
    the same execution name."""
    digest = hashlib.sha256(f"{bucket}/{key}/{version}".encode()).hexdigest()
    return f"upload-{digest[:32]}"


# ---- reading an upload --------------------------------------------------------------------------
def _read(upload: UploadSource) -> tuple[str, bytes]:
    """This event's version of the object. Keys in S3 events may arrive URL-encoded: try both spellings."""
    for spelling in dict.fromkeys([upload.key, unquote_plus(upload.key)]):
        try:
            return spelling, storage.get_object(upload.bucket, spelling, etag=upload.etag,
                                                version_id=upload.version_id)
        except NotFoundError:
            continue
    raise NotFoundError(f"s3://{upload.bucket}/{upload.key} ({upload.version_id or upload.etag}) is gone")


def parse_upload(key: str, data: bytes, *, max_text_chars: int, contract_rate: int,
                 voice_exists: Callable[[str], object] = get_voice,
                 text_format: AudioFormat = "wav") -> SynthesisRequest:
    """An uploaded file as a request, or an InvalidInputError with a stable code. A .txt, .md or .ssml is
    delivered as `text_format`; a .json says what it wants, and what it asks for must be deliverable."""
    file_name = PurePosixPath(key).name
    if file_name.lower() in _KINDS:  # a dot file: Path sees no extension, the user sees one
        raise InvalidInputError(f"the file name '{file_name}' is only an extension: name it, e.g. hello{file_name}")
    kind = PurePosixPath(key).suffix.lower()
    if kind not in _KINDS:
        raise UnsupportedMediaTypeError(
            f"upload a .txt (text), .md (Markdown), .ssml (SSML) or .json (request body) file, "
            f"not '{quoted(kind or file_name)}'")
    if not data:
        raise EmptyUploadError("the uploaded file is empty")
    if len(data) > MAX_REQUEST_BYTES:
        raise PayloadTooLargeError(f"the uploaded file has {len(data)} bytes; the limit is {MAX_REQUEST_BYTES}")
    text = decode_upload(data)
    if kind in _TEXT_KINDS:
        return parse_request({"text": text, "text_type": _TEXT_KINDS[kind], "format": text_format},
                             max_text_chars=max_text_chars,
                             voice_exists=voice_exists)
    request = parse_request(parse_json(text, "the uploaded file"), max_text_chars=max_text_chars,
                            voice_exists=voice_exists)
    formats.for_request(request, contract_rate)
    return request


# ---- the ingest step ----------------------------------------------------------------------------
def ingest(event: ObjectCreatedEvent, settings: IngestSettings) -> IngestOutcome:
    """One upload event -> one execution (or a failed/ record). Transient errors (S3, Step
    Functions) propagate: the Lambda's asynchronous retries and its dead-letter queue take over."""
    bucket, obj = event.detail.bucket.name, event.detail.object
    if not obj.key.startswith(storage.INBOX_PREFIX):
        return IngestOutcome(status="ignored", key=obj.key)
    upload = UploadSource(bucket=bucket, key=obj.key, etag=obj.etag.strip('"'), name=output_name(obj.key),
                          version_id=obj.version_id, sequencer=obj.sequencer)
    request_id = execution_name(bucket, obj.key, upload.version_id or upload.etag)
    base = {"key": obj.key, "name": upload.name, "request_id": request_id}
    logged = {"key": obj.key, "output_name": upload.name, "request_id": request_id}  # LogRecord owns "name"
    try:
        if obj.size > MAX_REQUEST_BYTES:  # refused before reading it
            raise PayloadTooLargeError(f"the uploaded file has {obj.size} bytes; the limit is {MAX_REQUEST_BYTES}")
        key, data = _read(upload)
        upload = upload.model_copy(update={"key": key, "name": output_name(key)})
        base["name"] = logged["output_name"] = upload.name
        if (newer := _newer_version(upload)) is not None:  # replaced before it was read: no synthesis
            record_superseded(upload, newer)
            logger.info("upload superseded before it was read", extra=logged | {"superseded_by": newer})
            return IngestOutcome(status="superseded", **base)
        request = parse_upload(key, data, max_text_chars=settings.max_text_chars,
                               contract_rate=settings.audio_sample_rate, text_format=settings.upload_text_format,
                               voice_exists=lambda voice: directory.lookup(upload.bucket, voice))
        # Operators write the bucket: any voice; the lexicons stored where no API key is in use.
        request = front.prepare(request, bucket=upload.bucket, owner=directory.ANY_OWNER, lexicon_owner=None)
    except NotFoundError:
        newer = _newer_version(upload)
        if newer is not None:
            record_superseded(upload, newer)
            return IngestOutcome(status="superseded", **base)
        logger.info("upload deleted before it was read", extra=logged)
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
    """outputs/<name>.json, failed/<name>.json or superseded/<name>/<version>.json."""

    status: Literal["succeeded", "failed", "superseded"]
    name: str
    source: UploadSource
    request_id: str | None = None
    code: str | None = None
    message: str | None = None
    engine_used: str | None = None
    cache_hit: bool | None = None
    audio_key: str | None = None
    format: AudioFormat | None = None
    content_type: str | None = None
    captions: CaptionKeys | None = None  # under outputs/, beside the audio
    loudness: LoudnessReport | None = None
    duration_s: float | None = None
    sample_rate: int | None = None
    total_ms: int | None = None
    attempts: list[Attempt] = []
    superseded_by: str | None = None  # the version (id, or ETag if unversioned) that replaced this one
    finished_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())


def _json(record: UploadRecord) -> bytes:
    return json.dumps(record.model_dump(mode="json", exclude_none=True), ensure_ascii=False, indent=1).encode()


def _version(upload: UploadSource) -> str:
    return upload.version_id or upload.etag


def _order(sequencer: str | None) -> str:
    # S3: the sequencers of one key's events compare as strings once left-padded to the same length.
    return (sequencer or "").rjust(40, "0")


def _newer_version(upload: UploadSource) -> str | None:
    """The key's current version if it is not this upload's (None: this one is current, or the key is gone)."""
    current = storage.head(upload.bucket, upload.key)
    if current is None:
        return None
    if upload.version_id is not None:
        return current.version_id if current.version_id != upload.version_id else None
    return current.etag if current.etag != upload.etag else None


def _write_if_newest(upload: UploadSource, key: str, body: bytes | None, content_type: str,
                     copy_of: str | None = None) -> str | None:
    """Write `key` (`body`, or a server-side copy of the key `copy_of`) unless a newer version of the
    upload wrote it; returns that version, or None once written. A conditional write on the ETag just
    read: a concurrent writer makes it retry."""
    for _ in range(_WRITE_ATTEMPTS):
        current = storage.head(upload.bucket, key)
        if current is not None and _order(current.metadata.get(_SEQUENCER)) > _order(upload.sequencer):
            return current.metadata.get(_VERSION, "a newer upload")
        mark = {_SEQUENCER: upload.sequencer or "", _VERSION: _version(upload)}
        conditions = {"if_match": current.etag if current else None, "if_absent": current is None}
        try:
            if copy_of is not None:
                storage.copy(upload.bucket, copy_of, key, metadata=mark, content_type=content_type,
                             **conditions)  # the audio stays in S3
            else:
                storage.put_bytes(upload.bucket, key, body or b"", content_type, metadata=mark, **conditions)
            return None
        except storage.WriteConflictError:
            continue
    raise StorageError(f"s3://{upload.bucket}/{key} kept changing under conditional writes")  # retried


def _delete_if_older(upload: UploadSource, key: str) -> None:
    """An older version's outcome under another prefix is over (versioning keeps it as noncurrent)."""
    for _ in range(_WRITE_ATTEMPTS):
        current = storage.head(upload.bucket, key)
        if current is None or _order(current.metadata.get(_SEQUENCER)) >= _order(upload.sequencer):
            return
        try:
            storage.delete(upload.bucket, key, if_match=current.etag)
            return
        except storage.WriteConflictError:
            continue


def record_superseded(upload: UploadSource, newer: str, record: UploadRecord | None = None) -> str:
    """This version lost to a newer one of its key: a record of that, never outputs."""
    key = storage.superseded_key(upload.name, _version(upload))
    base = record or UploadRecord(status="superseded", name=upload.name, source=upload)
    superseded = base.model_copy(update={
        "status": "superseded", "superseded_by": newer, "audio_key": None,
        "message": f"replaced by version {newer} of {upload.key} before this one was done; "
                   "outputs/ are the newer version's"})
    storage.put_bytes(upload.bucket, key, _json(superseded), "application/json")
    return key


def _record_failure(upload: UploadSource, record: UploadRecord) -> str:
    key = storage.failed_key(upload.name)
    if (newer := _newer_version(upload) or _write_if_newest(upload, key, _json(record), "application/json")):
        return record_superseded(upload, newer, record)
    for older in _output_keys(upload.name):  # the newest version failed: an older one's outputs are stale
        _delete_if_older(upload, older)
    return key


def _output_keys(name: str) -> list[str]:
    """Every key an upload's outputs may have: its record, the audio in any format, the captions beside it."""
    audio = [storage.output_keys(name, spec.extension)[0] for spec in formats.FORMATS.values()]
    captions = [key for a in audio[:1] for key in storage.caption_keys(a).values()]  # the same for every format
    return [*audio, *captions, storage.output_keys(name)[1]]


def record_rejection(upload: UploadSource, error: InvalidInputError) -> None:
    _record_failure(upload, UploadRecord(status="failed", name=upload.name, source=upload, code=error.code,
                                         message=error.message))


def record_outcome(result: SynthesisResult, upload: UploadSource) -> str:
    """Called by the record step for a request that came from an upload; returns the record's key."""
    record = UploadRecord(
        status=result.status, name=upload.name, source=upload, request_id=result.request_id,
        code=result.error_code, message=result.error_message, engine_used=result.engine_used,
        cache_hit=result.cache_hit, duration_s=result.duration_s, sample_rate=result.sample_rate,
        total_ms=result.total_ms, attempts=result.attempts, format=result.format, content_type=result.content_type,
        loudness=result.loudness)
    if result.status == "failed" or not result.audio_key:
        return _record_failure(upload, record)
    if (newer := _newer_version(upload)) is not None:
        return record_superseded(upload, newer, record)
    spec = formats.spec(result.format or formats.DEFAULT_FORMAT)
    audio_key, record_key = storage.output_keys(upload.name, spec.extension)
    # The audio and its captions first: the record says they are done. Each write loses to a newer version's.
    # Each is copied inside S3: a long text's audio never passes through this function's memory.
    writes = [(audio_key, result.audio_key, spec.content_type)]
    captions = None
    if result.captions is not None:
        captions = CaptionKeys(**storage.caption_keys(audio_key))
        writes += [(getattr(captions, kind), source, storage.CAPTION_KINDS[kind][1])
                   for kind, source in result.captions.model_dump().items()]
    done = record.model_copy(update={"audio_key": audio_key, "captions": captions})
    for key, source, content_type in writes:
        if (newer := _write_if_newest(upload, key, None, content_type, copy_of=source)):
            return record_superseded(upload, newer, record)
    if (newer := _write_if_newest(upload, record_key, _json(done), "application/json")) is not None:
        return record_superseded(upload, newer, record)
    written = {key for key, _, _ in writes} | {record_key}
    for stale in [storage.failed_key(upload.name), *(k for k in _output_keys(upload.name) if k not in written)]:
        _delete_if_older(upload, stale)  # an earlier failure, or outputs in another format, are over
    return record_key
