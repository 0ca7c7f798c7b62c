"""Pronunciation lexicons (tts_core.text.lexicon) and what each engine is handed (tts_core.text.render)."""

from __future__ import annotations

import pytest

from tts_core.errors import InvalidLexiconError
from tts_core.models import SynthesisRequest
from tts_core.pipeline.long_text import segments_of, spoken_text
from tts_core.text.front_end import utterances
from tts_core.text.lexicon import Lexicons, parse_lexicon
from tts_core.text.render import PHONEMES_HONOURED, calls_for_one_engine, text_for

ENGINES = tuple(PHONEMES_HONOURED)
NAMES = parse_lexicon({"lexemes": [
    {"grapheme": "Ann", "alias": "Anne"}, {"grapheme": "Ann Lee", "alias": "Anne Leigh"},
    {"grapheme": "重庆", "phoneme": "chong2 qing4", "alphabet": "pinyin"},
    {"grapheme": "tomato", "phoneme": "təˈmeɪtoʊ", "alphabet": "ipa"},
]})


def said(text: str, *lexicons: object, voice: str = "zh-female") -> list:
    request = SynthesisRequest(text=text, voice=voice)
    return utterances(request, lexicons=list(lexicons or [NAMES]), voice_language=lambda _v: "zh-en")


def test_longest_match_first_whole_words_only_and_case_sensitive() -> None:
    pieces = Lexicons([NAMES]).apply("Ann Lee met Ann, Annual ann and Ann.")
    assert "".join(p.text for p in pieces) == "Anne Leigh met Anne, Annual ann and Anne."


def test_the_first_lexicon_named_wins() -> None:
    other = parse_lexicon({"lexemes": [{"grapheme": "Ann", "alias": "Annie"}]})
    assert "".join(p.text for p in Lexicons([other, NAMES]).apply("Ann")) == "Annie"
    assert "".join(p.text for p in Lexicons([NAMES, other]).apply("Ann")) == "Anne"


def test_an_alias_entry_gives_every_engine_the_same_text() -> None:
    (one,) = said("Ann Lee and Ann, 2 tomatoes")
    assert {text_for(one, engine) for engine in ENGINES} == {"Anne Leigh and Anne, two tomatoes"}


def test_a_pinyin_entry_is_honoured_where_an_engine_reads_pinyin_and_written_elsewhere() -> None:
    (one,) = said("我们在重庆吃火锅。")
    assert text_for(one, "primary") == "我们在CHONG2 QING4吃火锅。"
    assert text_for(one, "fallback") == text_for(one, "offline") == "我们在重庆吃火锅。"
    (ipa,) = said("a tomato")
    assert {text_for(ipa, engine) for engine in ENGINES} == {"a tomato"}  # no engine here reads IPA


def test_phonemes_follow_their_words_into_segments_and_merged_calls() -> None:
    (one,) = said("第一句话。我们在重庆。")
    first, second = segments_of([one], max_chars=6)
    assert (first.text, first.phonemes) == ("第一句话。", [])
    assert text_for(second, "primary") == "我们在CHONG2 QING4。"
    two = said("<speak><s>重庆。</s><s>重庆。</s></speak>")
    (call,) = calls_for_one_engine(two)
    assert text_for(call, "primary") == "CHONG2 QING4。\nCHONG2 QING4。"


@pytest.mark.parametrize("body", [
    {"lexemes": []}, {"lexemes": [{"grapheme": "x"}]}, {"lexemes": [{"grapheme": "x", "alias": "y", "phoneme": "z"}]},
    {"lexemes": [{"grapheme": "x", "phoneme": "z"}]}, {"lexemes": [{"grapheme": " ", "alias": "y"}]},
    {"pls": "<lexicon><lexeme>"}, {"pls": "<speak/>"},
    {"pls": '<lexicon alphabet="x-sampa"><lexeme><grapheme>a</grapheme><phoneme>b</phoneme></lexeme></lexicon>'},
    {"pls": '<!DOCTYPE l [<!ENTITY a "b">]><lexicon>&a;</lexicon>'},
])
def test_bad_lexicons_are_refused(body: dict) -> None:
    with pytest.raises(InvalidLexiconError):
        parse_lexicon(body)


def test_a_pls_document_with_several_graphemes_per_lexeme() -> None:
    lexicon = parse_lexicon({"pls": """<?xml version="1.0" encoding="UTF-8"?>
<lexicon version="1.0" xmlns="http://www.w3.org/2005/01/pronunciation-lexicon" alphabet="ipa" xml:lang="en-US">
  <lexeme><grapheme>W3C</grapheme><grapheme>w3c</grapheme><alias>World Wide Web Consortium</alias></lexeme>
  <lexeme><grapheme>行</grapheme><phoneme alphabet="x-pinyin">hang2</phoneme></lexeme>
</lexicon>"""})
    assert [(x.grapheme, x.alias, x.phoneme, x.alphabet) for x in lexicon.lexemes] == [
        ("W3C", "World Wide Web Consortium", None, None), ("w3c", "World Wide Web Consortium", None, None),
        ("行", None, "hang2", "pinyin")]


def test_the_spoken_text_holds_every_segment_where_captions_will_look_for_it() -> None:
    request = SynthesisRequest(text="<speak><p>Hello there, Ann Lee.</p><p>A second paragraph here.</p></speak>")
    request = request.model_copy(update={"utterances": said(request.text, voice="en-female")})
    text, spans = spoken_text(request, max_chars=12)
    assert text == "Hello there, Anne Leigh.\nA second paragraph here."
    assert [text[s.start:s.end] for s in spans] == [s.text for s in segments_of(request.utterances or [], 12)]
