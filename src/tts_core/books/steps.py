"""The book state machine's bookkeeping tasks (one Lambda, book_plan): `plan`, `next_pass`, `finish`;
and the chapter task (encode_chapter). Each reads what it needs from S3 and returns a few fields."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from tts_core.books import chapter_audio, manuscript, record
from tts_core.books import plan as book_plan
from tts_core.books.models import BookInput, PassOutcome
from tts_core.errors import PayloadTooLargeError
from tts_core.platform import storage
from tts_core.platform.config import BookPlanSettings, JoinSettings

MAX_MANUSCRIPT_BYTES = 100 << 20  # an EPUB with its images; the text inside is held to MaxBookChars


class PlanTask(BookInput):
    step: Literal["plan"]
    planned_engine: str = "primary"


class NextPassTask(BaseModel):
    step: Literal["next_pass"]
    request_id: str
    done: int  # the pass that just ended


class FinishTask(BookInput):
    step: Literal["finish"]
    error: dict[str, Any] | None = None  # the plan's error ({Error, Cause}): the job failed before any pass


class EncodeTask(BaseModel):
    request_id: str
    chapter: int


def plan(task: PlanTask, settings: BookPlanSettings) -> PassOutcome:
    """Parse the manuscript, refuse it over MaxBookChars (no engine has run), write the plan, first pass."""
    source = task.book.manuscript
    data = storage.get_object(source.bucket, source.key, etag=source.etag, version_id=source.version_id)
    if len(data) > MAX_MANUSCRIPT_BYTES:
        raise PayloadTooLargeError(f"the manuscript has {len(data)} bytes; the limit is {MAX_MANUSCRIPT_BYTES}")
    chapters = manuscript.parse(source.kind, data, title=task.book.title)
    made, texts = book_plan.make_plan(task.request_id, task.book, chapters, settings, task.planned_engine)
    book_plan.save(settings.bucket_name, made, texts)
    return book_plan.next_pass(settings.bucket_name, made, -1)


def next_pass(task: NextPassTask, settings: BookPlanSettings) -> PassOutcome:
    return book_plan.next_pass(settings.bucket_name, book_plan.load(settings.bucket_name, task.request_id), task.done)


def finish(task: FinishTask, settings: BookPlanSettings) -> dict[str, Any]:
    result = record.finish(settings.bucket_name, task, task.error)
    return {"status": result.status, "error_code": result.error_code, "manifest_key": result.manifest_key}


def run(event: dict[str, Any], settings: BookPlanSettings) -> dict[str, Any]:
    match event.get("step"):
        case "plan":
            return plan(PlanTask.model_validate(event), settings).model_dump(mode="json", by_alias=True)
        case "next_pass":
            return next_pass(NextPassTask.model_validate(event), settings).model_dump(mode="json", by_alias=True)
        case "finish":
            return finish(FinishTask.model_validate(event), settings)
    raise ValueError(f"unknown book step {event.get('step')!r}")


def encode(task: EncodeTask, settings: JoinSettings) -> dict[str, Any]:
    bucket = settings.bucket_name
    made = book_plan.load(bucket, task.request_id)
    chapter = made.chapters[task.chapter]
    engines = book_plan.load_voicing(bucket, task.request_id)[chapter.index]
    if engines is None:
        raise ValueError(f"chapter {chapter.index} has no voicing: it is not to be encoded")
    texts = storage.get_json(bucket, storage.book_key(task.request_id, book_plan.SEGMENTS))["texts"]
    rate = made.options.get("sample_rate") or settings.audio_sample_rate
    summary = chapter_audio.encode_chapter(bucket, made, chapter, engines, texts[chapter.first_segment:
                                           chapter.first_segment + chapter.segments], rate, settings.segment_pause_ms)
    storage.put_json(bucket, record.chapter_summary_key(task.request_id, chapter.index), summary)
    return {"chapter": chapter.index, "duration_s": summary["duration_s"]}
