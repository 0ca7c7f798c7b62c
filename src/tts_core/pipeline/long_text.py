"""A long text through the primary: the plan (its segments, each one primary invocation), the join
(their WAVs in order, one output). A running job's progress is read in `tts_core.pipeline.jobs`.

The state machine's `PlanSegments` task cuts the text with the shared segmentation; a text that fits
one invocation goes to the single `Primary` task as before. Otherwise the `PrimarySegments` Map runs
every segment (each writes `audio/<id>/segments/<index>.<engine>.wav`) and `JoinSegments` writes
`audio/<id>/<engine>.wav` — `primary`, or `mixed` when the request allowed the fallback to speak
some segments."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from itertools import accumulate
from typing import Any

from pydantic import BaseModel, Field

from tts_core.audio import AudioContract, join_pcm, read_pcm16
from tts_core.errors import EngineError, NotFoundError
from tts_core.models import EngineOutput, Mark, Segment, SegmentPart, SynthesisRequest, Utterance
from tts_core.platform import storage
from tts_core.platform.config import JoinSettings, PlanSettings
from tts_core.segmentation import Span, segment_spans

MIXED_ENGINES = "mixed"  # engine_used of an output whose segments came from more than one engine
_READ_THREADS = 16  # S3 GETs of the segments in parallel: the join is bound by their latency


class PlanTask(BaseModel):
    request_id: str
    correlation_id: str
    request: SynthesisRequest


class SegmentPlan(BaseModel):
    """The Map's items and the options they share (the request without its text, carried once)."""

    count: int
    segments: list[Segment]
    options: dict[str, Any]


class JoinTask(BaseModel):
    request_id: str
    correlation_id: str
    segments: list[EngineOutput] = Field(min_length=1)


def utterances_of(request: SynthesisRequest) -> list[Utterance]:
    """What the text front end made of the request; a request built without it (a probe, a bootstrap
    recording) is its text as one utterance."""
    return request.utterances or [Utterance(text=request.text, source_start=0, source_end=len(request.text))]


def segments_of(utterances: list[Utterance], max_chars: int) -> list[Segment]:
    """Each utterance cut by the shared segmentation: its pieces keep its prosody, voice, language and phonemes; the
    first carries its marks, the last the pause after it (the others: the join's default pause)."""
    segments: list[Segment] = []
    for number, (utterance, spans) in enumerate(zip(utterances, _spans(utterances, max_chars), strict=True)):
        for k, span in enumerate(spans):
            phonemes = [p.model_copy(update={"start": p.start - span.start, "end": p.end - span.start})
                        for p in utterance.phonemes if span.start <= p.start and p.end <= span.end]
            segments.append(Segment(
                index=len(segments), text=utterance.text[span.start:span.end], prosody=utterance.prosody,
                voice=utterance.voice, language=utterance.language, phonemes=phonemes, utterance=number,
                marks=utterance.marks if k == 0 else [],
                pause_after_ms=utterance.pause_after_ms if k == len(spans) - 1 else None))
    return segments


def _spans(utterances: list[Utterance], max_chars: int) -> list[list[Span]]:
    return [segment_spans(u.text, max_chars) for u in utterances]


def spoken_text(request: SynthesisRequest, max_chars: int) -> tuple[str, list[Span]]:
    """The words the engines say for `request` (its utterances, a line apart) and where each of the plan's
    segments sits in them: what captions and sentence marks are timed against (never the SSML or Markdown
    source, whose markup is not heard)."""
    utterances = utterances_of(request)
    text = "\n".join(u.text for u in utterances)
    spans, at = [], 0
    for utterance, pieces in zip(utterances, _spans(utterances, max_chars), strict=True):
        spans += [Span(at + p.start, at + p.end) for p in pieces]
        at += len(utterance.text) + 1
    return text, spans


def plan(task: PlanTask, settings: PlanSettings) -> SegmentPlan:
    segments = segments_of(utterances_of(task.request), settings.segment_max_chars)
    if len(segments) > 1:  # only a segmented job has progress to report
        storage.put_json(settings.bucket_name, storage.plan_key(task.request_id), {"count": len(segments)})
    return SegmentPlan(count=len(segments), segments=segments,
                       options=task.request.model_dump(mode="json", exclude={"text", "utterances"}))


def starts_in_join(sizes: list[int], pauses_s: list[float], rate: int) -> list[float]:
    """Where each part starts in join_pcm's output (part, pause, part ...), in seconds."""
    frames = accumulate((size + round(rate * pause) for size, pause in zip(sizes[:-1], pauses_s, strict=False)),
                        initial=0)
    return [f / rate for f in frames]


def marks_in_join(marks: list[list[Mark]], starts_s: list[float]) -> list[Mark]:
    """The parts' marks in the joined audio."""
    return [Mark(name=m.name, time_s=round(start + m.time_s, 3))
            for part_marks, start in zip(marks, starts_s, strict=True) for m in part_marks]


def join(task: JoinTask, settings: JoinSettings) -> EngineOutput:
    started = time.monotonic()
    parts = sorted(task.segments, key=lambda p: p.segment if p.segment is not None else -1)
    indices = [p.segment for p in parts]
    if indices != list(range(len(parts))):
        raise EngineError(f"the segments to join are not 0..{len(parts) - 1}: {indices}")
    rates = {p.sample_rate for p in parts}
    if len(rates) != 1:
        raise EngineError(f"the segments have different sample rates: {sorted(rates)}")
    (rate,) = rates

    def read(part: EngineOutput) -> Any:
        samples, file_rate = read_pcm16(storage.get_bytes(part.bucket, part.audio_key))
        if file_rate != rate or samples.ndim != 1:
            raise EngineError(f"segment {part.segment} is not {rate} Hz mono: {part.audio_key}")
        return samples

    pauses = [(settings.segment_pause_ms if p.pause_after_ms is None else p.pause_after_ms) / 1000 for p in parts]
    try:
        with ThreadPoolExecutor(min(_READ_THREADS, len(parts))) as pool:
            samples = list(pool.map(read, parts))
    except NotFoundError as exc:  # written by the engine, gone now: retrying will not bring it back
        raise EngineError(str(exc)) from exc
    pcm = join_pcm(samples, rate, pauses)
    # Where each segment starts in the joined audio (captions), and its marks there.
    starts = starts_in_join([s.size for s in samples], pauses, rate)
    marks = marks_in_join([p.marks for p in parts], starts)

    engines = {p.engine for p in parts}
    engine = engines.pop() if len(engines) == 1 else MIXED_ENGINES
    key = storage.audio_key(task.request_id, engine)
    storage.put_bytes(settings.bucket_name, key, AudioContract(rate).encode(pcm, rate), "audio/wav")
    return EngineOutput(
        engine=engine, bucket=settings.bucket_name, audio_key=key, sample_rate=rate,
        duration_s=round(pcm.size / rate, 3), engine_ms=int((time.monotonic() - started) * 1000),
        segments=[SegmentPart(index=i, engine=p.engine, duration_s=p.duration_s, engine_ms=p.engine_ms,
                              offset_s=round(start, 3))
                  for i, (p, start) in enumerate(zip(parts, starts, strict=True))], marks=marks)

