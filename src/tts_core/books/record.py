"""The end of a book job: manifest.json beside the chapter files, and the job's record in results/.

manifest.json: `title`; `chapters` [{index, title, characters, segments, duration_s, start_s, files
{audio, srt, vtt}, engines}] (`start_s`: the chapter's offset in the whole book, its chapters end to end);
`totals`; `estimate` (made before the run) beside `spent` (the segment audio that exists, per engine)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from tts_core.books import plan as book_plan
from tts_core.books import whole_book
from tts_core.books.models import BookInput, BookPlan, BookResult, SegmentFailure
from tts_core.errors import NotFoundError, code_for_error_name
from tts_core.platform import storage

MANIFEST = "manifest.json"
MAX_FAILURES_LISTED = 100
_READ_THREADS = 16


def chapter_summary_key(request_id: str, index: int) -> str:
    return storage.book_key(request_id, f"chapters/{index:05d}.json")


def errors_prefix(request_id: str) -> str:
    """Where the item processor's Catch writes a failed segment (`<pass>-<index>.json`, in the ASL)."""
    return storage.book_key(request_id, "errors/")


def finish(bucket: str, job: BookInput, error: dict[str, Any] | None) -> BookResult:
    """The record of a job that ran its passes (`error` None), or that failed before (the plan's error)."""
    base = {"request_id": job.request_id, "correlation_id": job.correlation_id, "title": job.book.title,
            "bucket": bucket, "total_ms": _elapsed_ms(job.submitted_at)}
    if error is not None:
        name, message = _error_parts(error)
        result = BookResult(status="failed", error_code=code_for_error_name(name), error_message=message, **base)
    else:
        plan = book_plan.load(bucket, job.request_id)
        summaries = _summaries(bucket, plan)
        failed = [c.index for c in plan.chapters if c.index not in summaries]
        manifest_key = storage.book_output_key(plan.output_name, MANIFEST)
        storage.put_json(bucket, manifest_key, manifest(bucket, plan, summaries))
        result = BookResult(status="failed" if failed else "succeeded", manifest_key=manifest_key,
                            chapters_total=len(plan.chapters), chapters_done=len(summaries), chapters_failed=failed,
                            segment_failures=segment_failures(bucket, job.request_id), **base)
        if failed:
            result.error_code = "ALL_ENGINES_FAILED"
            result.error_message = f"{len(failed)} of {len(plan.chapters)} chapters have no audio: {failed[:20]}"
    storage.put_json(bucket, storage.result_key(job.request_id), result.model_dump(mode="json"))
    if job.upload is not None and result.status == "failed":
        storage.put_json(bucket, storage.failed_key(job.upload.name), result.model_dump(mode="json"))
    return result


def manifest(bucket: str, plan: BookPlan, summaries: dict[int, dict[str, Any]]) -> dict[str, Any]:
    chapters, start = [], 0.0
    for index in sorted(summaries):
        summary = summaries[index]
        chapters.append({**summary, "start_s": round(start, 3)})
        start += float(summary["duration_s"])
    document: dict[str, Any] = {"title": plan.title, "chapters": chapters,
            "totals": {"chapters": len(chapters), "chapters_planned": len(plan.chapters),
                       "characters": sum(int(c["characters"]) for c in chapters),
                       "segments": sum(int(c["segments"]) for c in chapters), "duration_s": round(start, 3)},
            "estimate": plan.estimate.model_dump(mode="json"), "spent": spent(bucket, plan)}
    book = whole_book.write(bucket, plan, chapters)
    if book is not None:  # the offsets in the book file as written: the encoder's delay and padding counted
        key, starts = book
        document["files"] = {"book": key}
        for chapter, start_s in zip(chapters, starts, strict=True):
            chapter["start_s"] = start_s
    return document


def spent(bucket: str, plan: BookPlan) -> dict[str, Any]:
    """The segment audio in S3 per engine: what was synthesized, a chapter voiced twice included."""
    texts = storage.get_json(bucket, storage.book_key(plan.request_id, book_plan.SEGMENTS))["texts"]
    per_engine: dict[str, dict[str, int]] = {}
    for index, engines in book_plan.present_audio(bucket, plan.storage_id).items():
        for engine in engines:
            entry = per_engine.setdefault(engine, {"segments": 0, "characters": 0})
            entry["segments"] += 1
            entry["characters"] += len(texts[index]) if index < len(texts) else 0
    return {"by_engine": per_engine}


def _summaries(bucket: str, plan: BookPlan) -> dict[int, dict[str, Any]]:
    def read(index: int) -> dict[str, Any] | None:
        try:
            return storage.get_json(bucket, chapter_summary_key(plan.request_id, index))
        except NotFoundError:
            return None

    with ThreadPoolExecutor(_READ_THREADS) as pool:
        found = dict(zip(range(len(plan.chapters)), pool.map(read, range(len(plan.chapters))), strict=True))
    return {i: s for i, s in found.items() if s is not None}


def segment_failures(bucket: str, request_id: str) -> list[SegmentFailure]:
    keys = sorted(storage.list_keys(bucket, errors_prefix(request_id)))[:MAX_FAILURES_LISTED]
    failures = []
    for key in keys:
        voice_pass, _, index = key.rsplit("/", 1)[-1].removesuffix(".json").partition("-")
        name, message = _error_parts(storage.get_json(bucket, key))
        failures.append(SegmentFailure(segment=int(index), voice_pass=int(voice_pass), error=name,
                                       code=code_for_error_name(name), message=message))
    return failures


def _error_parts(error: dict[str, Any]) -> tuple[str, str]:
    """Step Functions' {Error, Cause}: the Cause of a Lambda error is its JSON (errorType, errorMessage)."""
    name, cause = str(error.get("Error", "States.TaskFailed")), str(error.get("Cause", ""))
    try:
        detail = json.loads(cause)
        return name, str(detail.get("errorMessage", cause)) if isinstance(detail, dict) else cause
    except ValueError:
        return name, cause


def _elapsed_ms(submitted_at: str) -> int:
    try:
        return max(0, int((datetime.now(UTC) - datetime.fromisoformat(submitted_at)).total_seconds() * 1000))
    except ValueError:
        return 0
