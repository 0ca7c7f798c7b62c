"""The SSML subset read into utterances (tts_core.text.ssml through the front end)."""

from __future__ import annotations

import pytest

from tts_core.errors import InvalidSsmlError, NothingToSpeakError, UnsupportedSsmlTagError, VoiceNotFoundError
from tts_core.models import MAX_PAUSE_MS, SynthesisRequest, Utterance
from tts_core.text.front_end import utterances

LANGUAGES = {"zh-female": "zh-en", "en-female": "en", "en-male": "en"}


def voice_language(voice: str) -> str:
    if voice not in LANGUAGES:
        raise VoiceNotFoundError(voice)
    return LANGUAGES[voice]


def said(ssml: str, voice: str = "en-female", **fields: object) -> list[Utterance]:
    request = SynthesisRequest(text=ssml, voice=voice, **fields)  # type: ignore[arg-type]
    return utterances(request, lexicons=[], voice_language=voice_language)


def test_plain_text_stays_one_utterance_with_its_spacing() -> None:
    (one,) = said("First line.\n\nSecond   line.", text_type="plain")
    assert one.text == "First line.\n\nSecond   line." and (one.source_start, one.source_end) == (0, 27)


def test_speak_is_detected_and_markup_is_never_spoken() -> None:
    (one,) = said('<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" xml:lang="en-US">\n'
                  "  Hello\n  world.\n</speak>")
    assert one.text == "Hello world."


@pytest.mark.parametrize(("ssml", "pauses"), [
    ('<speak>One <break time="2s"/> two</speak>', [2000, None]),
    ('<speak>One <break time="350ms"/><break time="1.5s"/> two</speak>', [1850, None]),  # breaks add up
    ('<speak>One <break time="30s"/> two</speak>', [MAX_PAUSE_MS, None]),  # capped as Polly caps it
    ('<speak>One <break strength="x-strong"/> two <break/> three</speak>', [1200, 400, None]),
    ("<speak><p>One.</p><p>Two.</p></speak>", [750, 750]),
    ("<speak><s>One</s><s>Two</s></speak>", [None, None]),
    ('<speak><p>One.</p><break time="3s"/><p>Two.</p></speak>', [3000, 750]),  # a break replaces the <p>'s
    ('<speak><break time="1s"/>One</speak>', [None]),  # no silence before the first words
])
def test_breaks_and_structure_give_exact_pauses(ssml: str, pauses: list[int | None]) -> None:
    assert [u.pause_after_ms for u in said(ssml)] == pauses


def test_prosody_nests_and_multiplies_and_style_changes_cut_without_a_pause() -> None:
    parts = said('<speak>Normal <prosody rate="slow" pitch="+10%">slow <prosody rate="50%" volume="-6dB">'
                 "slower</prosody></prosody> normal</speak>")
    assert [u.text for u in parts] == ["Normal", "slow", "slower", "normal"]
    assert [u.pause_after_ms for u in parts] == [0, 0, 0, None]
    assert parts[2].prosody.rate == pytest.approx(0.375) and parts[2].prosody.pitch == pytest.approx(1.1)
    assert parts[2].prosody.volume == pytest.approx(0.501, abs=0.001)
    assert parts[0].prosody == parts[3].prosody


@pytest.mark.parametrize(("inner", "text"), [
    ('<say-as interpret-as="characters">NASA</say-as>', "N A S A"),
    ('<say-as interpret-as="digits">2024</say-as>', "two zero two four"),
    ('<say-as interpret-as="cardinal">1,234</say-as>', "one thousand two hundred thirty-four"),
    ('<say-as interpret-as="ordinal">21</say-as>', "twenty-first"),
    ('<say-as interpret-as="date" format="dmy">25/12/2024</say-as>', "December twenty-fifth, twenty twenty-four"),
    ('<say-as interpret-as="telephone">+1 555-0100</say-as>', "one, five five five, zero one zero zero"),
    ('<sub alias="World Wide Web Consortium">W3C</sub>', "World Wide Web Consortium"),
])
def test_say_as_and_sub_say_exactly_what_they_mean(inner: str, text: str) -> None:
    (one,) = said(f"<speak>Say {inner}.</speak>")
    assert one.text == f"Say {text}."


