"""Book routes: POST /api/books (a book job, or with `dry_run` its plan and estimate), POST
/api/books/uploads (a presigned URL to put a manuscript too big for a body), and for book jobs (ids
`book-…`) GET /api/jobs/{id}, DELETE /api/jobs/{id} (cancel) and POST /api/jobs/{id}/retry."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel, ConfigDict, Field

from tts_core.api.http import API_KEY, base_url, check_raw_body, documented, json_answer, owner, settings
from tts_core.books import jobs as book_jobs
from tts_core.books import uploads as book_uploads
from tts_core.books.jobs import BookProgress, BookStatus
from tts_core.books.manuscript import ManuscriptKind
from tts_core.books.models import BookRequest, Estimate
from tts_core.errors import InvalidInputError
from tts_core.pipeline import jobs
from tts_core.platform import config, storage
from tts_core.platform.config import BookPlanSettings
from tts_core.platform.observability import logger
from tts_core.voices import directory

BOOKS_PATH = "/api/books"
# A book's JSON body: Lambda takes 6 MB per synchronous invocation, the event's envelope included.
MAX_BOOK_BODY_BYTES = 5 * 1024 * 1024
router = Router()


class BookAccepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    request_id: str
    status_url: str = Field(description="GET it to follow the book: progress while it runs, files when done")


class ChapterEstimate(BaseModel):
    index: int
    title: str
    characters: int
    segments: int


class BookEstimate(BaseModel):
    """`dry_run`: the plan, nothing started or billed."""

    title: str
    characters: int
    segments: int
    chapters: list[ChapterEstimate]
    estimate: Estimate


class BookUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ManuscriptKind = Field(description="the manuscript's type: txt, md, json (a POST /api/books body) or epub")
    title: Annotated[str, Field(min_length=1, max_length=500)] = "Untitled"
    options: dict[str, Any] = Field(default_factory=dict, description="the options of POST /api/books (voice, "
                                                                      "format, mastering ...); a .json's own win")


class UploadTarget(BaseModel):
    request_id: str
    status_url: str
    upload_url: str = Field(description="PUT the manuscript's bytes here (presigned, short-lived)")
    key: str
    expires_in_s: int


class ChapterFiles(BaseModel):
    index: int
    title: str
    duration_s: float
    engines: list[str]
    audio_url: str
    srt_url: str
    vtt_url: str


class BookJobBody(BaseModel):
    """A book job: accepted (running, with progress), success, error (chapters missing, or refused) or
    cancelled (with what was done)."""

    status: Literal["accepted", "success", "error", "cancelled"]
    request_id: str
    status_url: str
    progress: BookProgress | None = None
    code: str | None = None
    message: str | None = None
    manifest_url: str | None = Field(default=None, description="presigned URL of manifest.json")
    book_url: str | None = Field(default=None, description="the whole book as one MP3 with ID3 chapters")
    chapters: list[ChapterFiles] | None = None
    chapters_failed: list[int] | None = None


def book_settings() -> BookPlanSettings:
    return config.load(BookPlanSettings)


def _status_url(base: str, request_id: str) -> str:
    return f"{base}/api/jobs/{request_id}"


def book_body(status: BookStatus, base: str) -> BookJobBody:
    fields: dict[str, Any] = {"request_id": status.request_id, "status_url": _status_url(base, status.request_id),
                              "progress": status.progress}
    result = status.result
    if status.status in ("running", "cancelled") or result is None:
        return BookJobBody(status="accepted" if status.status == "running" else
                           "cancelled" if status.status == "cancelled" else "error", **fields)
    expires = settings().presign_expiry_seconds

    def url(key: str) -> str:
        return storage.presigned_url(result.bucket, key, expires)

    manifest = book_jobs.manifest(result.bucket, result)
    if manifest is not None:
        fields |= {"manifest_url": url(result.manifest_key or ""),
                   "book_url": url(manifest["files"]["book"]) if "files" in manifest else None,
                   "chapters": [ChapterFiles(index=c["index"], title=c["title"], duration_s=c["duration_s"],
                                             engines=c["engines"], audio_url=url(c["files"]["audio"]),
                                             srt_url=url(c["files"]["srt"]), vtt_url=url(c["files"]["vtt"]))
                                for c in manifest["chapters"]]}
    if result.status == "succeeded":
        return BookJobBody(status="success", **fields)
    return BookJobBody(status="error", code=result.error_code, message=result.error_message,
                       chapters_failed=result.chapters_failed or None, **fields)


@router.post(BOOKS_PATH, enable_validation=True, security=API_KEY, summary="A book, by chapter",
             description="`text` (cut at its chapter headings) or `chapters`, with the options of "
                         "/api/synthesize. 202 with the job; `dry_run`: 200 with the plan and its estimate, "
                         "nothing started. Over MaxBookChars: 413 BOOK_TOO_LONG, nothing billed.",
             responses=documented({200: ("dry_run: the plan and its estimate", BookEstimate),
                                   202: ("started: poll status_url", BookAccepted)},
                                  (400, 404, 413, 415, 422)))
def create_book(request: Annotated[BookRequest, Body(description="the book and how to voice it")]) -> Response[str]:
    event = router.current_event
    check_raw_body(event, MAX_BOOK_BODY_BYTES)
    conf = book_settings()
    caller = owner(event)
    book = book_jobs.parse_book(request.model_dump(mode="json", exclude_none=True),
                                voice_exists=lambda voice: directory.lookup(conf.bucket_name, voice, caller))
    if book.dry_run:
        return json_answer(200, BookEstimate.model_validate(book_jobs.dry_run(book, conf)))
    request_id = book_jobs.submit(settings().book_state_machine_arn, book, conf,
                                  logger.get_correlation_id() or jobs.new_request_id())
    logger.info("book started", extra={"request_id": request_id, "title": book.title})
    return json_answer(202, BookAccepted(request_id=request_id, status_url=_status_url(base_url(event), request_id)))


@router.post(f"{BOOKS_PATH}/uploads", enable_validation=True, security=API_KEY,
             summary="Where to put a manuscript too big for a body",
             description="A presigned PUT URL under inbox/books/ (uploads up to 5 GB): the book starts when the "
                         "object lands, as request_id.",
             responses=documented({200: ("PUT the manuscript to upload_url", UploadTarget)}, (400, 404, 422)))
def upload_target(upload: Annotated[BookUpload, Body(description="the manuscript's type and the book's options")]
                  ) -> Response[str]:
    event = router.current_event
    check_raw_body(event)
    conf = book_settings()
    caller = owner(event)
    request = book_jobs.parse_book({"title": upload.title, "text": "-"} | upload.options,
                                   voice_exists=lambda voice: directory.lookup(conf.bucket_name, voice, caller))
    request_id, key = book_uploads.issue(conf.bucket_name, upload.kind, request)
    expires = settings().presign_expiry_seconds
    return json_answer(200, UploadTarget(request_id=request_id, key=key, expires_in_s=expires,
                                         status_url=_status_url(base_url(event), request_id),
                                         upload_url=storage.presigned_put_url(conf.bucket_name, key, expires)))


def job_status(request_id: str) -> Response[str]:
    """GET /api/jobs/{id} for a book job (the synthesis route hands `book-…` ids here)."""
    conf = settings()
    status = book_jobs.status(conf.book_state_machine_arn, conf.bucket_name, request_id)
    return json_answer(200, book_body(status, base_url(router.current_event)), exclude_none=True)


def _book_id(request_id: str) -> str:
    if not book_jobs.is_book_id(request_id):
        raise InvalidInputError("only book jobs (ids book-…) can be cancelled or retried")
    return request_id


@router.delete("/api/jobs/<request_id>", security=API_KEY, summary="Cancel a book job",
               description="Stops the execution and its children: no engine is invoked after it. The answer "
                           "lists what was done.",
               responses=documented({200: ("cancelled (or already ended: its status)", BookJobBody)}, (400, 404)))
def cancel_job(request_id: str) -> Response[str]:
    conf = settings()
    status = book_jobs.cancel(conf.book_state_machine_arn, conf.bucket_name, _book_id(request_id))
    return json_answer(200, book_body(status, base_url(router.current_event)), exclude_none=True)


@router.post("/api/jobs/<request_id>/retry", security=API_KEY, summary="Run a book job again",
             description="A new job of the same book: only the segments without audio are voiced.",
             responses=documented({202: ("started: poll status_url", BookAccepted)}, (400, 404)))
def retry_job(request_id: str) -> Response[str]:
    conf = settings()
    new_id = book_jobs.retry(conf.book_state_machine_arn, _book_id(request_id),
                             logger.get_correlation_id() or request_id)
    return json_answer(202, BookAccepted(request_id=new_id, status_url=_status_url(base_url(router.current_event),
                                                                                   new_id)))
