"""Bad input through the HTTP API and through S3 uploads, table by table (what test_http_api.py and
test_uploads.py do not already cover). Every row ends as a 4xx with a stable code (API) or as a
failed/ record with a code (uploads); nothing crashes (no 5xx, no Lambda FunctionError), nothing
refused starts an execution, and nothing lands outside the prefixes tts_core.platform.storage defines.

One local stack serves the whole module (engine doubles: synthesis is instant); each row checks
the bucket after itself, and the module checks it once more when the stack stops."""

from __future__ import annotations

import codecs
import http.client
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
import pytest

from tts_core.models import SynthesisRequest
from tts_core.pipeline.uploads import MAX_NAME_CHARS
from tts_core.platform import storage
from tts_core.platform.observability import logger
from tts_core.segmentation import segment
from tts_core.text.normalise import normalise
from tts_local.doubles import ToneEngine
from tts_local.http_api import ApiServer
from tts_local.stack import LocalStack
from tts_local.template import load_template, parameter_defaults

pytestmark = pytest.mark.stack

PREFIXES = (storage.AUDIO_PREFIX, storage.RESULTS_PREFIX, storage.CACHE_PREFIX, storage.INBOX_PREFIX,
            storage.OUTPUTS_PREFIX, storage.FAILED_PREFIX, storage.SUPERSEDED_PREFIX)
LIMIT = 5000  # template Parameter MaxTextChars (default)
JSON = "application/json"
ONE_MB = 1024 * 1024
MAX_MESSAGE_CHARS = 400  # an error message quotes at most 80 characters of any value sent


@dataclass(frozen=True)
class Served:
    stack: LocalStack
    server: ApiServer


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.raw)
        return parsed


@pytest.fixture(scope="module")
def served(served_api) -> Iterator[Served]:
    """One stack for the module (the `local_stack` fixture is per test: a stack per row is slow)."""
    # The silent-engine rows fail the primary on purpose: the breaker must not move the route for the others.
    # The whole suite is one caller: room for its twenty simultaneous jobs and all its characters.
    with served_api({"RetryMaxDelaySeconds": "1", "BreakerFailureThreshold": "1000", "KeyMaxJobsInFlight": "100",
                     "KeyDailyCharacters": "10000000"}) as (stack, server):
        yield Served(stack, server)
        assert_every_key_is_under_a_known_prefix(stack)  # after the whole suite


# ---- helpers ------------------------------------------------------------------------------------
def send(server: ApiServer, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> Answer:
    """Exactly these bytes and headers (urllib would add a form content type of its own)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Answer(response.status, dict(response.getheaders()), response.read())
    finally:
        connection.close()


def finished(server: ApiServer, answer: Answer, timeout_s: float = 120) -> dict[str, Any]:
    """The job's final body: a 202 (still running after SyncWaitSeconds, e.g. on a loaded machine) is polled."""
    job = answer.body
    deadline = time.monotonic() + timeout_s
    while job["status"] == "accepted" and time.monotonic() < deadline:
        time.sleep(0.2)
        job = send(server, "GET", f"/api/jobs/{job['request_id']}").body
    return job


def executions(stack: LocalStack) -> list[dict[str, Any]]:
    listed = boto3.client("stepfunctions").list_executions(stateMachineArn=stack.state_machine_arn)
    found: list[dict[str, Any]] = listed["executions"]
    return found


def all_keys(stack: LocalStack) -> list[str]:
    pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=stack.bucket)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def assert_every_key_is_under_a_known_prefix(stack: LocalStack) -> None:
    keys = all_keys(stack)
    assert [k for k in keys if not k.startswith(PREFIXES)] == []
    written = [k for k in keys if not k.startswith(storage.INBOX_PREFIX)]  # inbox/ holds what the tests put
    # Names are percent-encoded (tts_core.pipeline.uploads.output_name): `%` is expected, a path never.
    assert [k for k in written if ".." in k or "//" in k or "\\" in k] == []


def function_errors(stack: LocalStack, since: int) -> list[tuple[str, Any]]:
    return [(d.function, d.answer) for d in stack.deliveries[since:] if d.error]


def assert_never_reflected_raw(answer: Answer) -> None:
    """A JSON answer may quote what was sent, but never as markup a browser would parse."""
    assert answer.headers.get("Content-Type", "").startswith(JSON), answer.headers
    assert b"<" not in answer.raw and b">" not in answer.raw, answer.raw[:300]


# ---- the API ------------------------------------------------------------------------------------
def as_segments(text: str) -> list[str]:
    """What the engine must be asked to say for plain `text` in the default voice: the shared segmentation
    of it as the text front end normalises it (digits and URLs as words), otherwise verbatim."""
    return sorted(segment(normalise(text, ["zh", "en"]), int(parameter_defaults(load_template())["SegmentMaxChars"])))


def primary_engine(served: Served) -> ToneEngine:
    """The primary's double: its `calls` are what the engine was asked to say."""
    engine = served.stack.function("primary").engine
    assert isinstance(engine, ToneEngine)
    return engine


def spoken(calls: list[SynthesisRequest]) -> list[str]:
    return sorted(c.text for c in calls)  # segments run in parallel: their calls come in any order


def body(**fields: Any) -> bytes:
    return json.dumps(fields, ensure_ascii=False).encode()


