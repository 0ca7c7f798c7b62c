"""Uploads that are books: which they are, and how one becomes a book job.

The rule (by key alone, so it is decided before anything is read): an object under `inbox/books/` is a
book (`.txt`, `.md`, `.json`, `.epub`), and so is any `.epub` under `inbox/`; every other upload is a
synthesis as before (an `.md` there is read as Markdown; a `.txt` or `.json` over 256 KB outside
`inbox/books/` is still refused with PAYLOAD_TOO_LARGE, so a caller who meant a book is told where to
put it). A book's `.json` is the body of POST /api/books (title, text or chapters, options); the other
kinds take the file's name as title and the default options. Outputs go to `outputs/<name>/`, `<name>`
the key after inbox/ (or inbox/books/) as tts_core.pipeline.uploads.output_name makes it; a refused
book to `failed/<name>.json`, as any upload."""

from __future__ import annotations

import json
from pathlib import PurePosixPath

from tts_core.books import jobs
from tts_core.books.manuscript import ManuscriptKind, kind_of
from tts_core.books.models import BookJob, BookRequest, ManuscriptSource
from tts_core.errors import (
    InvalidInputError,
    MalformedJsonError,
    NotFoundError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    quoted,
)
from tts_core.models import UploadSource
from tts_core.pipeline import uploads
from tts_core.pipeline.jobs import AlreadyStartedError, new_request_id
from tts_core.pipeline.uploads import IngestOutcome, ObjectCreatedEvent
from tts_core.platform import storage
from tts_core.platform.config import BookIngestSettings
from tts_core.platform.observability import logger
from tts_core.voices import directory

BOOKS_INBOX = f"{storage.INBOX_PREFIX}books/"
_ALWAYS_BOOKS = ("epub",)  # an .md elsewhere under inbox/ is a Markdown synthesis (docs/text.md)
ISSUED_REQUEST = "request.json"  # the options an upload URL was issued with (POST /api/books/uploads)
MAX_JSON_BYTES = 10 << 20  # a book's JSON body read by the ingest step (the text is held to MaxBookChars)


def is_book(key: str) -> bool:
    return key.startswith(BOOKS_INBOX) or (key.startswith(storage.INBOX_PREFIX) and kind_of(key) in _ALWAYS_BOOKS)


def book_name(key: str) -> str:
    return uploads.output_name(storage.INBOX_PREFIX + key.removeprefix(BOOKS_INBOX).removeprefix(storage.INBOX_PREFIX))


def issue(bucket: str, kind: ManuscriptKind, request: BookRequest) -> tuple[str, str]:
    """A job id and the key to upload its manuscript to (POST /api/books/uploads): the request's options
    wait at books/<id>/request.json, and the upload under inbox/books/<id>.<kind> starts the job as <id>."""
    request_id = jobs.BOOK_ID_PREFIX + new_request_id()
    storage.put_json(bucket, storage.book_key(request_id, ISSUED_REQUEST), request.model_dump(mode="json"))
    return request_id, f"{BOOKS_INBOX}{request_id}.{kind}"


def _issued(bucket: str, key: str) -> tuple[str, BookRequest] | None:
    """The id and request an upload URL was issued with, if this key is one of those."""
    stem = PurePosixPath(key).stem
    if not (key.startswith(BOOKS_INBOX) and jobs.is_book_id(stem)):
        return None
    try:
        return stem, BookRequest.model_validate(storage.get_json(bucket, storage.book_key(stem, ISSUED_REQUEST)))
    except NotFoundError:
        return None


def ingest(event: ObjectCreatedEvent, settings: BookIngestSettings) -> IngestOutcome:
    bucket, obj = event.detail.bucket.name, event.detail.object
    upload = UploadSource(bucket=bucket, key=obj.key, etag=obj.etag.strip('"'), name=book_name(obj.key),
                          version_id=obj.version_id, sequencer=obj.sequencer)
    issued = _issued(bucket, obj.key)
    request_id = issued[0] if issued else jobs.BOOK_ID_PREFIX + uploads.execution_name(
        bucket, obj.key, upload.version_id or upload.etag)
    base = {"key": obj.key, "name": upload.name, "request_id": request_id}
    try:
        kind = kind_of(obj.key)
        if kind is None:
            raise UnsupportedMediaTypeError(
                f"a book is a .txt, .md, .json or .epub file, not '{quoted(PurePosixPath(obj.key).name)}'")
        request = issued[1] if issued else BookRequest(title=PurePosixPath(obj.key).stem or upload.name, text="-")
        if kind == "json":
            own = _json_request(upload)
            request = own if issued is None else BookRequest.model_validate(
                request.model_dump(exclude_unset=True) | own.model_dump(exclude_unset=True))
        job = BookJob(title=request.title, options=request.options(), output_name=upload.name,
                      delivery=jobs.delivery_of(request, settings.audio_sample_rate),
                      manuscript=ManuscriptSource(bucket=bucket, key=obj.key, kind=kind, etag=upload.etag,
                                                  version_id=upload.version_id))
    except NotFoundError:
        return IngestOutcome(status="gone", **base)
    except InvalidInputError as exc:
        uploads.record_rejection(upload, exc)
        logger.info("book upload rejected", extra={"key": obj.key, "code": exc.code, "error": exc.message})
        return IngestOutcome(status="rejected", code=exc.code, **base)
    try:
        jobs.start(settings.book_state_machine_arn, job, event.id, request_id, upload)
    except AlreadyStartedError:
        return IngestOutcome(status="duplicate", **base)
    logger.info("book upload accepted", extra={"key": obj.key, "request_id": request_id})
    return IngestOutcome(status="started", **base)


def _json_request(upload: UploadSource) -> BookRequest:
    data = storage.get_object(upload.bucket, upload.key, etag=upload.etag, version_id=upload.version_id)
    if len(data) > MAX_JSON_BYTES:
        raise PayloadTooLargeError(f"the book's JSON has {len(data)} bytes; the limit is {MAX_JSON_BYTES}")
    try:
        raw = json.loads(data)
    except ValueError as exc:
        raise MalformedJsonError(f"the book's JSON does not parse: {exc}") from None
    return jobs.parse_book(raw, voice_exists=lambda voice: directory.lookup(upload.bucket, voice))
