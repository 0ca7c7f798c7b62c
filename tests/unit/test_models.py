from __future__ import annotations

import pytest

from tts_core.errors import InvalidInputError, TextTooLongError, VoiceNotFoundError
from tts_core.models import SynthesisRequest, parse_request


def test_valid_request_is_normalised() -> None:
    request = parse_request({"text": "  你好，世界。\n Hello  ", "voice": "en-male"}, max_text_chars=100)
    assert request.text == "你好，世界。\n Hello" and request.voice == "en-male"
    assert (request.speed, request.volume, request.sample_rate) == (1.0, 50, None)


def test_text_is_nfc_normalised_before_counting() -> None:
    decomposed = "e\u0301" * 3  # three 'é' as base + combining accent
    assert parse_request({"text": decomposed}, max_text_chars=3).text == "é" * 3


@pytest.mark.parametrize(("body", "error", "fragment"), [
    ({"text": ""}, InvalidInputError, "text"),
    ({"text": " \t\n "}, InvalidInputError, "whitespace"),
    ({"text": "a\x07b"}, InvalidInputError, "U+0007"),
    ({"text": "hi", "speed": 0.1}, InvalidInputError, "speed"),
    ({"text": "hi", "pitch": 3}, InvalidInputError, "pitch"),
    ({"text": "hi", "volume": 101}, InvalidInputError, "volume"),
    ({"text": "hi", "sample_rate": 8000}, InvalidInputError, "sample_rate"),
    ({"text": "hi", "style": "shouting"}, InvalidInputError, "style"),
    ({"text": "hi", "emotion": {"vector": [0.5] * 7}}, InvalidInputError, "emotion.vector"),
    ({"text": "hi", "emotion": {"vector": [2.0] * 8}}, InvalidInputError, "emotion.vector"),
    ({"text": "hi", "unknown": 1}, InvalidInputError, "unknown"),
    ({"voice": "zh-female"}, InvalidInputError, "text"),
    (["text"], InvalidInputError, "JSON object"),
    ({"text": "x" * 11}, TextTooLongError, "limit is 10"),
    ({"text": "hi", "voice": "../../etc/passwd"}, VoiceNotFoundError, "unknown voice"),
])
def test_bad_requests_get_stable_codes(body: object, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error) as caught:
        parse_request(body, max_text_chars=10)
    assert fragment in str(caught.value)


def test_text_too_long_is_also_invalid_input() -> None:
    assert issubclass(TextTooLongError, InvalidInputError) and TextTooLongError.code == "TEXT_TOO_LONG"


def test_request_round_trips_through_json() -> None:
    request = SynthesisRequest(text="hi", emotion={"vector": [0.1] * 8, "alpha": 0.5})
    assert SynthesisRequest.model_validate_json(request.model_dump_json()) == request
