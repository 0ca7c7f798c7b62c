"""Turning an uploaded object into a request: names that cannot escape their prefix, one execution
name per object version, and a stable code for every kind of bad file."""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest

from tts_core.errors import InvalidInputError
from tts_core.pipeline import jobs
from tts_core.pipeline.uploads import MAX_NAME_CHARS, execution_name, output_name, parse_upload


@pytest.mark.parametrize(("key", "name"), [
    ("inbox/hello.txt", "hello.txt"),
    ("inbox/你好，世界.json", "你好%EF%BC%8C世界.json"),
    ("inbox/notes.v2.txt", "notes.v2.txt"),
    ("inbox/a b&c.txt", "a%20b%26c.txt"),
    ("inbox/sub/dir/file.txt", "sub%2Fdir%2Ffile.txt"),
    ("inbox/../../etc/passwd.txt", "%2E%2E%2F.%2E%2Fetc%2Fpasswd.txt"),
    ("inbox/%2e%2e%2fsecret.txt", "%252e%252e%252fsecret.txt"),
    ("inbox/.hidden.txt", "%2Ehidden.txt"),
    ("inbox/...txt", "%2E%2E%2Etxt"),
    ("inbox/a~b.txt", "a%7Eb.txt"),
    ("inbox/", "%"),
])
def test_given_an_inbox_key_when_naming_outputs_then_the_name_is_readable_and_decodes_back(key: str,
                                                                                          name: str) -> None:
    assert output_name(key) == name
    assert "/" not in name and ".." not in name and not name.startswith(".")
    assert unquote(name) == key.removeprefix("inbox/") or name == "%"


COLLIDING_BEFORE = [  # pairs that shared one output before names were injective
    ("inbox/dir/name.txt", "inbox/dir_name.txt"), ("inbox/x.txt", "inbox/x.json"),
    ("inbox/a b.txt", "inbox/a_b.txt"), ("inbox/%41.txt", "inbox/A.txt"), ("inbox/.x.txt", "inbox/x.txt"),
    ("inbox/" + "y" * 300 + ".txt", "inbox/" + "y" * 301 + ".txt"), ("inbox/a/b.txt", "inbox/a%2Fb.txt"),
]


@pytest.mark.parametrize(("first", "second"), COLLIDING_BEFORE)
def test_given_two_keys_then_they_never_share_a_name(first: str, second: str) -> None:
    assert output_name(first) != output_name(second)


def test_given_a_very_long_key_then_the_name_is_bounded_and_still_unique() -> None:
    names = {n: output_name("inbox/" + "z" * n + ".txt") for n in range(190, 400)}
    assert len(set(names.values())) == len(names) and max(map(len, names.values())) == MAX_NAME_CHARS
    assert all(("~" in name) == (n + 4 > MAX_NAME_CHARS) for n, name in names.items())


def test_given_the_same_object_then_the_execution_name_is_the_same_and_a_valid_request_id() -> None:
    first = execution_name("bucket", "inbox/a.txt", "etag1")
    assert first == execution_name("bucket", "inbox/a.txt", "etag1")
    assert first != execution_name("bucket", "inbox/a.txt", "etag2")  # new content: a new synthesis
    assert first != execution_name("bucket", "inbox/b.txt", "etag1")
    assert jobs._REQUEST_ID.match(first) and len(first) <= 80  # Step Functions' limit on names


def test_given_text_or_a_request_body_then_a_request_with_its_options() -> None:
    text = parse_upload("inbox/a.txt", "\ufeff你好 Hello\n".encode(), max_text_chars=100, contract_rate=22050)
    assert (text.text, text.voice) == ("你好 Hello", "zh-female")
    body = json.dumps({"text": "hi", "voice": "en-male", "speed": 1.5, "cache": False}).encode()
    request = parse_upload("inbox/a.JSON", body, max_text_chars=100, contract_rate=22050)
    assert (request.voice, request.speed, request.cache) == ("en-male", 1.5, False)


def test_a_txt_upload_takes_the_configured_format_and_a_json_upload_its_own() -> None:
    text = parse_upload("inbox/a.txt", b"Hello.", max_text_chars=100, contract_rate=22050, text_format="mp3")
    assert (text.format, text.mastering, text.captions) == ("mp3", "default", False)
    body = json.dumps({"text": "hi", "format": "opus", "bitrate_kbps": 48, "mastering": "podcast",
                       "captions": True}).encode()
    request = parse_upload("inbox/a.json", body, max_text_chars=100, contract_rate=22050, text_format="mp3")
    assert (request.format, request.bitrate_kbps, request.mastering, request.captions) == ("opus", 48, "podcast", True)


@pytest.mark.parametrize("body", [{"format": "wav", "mastering": "acx"}, {"format": "flac", "bitrate_kbps": 128},
                                  {"format": "mp3", "bitrate_kbps": 32}, {"format": "ogg"}, {"captions": "yes"},
                                  {"mastering": "loud"}, {"mastering": "acx", "sample_rate": 22050}])
def test_an_upload_asking_for_what_cannot_be_delivered_is_refused(body) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_upload("inbox/a.json", json.dumps({"text": "hi"} | body).encode(), max_text_chars=100,
                     contract_rate=22050)
    assert caught.value.code == "INVALID_INPUT"


@pytest.mark.parametrize(("key", "data", "code"), [
    ("inbox/a.txt", b"", "EMPTY_UPLOAD"),
    ("inbox/a.txt", b" \n\t ", "INVALID_INPUT"),
    ("inbox/a.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "INVALID_ENCODING"),
    ("inbox/a.txt", "caf\u00e9".encode("latin-1"), "INVALID_ENCODING"),
    ("inbox/a.txt", b"x" * (256 * 1024 + 1), "PAYLOAD_TOO_LARGE"),
    ("inbox/a.txt", b"x" * 101, "TEXT_TOO_LONG"),
    ("inbox/a.json", b'{"text": ', "MALFORMED_JSON"),
    ("inbox/a.json", b'["hi"]', "INVALID_INPUT"),
    ("inbox/a.json", b'{"text": "hi", "speed": 9}', "INVALID_INPUT"),
    ("inbox/a.json", b'{"text": "hi", "colour": "blue"}', "INVALID_INPUT"),
    ("inbox/a.json", b'{"text": "hi", "voice": "nobody"}', "VOICE_NOT_FOUND"),
    ("inbox/a.png", b"hello", "UNSUPPORTED_MEDIA_TYPE"),
    ("inbox/noextension", b"hello", "UNSUPPORTED_MEDIA_TYPE"),
])
def test_given_a_bad_file_then_a_stable_code(key: str, data: bytes, code: str) -> None:
    with pytest.raises(Exception) as caught:
        parse_upload(key, data, max_text_chars=100, contract_rate=22050)
    assert getattr(caught.value, "code", None) == code, caught.value
