"""The offline engine on the real eSpeak NG library from the espeakng-loader wheel (no mocks)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from tts_core.deadline import Deadline
from tts_core.engines import EngineAudio, espeak
from tts_core.engines.espeak import EspeakEngine
from tts_core.errors import EngineLanguageError, EngineTimeoutError, VoiceNotFoundError
from tts_core.models import SynthesisRequest

RATE = 22050
CHINESE = "今天天气很好，我们去公园散步吧。"
ENGLISH = "The weather is lovely today, let us take a walk in the park."
MIXED = "我今天用 Python 写了一个 API，效果很好。"


def speak(text: str, **fields: Any) -> EngineAudio:
    return EspeakEngine().synthesize(SynthesisRequest(text=text, **fields), Deadline.in_seconds(10))


def seconds(audio: EngineAudio) -> float:
    return audio.samples.size / audio.sample_rate


def assert_audible_speech(audio: EngineAudio) -> None:
    assert audio.sample_rate == RATE
    assert audio.samples.dtype == np.int16
    assert audio.samples.ndim == 1
    assert 0.3 < seconds(audio) < 10.0
    rms = float(np.sqrt(np.mean(audio.samples.astype(np.float64) ** 2)))
    assert rms > 300, f"RMS {rms:.0f} is too quiet to be speech"


def test_chinese_text_with_a_chinese_voice_gives_audible_speech() -> None:
    assert_audible_speech(speak(CHINESE, voice="zh-female"))


def test_english_text_with_an_english_voice_gives_audible_speech() -> None:
    assert_audible_speech(speak(ENGLISH, voice="en-male"))


def test_mixed_chinese_english_text_gives_audible_speech() -> None:
    assert_audible_speech(speak(MIXED, voice="zh-male"))


@pytest.mark.parametrize(("text", "voice"), [("こんにちは、げんきですか。", "ja-female"),
                                             ("Hola, ¿cómo estás? El niño come piña.", "es-male"),
                                             ("مرحبا بالعالم، كيف حالك اليوم؟", "ar-female")])
def test_indextts25s_voices_give_audible_speech(monkeypatch: pytest.MonkeyPatch, text: str, voice: str) -> None:
    monkeypatch.setenv("INDEXTTS_MODEL", "indextts2.5")
    assert_audible_speech(speak(text, voice=voice))


def test_a_japanese_voice_refuses_kanji_it_would_call_chinese_letters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INDEXTTS_MODEL", "indextts2.5")
    with pytest.raises(EngineLanguageError, match=r"Japanese voice cannot read Han script \('東京'\)") as refused:
        speak("きょうは東京へ", voice="ja-male")
    assert refused.value.code == "ENGINE_LANGUAGE_UNSUPPORTED"


def test_the_engine_reports_its_name_as_offline() -> None:
    assert EspeakEngine.name == "offline"


def test_longer_text_gives_longer_audio() -> None:
    short = speak("你好。")
    long = speak("你好。" + CHINESE + CHINESE)
    assert seconds(long) > seconds(short) + 1.0


def test_speed_two_gives_clearly_shorter_audio_than_speed_half() -> None:
    fast = speak(CHINESE, speed=2.0)
    slow = speak(CHINESE, speed=0.5)
    assert seconds(fast) * 2.5 < seconds(slow)


def test_higher_volume_gives_louder_audio() -> None:
    quiet = speak(ENGLISH, voice="en-female", volume=20)
    loud = speak(ENGLISH, voice="en-female", volume=80)
    assert np.abs(loud.samples.astype(np.int32)).mean() > 2 * np.abs(quiet.samples.astype(np.int32)).mean()


def test_female_and_male_voices_sound_different() -> None:
    female = speak(CHINESE, voice="zh-female")
    male = speak(CHINESE, voice="zh-male")
    assert female.samples.size != male.samples.size or not np.array_equal(female.samples, male.samples)


def test_four_threads_at_once_all_get_audible_speech() -> None:
    texts = [CHINESE, ENGLISH, MIXED, CHINESE + ENGLISH] * 3
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(speak, texts))
    for audio in results:
        assert_audible_speech(audio)


def test_an_expired_deadline_raises_engine_timeout() -> None:
    with pytest.raises(EngineTimeoutError):
        EspeakEngine().synthesize(SynthesisRequest(text=CHINESE), Deadline(at=0))


def test_a_deadline_passing_mid_sentence_stops_long_synthesis_early() -> None:
    request = SynthesisRequest(text=CHINESE * 300)  # minutes of audio, about a second of work
    with pytest.raises(EngineTimeoutError):
        EspeakEngine().synthesize(request, Deadline.in_seconds(0.02))


def test_a_request_waiting_behind_a_busy_library_times_out_at_its_deadline() -> None:
    started = time.monotonic()
    with espeak._LOCK, pytest.raises(EngineTimeoutError):  # as if another thread were speaking
        EspeakEngine().synthesize(SynthesisRequest(text=CHINESE), Deadline.in_seconds(0.1))
    assert time.monotonic() - started < 1.0


def test_after_a_timeout_the_next_request_gives_normal_speech() -> None:
    before = speak("你好。")
    with pytest.raises(EngineTimeoutError):
        EspeakEngine().synthesize(SynthesisRequest(text=CHINESE * 300), Deadline.in_seconds(0.02))
    after = speak("你好。")
    # The aborted text must not leak into the next result.
    assert after.samples.size == before.samples.size


def test_an_unknown_voice_id_raises_voice_not_found() -> None:
    request = SynthesisRequest(text=CHINESE, voice="no-such-voice")
    with pytest.raises(VoiceNotFoundError):
        EspeakEngine().synthesize(request, Deadline.in_seconds(10))