def test_say_as_in_chinese_text_reads_in_chinese() -> None:
    (one,) = said('<speak>电话<say-as interpret-as="telephone">138-0013</say-as>，第<say-as interpret-as="cardinal">'
                  "12</say-as>号</speak>", voice="zh-female")
    assert one.text == "电话一三八, 零零一三，第十二号"


def test_phonemes_voices_and_marks() -> None:
    parts = said('<speak><mark name="start"/>我们在<phoneme alphabet="py" ph="chong2 qing4">重庆</phoneme>。'
                 '<voice name="en-male">Hello <mark name="mid"/>there.</voice></speak>', voice="zh-female")
    assert [(u.text, u.voice, u.marks) for u in parts] == [
        ("我们在重庆。", None, ["start"]), ("Hello", "en-male", []), ("there.", "en-male", ["mid"])]
    (phoneme,) = parts[0].phonemes
    assert parts[0].text[phoneme.start:phoneme.end] == "重庆" and (phoneme.ph, phoneme.alphabet) == (
        "chong2 qing4", "pinyin")


def test_an_unknown_voice_in_ssml_is_refused() -> None:
    with pytest.raises(VoiceNotFoundError):
        said('<speak><voice name="nobody">Hi</voice></speak>')


@pytest.mark.parametrize(("ssml", "where"), [
    ("<speak>Hi</spek>", "line 1, column 12"),
    ("<speak>\n  <s>Hi\n</speak>", "line 3, column 3"),
    ("<voice name='x'>Hi</voice>", "root element must be <speak>"),
    ('<speak><break time="soon"/>Hi</speak>', "break time 'soon'"),
    ('<speak><prosody rate="warp">Hi</prosody></speak>', "prosody rate 'warp'"),
    ('<speak><say-as interpret-as="cardinal">many</say-as></speak>', "cannot read 'many'"),
    ('<speak><say-as interpret-as="poem">Hi</say-as></speak>', "interpret-as 'poem'"),
    ('<speak><sub>Hi</sub></speak>', "<sub> needs a non-empty alias"),
    ('<speak><phoneme alphabet="klingon" ph="x">Hi</phoneme></speak>', "alphabet 'klingon'"),
    ('<speak><sub alias="a"><s>Hi</s></sub></speak>', "<s> inside <sub>"),
    ('<!DOCTYPE speak [<!ENTITY a "boom">]><speak>&a;</speak>', "DTD or entities"),
    ('<speak>&nbsp;</speak>', "undefined entity"),
])
def test_malformed_ssml_is_invalid_ssml_saying_where(ssml: str, where: str) -> None:
    with pytest.raises(InvalidSsmlError) as refused:
        said(ssml, text_type="ssml")
    assert refused.value.code == "INVALID_SSML" and where in refused.value.message


def test_unknown_tags_are_refused_by_name_or_ignored_when_asked() -> None:
    with pytest.raises(UnsupportedSsmlTagError, match=r"<amazon:effect> \(SSML line 1, column 8\)"):
        said('<speak><amazon:effect name="whispered">Hi</amazon:effect></speak>')
    (one,) = said("<speak><emphasis>Really</emphasis> <lang xml:lang='fr'>bien</lang></speak>", unknown_tags="ignore")
    assert one.text == "Really bien"


def test_ssml_with_nothing_to_say_is_refused() -> None:
    with pytest.raises(NothingToSpeakError):
        said('<speak><break time="1s"/> ... </speak>')


def test_markup_like_text_can_still_be_sent_as_plain_text() -> None:
    (one,) = said("<speak> is a tag", text_type="plain")
    assert one.text == "<speak> is a tag"
