"""Turning an uploaded object into a request: names that cannot escape their prefix, one execution
name per object version, and a stable code for every kind of bad file."""

from __future__ import annotations

import json

import pytest

from tts_core.pipeline import jobs
from tts_core.pipeline.uploads import execution_name, output_name, parse_upload


@pytest.mark.parametrize(("key", "name"), [
    ("inbox/hello.txt", "hello"),
    ("inbox/你好，世界.json", "你好_世界"),
    ("inbox/notes.v2.txt", "notes.v2"),
    ("inbox/a b&c.txt", "a_b_c"),
    ("inbox/sub/dir/file.txt", "sub_dir_file"),
    ("inbox/../../etc/passwd.txt", "etc_passwd"),
    ("inbox//abs/path.txt", "abs_path"),
    ("inbox/%2e%2e%2f%2e%2e%2fsecret.txt", "secret"),
    ("inbox/..%5C..%5Cwin.txt", "win"),
    ("inbox/.hidden.txt", "hidden"),
    ("inbox/...txt", "upload"),
    ("inbox/" + "x" * 300 + ".txt", "x" * 100),
])
def test_given_an_inbox_key_when_naming_outputs_then_the_name_is_flat_and_safe(key: str, name: str) -> None:
    assert output_name(key) == name
    assert "/" not in name and "\\" not in name and not name.startswith(".")


def test_given_the_same_object_then_the_execution_name_is_the_same_and_a_valid_request_id() -> None:
    first = execution_name("bucket", "inbox/a.txt", "etag1")
    assert first == execution_name("bucket", "inbox/a.txt", "etag1")
    assert first != execution_name("bucket", "inbox/a.txt", "etag2")  # new content: a new synthesis
    assert first != execution_name("bucket", "inbox/b.txt", "etag1")
    assert jobs._REQUEST_ID.match(first) and len(first) <= 80  # Step Functions' limit on names


def test_given_text_or_a_request_body_then_a_request_with_its_options() -> None:
    text = parse_upload("inbox/a.txt", "\ufeff你好 Hello\n".encode(), max_text_chars=100)
    assert (text.text, text.voice) == ("你好 Hello", "zh-female")
    body = json.dumps({"text": "hi", "voice": "en-male", "speed": 1.5, "cache": False}).encode()
    request = parse_upload("inbox/a.JSON", body, max_text_chars=100)
    assert (request.voice, request.speed, request.cache) == ("en-male", 1.5, False)


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
        parse_upload(key, data, max_text_chars=100)
    assert getattr(caught.value, "code", None) == code, caught.value
