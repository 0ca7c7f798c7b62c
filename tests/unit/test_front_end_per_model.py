"""The text front end with the deployment's catalogue (tts_core.catalogue.get_voice as the voice's language):
IndexTTS-2.5's ja, es and ar voices are known and their text passes only where it is the primary; their text is
not normalised by the zh/en rules (the engines read digits in the voice's language)."""

from __future__ import annotations

import pytest

from tts_core.catalogue import PRIMARY_MODEL_ENV, get_voice
from tts_core.errors import InvalidSsmlError, UnsupportedLanguageError, VoiceNotFoundError
from tts_core.models import SynthesisRequest, Utterance
from tts_core.text.front_end import utterances
from tts_core.text.normalise import normalise

JAPANESE = "今日は3時に東京タワーへ行きます。"
SPANISH = "Tengo 3 gatos y 25 % de batería."
ARABIC = "مرحبا بالعالم، عندي 3 قطط."


def said(text: str, voice: str, **fields: object) -> list[Utterance]:
    request = SynthesisRequest.model_validate({"text": text, "voice": voice, **fields})
    return utterances(request, lexicons=[], voice_language=lambda v: get_voice(v).language)


@pytest.mark.parametrize(("text", "voice"), [(JAPANESE, "ja-female"), ("カタカナ", "ja-male"),
                                             (SPANISH, "es-male"), (ARABIC, "ar-female")])
def test_given_indextts25_its_voices_speak_their_text_as_written(monkeypatch: pytest.MonkeyPatch, text: str,
                                                                  voice: str) -> None:
    monkeypatch.setenv(PRIMARY_MODEL_ENV, "indextts2.5")
    (one,) = said(text, voice)
    assert one.text == text  # "3" stays "3": no English or Chinese number words in a Japanese sentence


@pytest.mark.parametrize("voice", ["ja-female", "es-male", "ar-female"])
def test_given_indextts2_those_voices_are_unknown(monkeypatch: pytest.MonkeyPatch, voice: str) -> None:
    monkeypatch.setenv(PRIMARY_MODEL_ENV, "indextts2")
    with pytest.raises(VoiceNotFoundError):
        said("hola", voice)


def test_given_indextts2_kana_and_arabic_are_refused_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PRIMARY_MODEL_ENV, raising=False)
    for text, script in (("今日はいい天気ですね", "Hiragana"), (ARABIC, "Arabic")):
        with pytest.raises(UnsupportedLanguageError, match=f"{script} script .*no voice of this service speaks it"):
            said(text, "zh-female")


def test_given_indextts25_a_voice_still_refuses_another_languages_script(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PRIMARY_MODEL_ENV, "indextts2.5")
    with pytest.raises(UnsupportedLanguageError, match=r"Hiragana script .*voices that speak Japanese: ja-female"):
        said("今日はいい天気ですね", "zh-female")
    with pytest.raises(UnsupportedLanguageError, match="Latin script"):
        said("東京 Tower", "ja-female")


def test_the_zh_en_rules_leave_other_languages_text_alone() -> None:
    assert normalise("3 gatos, 2024-01-02", ["es"]) == "3 gatos, 2024-01-02"
    assert normalise("3 cats", ["zh", "en"]) == "three cats"  # unchanged for the zh/en voices


def test_say_as_is_refused_in_a_language_it_cannot_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PRIMARY_MODEL_ENV, "indextts2.5")
    with pytest.raises(InvalidSsmlError, match="say-as cardinal is read in Chinese or English only, and the voice "
                                               "speaks Spanish"):
        said('<speak>Tengo <say-as interpret-as="cardinal">25</say-as> gatos</speak>', "es-female")
    (one,) = said('<speak>La <say-as interpret-as="characters">ONU</say-as></speak>', "es-female")
    assert one.text == "La O N U"
