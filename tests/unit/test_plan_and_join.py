"""The plan and the join of a long text, and a running job's progress, against S3 on moto."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from tts_core.audio import AudioContract, read_pcm16
from tts_core.engines.espeak import EspeakEngine
from tts_core.errors import EngineError
from tts_core.models import EngineOutput, EngineTask, Mark, SynthesisRequest, Utterance
from tts_core.pipeline import jobs, long_text
from tts_core.pipeline.engine_task import run_engine_task
from tts_core.platform import storage
from tts_core.platform.config import EngineSettings, JoinSettings, PlanSettings
from tts_core.segmentation import segment

BUCKET = "tts-unit"
RATE = 22050
ID = "20261123T120000Z-0123456789ab"
TEXT = "第一句话在这里。The second sentence is here. 第三句，最后一句！"


def plan_settings(max_chars: int = 20) -> PlanSettings:
    return PlanSettings(bucket_name=BUCKET, audio_sample_rate=RATE, segment_max_chars=max_chars)


def join_settings(pause_ms: int = 100) -> JoinSettings:
    return JoinSettings(bucket_name=BUCKET, audio_sample_rate=RATE, segment_pause_ms=pause_ms)


def put_segment(index: int, engine: str, samples: np.ndarray, rate: int = RATE) -> EngineOutput:
    key = storage.segment_key(ID, index, engine)
    storage.put_bytes(BUCKET, key, AudioContract(rate).encode(samples, rate), "audio/wav")
    return EngineOutput(engine=engine, bucket=BUCKET, audio_key=key, sample_rate=rate,
                        duration_s=round(samples.size / rate, 3), engine_ms=10 * (index + 1), segment=index)


def constant(value: int, frames: int) -> np.ndarray:
    return np.full(frames, value, dtype=np.int16)


# --- plan ------------------------------------------------------------------------------------------

def test_a_long_text_is_planned_as_the_shared_segmentation_with_the_options_once(s3: Any) -> None:
    request = SynthesisRequest(text=TEXT, voice="en-male", speed=1.5, allow_mixed_engines=True)
    plan = long_text.plan(long_text.PlanTask(request_id=ID, correlation_id="c", request=request), plan_settings())

    assert [s.text for s in plan.segments] == segment(TEXT, 20) and plan.count == len(plan.segments) > 1
    assert [s.index for s in plan.segments] == list(range(plan.count))
    assert plan.options == request.model_dump(mode="json", exclude={"text", "utterances"})
    assert storage.get_json(BUCKET, storage.plan_key(ID)) == {"count": plan.count}


def test_a_short_text_is_one_segment_and_leaves_no_plan_behind(s3: Any) -> None:
    request = SynthesisRequest(text="你好。")
    plan = long_text.plan(long_text.PlanTask(request_id=ID, correlation_id="c", request=request), plan_settings())

    assert plan.count == 1 and plan.segments[0].text == "你好。"
    assert storage.list_keys(BUCKET, storage.segments_prefix(ID)) == []


def test_a_segment_task_is_the_request_with_the_segments_text() -> None:
    options = SynthesisRequest(text="x", voice="en-male", speed=1.5).model_dump(mode="json", exclude={"text"})
    task = EngineTask.model_validate({"engine": "primary", "request_id": ID, "correlation_id": "c",
                                      "options": options, "segment": {"index": 3, "text": "Hello there."}})

    assert task.request.text == "Hello there." and task.request.voice == "en-male" and task.request.speed == 1.5
    assert task.segment is not None and task.segment.index == 3
    with pytest.raises(ValidationError):  # a segment task without its text is malformed, not empty speech
        EngineTask.model_validate({"engine": "primary", "request_id": ID, "correlation_id": "c",
                                   "options": options, "segment": {"index": 3}})


# --- join ------------------------------------------------------------------------------------------

def test_segments_are_joined_in_index_order_whatever_order_they_arrive_in(s3: Any) -> None:
    parts = [put_segment(i, "primary", constant(1000 * (i + 1), 500 + 100 * i)) for i in range(3)]
    output = long_text.join(long_text.JoinTask(request_id=ID, correlation_id="c", segments=parts[::-1]),
                            join_settings(pause_ms=100))

    pcm, rate = read_pcm16(storage.get_bytes(BUCKET, output.audio_key))
    pause = np.zeros(round(RATE * 0.1), dtype=np.int16)
    expected = np.concatenate([constant(1000, 500), pause, constant(2000, 600), pause, constant(3000, 700)])
    assert rate == RATE and np.array_equal(pcm, expected)  # samples unchanged: no second loudness pass
    assert (output.engine, output.audio_key) == ("primary", storage.audio_key(ID, "primary"))
    assert output.duration_s == round(expected.size / RATE, 3)
    assert [(p.index, p.engine, p.engine_ms) for p in output.segments] == [(0, "primary", 10), (1, "primary", 20),
                                                                          (2, "primary", 30)]


def test_no_pause_means_the_segments_back_to_back(s3: Any) -> None:
    parts = [put_segment(i, "primary", constant(7, 300)) for i in range(2)]
    output = long_text.join(long_text.JoinTask(request_id=ID, correlation_id="c", segments=parts), join_settings(0))
    assert read_pcm16(storage.get_bytes(BUCKET, output.audio_key))[0].size == 600


def test_segments_from_both_engines_make_a_mixed_output(s3: Any) -> None:
    parts = [put_segment(0, "primary", constant(5, 100)), put_segment(1, "fallback", constant(6, 100))]
    output = long_text.join(long_text.JoinTask(request_id=ID, correlation_id="c", segments=parts), join_settings())
    assert (output.engine, output.audio_key) == ("mixed", storage.audio_key(ID, "mixed"))
    assert [p.engine for p in output.segments] == ["primary", "fallback"]


@pytest.mark.parametrize("damage", ["gap", "duplicate", "rates", "missing"])
def test_a_join_that_cannot_be_right_fails_instead_of_writing_a_wrong_output(s3: Any, damage: str) -> None:
    parts = [put_segment(i, "primary", constant(9, 200)) for i in range(3)]
    if damage == "gap":
        parts = [parts[0], parts[2]]
    elif damage == "duplicate":
        parts = [parts[0], parts[1], parts[1]]
    elif damage == "rates":
        parts[1] = put_segment(1, "primary", constant(9, 200), rate=16000)
    else:
        storage.delete(BUCKET, parts[2].audio_key)

    with pytest.raises(EngineError):
        long_text.join(long_text.JoinTask(request_id=ID, correlation_id="c", segments=parts), join_settings())
    assert not storage.exists(BUCKET, storage.audio_key(ID, "primary"))


# --- progress --------------------------------------------------------------------------------------

def test_progress_counts_segments_with_audio_once_whatever_engine_wrote_them(s3: Any) -> None:
    assert jobs.progress(BUCKET, ID) is None  # not planned (yet), or one segment
    storage.put_json(BUCKET, storage.plan_key(ID), {"count": 4})
    assert jobs.progress(BUCKET, ID) == jobs.Progress(segments_done=0, segments_total=4)

    put_segment(0, "primary", constant(1, 10))
    put_segment(2, "primary", constant(1, 10))
    put_segment(2, "fallback", constant(1, 10))  # a late primary and the fallback both wrote segment 2
    assert jobs.progress(BUCKET, ID) == jobs.Progress(segments_done=2, segments_total=4)


def test_progress_is_advisory_and_never_fails_a_status_call(s3: Any) -> None:
    storage.put_bytes(BUCKET, storage.plan_key(ID), b"not json", "application/json")
    assert jobs.progress(BUCKET, ID) is None
    assert jobs.progress("no-such-bucket", ID) is None


# --- the text front end's pauses and marks ---------------------------------------------------------
def test_each_segment_gets_its_own_pause_and_the_marks_their_times(s3: Any) -> None:
    parts = [put_segment(0, "primary", constant(1, 2205)), put_segment(1, "primary", constant(2, 4410)),
             put_segment(2, "primary", constant(3, 2205))]
    parts[0] = parts[0].model_copy(update={"pause_after_ms": 2000})  # a <break time="2s"/>
    parts[1] = parts[1].model_copy(update={"marks": [Mark(name="here", time_s=0.0)]})
    parts[2] = parts[2].model_copy(update={"marks": [Mark(name="end", time_s=0.0)]})
    out = long_text.join(long_text.JoinTask(request_id=ID, correlation_id="c", segments=parts), join_settings(100))

    samples, _ = read_pcm16(storage.get_bytes(BUCKET, out.audio_key))
    ones, twos = np.flatnonzero(samples == 1), np.flatnonzero(samples == 2)
    assert ones[-1] == 2204 and twos[0] == 2205 + 2 * RATE  # exactly 2 s of silence after the first
    assert samples.size == 2205 + 2 * RATE + 4410 + 2205 + 2205  # then the default 100 ms
    assert [(m.name, m.time_s) for m in out.marks] == [("here", 2.1), ("end", 2.4)]


def test_a_whole_request_on_the_real_offline_engine_has_the_exact_pauses(s3: Any) -> None:
    utterances = [Utterance(text="Hello there.", pause_after_ms=1500, source_start=0, source_end=1),
                  Utterance(text="Second part.", marks=["second"], source_start=1, source_end=2)]
    request = SynthesisRequest(text="<speak>...</speak>", voice="en-female").model_copy(
        update={"utterances": utterances})

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 30_000

    settings = EngineSettings(bucket_name=BUCKET, audio_sample_rate=RATE, segment_pause_ms=250)
    event = {"engine": "offline", "request_id": ID, "correlation_id": "c", "request": request.model_dump(mode="json")}
    out = run_engine_task(EspeakEngine(), event, Context(), settings)  # type: ignore[arg-type]

    samples, _ = read_pcm16(storage.get_bytes(BUCKET, out.audio_key))
    (mark,) = out.marks
    start = round(mark.time_s * RATE)
    gap = samples[start - int(1.5 * RATE):start]
    assert np.abs(gap).max() == 0 and np.abs(samples[start:start + RATE // 2]).max() > 1000  # speech after it
    assert np.abs(samples[:start - int(1.5 * RATE)]).max() > 1000  # and before it
