"""The language of each utterance's voice, found by the text front end, reaches the engine's request for a whole
request and for a long text's segments (IndexTTS-2.5 is told `lang` from it: Spanish and English share a
script). The engine is a double; the front end, the plan and the engine task are the real ones, on moto."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tts_core.catalogue import PRIMARY_MODEL_ENV, get_voice
from tts_core.deadline import Deadline
from tts_core.engines import EngineAudio
from tts_core.models import EngineTask, SynthesisRequest
from tts_core.pipeline import long_text
from tts_core.pipeline.engine_task import run_engine_task
from tts_core.platform.config import EngineSettings, PlanSettings
from tts_core.text.front_end import utterances

BUCKET = "tts-unit"
RATE = 22050
ID = "20261202T120000Z-0123456789ab"
DIALOGUE = ('<speak>Hola, ¿qué tal? Tengo tres gatos. <voice name="en-female">Hello there, I have three cats.'
            '</voice> Muy bien.</speak>')


class Recording:
    """The engine interface, recording what each call was asked for."""

    name = "primary"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str | None]] = []

    def synthesize(self, request: SynthesisRequest, deadline: Deadline) -> EngineAudio:
        self.calls.append((request.text, request.voice, request.language))
        tone = 8000 * np.sin(np.arange(RATE // 2) * 2 * np.pi * 220 / RATE)
        return EngineAudio(samples=tone.astype(np.int16), sample_rate=RATE)


class Context:
    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture
def request25(monkeypatch: pytest.MonkeyPatch) -> SynthesisRequest:
    monkeypatch.setenv(PRIMARY_MODEL_ENV, "indextts2.5")
    request = SynthesisRequest(text=DIALOGUE, voice="es-male")
    said = utterances(request, lexicons=[], voice_language=lambda v: get_voice(v).language)
    assert [u.language for u in said] == ["es", "en", "es"]
    return request.model_copy(update={"utterances": said})


def test_a_whole_request_tells_the_engine_each_voices_language(s3: Any, request25: SynthesisRequest) -> None:
    engine = Recording()
    event = {"engine": "primary", "request_id": ID, "correlation_id": "c", "request": request25.model_dump(mode="json")}
    settings = EngineSettings(bucket_name=BUCKET, audio_sample_rate=RATE, segment_pause_ms=100)
    run_engine_task(engine, event, Context(), settings)  # type: ignore[arg-type]

    assert [(voice, lang) for _, voice, lang in engine.calls] == [("es-male", "es"), ("en-female", "en"),
                                                                  ("es-male", "es")]


def test_each_segment_of_a_long_text_keeps_its_voices_language(s3: Any, request25: SynthesisRequest) -> None:
    plan = long_text.plan(long_text.PlanTask(request_id=ID, correlation_id="c", request=request25),
                          PlanSettings(bucket_name=BUCKET, audio_sample_rate=RATE, segment_max_chars=20))
    assert plan.count > 3
    engine = Recording()
    settings = EngineSettings(bucket_name=BUCKET, audio_sample_rate=RATE, segment_pause_ms=100)
    for seg in plan.segments:
        event = {"engine": "primary", "request_id": ID, "correlation_id": "c", "options": plan.options,
                 "segment": seg.model_dump(mode="json")}
        assert EngineTask.model_validate(event).segment is not None
        run_engine_task(engine, event, Context(), settings)  # type: ignore[arg-type]

    assert {lang for text, voice, lang in engine.calls if voice == "es-male"} == {"es"}
    assert {lang for text, voice, lang in engine.calls if voice == "en-female"} == {"en"}


def test_a_request_built_without_the_front_end_tells_no_language() -> None:
    request = SynthesisRequest(text="hello")  # a probe, a bootstrap recording: the engine reads the script
    assert request.language is None and request.speaking(long_text.utterances_of(request)[0]).language is None