HOSTILE_MARKUP = ('<speak><prosody rate="x-fast">hi</prosody><audio src="http://evil.example/x.wav"/></speak>',
                  "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "<!--#exec cmd=\"ls\"-->")

PYDANTIC_WORDING = ("Input should", "Value error", "instance of", "String should", "Field required", "Extra inputs")
API_REFUSALS: list[tuple[str, bytes, str, int, str]] = [  # id, body, content type, status, code
    # whitespace only: tabs, CR, no-break and ideographic spaces
    ("blank-tabs", body(text="\t\t\r\n"), JSON, 400, "INVALID_INPUT"),
    ("blank-unicode-spaces", body(text="\u00a0\u3000\u2003 "), JSON, 400, "INVALID_INPUT"),
    # over the limit: counted in characters, multi-byte and astral characters too
    ("over-limit-cjk", body(text="你" * (LIMIT + 1)), JSON, 413, "TEXT_TOO_LONG"),
    ("over-limit-emoji", body(text="\U0001f600" * (LIMIT + 1)), JSON, 413, "TEXT_TOO_LONG"),
    ("over-limit-after-strip", body(text=" " * 10 + "a" * (LIMIT + 1) + " " * 10), JSON, 413, "TEXT_TOO_LONG"),
    # 1 MB bodies: refused on size whatever is inside, before being parsed
    ("1mb-text", body(text="a" * ONE_MB), JSON, 413, "PAYLOAD_TOO_LARGE"),
    ("1mb-not-json", b"{" * ONE_MB, JSON, 413, "PAYLOAD_TOO_LARGE"),
    ("1mb-multibyte", body(text="語" * (ONE_MB // 3)), JSON, 413, "PAYLOAD_TOO_LARGE"),
    ("1mb-wrong-type", b"a" * ONE_MB, "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"),
    # invalid UTF-8
    ("latin-1", '{"text": "café"}'.encode("latin-1"), JSON, 400, "INVALID_ENCODING"),
    ("overlong-slash", b'{"text": "\xc0\xaf"}', JSON, 400, "INVALID_ENCODING"),
    ("encoded-surrogate", b'{"text": "\xed\xa0\x80"}', JSON, 400, "INVALID_ENCODING"),
    ("truncated-sequence", b'{"text": "\xe4\xbd"}', JSON, 400, "INVALID_ENCODING"),
    ("utf-16", '{"text": "hi"}'.encode("utf-16"), JSON, 400, "INVALID_ENCODING"),
    ("escaped-lone-surrogate", b'{"text": "a\\ud800b"}', JSON, 400, "INVALID_INPUT"),
    # control characters (escaped: JSON forbids them raw inside strings)
    ("bell", body(text="ring \u0007 ring"), JSON, 400, "INVALID_INPUT"),
    ("escape-sequence", body(text="\u001b[31mred\u001b[0m"), JSON, 400, "INVALID_INPUT"),
    ("delete", body(text="a\u007fb"), JSON, 400, "INVALID_INPUT"),
    ("c1-next-line", body(text="a\u0085b"), JSON, 400, "INVALID_INPUT"),
    ("raw-control-in-string", b'{"text": "a\x01b"}', JSON, 400, "MALFORMED_JSON"),
    # unknown voices, including markup and paths as voice ids
    ("voice-empty", body(text="hi", voice=""), JSON, 404, "VOICE_NOT_FOUND"),
    ("voice-path", body(text="hi", voice="../../zh-female"), JSON, 404, "VOICE_NOT_FOUND"),
    ("voice-script", body(text="hi", voice="<script>alert(1)</script>"), JSON, 404, "VOICE_NOT_FOUND"),
    ("voice-case", body(text="hi", voice="ZH-FEMALE"), JSON, 404, "VOICE_NOT_FOUND"),
    ("voice-not-a-string", body(text="hi", voice=7), JSON, 400, "INVALID_INPUT"),
    # out-of-range and mistyped speed / pitch / volume
    ("speed-low", body(text="hi", speed=0.49), JSON, 400, "INVALID_INPUT"),
    ("speed-high", body(text="hi", speed=2.01), JSON, 400, "INVALID_INPUT"),
    ("speed-zero", body(text="hi", speed=0), JSON, 400, "INVALID_INPUT"),
    ("speed-word", body(text="hi", speed="fast"), JSON, 400, "INVALID_INPUT"),
    ("speed-nan", b'{"text": "hi", "speed": NaN}', JSON, 400, "MALFORMED_JSON"),  # Python reads NaN; JSON has none
    ("pitch-infinity", b'{"text": "hi", "pitch": Infinity}', JSON, 400, "MALFORMED_JSON"),
    ("alpha-minus-infinity", b'{"text": "hi", "emotion": {"alpha": -Infinity}}', JSON, 400, "MALFORMED_JSON"),
    ("volume-nan-valid-elsewhere", b'{"text": "NaN and Infinity are words here", "volume": NaN}', JSON, 400,
     "MALFORMED_JSON"),
    ("speed-infinite", b'{"text": "hi", "speed": 1e999}', JSON, 400, "INVALID_INPUT"),
    ("pitch-zero", body(text="hi", pitch=0), JSON, 400, "INVALID_INPUT"),
    ("pitch-negative", body(text="hi", pitch=-1), JSON, 400, "INVALID_INPUT"),
    ("pitch-high", body(text="hi", pitch=2.5), JSON, 400, "INVALID_INPUT"),
    ("volume-high", body(text="hi", volume=101), JSON, 400, "INVALID_INPUT"),
    ("volume-fraction", body(text="hi", volume=50.5), JSON, 400, "INVALID_INPUT"),
    ("volume-huge", b'{"text": "hi", "volume": 1' + b"0" * 400 + b"}", JSON, 400, "INVALID_INPUT"),
    ("style-unknown", body(text="hi", style="<shout>"), JSON, 400, "INVALID_INPUT"),
    ("emotion-short-vector", body(text="hi", emotion={"vector": [0.5]}), JSON, 400, "INVALID_INPUT"),
    # field names are echoed in messages: markup there too
    ("field-name-script", body(**{"text": "hi", "<script>alert(1)</script>": 1}), JSON, 400, "INVALID_INPUT"),
    # wrong content types (the body itself is valid JSON)
    ("text-plain", body(text="hi"), "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"),
    ("text-html", body(text="hi"), "text/html; charset=utf-8", 415, "UNSUPPORTED_MEDIA_TYPE"),
    ("xml", body(text="hi"), "application/xml", 415, "UNSUPPORTED_MEDIA_TYPE"),
    ("multipart", body(text="hi"), "multipart/form-data; boundary=x", 415, "UNSUPPORTED_MEDIA_TYPE"),
    ("octet-stream", body(text="hi"), "application/octet-stream", 415, "UNSUPPORTED_MEDIA_TYPE"),
    ("json-lookalike", body(text="hi"), "application/jsonx", 415, "UNSUPPORTED_MEDIA_TYPE"),
    ("content-type-script", body(text="hi"), "text/<script>alert(1)</script>", 415, "UNSUPPORTED_MEDIA_TYPE"),
    # malformed JSON and JSON that is not an object
    ("empty-body", b"", JSON, 400, "INVALID_INPUT"),
    ("trailing-comma", b'{"text": "hi",}', JSON, 400, "MALFORMED_JSON"),
    ("single-quotes", b"{'text': 'hi'}", JSON, 400, "MALFORMED_JSON"),
    ("two-documents", b'{"text": "hi"}{"text": "again"}', JSON, 400, "MALFORMED_JSON"),
    ("unquoted-key", b"{text: 1}", JSON, 400, "MALFORMED_JSON"),
    ("null", b"null", JSON, 400, "INVALID_INPUT"),
    ("string", b'"hi"', JSON, 400, "INVALID_INPUT"),
    ("number", b"42", JSON, 400, "INVALID_INPUT"),
    ("text-is-object", body(text={"$ne": ""}), JSON, 400, "INVALID_INPUT"),
    ("text-is-list", body(text=["hi"]), JSON, 400, "INVALID_INPUT"),
    ("deep-nesting", b'{"text": "hi", "emotion": ' + b"[" * 5000 + b"]" * 5000 + b"}", JSON, 400, "MALFORMED_JSON"),
    # JSON arrays, even of valid requests (powertools would validate the first item alone)
    ("array-of-one", b'[{"text": "hi"}]', JSON, 400, "INVALID_INPUT"),
    ("array-of-two", b'[{"text": "hi"}, {"text": "again"}]', JSON, 400, "INVALID_INPUT"),
    ("array-after-whitespace", b' \r\n\t[{"text": "hi"}]', JSON, 400, "INVALID_INPUT"),
    ("empty-array", b"[]", JSON, 400, "INVALID_INPUT"),
    # nothing to speak: it would be silence
    ("only-emoji", body(text="\U0001f600\U0001f389 \U0001f44d\U0001f3fd"), JSON, 422, "NOTHING_TO_SPEAK"),
    ("only-zwj-family", body(text="\U0001f468\u200d\U0001f469\u200d\U0001f467"), JSON, 422, "NOTHING_TO_SPEAK"),
    ("only-punctuation", body(text="... !?! — 。，《》"), JSON, 422, "NOTHING_TO_SPEAK"),
    ("only-symbols", body(text="+ = * / © ™ ♪"), JSON, 422, "NOTHING_TO_SPEAK"),
    ("only-zero-width", body(text="\u200b\u200c\u200d\u2060\ufeff"), JSON, 422, "NOTHING_TO_SPEAK"),
    ("only-combining-marks", body(text="\u0301\u0308"), JSON, 422, "NOTHING_TO_SPEAK"),
    # the emotion's fields: checked as `voice` and `text` are
    ("reference-voice-path", body(text="hi", emotion={"reference_voice": "../../x"}), JSON, 404, "VOICE_NOT_FOUND"),
    ("reference-voice-script", body(text="hi", emotion={"reference_voice": "<script>"}), JSON, 404,
     "VOICE_NOT_FOUND"),
    ("reference-voice-empty", body(text="hi", emotion={"reference_voice": ""}), JSON, 404, "VOICE_NOT_FOUND"),
    # SSML (detected: the text starts with <speak) with a tag outside the subset
    ("ssml-audio-tag", body(text=HOSTILE_MARKUP[0]), JSON, 400, "SSML_UNSUPPORTED_TAG"),
    ("emotion-text-nul", body(text="hi", emotion={"text": "calm\u0000"}), JSON, 400, "INVALID_INPUT"),
    ("emotion-text-escape", body(text="hi", emotion={"text": "\u001b[31mangry"}), JSON, 400, "INVALID_INPUT"),
    ("emotion-text-blank", body(text="hi", emotion={"text": " \t "}), JSON, 400, "INVALID_INPUT"),
    # strict types, as the OpenAPI document says (no coercion of strings, numbers or booleans)
    ("sample-rate-string", body(text="hi", sample_rate="48000"), JSON, 400, "INVALID_INPUT"),
    ("sample-rate-float", body(text="hi", sample_rate=48000.0), JSON, 400, "INVALID_INPUT"),
    ("cache-string", body(text="hi", cache="false"), JSON, 400, "INVALID_INPUT"),
    ("cache-number", body(text="hi", cache=0), JSON, 400, "INVALID_INPUT"),
    ("mixed-engines-yes", body(text="hi", allow_mixed_engines="yes"), JSON, 400, "INVALID_INPUT"),
    ("mixed-engines-one", body(text="hi", allow_mixed_engines=1), JSON, 400, "INVALID_INPUT"),
    ("speed-string", body(text="hi", speed="1.5"), JSON, 400, "INVALID_INPUT"),
    ("volume-string", body(text="hi", volume="50"), JSON, 400, "INVALID_INPUT"),
    ("volume-boolean", body(text="hi", volume=True), JSON, 400, "INVALID_INPUT"),
    ("alpha-string", body(text="hi", emotion={"alpha": "0.5"}), JSON, 400, "INVALID_INPUT"),
    ("vector-strings", body(text="hi", emotion={"vector": ["0.5"] * 8}), JSON, 400, "INVALID_INPUT"),
    # long values: refused, and never echoed whole (see the test of message lengths below)
    ("voice-100k", body(text="hi", voice="v" * 100_000), JSON, 404, "VOICE_NOT_FOUND"),
    ("field-name-100k", body(**{"text": "hi", "k" * 100_000: 1}), JSON, 400, "INVALID_INPUT"),
    ("content-type-8k", body(text="hi"), "text/" + "x" * 8_000, 415, "UNSUPPORTED_MEDIA_TYPE"),
    ("nested-field-100k", body(text="hi", emotion={"e" * 100_000: 1}), JSON, 400, "INVALID_INPUT"),
]


@pytest.mark.parametrize(("body", "content_type", "status", "code"),
                         [pytest.param(*row[1:], id=row[0]) for row in API_REFUSALS])
def test_given_bad_input_when_posted_then_a_4xx_with_a_stable_code_and_nothing_started(
        served: Served, body: bytes, content_type: str, status: int, code: str) -> None:
    started = len(executions(served.stack))

    answer = send(served.server, "POST", "/api/synthesize", body, {"Content-Type": content_type})

    assert (answer.status, answer.body["status"], answer.body["code"]) == (status, "error", code), answer.raw[:300]
    assert set(answer.body) == {"status", "code", "message"} and answer.body["message"]
    assert len(answer.body["message"]) <= MAX_MESSAGE_CHARS, answer.body["message"][:300]  # long values cut short
    assert not any(words in answer.body["message"] for words in PYDANTIC_WORDING), answer.body["message"]
    assert_never_reflected_raw(answer)
    assert len(executions(served.stack)) == started
    assert_every_key_is_under_a_known_prefix(served.stack)


def test_given_whitespace_only_text_then_the_message_is_plain(served: Served) -> None:
    answer = send(served.server, "POST", "/api/synthesize", body(text=" \t "), {"Content-Type": JSON})

    assert (answer.status, answer.body["message"]) == (400, "text: is empty or only whitespace"), answer.raw


@pytest.mark.parametrize("payload", [b"\xef\xbb\xbf" + body(text="Byte-order mark first."),
                                     b"\xef\xbb\xbf \r\n" + body(text="Byte-order mark, then a blank line.")])
def test_given_a_utf8_byte_order_mark_then_the_body_is_accepted_as_an_upload_is(served: Served,
                                                                               payload: bytes) -> None:
    answer = send(served.server, "POST", "/api/synthesize", payload, {"Content-Type": JSON})

    assert answer.status in (200, 202) and answer.body["status"] in ("success", "accepted"), answer.raw[:300]


def test_given_a_utf8_byte_order_mark_before_an_array_then_it_is_still_not_a_body(served: Served) -> None:
    answer = send(served.server, "POST", "/api/synthesize", b"\xef\xbb\xbf" + b'[{"text": "hi"}]',
                  {"Content-Type": JSON})

    assert (answer.status, answer.body["code"]) == (400, "INVALID_INPUT"), answer.raw[:300]


def test_given_no_content_type_when_a_valid_body_is_posted_then_it_is_taken_as_json(served: Served) -> None:
    answer = send(served.server, "POST", "/api/synthesize", body(text="No header."))

    assert answer.status == 200 and answer.body["status"] == "success", answer.raw[:300]


@pytest.mark.parametrize("text", HOSTILE_MARKUP)
def test_given_markup_in_text_then_it_is_spoken_as_plain_text_and_never_reflected(served: Served,
                                                                                 text: str) -> None:
    engine = primary_engine(served)
    called = len(engine.calls)

    answer = send(served.server, "POST", "/api/synthesize", body(text=text, text_type="plain", cache=False),
                  {"Content-Type": JSON})

    assert answer.status == 200 and answer.body["status"] == "success", answer.raw[:300]
    assert spoken(engine.calls[called:]) == as_segments(text)  # plain text: not parsed, not stripped
    job = send(served.server, "GET", f"/api/jobs/{answer.body['request_id']}")
    for reply in (answer, job):
        assert_never_reflected_raw(reply)
    assert_every_key_is_under_a_known_prefix(served.stack)


@pytest.mark.parametrize(("text", "heard"), [
    pytest.param("Line one.\r\nLine two.\r\n", "Line one.\nLine two.", id="crlf"),
    pytest.param("Old Mac one.\rOld Mac two.", "Old Mac one.\nOld Mac two.", id="cr"),
    pytest.param("Mixed.\r\n\r\nEndings.\n\rHere.", "Mixed.\n\nEndings.\n\nHere.", id="mixed"),
])
def test_given_windows_line_endings_then_they_are_normalised_and_spoken(served: Served, text: str,
                                                                        heard: str) -> None:
    engine = primary_engine(served)
    called = len(engine.calls)

    answer = send(served.server, "POST", "/api/synthesize", body(text=text, cache=False), {"Content-Type": JSON})

    assert answer.status == 200 and answer.body["status"] == "success", answer.raw[:300]
    assert spoken(engine.calls[called:]) == as_segments(heard)
    assert "\r" not in "".join(c.text for c in engine.calls[called:])


def test_given_a_forged_host_header_then_status_url_is_still_the_apis_own(served: Served) -> None:
    answer = send(served.server, "POST", "/api/synthesize", body(text="Where am I?"),
                  {"Content-Type": JSON, "Host": "evil.example", "X-Forwarded-Host": "evil.example"})

    assert answer.body["status_url"] == f"{served.server.url}/api/jobs/{answer.body['request_id']}"
    job = send(served.server, "GET", f"/api/jobs/{answer.body['request_id']}", headers={"Host": "evil.example"})
    assert job.body["status_url"] == answer.body["status_url"]


def test_given_text_at_the_limit_then_it_is_accepted(served: Served) -> None:
    answer = send(served.server, "POST", "/api/synthesize", body(text="語" * LIMIT), {"Content-Type": JSON})

    assert answer.status in (200, 202) and finished(served.server, answer)["status"] == "success", answer.raw[:300]


JOB_IDS = [  # raw path segment after /api/jobs/ (sent as is), status, code
    ("..", 400, "INVALID_INPUT"),
    ("%2e%2e", 400, "INVALID_INPUT"),
    ("%2e%2e%2f%2e%2e%2fresults%2fx", 400, "INVALID_INPUT"),
    ("%252e%252e%252f", 400, "INVALID_INPUT"),
    ("..%5C..%5Cwindows%5Cwin.ini", 400, "INVALID_INPUT"),
    ("..\\..\\results", 404, "ROUTE_NOT_FOUND"),  # the router's path parameters take no backslash
    ("..\\" * 3000, 404, "ROUTE_NOT_FOUND"),  # and the path is not echoed whole
    ("<script>alert(1)<%2Fscript>", 400, "INVALID_INPUT"),
    ("%2Fetc%2Fpasswd", 400, "INVALID_INPUT"),
    ("20261123T120000Z-0123456789ab%00", 400, "INVALID_INPUT"),
    ("20261123T120000Z-0123456789ab%0A", 400, "INVALID_INPUT"),
    ("20261123T120000Z-0123456789AB", 400, "INVALID_INPUT"),
    ("upload-" + "0" * 31, 400, "INVALID_INPUT"),
    ("%3Cscript%3Ealert(1)%3C%2Fscript%3E", 400, "INVALID_INPUT"),
    ("x" * 8000, 400, "INVALID_INPUT"),
    ("upload-" + "0" * 32, 404, "NOT_FOUND"),  # well formed, unknown
]


@pytest.mark.parametrize(("segment", "status", "code"), [pytest.param(*row, id=row[0][:40]) for row in JOB_IDS])
def test_given_a_hostile_job_id_then_a_4xx_with_a_stable_code(served: Served, segment: str, status: int,
                                                              code: str) -> None:
    answer = send(served.server, "GET", f"/api/jobs/{segment}")

    assert (answer.status, answer.body["status"], answer.body["code"]) == (status, "error", code), answer.raw[:300]
    assert len(answer.body["message"]) <= MAX_MESSAGE_CHARS
    assert_never_reflected_raw(answer)
    assert_every_key_is_under_a_known_prefix(served.stack)


@pytest.mark.parametrize(("body", "content_type", "code"), [
    pytest.param(b'{"override": "<script>"}', JSON, "INVALID_INPUT", id="unknown-route"),
    pytest.param(b"{", JSON, "MALFORMED_JSON", id="malformed"),
    pytest.param(b'{"override": "\xff"}', JSON, "INVALID_ENCODING", id="invalid-utf-8"),
    pytest.param(b'{"override": ' + b"[" * 5000 + b"]" * 5000 + b"}", JSON, "MALFORMED_JSON", id="deep-nesting"),
    pytest.param(b'{"override": "fallback"}', "text/plain", "UNSUPPORTED_MEDIA_TYPE", id="wrong-type"),
    pytest.param(b'{"override": "' + b"f" * ONE_MB + b'"}', JSON, "PAYLOAD_TOO_LARGE", id="1mb"),
])
def test_given_a_bad_route_override_then_a_4xx_and_the_route_is_unchanged(served: Served, body: bytes,
                                                                         content_type: str, code: str) -> None:
    before = send(served.server, "GET", "/api/health").body["route"]

    answer = send(served.server, "PUT", "/api/route", body, {"Content-Type": content_type} | as_admin(served))

    assert 400 <= answer.status < 500 and (answer.body["status"], answer.body["code"]) == ("error", code)
    assert_never_reflected_raw(answer)
    assert send(served.server, "GET", "/api/health").body["route"] == before


def as_admin(served: Served) -> dict[str, str]:
    assert served.server.admin_key
    return {"x-admin-key": served.server.admin_key}


@pytest.mark.parametrize("credentials", [
    pytest.param({}, id="none"),
    pytest.param({"x-api-key": "any"}, id="api-key-only"),
    pytest.param({"x-admin-key": "wrong"}, id="wrong-admin-key"),
    pytest.param({"x-admin-key": ""}, id="empty-admin-key"),
    pytest.param({"Authorization": "AWS4-HMAC-SHA256 Credential=x"}, id="unverifiable-signature"),
])
def test_given_no_admin_credential_when_the_route_is_overridden_then_403_and_unchanged(
        served: Served, credentials: dict[str, str]) -> None:
    before = send(served.server, "GET", "/api/health").body["route"]

    answer = send(served.server, "PUT", "/api/route", b'{"override": "fallback"}', {"Content-Type": JSON} | credentials)

    assert (answer.status, answer.body) == (403, {"message": "Forbidden"})
    assert send(served.server, "GET", "/api/health").body["route"] == before


# ---- engines that answer silence (markers: tests/conftest.py SILENT_PRIMARY, SILENT_BOTH) ----------
@pytest.mark.parametrize("marker", ["PRIMARYSILENT", "PRIMARYNEARSILENT"])
def test_given_an_engine_that_answers_silence_then_it_failed_and_the_next_engine_speaks(served: Served,
                                                                                      marker: str) -> None:
    answer = send(served.server, "POST", "/api/synthesize", body(text=f"Hi {marker}", cache=False),
                  {"Content-Type": JSON})

    assert (answer.status, answer.body["status"], answer.body["engine_used"]) == (200, "success", "fallback")
    assert [(a["engine"], a["outcome"], a.get("code")) for a in answer.body["attempts"]] == [
        ("primary", "failed", "ENGINE_SILENT_OUTPUT"), ("fallback", "succeeded", None)]  # never retried


def test_given_every_engine_answers_silence_then_none_is_a_success(served: Served) -> None:
    answer = send(served.server, "POST", "/api/synthesize", body(text="Hi BOTHSILENT", cache=False),
                  {"Content-Type": JSON})

    # The local stack's last resort (eSpeak NG) really speaks; without it the request would fail.
    assert [(a["engine"], a["outcome"], a.get("code")) for a in answer.body["attempts"]] == [
        ("primary", "failed", "ENGINE_SILENT_OUTPUT"), ("fallback", "failed", "ENGINE_SILENT_OUTPUT"),
        ("offline", "succeeded", None)], answer.raw[:500]


# ---- the HTTP front (API Gateway's part) ---------------------------------------------------------
def exchange(server: ApiServer, raw: bytes, *, timeout_s: float = 30) -> Answer:
    """Exactly these bytes on the wire (http.client refuses to send some of them), and the answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout_s) as sock:
        sock.sendall(raw)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return Answer(response.status, dict(response.getheaders()), response.read())


def request_bytes(method: str, headers: dict[str, str], payload: bytes = b"") -> bytes:
    lines = [f"{method} /api/synthesize HTTP/1.1", "Host: 127.0.0.1"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


@pytest.mark.parametrize(("headers", "payload", "status", "message"), [
    pytest.param({"Content-Length": "-5"}, b"", 400, "Invalid Content-Length", id="negative"),
    pytest.param({"Content-Length": "abc"}, b"", 400, "Invalid Content-Length", id="not-a-number"),
    pytest.param({"Content-Length": "+5"}, b"12345", 400, "Invalid Content-Length", id="signed"),
    pytest.param({"Content-Length": "1e3"}, b"", 400, "Invalid Content-Length", id="exponent"),
    pytest.param({"Content-Length": "9" * 40}, b"", 400, "Invalid Content-Length", id="forty-digits"),
    pytest.param({"Content-Length": "99999999999"}, b"", 413, "Request Too Long", id="100-gb"),
    pytest.param({"Transfer-Encoding": "chunked"}, b"zz\r\nhi\r\n0\r\n\r\n", 400, "Invalid chunked body",
                 id="bad-chunk-header"),
])
def test_given_a_bad_content_length_or_chunk_then_api_gateway_refuses_it_as_json(
        served: Served, headers: dict[str, str], payload: bytes, status: int, message: str) -> None:
    started = len(executions(served.stack))

    answer = exchange(served.server, request_bytes("POST", {"Content-Type": JSON} | headers, payload))

    assert (answer.status, answer.body) == (status, {"message": message})
    assert answer.headers["Content-Type"] == JSON
    assert len(executions(served.stack)) == started


@pytest.mark.parametrize(("raw", "status"), [
    pytest.param(request_bytes("POST", {"Content-Type": "text/" + "x" * 100_000}), 431, id="header-100k"),
    pytest.param(b"POST /api/synthesize HTTP/9.9\r\n\r\n", 505, id="http-9.9"),
    pytest.param(b"GARBAGE\r\n\r\n", 400, id="request-line"),
    pytest.param(b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414, id="uri-70k"),
])
def test_given_a_malformed_request_head_then_a_json_refusal(served: Served, raw: bytes, status: int) -> None:
    answer = exchange(served.server, raw)

    assert answer.status == status and answer.headers["Content-Type"] == JSON
    assert set(answer.body) == {"message"} and len(answer.body["message"]) < 200


@pytest.mark.parametrize("method", ["FOO", "TRACE", "CONNECT", "PROPFIND", "BREW"])
def test_given_an_unknown_method_then_api_gateways_json_refusal(served: Served, method: str) -> None:
    answer = exchange(served.server, request_bytes(method, {"Content-Length": "0"}))

    assert (answer.status, answer.body) == (403, {"message": "Missing Authentication Token"})
    assert answer.headers["Content-Type"] == JSON


@pytest.mark.parametrize("content_type", ["Application/JSON", "APPLICATION/JSON; charset=UTF-8",
                                          "application/json;CHARSET=utf-8"])
def test_given_a_json_media_type_in_any_case_then_it_is_accepted(served: Served, content_type: str) -> None:
    answer = send(served.server, "POST", "/api/synthesize", body(text="Case does not matter."),
                  {"Content-Type": content_type})

    assert answer.status == 200 and answer.body["status"] == "success", answer.raw[:300]


def test_given_a_chunked_body_then_it_is_read_whole(served: Served) -> None:
    engine = primary_engine(served)
    called = len(engine.calls)
    text = "Sent in chunks, spoken whole."
    pieces = [body(text=text, cache=False)[i:i + 7] for i in range(0, 60, 7)]

    connection = http.client.HTTPConnection("127.0.0.1", served.server.port, timeout=60)
    try:
        connection.request("POST", "/api/synthesize", body=iter(pieces), encode_chunked=True,
                           headers={"Content-Type": JSON, "Transfer-Encoding": "chunked"})
        response = connection.getresponse()
        answer = Answer(response.status, dict(response.getheaders()), response.read())
    finally:
        connection.close()

    assert answer.status == 200 and answer.body["status"] == "success", answer.raw[:300]
    assert [c.text for c in engine.calls[called:]] == [text]


def test_given_a_chunked_body_over_api_gateways_limit_then_413(served: Served) -> None:
    chunk = b"a" * ONE_MB
    payload = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(11)) + b"0\r\n\r\n"

    answer = exchange(served.server, request_bytes("POST", {"Content-Type": JSON, "Transfer-Encoding": "chunked"},
                                                   payload))

    assert (answer.status, answer.body) == (413, {"message": "Request Too Long"})


def test_given_a_client_that_stalls_mid_body_then_it_times_out_and_others_are_served(served: Served) -> None:
    impatient = ApiServer(served.stack, port=0, read_timeout_s=1.0)
    impatient.start()
    try:
        with socket.create_connection(("127.0.0.1", impatient.port), timeout=30) as stalled:
            stalled.sendall(request_bytes("POST", {"Content-Type": JSON, "Content-Length": "100"}, b'{"text": '))
            meanwhile = send(impatient, "GET", "/api/voices")  # a stalled client holds no one else up
            began = time.monotonic()
            response = http.client.HTTPResponse(stalled)
            response.begin()
            waited = time.monotonic() - began
            answer = Answer(response.status, dict(response.getheaders()), response.read())
    finally:
        impatient.stop()

    assert meanwhile.status == 200
    assert (answer.status, answer.body) == (408, {"message": "Request Timeout"})
    assert waited < 10


def test_given_twenty_simultaneous_posts_then_every_one_is_answered_and_started(served: Served) -> None:
    started = len(executions(served.stack))
    answers: dict[int, Answer | BaseException] = {}
    go = threading.Barrier(20)

    def one(n: int) -> None:
        go.wait()
        try:
            answers[n] = send(served.server, "POST", "/api/synthesize", body(text=f"Caller {n}.", cache=False),
                              {"Content-Type": JSON})
        except BaseException as exc:  # a reset connection: the defect this test is about
            answers[n] = exc

    threads = [threading.Thread(target=one, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Every one answered: 200, or 202 when the machine is too loaded to finish within SyncWaitSeconds.
    assert len(answers) == 20 and all(isinstance(a, Answer) and a.status in (200, 202) for a in answers.values()), \
        answers
    ids = {a.body["request_id"] for a in answers.values() if isinstance(a, Answer)}
    assert len(ids) == 20 and len(executions(served.stack)) == started + 20
    assert {finished(served.server, a)["status"] for a in answers.values() if isinstance(a, Answer)} == {"success"}


def test_given_keys_from_the_environment_and_a_file_then_serve_enforces_them_and_ps_never_shows_them(
        tts_local_serve, tmp_path: Path) -> None:
    api_key, admin_key = f"api-{uuid.uuid4()}", f"admin-{uuid.uuid4()}"
    admin_file = tmp_path / "admin-key"
    admin_file.write_text(admin_key + "\n")
    api_url, _ = tts_local_serve("--admin-key-file", str(admin_file), env={"TTS_LOCAL_API_KEY": api_key})

    def status(method: str, path: str, headers: dict[str, str], data: bytes | None = None) -> int:
        request = urllib.request.Request(api_url + path, data=data, method=method,
                                         headers={"Content-Type": JSON} | headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as error:
            return error.code

    override = b'{"override": null}'
    assert status("GET", "/api/voices", {}) == 403
    assert status("GET", "/api/voices", {"x-api-key": api_key}) == 200
    assert status("PUT", "/api/route", {"x-api-key": api_key}, override) == 403
    assert status("PUT", "/api/route", {"x-admin-key": admin_key}, override) == 200
    command_lines = [p.read_bytes() for p in Path("/proc").glob("[0-9]*/cmdline") if p.exists()]
    assert command_lines and not [c for c in command_lines if api_key.encode() in c or admin_key.encode() in c]


# ---- logs under concurrency ----------------------------------------------------------------------
class Lines(logging.Handler):
    """The JSON lines the handlers log, formatted in the thread (and context) that logs them."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logger.registered_formatter)
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


def test_given_concurrent_requests_and_uploads_then_every_log_line_belongs_to_its_own_invocation(
        served: Served) -> None:
    stack = served.stack
    lines = Lines()
    logging.getLogger(logger.name).addHandler(lines)
    answers: list[Answer] = []
    uploaded: list[str] = []

    def post(n: int) -> None:
        answers.append(send(served.server, "POST", "/api/synthesize",
                            body(text=f"Concurrent caller {n}.", cache=False), {"Content-Type": JSON}))

    def upload(n: int) -> None:
        key = f"inbox/concurrent-{n}.txt"
        put(stack, key, f"Concurrent upload {n}.".encode())
        uploaded.append(key)

    try:
        threads = [threading.Thread(target=post, args=(n,)) for n in range(10)]
        threads += [threading.Thread(target=upload, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        upload_ids = [d.answer["request_id"] for d in stack.deliveries
                      if d.event["detail"]["object"]["key"] in uploaded]
        for request_id in upload_ids + [a.body["request_id"] for a in answers]:
            stack.wait(request_id)
    finally:
        logging.getLogger(logger.name).removeHandler(lines)

    assert {a.status for a in answers} <= {200, 202} and len(answers) == 10 and len(upload_ids) == 4
    request_ids = {a.body["request_id"] for a in answers} | set(upload_ids)
    by_invocation: dict[str, list[dict[str, Any]]] = {}
    for line in lines.lines:
        if "function_request_id" in line:
            by_invocation.setdefault(line["function_request_id"], []).append(line)
    for invocation in by_invocation.values():  # one function, one correlation id, one request per invocation
        assert len({line["function_name"] for line in invocation}) == 1, invocation
        assert len({line.get("correlation_id") for line in invocation}) == 1, invocation
        assert len({line["request_id"] for line in invocation if line.get("request_id")}) <= 1, invocation
    correlation: dict[str, set[str]] = {}
    for line in lines.lines:
        if line.get("request_id") in request_ids:
            assert "function_name" in line, line  # logged inside an invocation, never outside one
            correlation.setdefault(line["request_id"], set()).add(line.get("correlation_id"))
    assert set(correlation) == request_ids and all(len(ids) == 1 for ids in correlation.values()), correlation
    functions = {short: stack.function(short).name for short in ("api", "ingest_upload", "primary")}
    by_message = {(line["message"], line["function_name"]) for line in lines.lines if "function_name" in line}
    assert {name for message, name in by_message if message == "synthesis started"} == {functions["api"]}
    assert {name for message, name in by_message if message == "upload accepted"} == {functions["ingest_upload"]}
    assert {name for message, name in by_message if message == "engine succeeded"} == {functions["primary"]}


# ---- S3 uploads ---------------------------------------------------------------------------------
def put(stack: LocalStack, key: str, data: bytes) -> str:
    etag: str = boto3.client("s3").put_object(Bucket=stack.bucket, Key=key, Body=data)["ETag"]
    return etag.strip('"')


BAD_UPLOADS: list[tuple[str, bytes, str]] = [  # key, content, code
    ("inbox/tabs.txt", b"\t \t\r\n\xc2\xa0", "INVALID_INPUT"),
    ("inbox/over-limit-cjk.txt", ("你" * (LIMIT + 1)).encode(), "TEXT_TOO_LONG"),
    ("inbox/one-mb.txt", b"a" * ONE_MB, "PAYLOAD_TOO_LARGE"),
    ("inbox/one-mb.json", body(text="a" * ONE_MB), "PAYLOAD_TOO_LARGE"),
    ("inbox/overlong.txt", b"\xc0\xaf", "INVALID_ENCODING"),
    ("inbox/surrogate.txt", b"a\xed\xa0\x80b", "INVALID_ENCODING"),
    ("inbox/utf16-no-bom.txt", "hello".encode("utf-16-le"), "INVALID_ENCODING"),
    ("inbox/utf16-bom-broken.txt", codecs.BOM_UTF16_LE + b"h\x00\x00\xd8", "INVALID_ENCODING"),
    ("inbox/latin1.json", '{"text": "café"}'.encode("latin-1"), "INVALID_ENCODING"),
    ("inbox/lone-surrogate.json", b'{"text": "a\\ud800b"}', "INVALID_INPUT"),
    ("inbox/bell.txt", b"ring \x07 ring", "INVALID_INPUT"),
    ("inbox/ansi.txt", b"\x1b[31mred\x1b[0m", "INVALID_INPUT"),
    ("inbox/c1.txt", "a\u0085b".encode(), "INVALID_INPUT"),
    ("inbox/control.json", body(text="a\u0007b"), "INVALID_INPUT"),
    ("inbox/null.json", b"null", "INVALID_INPUT"),
    ("inbox/list.json", b'["hi"]', "INVALID_INPUT"),
    ("inbox/nan.json", b'{"text": "hi", "speed": NaN}', "MALFORMED_JSON"),  # not JSON (Python reads it)
    ("inbox/infinity.json", b'{"text": "hi", "pitch": Infinity}', "MALFORMED_JSON"),
    ("inbox/minus-infinity.json", b'{"text": "hi", "emotion": {"alpha": -Infinity}}', "MALFORMED_JSON"),
    ("inbox/trailing.json", b'{"text": "hi",}', "MALFORMED_JSON"),
    ("inbox/deep.json", b'{"text": "hi", "emotion": ' + b"[" * 5000 + b"]" * 5000 + b"}", "MALFORMED_JSON"),
    ("inbox/speed.json", body(text="hi", speed=0.1), "INVALID_INPUT"),
    ("inbox/pitch.json", body(text="hi", pitch=9), "INVALID_INPUT"),
    ("inbox/volume.json", body(text="hi", volume=-5), "INVALID_INPUT"),
    ("inbox/voice-path.json", body(text="hi", voice="../../etc/passwd"), "VOICE_NOT_FOUND"),
    ("inbox/html.html", b"<script>alert(1)</script>", "UNSUPPORTED_MEDIA_TYPE"),
    ("inbox/double.txt.exe", b"hi", "UNSUPPORTED_MEDIA_TYPE"),
    ("inbox/no-extension", b"hi", "UNSUPPORTED_MEDIA_TYPE"),
    ("inbox/ssml.xml", b"<speak>hi</speak>", "UNSUPPORTED_MEDIA_TYPE"),
    ("inbox/emoji.txt", "\U0001f600\U0001f389\r\n\U0001f44d".encode(), "NOTHING_TO_SPEAK"),
    ("inbox/zero-width.txt", "\u200b\u200d\ufeff".encode(), "NOTHING_TO_SPEAK"),
    ("inbox/punctuation.json", body(text="?!… —"), "NOTHING_TO_SPEAK"),
    ("inbox/array.json", b'[{"text": "hi"}]', "INVALID_INPUT"),
    ("inbox/reference-voice.json", body(text="hi", emotion={"reference_voice": "../../x"}), "VOICE_NOT_FOUND"),
    ("inbox/emotion-nul.json", body(text="hi", emotion={"text": "a\u0000"}), "INVALID_INPUT"),
    ("inbox/cache-string.json", body(text="hi", cache="false"), "INVALID_INPUT"),
    ("inbox/rate-string.json", body(text="hi", sample_rate="48000"), "INVALID_INPUT"),
    ("inbox/voice-100k.json", body(text="hi", voice="v" * 100_000), "VOICE_NOT_FOUND"),
    ("inbox/.txt", b"A file with no name.", "INVALID_INPUT"),
    ("inbox/notes/.json", body(text="hi"), "INVALID_INPUT"),
]


@pytest.mark.parametrize(("key", "data", "code"), [pytest.param(*row, id=row[0]) for row in BAD_UPLOADS])
def test_given_a_bad_upload_then_a_failed_record_with_a_code_and_nothing_started(served: Served, key: str,
                                                                                 data: bytes, code: str) -> None:
    stack = served.stack
    started, delivered = len(executions(stack)), len(stack.deliveries)

    etag = put(stack, key, data)

    assert function_errors(stack, delivered) == []
    outcome = stack.deliveries[-1].answer
    assert (outcome["status"], outcome["code"]) == ("rejected", code), outcome
    record = storage.get_json(stack.bucket, storage.failed_key(outcome["name"]))
    assert (record["status"], record["code"], record["source"]["etag"]) == ("failed", code, etag), record
    assert record["message"] and len(record["message"]) <= MAX_MESSAGE_CHARS, record["message"][:300]
    assert len(executions(stack)) == started
    assert_every_key_is_under_a_known_prefix(stack)


@pytest.mark.parametrize("key", ["inbox/.txt", "inbox/.JSON"])
def test_given_a_file_named_only_by_its_extension_then_the_message_says_so(served: Served, key: str) -> None:
    put(served.stack, key, b"hello")

    outcome = served.stack.deliveries[-1].answer
    record = storage.get_json(served.stack.bucket, storage.failed_key(outcome["name"]))
    file_name = key.removeprefix("inbox/")
    assert record["message"] == f"the file name '{file_name}' is only an extension: name it, e.g. hello{file_name}"


LEGACY_CHINESE = [("gbk", "今天天气很好，我们去公园散步吧。", "GBK"), ("gb18030", "欢迎使用语音合成服务。", "GBK"),
                  ("big5", "你好，世界。繁體中文。", "Big5")]


@pytest.mark.parametrize(("encoding", "text", "looks_like"), LEGACY_CHINESE, ids=[e for e, _, _ in LEGACY_CHINESE])
def test_given_chinese_text_in_a_legacy_encoding_then_it_is_refused_with_how_to_save_it(
        served: Served, encoding: str, text: str, looks_like: str) -> None:
    stack = served.stack
    started = len(executions(stack))

    put(stack, f"inbox/legacy-{encoding}.txt", text.encode(encoding))

    outcome = stack.deliveries[-1].answer
    assert (outcome["status"], outcome["code"]) == ("rejected", "INVALID_ENCODING"), outcome
    record = storage.get_json(stack.bucket, storage.failed_key(outcome["name"]))
    assert record["message"].endswith(f"save it as UTF-8 (this looks like {looks_like})"), record["message"]
    assert len(executions(stack)) == started


UNICODE_FILES = [("utf-16-bom", "\ufeff语音合成 and English.", "utf-16-le"),  # Notepad's "Unicode": LE, a BOM
                 ("utf-16-be-bom", "\ufeff语音合成 and English.", "utf-16-be"),
                 ("utf-16-english", "\ufeffPlain English in UTF-16.", "utf-16-le"),
                 ("utf-8-bom", "\ufeff语音合成 and English.", "utf-8"),
                 ("utf-32-bom", "\ufeff语音合成 and English.", "utf-32-le")]


@pytest.mark.parametrize(("text", "encoding"), [row[1:] for row in UNICODE_FILES], ids=[r[0] for r in UNICODE_FILES])
@pytest.mark.parametrize("kind", [".txt", ".json"])
def test_given_a_unicode_file_with_a_byte_order_mark_then_it_is_read_and_spoken(served: Served, text: str,
                                                                                encoding: str, kind: str) -> None:
    stack = served.stack
    engine = primary_engine(served)
    called = len(engine.calls)
    words = f"{text.removeprefix(chr(0xFEFF))} Read as {encoding}{kind}."  # its own words: never a cache hit
    content = "\ufeff" + (words if kind == ".txt" else json.dumps({"text": words}, ensure_ascii=False))

    put(stack, f"inbox/unicode-{encoding}-{len(engine.calls)}{kind}", content.encode(encoding))

    outcome = stack.deliveries[-1].answer
    assert outcome["status"] == "started", outcome
    stack.wait(outcome["request_id"])
    assert spoken(engine.calls[called:]) == as_segments(words)


def test_given_a_txt_upload_with_windows_line_endings_then_it_is_spoken(served: Served) -> None:
    stack = served.stack
    engine = primary_engine(served)
    called = len(engine.calls)

    put(stack, "inbox/windows-notes.txt", "\ufeffFirst line.\r\nSecond line.\r\n".encode())
    outcome = stack.deliveries[-1].answer
    assert outcome["status"] == "started", outcome
    stack.wait(outcome["request_id"])

    assert spoken(engine.calls[called:]) == as_segments("First line.\nSecond line.")
    record = storage.get_json(stack.bucket, storage.output_keys(outcome["name"])[1])
    assert record["status"] == "succeeded"


LONG = "n" * 900
HOSTILE_NAMES: list[str] = [  # keys whose failed/ record must stay flat (content: empty)
    "inbox/../../results/evil.txt",
    "inbox/..%2f..%2fcache%2fevil.txt",
    "inbox/%2e%2e%2f%2e%2e%2faudio%2fevil.txt",
    "inbox/%252e%252e%252fdouble.txt",
    "inbox/..\\..\\windows\\evil.txt",
    "inbox/..%5c..%5cencoded-backslash.txt",
    "inbox//absolute/evil.txt",
    "inbox/%2Fencoded-absolute.txt",
    "inbox/../%2e%2e.txt",
    "inbox/....//....//dots.txt",
    "inbox/a\u2215b\uff0fc.txt",  # division slash, full-width solidus
    "inbox/<script>alert(1)<%2fscript>.txt",
    f"inbox/{LONG}.txt",
    f"inbox/{'../' * 300}deep.txt",
]


@pytest.mark.parametrize("key", [pytest.param(key, id=key[:48]) for key in HOSTILE_NAMES])
def test_given_a_hostile_upload_name_then_its_failed_record_is_flat_under_failed(served: Served, key: str) -> None:
    stack = served.stack
    delivered = len(stack.deliveries)

    put(stack, key, b"")  # empty: refused, so the name is all that is tested

    assert function_errors(stack, delivered) == []
    outcome = stack.deliveries[-1].answer
    name = outcome["name"]
    assert (outcome["status"], outcome["code"]) == ("rejected", "EMPTY_UPLOAD"), outcome
    assert "/" not in name and ".." not in name and not name.startswith(".") and len(name) <= MAX_NAME_CHARS
    # Injective: the name decodes back to the key (a name too long for that ends in ~ and the key's hash).
    assert unquote(name) == key.removeprefix("inbox/") or name.endswith("~" + sha256(key[6:].encode()).hexdigest())
    record = storage.get_json(stack.bucket, f"{storage.FAILED_PREFIX}{name}.json")
    assert record["source"]["key"] == key and record["name"] == name
    assert_every_key_is_under_a_known_prefix(stack)


def test_given_markup_and_a_hostile_name_in_an_upload_then_outputs_are_flat_and_the_text_verbatim(
        served: Served) -> None:
    stack = served.stack
    text = HOSTILE_MARKUP[0]
    engine = primary_engine(served)
    called = len(engine.calls)

    put(stack, "inbox/..%2F..%2F" + "m" * 200 + ".txt", text.encode())
    outcome = stack.deliveries[-1].answer
    assert outcome["status"] == "started", outcome
    stack.wait(outcome["request_id"])

    assert spoken(engine.calls[called:]) == as_segments(text)
    wav_key, record_key = storage.output_keys(outcome["name"])
    record = storage.get_json(stack.bucket, record_key)
    assert record["status"] == "succeeded" and record["audio_key"] == wav_key
    assert "/" not in outcome["name"] and ".." not in outcome["name"]
    assert_every_key_is_under_a_known_prefix(stack)
