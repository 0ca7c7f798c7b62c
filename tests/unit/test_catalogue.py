"""The voice catalogue per PrimaryModel: IndexTTS-2.5's languages (ja, es, ar) exist only where it is the primary,
and every engine of a voice either speaks its language or has no entry (an explicit refusal, never another
language's voice)."""

from __future__ import annotations

import pytest

from tts_core import catalogue
from tts_core.catalogue import PRIMARY_MODEL_ENV, catalogue_voice_for, get_voice, is_catalogue_voice, list_voices
from tts_core.errors import UnsupportedLanguageError, VoiceNotFoundError

BASE = ["zh-female", "zh-male", "en-female", "en-male"]
ADDED_BY_25 = ["ja-female", "ja-male", "es-female", "es-male", "ar-female", "ar-male"]
# Sambert's documented voices of these languages (the catalogue's docstring names the source): Camila alone.
SAMBERT_OF_25 = {"es": {"female": "camila"}}


@pytest.fixture
def model25(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PRIMARY_MODEL_ENV, "indextts2.5")


def ids() -> list[str]:
    return [v.id for v in list_voices()]


def test_given_the_default_model_then_the_catalogue_is_indextts2s(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PRIMARY_MODEL_ENV, raising=False)
    assert ids() == BASE
    monkeypatch.setenv(PRIMARY_MODEL_ENV, "indextts2")
    assert ids() == BASE
    with pytest.raises(VoiceNotFoundError, match="unknown voice 'ja-female'; known voices: zh-female, zh-male, "):
        get_voice("ja-female")
    assert not is_catalogue_voice("es-female")


def test_given_an_unknown_model_then_indextts2s_voices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PRIMARY_MODEL_ENV, "indextts3")  # the primary refuses it (MODEL_UNAVAILABLE)
    assert ids() == BASE


@pytest.mark.usefixtures("model25")
def test_given_indextts25_then_its_languages_have_voices() -> None:
    assert ids() == BASE + ADDED_BY_25
    assert {get_voice(v).language for v in ADDED_BY_25} == {"ja", "es", "ar"}
    assert catalogue.languages() == {"zh", "en", "ja", "es", "ar"}


def test_a_model_can_be_asked_for_without_the_environment() -> None:
    assert [v.id for v in list_voices("indextts2.5")] == BASE + ADDED_BY_25
    assert [v.id for v in list_voices("indextts2")] == BASE


def test_every_engine_voice_speaks_the_voices_language_or_is_absent() -> None:
    for voice in list_voices("indextts2.5"):
        if voice.language in SAMBERT_OF_25:
            expected = SAMBERT_OF_25[voice.language].get(voice.gender)
            assert (voice.sambert.name if voice.sambert else None) == expected, voice.id
        elif voice.language in ("ja", "ar"):
            assert voice.sambert is None, voice.id
        assert voice.espeak.split("-")[0] in {"cmn", "en", "ja", "es", "ar"}
        assert voice.espeak.split("-")[0] == {"zh-en": "cmn"}.get(voice.language, voice.language), voice.id
    assert get_voice("zh-female").espeak_unread_scripts == ()


def test_a_voice_without_a_sambert_voice_has_its_reference_recorded_in_another_of_its_gender() -> None:
    voices = {v.id: v for v in list_voices("indextts2.5")}
    for voice in voices.values():
        if voice.sambert is not None:
            assert voice.reference_from is None, voice.id
            continue
        recorder = voices[str(voice.reference_from)]
        assert recorder.sambert is not None and recorder.gender == voice.gender, voice.id
        assert recorder.models == catalogue.PRIMARY_MODELS  # recorded whatever the model


def test_a_custom_voice_falls_back_to_the_catalogue_voice_of_its_language(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PRIMARY_MODEL_ENV, raising=False)
    assert catalogue_voice_for("zh", "male").id == "zh-male"  # the Mandarin-and-English voice
    assert catalogue_voice_for("en", "female").id == "en-female"
    with pytest.raises(UnsupportedLanguageError, match=r"no voice of this service speaks Spanish \(PrimaryModel "
                                                        r"indextts2; it speaks Chinese, English\)"):
        catalogue_voice_for("es", "female")
    monkeypatch.setenv(PRIMARY_MODEL_ENV, "indextts2.5")
    assert catalogue_voice_for("es", "male").id == "es-male"
    assert catalogue_voice_for("ja", "female").id == "ja-female"
