"""The book's schemas: the request that brings it, its chapters, its plan, and what its steps pass on."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tts_core.models import AudioFormat, Boolean, Mastering, SynthesisRequest, UploadSource

# A book always has captions per chapter: `captions` is a synthesis's choice, not a segment's.
_NOT_OPTIONS = {"title", "text", "chapters", "dry_run", "format", "bitrate_kbps", "mastering", "captions"}


class Chapter(BaseModel):
    """`text` is what is spoken (its heading first); `title` is what the manifest and file names show."""

    title: str
    text: str


class ChapterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, Field(max_length=500)] = ""
    text: Annotated[str, Field(min_length=1)]


class BookRequest(SynthesisRequest):
    """POST /api/books: a title, and `text` or `chapters`, with the options of /api/synthesize (its
    voice, speed, emotion, profile ... apply to every segment of the book)."""

    title: Annotated[str, Field(min_length=1, max_length=500)]
    text: Annotated[str, Field(min_length=1)] | None = None  # type: ignore[assignment]
    chapters: Annotated[list[ChapterIn], Field(min_length=1)] | None = None
    dry_run: Boolean = False  # the plan and its estimate, no execution

    def options(self) -> dict[str, Any]:
        """What every segment's engine task carries besides its text: the request minus the book and
        its delivery (each chapter is mastered and encoded once, not each segment)."""
        return self.model_dump(mode="json", exclude=_NOT_OPTIONS)


class Delivery(BaseModel):
    """How the chapters are delivered (tts_core.delivery.formats.resolve of the request's choices)."""

    format: AudioFormat = "wav"
    sample_rate: int
    bitrate_kbps: int | None = None
    mastering: Mastering = "default"


class ManuscriptSource(BaseModel):
    """Where the manuscript is: the API's normalised JSON under books/, or an upload under inbox/."""

    bucket: str
    key: str
    kind: Literal["txt", "md", "json", "epub"]
    version_id: str | None = None
    etag: str | None = None


class BookJob(BaseModel):
    """The execution input's `book`: everything the plan step needs besides the manuscript's bytes."""

    title: str
    manuscript: ManuscriptSource
    options: dict[str, Any]
    delivery: Delivery
    output_name: str  # outputs/<output_name>/


class BookInput(BaseModel):
    """The book state machine's input (tts_core.books.jobs.start builds it)."""

    request_id: str
    correlation_id: str
    submitted_at: str
    book: BookJob
    upload: UploadSource | None = None


class Estimate(BaseModel):
    """What a book should cost before it runs (tts_core.books.estimate)."""

    audio_seconds: float
    primary_invocations: int
    primary_gb_seconds: float
    primary_usd: float
    fallback_characters: int
    fallback_list_price_cny: float


class ChapterPlan(BaseModel):
    index: int
    title: str
    file_stem: str  # 01-<slug>: its files are <file_stem>.<ext>
    characters: int
    first_segment: int  # the book's segments are numbered across chapters, in reading order
    segments: int

    @property
    def segment_range(self) -> range:
        return range(self.first_segment, self.first_segment + self.segments)


class BookPlan(BaseModel):
    """books/<job>/plan.json: the chapters and where their segments' audio goes. The segments' texts are
    in books/<job>/segments.json, read by the pass steps only: nothing here grows with the segments."""

    request_id: str
    storage_id: str  # audio/<storage_id>/segments/: the same manuscript and voice, the same keys (resume)
    title: str
    options: dict[str, Any]
    delivery: Delivery
    output_name: str
    engines: list[str]  # the order in which the passes try them (the route's order)
    characters: int
    segments_total: int
    chapters: list[ChapterPlan]
    estimate: Estimate


class VoicePass(BaseModel):
    """One Distributed Map over segments, all on one engine; `count` 0: no pass, the chapters are encoded."""

    number: int
    engine: str
    count: int
    items_key: str


class PassOutcome(BaseModel):
    """What the plan and pass steps put in the state: a few fields, whatever the book's length."""

    model_config = ConfigDict(validate_by_name=True)

    bucket: str
    storage_id: str
    options: dict[str, Any]
    chapters: int
    segments: int
    voice_pass: VoicePass = Field(serialization_alias="pass", validation_alias="pass")
    encode_key: str | None = None  # the chapters to encode (set when no pass is left)


class SegmentFailure(BaseModel):
    """A segment an engine could not voice after its retries (written by the item's Catch in the ASL)."""

    segment: int
    voice_pass: int
    error: str
    code: str
    message: str


class BookResult(BaseModel):
    """results/<job>.json: how a book job ended. The chapters themselves are in its manifest."""

    request_id: str
    correlation_id: str
    status: Literal["succeeded", "failed"]
    title: str
    bucket: str
    manifest_key: str | None = None
    chapters_total: int = 0
    chapters_done: int = 0
    chapters_failed: list[int] = Field(default_factory=list)
    error_code: str | None = None
    error_message: str | None = None
    segment_failures: list[SegmentFailure] = Field(default_factory=list)  # the first MAX_FAILURES_LISTED
    total_ms: int
