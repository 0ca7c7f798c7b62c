"""Built-in voice catalogue: one place that says which engine voice serves each project voice."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from tts_core.errors import VoiceNotFoundError, quoted

Language = Literal["zh", "en", "zh-en"]
Gender = Literal["female", "male"]


class Voice(BaseModel, frozen=True):
    id: str
    language: Language
    gender: Gender
    description: str
    sambert: str  # Sambert model voice name: model id is f"sambert-{sambert}-v1"
    sambert_rate: int  # the rate that Sambert voice is best at
    espeak: str  # eSpeak NG voice name (language) for the offline last resort
    espeak_variant: str  # eSpeak NG variant giving the gender


DEFAULT_VOICE_ID = "zh-female"

_VOICES: tuple[Voice, ...] = (
    Voice(id="zh-female", language="zh-en", gender="female", description="Mandarin and English, warm female",
          sambert="zhiqi", sambert_rate=48000, espeak="cmn", espeak_variant="f2"),
    Voice(id="zh-male", language="zh-en", gender="male", description="Mandarin and English, calm male",
          sambert="zhinan", sambert_rate=48000, espeak="cmn", espeak_variant="m1"),
    Voice(id="en-female", language="en", gender="female", description="US English, female",
          sambert="cally", sambert_rate=16000, espeak="en-us", espeak_variant="f2"),
    Voice(id="en-male", language="en", gender="male", description="US English, male",
          sambert="brian", sambert_rate=16000, espeak="en-us", espeak_variant="m1"),
)


def list_voices() -> tuple[Voice, ...]:
    return _VOICES


def is_catalogue_voice(voice_id: str) -> bool:
    return any(v.id == voice_id for v in _VOICES)


def catalogue_voice_for(language: str, gender: str) -> Voice:
    """The built-in voice a custom voice of this language and gender falls back to."""
    return next((v for v in _VOICES if v.language == language and v.gender == gender),
                next(v for v in _VOICES if v.gender == gender))  # "zh": the Mandarin-and-English voice


def get_voice(voice_id: str) -> Voice:
    for voice in _VOICES:
        if voice.id == voice_id:
            return voice
    known = ", ".join(v.id for v in _VOICES)
    raise VoiceNotFoundError(f"unknown voice '{quoted(voice_id)}'; known voices: {known}")
