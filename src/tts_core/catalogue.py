"""Built-in voice catalogue: one place that says which engine voice serves each project voice, and which voices
a deployment has: its primary model's (template Parameter PrimaryModel).

The rule: every engine of a request can say its voice's words, or says so with a stable error. A voice's
engine voices are looked up here, never guessed: where an engine has no voice for a language its entry is
empty and that engine answers ENGINE_LANGUAGE_UNSUPPORTED (errors.EngineLanguageError), so the state machine
goes on to the next engine instead of reading the words in another language's voice.

IndexTTS-2.5 adds Japanese, Spanish and Arabic (engines/indextts/v2_5.py). For those, the fallback engines have
(checked 2026-12-02):
- Sambert: one Spanish voice, Camila (`sambert-camila-v1`, female, 16 kHz), none for Japanese or Arabic. Source:
  the model list of DashScope's Sambert SDK pages (https://help.aliyun.com/zh/model-studio/sambert-java-sdk
  "模型列表", the same table in https://help.aliyun.com/en/model-studio/realtime-websocket-python-sdk-sambert):
  43 voices, zh+en and en-US ones plus one each for es, it, id, fr, de and th, those six female.
- eSpeak NG (the espeakng-loader 0.2.4 wheel's data, espeak_ListVoices): `ja`, `es` (Spain), `es-419` and
  `ar`. Its `ja` reads kana only: every kanji is said as "Chinese letter", so it refuses text with Han.
"""

from __future__ import annotations

import os
from typing import Literal, get_args

from pydantic import BaseModel

from tts_core.errors import UnsupportedLanguageError, VoiceNotFoundError, quoted

Language = Literal["zh", "en", "zh-en", "ja", "es", "ar"]
Gender = Literal["female", "male"]
PrimaryModel = Literal["indextts2", "indextts2.5"]
PRIMARY_MODELS: tuple[PrimaryModel, ...] = get_args(PrimaryModel)
# Every function gets the template Parameter PrimaryModel as this variable (template.yaml, Globals): the
# primary engine loads that model, the others list its voices and check text against its languages.
PRIMARY_MODEL_ENV = "INDEXTTS_MODEL"
LANGUAGE_NAMES = {"zh": "Chinese", "en": "English", "ja": "Japanese", "es": "Spanish", "ar": "Arabic"}


class SambertVoice(BaseModel, frozen=True):
    name: str  # the model id is f"sambert-{name}-v1"
    rate: int  # the sample rate that voice is best at


class Voice(BaseModel, frozen=True):
    id: str
    language: Language
    gender: Gender
    description: str
    sambert: SambertVoice | None  # None: no Sambert voice speaks its language (and gender): the fallback refuses
    espeak: str  # eSpeak NG voice name (language) for the offline last resort
    espeak_variant: str  # eSpeak NG variant giving the gender
    espeak_unread_scripts: tuple[str, ...] = ()  # Unicode scripts of its language that voice cannot read
    models: tuple[PrimaryModel, ...] = PRIMARY_MODELS  # the primary models that speak its language
    # Its primary reference's recording when it has no Sambert voice: the bootstrap records it in this catalogue
    # voice's Sambert voice and text (IndexTTS takes a timbre from a reference in any language).
    reference_from: str | None = None


DEFAULT_VOICE_ID = "zh-female"
_ONLY_25: tuple[PrimaryModel, ...] = ("indextts2.5",)

