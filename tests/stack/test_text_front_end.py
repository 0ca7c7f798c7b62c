"""The text front end on the local stack: SSML, Markdown, lexicons and languages through the API and
uploads, and the same words handed to every engine (the ToneEngine doubles record what they were given)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import numpy as np
import pytest
from http_client import call

from tts_core.audio import read_pcm16
from tts_core.errors import EngineError
from tts_core.platform import storage
from tts_local.doubles import ToneEngine
from tts_local.http_api import ApiServer

pytestmark = pytest.mark.stack
KEYS = ("key-one", "key-two")
NAMES = {"lexemes": [{"grapheme": "Siobhan", "alias": "Shivawn"}, {"grapheme": "Siobhan Lee", "alias": "Shivawn Lee"},
                     {"grapheme": "W3C", "alias": "World Wide Web Consortium"}]}


@contextmanager
def serving(local_stack, engines: dict[str, Any] | None = None, **parameters: str) -> Iterator[tuple[ApiServer, Any]]:
    engines = engines or {"primary": ToneEngine("primary"), "fallback": ToneEngine("fallback")}
    with local_stack(engines=engines, **parameters) as stack:
        server = ApiServer(stack, port=0, api_key=KEYS)
        server.start()
        try:
            yield server, stack
        finally:
            server.stop()


def send(server: ApiServer, method: str, path: str, body: Any = None, key: str = KEYS[0]) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    return call(server, method, path, data, headers={"x-api-key": key})


def texts(engine: ToneEngine) -> list[str]:
    return [r.text for r in engine.calls]


def test_ssml_is_spoken_not_read_aloud_with_exact_pauses_prosody_voices_and_marks(local_stack) -> None:
    ssml = ('<speak><s>Hello <mark name="hello"/>there.</s><break time="2s"/>'
            '<prosody rate="slow" volume="loud">Slowly now.</prosody>'
            '<voice name="en-male">Another voice.</voice></speak>')
    with serving(local_stack, SegmentMaxChars="20") as (server, stack):
        status, body = send(server, "POST", "/api/synthesize", {"text": ssml, "voice": "en-female"})
        assert status == 200 and body["status"] == "success", body
        primary = stack.function("primary").engine
        said = sorted(primary.calls, key=lambda r: r.text)
        assert [r.text for r in said] == ["Another voice.", "Hello", "Slowly now.", "there."]
        assert not any("<" in t or "speak" in t for t in texts(primary))
        by_text = {r.text: r for r in said}
        assert (by_text["Slowly now."].speed, by_text["Slowly now."].volume) == (0.75, 50)  # louder: a gain after
        assert by_text["Another voice."].voice == "en-male" and by_text["Hello"].voice == "en-female"

        def rms(index: int) -> float:
            pcm, _ = read_pcm16(storage.get_bytes(stack.bucket, storage.segment_key(body["request_id"], index,
                                                                                   "primary")))
            return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))

        assert rms(2) / rms(0) == pytest.approx(1.4, rel=0.02)  # volume="loud", the same gain on every engine
        samples, rate = read_pcm16(storage.get_bytes(stack.bucket, body["audio_key"]))
        # The ToneEngine's audio lasts 0.25 s + 0.06 s per character; the join adds the pauses asked for.
        spoken = sum(0.25 + 0.06 * len(t) for t in texts(primary))
        # Hello|there: the mark (no pause); there.|Slowly: the break; now.|Another: a sentence's end, the
        # default pause (SegmentPauseMs, 250 ms).
        pauses = 0.0 + 2.0 + 0.25
        assert samples.size / rate == pytest.approx(spoken + pauses, abs=0.01)
        (mark,) = body["marks"]
        assert mark["name"] == "hello" and mark["time_s"] == pytest.approx(0.25 + 0.06 * len("Hello"), abs=0.002)


def test_captions_and_sentence_marks_are_of_the_words_heard_with_the_ssml_marks(local_stack) -> None:
    ssml = '<speak><p>Hello <mark name="m"/>there.</p><p>Second <sub alias="paragraph">para</sub>.</p></speak>'
    with serving(local_stack) as (server, stack):
        status, body = send(server, "POST", "/api/synthesize", {"text": ssml, "voice": "en-female", "captions": True})
        assert status == 200, body
        result = storage.get_json(stack.bucket, storage.result_key(body["request_id"]))
        marks = [json.loads(line) for line in
                 storage.get_bytes(stack.bucket, result["captions"]["marks"]).decode().splitlines()]
        assert [(m["type"], m["value"]) for m in marks] == [
            ("sentence", "Hello"), ("ssml", "m"), ("sentence", "there."), ("sentence", "Second paragraph.")]
        assert marks[1]["time"] == round(result["marks"][0]["time_s"] * 1000) == marks[2]["time"]
        srt = storage.get_bytes(stack.bucket, result["captions"]["srt"]).decode()
        assert "Second paragraph." in srt and "<" not in srt


def test_bad_ssml_and_unknown_tags_are_refused_with_a_code_or_ignored_when_asked(local_stack) -> None:
    with serving(local_stack) as (server, stack):
        status, body = send(server, "POST", "/api/synthesize", {"text": "<speak>\n<s>Hi</p></speak>"})
        assert (status, body["code"]) == (400, "INVALID_SSML") and "line 2, column" in body["message"]
        status, body = send(server, "POST", "/api/synthesize", {"text": "<speak><emphasis>Hi</emphasis></speak>"})
        assert (status, body["code"]) == (400, "SSML_UNSUPPORTED_TAG") and "<emphasis>" in body["message"]
        bomb = '<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]><speak>&b;</speak>'
        status, body = send(server, "POST", "/api/synthesize", {"text": bomb, "text_type": "ssml"})
        assert (status, body["code"]) == (400, "INVALID_SSML")
        assert not stack.function("primary").engine.calls

        status, body = send(server, "POST", "/api/synthesize",
                            {"text": "<speak><emphasis>Hi there</emphasis></speak>", "unknown_tags": "ignore"})
        assert status == 200, body
        assert texts(stack.function("primary").engine) == ["Hi there"]


@pytest.mark.parametrize(("text", "voice", "script"), [
    ("今日はいい天気ですね", "zh-female", "Hiragana"), ("안녕하세요", "zh-female", "Hangul"),
    ("Привет, мир", "en-female", "Cyrillic"), ("Hello 你好", "en-female", "Han"),
])
def test_languages_no_engine_of_the_voice_speaks_are_refused(local_stack, text: str, voice: str, script: str) -> None:
    with serving(local_stack) as (server, stack):
        status, body = send(server, "POST", "/api/synthesize", {"text": text, "voice": voice})
        assert (status, body["code"]) == (422, "UNSUPPORTED_LANGUAGE") and f"{script} script" in body["message"]
        assert not stack.function("primary").engine.calls
        ssml = f'<speak>Hello. <voice name="{voice}">{text}</voice></speak>'
        status, body = send(server, "POST", "/api/synthesize", {"text": ssml, "voice": "zh-female"})
        assert (status, body["code"]) == (422, "UNSUPPORTED_LANGUAGE")


def test_lexicons_belong_to_their_key_and_apply_longest_match_first(local_stack) -> None:
    with serving(local_stack) as (server, stack):
        assert send(server, "PUT", "/api/lexicons/names", NAMES)[0] == 200
        status, body = send(server, "GET", "/api/lexicons")
        assert status == 200 and [(x["name"], x["lexemes"]) for x in body["lexicons"]] == [("names", 3)]
        assert send(server, "GET", "/api/lexicons/names", key=KEYS[1])[1]["code"] == "LEXICON_NOT_FOUND"
        assert send(server, "GET", "/api/lexicons", key=KEYS[1])[1]["lexicons"] == []

        request = {"text": "Siobhan Lee and Siobhan joined W3C.", "voice": "en-female", "lexicons": ["names"]}
        status, body = send(server, "POST", "/api/synthesize", request)
        assert status == 200, body
        # The segments run at once (the Map): the double records them in the order they arrived.
        said = texts(stack.function("primary").engine)
        expected = "Shivawn Lee and Shivawn joined World Wide Web Consortium."
        assert all(part in expected for part in said)
        assert " ".join(sorted(said, key=expected.index)) == expected  # every word, each segment whole
        status, body = send(server, "POST", "/api/synthesize", request, key=KEYS[1])
        assert (status, body["code"]) == (404, "LEXICON_NOT_FOUND")

        pls = ('<lexicon version="1.0" xmlns="http://www.w3.org/2005/01/pronunciation-lexicon" alphabet="ipa">'
               '<lexeme><grapheme>tomato</grapheme><phoneme>təˈmeɪtoʊ</phoneme></lexeme></lexicon>')
        status, body = send(server, "PUT", "/api/lexicons/veg", {"pls": pls}, key=KEYS[1])
        assert status == 200 and body["lexemes"] == [{"grapheme": "tomato", "alias": None, "phoneme": "təˈmeɪtoʊ",
                                                      "alphabet": "ipa"}]
        # A lexeme the schema refuses is INVALID_INPUT, as for any body; a PLS document's problems INVALID_LEXICON.
        assert send(server, "PUT", "/api/lexicons/bad", {"lexemes": [{"grapheme": "x"}]})[1]["code"] == "INVALID_INPUT"
        assert send(server, "PUT", "/api/lexicons/bad", {"pls": "<lexicon>"})[1]["code"] == "INVALID_LEXICON"
        assert send(server, "PUT", "/api/lexicons/no%20spaces", NAMES)[1]["code"] == "INVALID_INPUT"
        assert send(server, "DELETE", "/api/lexicons/names")[0] == 200
        assert send(server, "DELETE", "/api/lexicons/names")[0] == 404


def test_every_engine_is_handed_the_same_words(local_stack) -> None:
    """A lexicon, normalisation and SSML: the primary's segments, then (the same request once the primary is
    down and the fallback fails on its last call) the fallback's and the last resort's calls say the same words."""
    engines = {name: ToneEngine(name) for name in ("primary", "fallback", "offline")}
    ssml = ('<speak><p>Siobhan Lee paid $5.50 at 9:05 on 2024-01-02.</p>'
            '<p>She wrote to <say-as interpret-as="characters">W3C</say-as>.</p></speak>')
    request = {"text": ssml, "voice": "en-female", "lexicons": ["names"], "cache": False}
    expected = ("Shivawn Lee paid five dollars fifty cents at nine oh five on January second, twenty "
                "twenty-four. She wrote to W 3 C.")
    with serving(local_stack, engines=engines, SegmentMaxChars="25", LastResortEnabled="true") as (server, _):
        assert send(server, "PUT", "/api/lexicons/names", NAMES)[0] == 200
        status, body = send(server, "POST", "/api/synthesize", request)
        assert status == 200 and body["engine_used"] == "primary", body
        primary = texts(engines["primary"])
        assert len(primary) > 2 and sorted(" ".join(primary).split()) == sorted(expected.split())  # in parallel

        engines["primary"].fail_on[""] = EngineError("primary down")
        engines["fallback"].fail_on["W 3 C"] = EngineError("fallback fails on its last call")
        status, body = send(server, "POST", "/api/synthesize", request)
        assert status == 200 and body["engine_used"] == "offline", body
        assert " ".join(texts(engines["fallback"])) == expected
        assert " ".join(texts(engines["offline"])) == expected


def test_markdown_and_ssml_uploads_go_through_the_same_front_end(local_stack) -> None:
    with serving(local_stack) as (_server, stack):
        s3 = boto3.client("s3")
        s3.put_object(Bucket=stack.bucket, Key="inbox/chapter.md",
                      Body=b"# Chapter One\n\nIt was **dark** ([notes](https://x.example)).\n")
        stack.wait(stack.deliveries[-1].answer["request_id"])
        assert sorted(texts(stack.function("primary").engine)) == ["Chapter One", "It was dark (notes)."]
        s3.put_object(Bucket=stack.bucket, Key="inbox/bad.ssml", Body=b"<speak><s>unclosed</speak>")
        assert stack.deliveries[-1].answer["code"] == "INVALID_SSML"
        assert storage.get_json(stack.bucket, "failed/bad.ssml.json")["code"] == "INVALID_SSML"
        s3.put_object(Bucket=stack.bucket, Key="inbox/kana.txt", Body="ひらがなです".encode())
        assert storage.get_json(stack.bucket, "failed/kana.txt.json")["code"] == "UNSUPPORTED_LANGUAGE"
