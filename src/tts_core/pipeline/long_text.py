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
from tts_core.models import EngineOutput, Segment, SegmentPart, SynthesisRequest
from tts_core.platform import storage
from tts_core.platform.config import JoinSettings, PlanSettings
from tts_core.segmentation import segment

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


def plan(task: PlanTask, settings: PlanSettings) -> SegmentPlan:
    texts = segment(task.request.text, settings.segment_max_chars)
    if len(texts) > 1:  # only a segmented job has progress to report
        storage.put_json(settings.bucket_name, storage.plan_key(task.request_id), {"count": len(texts)})
    return SegmentPlan(count=len(texts), segments=[Segment(index=i, text=t) for i, t in enumerate(texts)],
                       options=task.request.model_dump(mode="json", exclude={"text"}))


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

    try:
        with ThreadPoolExecutor(min(_READ_THREADS, len(parts))) as pool:
            pieces = list(pool.map(read, parts))
    except NotFoundError as exc:  # written by the engine, gone now: retrying will not bring it back
        raise EngineError(str(exc)) from exc
    pause_s = settings.segment_pause_ms / 1000
    pcm = join_pcm(pieces, rate, pause_s)
    # Where each segment starts in the joined audio, from its samples and the pauses before it (captions).
    pause = round(rate * pause_s)
    starts = [frames / rate for frames in accumulate((p.size + pause for p in pieces[:-1]), initial=0)]

    engines = {p.engine for p in parts}
    engine = engines.pop() if len(engines) == 1 else MIXED_ENGINES
    key = storage.audio_key(task.request_id, engine)
    storage.put_bytes(settings.bucket_name, key, AudioContract(rate).encode(pcm, rate), "audio/wav")
    return EngineOutput(
        engine=engine, bucket=settings.bucket_name, audio_key=key, sample_rate=rate,
        duration_s=round(pcm.size / rate, 3), engine_ms=int((time.monotonic() - started) * 1000),
        segments=[SegmentPart(index=i, engine=p.engine, duration_s=p.duration_s, engine_ms=p.engine_ms,
                              offset_s=round(start, 3))
                  for i, (p, start) in enumerate(zip(parts, starts, strict=True))])