_VOICES: tuple[Voice, ...] = (
    Voice(id="zh-female", language="zh-en", gender="female", description="Mandarin and English, warm female",
          sambert=SambertVoice(name="zhiqi", rate=48000), espeak="cmn", espeak_variant="f2"),
    Voice(id="zh-male", language="zh-en", gender="male", description="Mandarin and English, calm male",
          sambert=SambertVoice(name="zhinan", rate=48000), espeak="cmn", espeak_variant="m1"),
    Voice(id="en-female", language="en", gender="female", description="US English, female",
          sambert=SambertVoice(name="cally", rate=16000), espeak="en-us", espeak_variant="f2"),
    Voice(id="en-male", language="en", gender="male", description="US English, male",
          sambert=SambertVoice(name="brian", rate=16000), espeak="en-us", espeak_variant="m1"),
    # IndexTTS-2.5's languages (see the module's docstring for what the fallback engines have).
    Voice(id="ja-female", language="ja", gender="female", description="Japanese, female", sambert=None,
          espeak="ja", espeak_variant="f2", espeak_unread_scripts=("Han",), models=_ONLY_25,
          reference_from="zh-female"),
    Voice(id="ja-male", language="ja", gender="male", description="Japanese, male", sambert=None,
          espeak="ja", espeak_variant="m1", espeak_unread_scripts=("Han",), models=_ONLY_25,
          reference_from="zh-male"),
    Voice(id="es-female", language="es", gender="female", description="Spanish, female",
          sambert=SambertVoice(name="camila", rate=16000), espeak="es", espeak_variant="f2", models=_ONLY_25),
    # Camila is female: a male voice recorded or failed over in her voice would change speaker.
    Voice(id="es-male", language="es", gender="male", description="Spanish, male", sambert=None,
          espeak="es", espeak_variant="m1", models=_ONLY_25, reference_from="en-male"),
    Voice(id="ar-female", language="ar", gender="female", description="Arabic, female", sambert=None,
          espeak="ar", espeak_variant="f2", models=_ONLY_25, reference_from="en-female"),
    Voice(id="ar-male", language="ar", gender="male", description="Arabic, male", sambert=None,
          espeak="ar", espeak_variant="m1", models=_ONLY_25, reference_from="en-male"),
)


def primary_model() -> str:
    """The deployment's PrimaryModel, read on every call (a dict lookup: nothing to go stale when the local
    stack or a test changes it). Unset: indextts2, the Parameter's default. A value outside PRIMARY_MODELS
    lists indextts2's voices; the primary refuses to load it (MODEL_UNAVAILABLE)."""
    return os.environ.get(PRIMARY_MODEL_ENV) or "indextts2"


def language_name(language: str) -> str:
    """A catalogue language in words: "zh-en" -> "Chinese and English"."""
    return " and ".join(LANGUAGE_NAMES.get(lang, lang) for lang in language.split("-"))


def languages_of(catalogue_language: str) -> frozenset[str]:
    """A catalogue language ("zh", "en", "zh-en", "ja", ...) as the set of languages it speaks."""
    return frozenset(catalogue_language.split("-"))


def list_voices(model: str | None = None) -> tuple[Voice, ...]:
    """The catalogue of `model` (None: the deployment's)."""
    wanted = model or primary_model()
    if wanted not in PRIMARY_MODELS:
        wanted = "indextts2"
    return tuple(v for v in _VOICES if wanted in v.models)


def languages() -> frozenset[str]:
    """Every language a voice of the deployment's catalogue speaks ("zh-en" counts as zh and en)."""
    return frozenset().union(*(languages_of(v.language) for v in list_voices()))


def is_catalogue_voice(voice_id: str) -> bool:
    return any(v.id == voice_id for v in list_voices())


def catalogue_voice_for(language: str, gender: str) -> Voice:
    """The built-in voice a custom voice of this language and gender falls back to: the one of its language,
    else one that speaks it among others ("zh": the Mandarin-and-English voice). UNSUPPORTED_LANGUAGE when no
    voice of the deployment speaks it (Japanese, Spanish and Arabic need IndexTTS-2.5)."""
    voices = [v for v in list_voices() if v.gender == gender]
    found = next((v for v in voices if v.language == language), None) or next(
        (v for v in voices if language in languages_of(v.language)), None)
    if found is None:
        raise UnsupportedLanguageError(f"no voice of this service speaks {language_name(language)} "
                                       f"(PrimaryModel {primary_model()}; it speaks "
                                       f"{', '.join(sorted(language_name(lang) for lang in languages()))})")
    return found


def get_voice(voice_id: str) -> Voice:
    """A voice of the deployment's catalogue; VOICE_NOT_FOUND otherwise."""
    voices = list_voices()
    for voice in voices:
        if voice.id == voice_id:
            return voice
    known = ", ".join(v.id for v in voices)
    raise VoiceNotFoundError(f"unknown voice '{quoted(voice_id)}'; known voices: {known}")
