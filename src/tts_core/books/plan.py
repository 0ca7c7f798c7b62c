"""A book's plan and its passes.

The plan cuts every chapter into segments (the shared segmentation, `BookSegmentMaxChars`) numbered
across the book, and writes books/<job>/plan.json (chapters) and segments.json (texts). A pass is one
Distributed Map over the segments still to voice, all on one engine: its items are written to
books/<job>/passes/<n>.json, which the Map's ItemReader reads, so the execution's state and history never
hold a segment. Passes follow the route's engine order (primary, fallback, then the last resort if
enabled): after each, the chapters not yet complete on one engine go on to the next (one voice per
chapter: all of a chapter's segments again, unless the request allows mixed engines, then only those
without audio). Segment audio is keyed by the book's storage id, a digest of its segments and voice: the
same manuscript run again (a retry, or the same upload) finds what is there and voices only the rest."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from tts_core.books import manuscript
from tts_core.books.estimate import estimate
from tts_core.books.models import BookJob, BookPlan, Chapter, ChapterPlan, PassOutcome, VoicePass
from tts_core.errors import BookTooLongError
from tts_core.models import has_something_to_speak
from tts_core.platform import storage
from tts_core.platform.config import BookPlanSettings
from tts_core.segmentation import segment

PLAN = "plan.json"
SEGMENTS = "segments.json"
VOICING = "voicing.json"  # chapter index -> the engine of each of its segments (null: no engine voiced it)
ENCODE = "encode.json"  # the Map's items for the chapters to encode
_SLUG_MAX_CHARS = 60


def pass_key(number: int) -> str:
    return f"passes/{number}.json"


def engine_order(planned_engine: str, last_resort: bool) -> list[str]:
    """The route orders the engines, it never removes one (as for a synthesis)."""
    order = ["fallback", "primary"] if planned_engine == "fallback" else ["primary", "fallback"]
    return order + (["offline"] if last_resort else [])


def check_size(chapters: Sequence[Chapter], max_book_chars: int) -> None:
    total = manuscript.characters(chapters)
    if total > max_book_chars:
        raise BookTooLongError(f"the book has {total} characters; the limit is {max_book_chars}")


def slug(title: str) -> str:
    """A file-name part from a title: letters and digits of any script, lower case, '-' between words."""
    words = re.findall(r"\w+", unicodedata.normalize("NFKC", title).lower())
    return "-".join(words)[:_SLUG_MAX_CHARS].strip("-_") or "chapter"


def make_plan(request_id: str, job: BookJob, chapters: Sequence[Chapter], settings: BookPlanSettings,
              planned_engine: str) -> tuple[BookPlan, list[str]]:
    check_size(chapters, settings.max_book_chars)
    width = max(2, len(str(len(chapters))))
    texts: list[str] = []
    planned = []
    for index, chapter in enumerate(chapters):
        pieces = [p for p in segment(chapter.text, settings.book_segment_max_chars) if has_something_to_speak(p)]
        stem = f"{index + 1:0{width}d}-{slug(chapter.title)}"
        planned.append(ChapterPlan(index=index, title=chapter.title, file_stem=stem, characters=len(chapter.text),
                                   first_segment=len(texts), segments=len(pieces)))
        texts += pieces
    plan = BookPlan(request_id=request_id, storage_id=storage_id(texts, job.options, settings.audio_sample_rate),
                    title=job.title, options=job.options, delivery=job.delivery, output_name=job.output_name,
                    engines=engine_order(planned_engine, settings.last_resort_enabled),
                    characters=manuscript.characters(chapters), segments_total=len(texts), chapters=planned,
                    estimate=estimate(texts, settings.primary_memory_size))
    return plan, texts


def storage_id(texts: Sequence[str], options: dict[str, Any], contract_rate: int) -> str:
    """The same segments in the same voice (and rate) give the same id; `cache` and mixing change no audio."""
    voice = {k: v for k, v in options.items() if k not in ("cache", "allow_mixed_engines")} | {"rate": contract_rate}
    digest = hashlib.sha256(json.dumps([voice, *texts], ensure_ascii=False, sort_keys=True).encode()).hexdigest()
    return f"book-{digest[:32]}"


def save(bucket: str, plan: BookPlan, texts: list[str]) -> None:
    storage.put_json(bucket, storage.book_key(plan.request_id, SEGMENTS), {"texts": texts})
    storage.put_json(bucket, storage.book_key(plan.request_id, PLAN), plan.model_dump(mode="json"))


def load(bucket: str, request_id: str) -> BookPlan:
    return BookPlan.model_validate(storage.get_json(bucket, storage.book_key(request_id, PLAN)))


def present_audio(bucket: str, storage_id_: str) -> dict[int, set[str]]:
    """Segment index -> the engines whose audio of it is in S3 (one LIST per 1,000 segments)."""
    present: dict[int, set[str]] = {}
    for key in storage.list_keys(bucket, storage.segments_prefix(storage_id_)):
        found = storage.segment_of(key)
        if found is not None:
            present.setdefault(found[0], set()).add(found[1])
    return present


def voicing(chapter: ChapterPlan, present: dict[int, set[str]], engines: Sequence[str],
            mixed: bool) -> list[str] | None:
    """The engine of each of the chapter's segments, or None while the chapter is not complete: on one
    engine (the first in the order that has every segment), or, when mixing is allowed, on any."""
    if not mixed:
        whole = next((e for e in engines if all(e in present.get(i, ()) for i in chapter.segment_range)), None)
        return None if whole is None else [whole] * chapter.segments
    chosen = [next((e for e in engines if e in present.get(i, ())), None) for i in chapter.segment_range]
    return None if None in chosen else chosen  # type: ignore[return-value]


def next_pass(bucket: str, plan: BookPlan, done: int) -> PassOutcome:
    """After pass `done` (-1: none yet), the next pass with segments to voice, or, when every chapter is
    complete or every engine was tried, the chapters to encode (and their voicing)."""
    present = present_audio(bucket, plan.storage_id)
    mixed = bool(plan.options.get("allow_mixed_engines"))
    voiced = {c.index: voicing(c, present, plan.engines, mixed) for c in plan.chapters}
    undone = [c for c in plan.chapters if voiced[c.index] is None]
    texts: list[str] | None = None
    for number in range(done + 1, len(plan.engines) if undone else 0):
        engine = plan.engines[number]
        wanted = [i for c in undone for i in c.segment_range
                  if engine not in present.get(i, ()) and not (mixed and present.get(i))]
        if wanted:
            if texts is None:
                texts = storage.get_json(bucket, storage.book_key(plan.request_id, SEGMENTS))["texts"]
            key = storage.book_key(plan.request_id, pass_key(number))
            storage.put_bytes(bucket, key, json.dumps([{"index": i, "text": texts[i]} for i in wanted],
                                                      ensure_ascii=False).encode(), "application/json")
            return _outcome(bucket, plan, VoicePass(number=number, engine=engine, count=len(wanted), items_key=key))
    storage.put_json(bucket, storage.book_key(plan.request_id, VOICING), {str(k): v for k, v in voiced.items()})
    encode_key = storage.book_key(plan.request_id, ENCODE)
    storage.put_bytes(bucket, encode_key, json.dumps([{"index": i} for i, v in voiced.items() if v]).encode(),
                      "application/json")
    last = VoicePass(number=len(plan.engines), engine="none", count=0, items_key="")
    return _outcome(bucket, plan, last, encode_key)


def _outcome(bucket: str, plan: BookPlan, voice_pass: VoicePass, encode_key: str | None = None) -> PassOutcome:
    return PassOutcome(bucket=bucket, storage_id=plan.storage_id, options=plan.options, chapters=len(plan.chapters),
                       segments=plan.segments_total, voice_pass=voice_pass, encode_key=encode_key)


def load_voicing(bucket: str, request_id: str) -> dict[int, list[str] | None]:
    document = storage.get_json(bucket, storage.book_key(request_id, VOICING))
    return {int(k): v for k, v in document.items()}
