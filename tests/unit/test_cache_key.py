"""The cache key: the same normalised request on the same engine, and nothing else, shares a key."""

from __future__ import annotations

import pytest

from tts_core.models import SynthesisRequest
from tts_core.pipeline.cache import digest

RATE = 22050


def key(engine: str = "primary", **fields: object) -> str:
    return digest(SynthesisRequest.model_validate({"text": "你好 Hello"} | fields), engine, RATE)


def test_given_equivalent_requests_then_one_key() -> None:
    assert key() == key(voice="zh-female", speed=1, volume=50, style="default")  # defaults spelled out
    assert key() == key(text="  你好 Hello \n")  # trimmed like every request
    assert key() == key(sample_rate=RATE)  # the contract's rate is what "no rate" means
    assert key() == key(cache=False)  # the opt-out is not part of what is said
    assert key() == key(format="wav", mastering="default")  # what "no format" delivers
    assert key(format="mp3") == key(format="mp3", bitrate_kbps=64)  # its default bitrate
    assert key(mastering="acx") == key(mastering="acx", format="mp3", bitrate_kbps=192)  # what acx delivers


@pytest.mark.parametrize("change", [
    {"text": "你好 hello"}, {"voice": "en-male"}, {"speed": 1.1}, {"pitch": 0.9}, {"volume": 60},
    {"style": "narration"}, {"profile": "quality"}, {"sample_rate": 16000}, {"emotion": {"text": "happy"}},
    {"format": "mp3"}, {"format": "flac"}, {"format": "opus"}, {"format": "mp3", "bitrate_kbps": 128},
    {"mastering": "podcast"}, {"mastering": "broadcast"}, {"captions": True},
])
def test_given_any_other_option_then_another_key(change: dict[str, object]) -> None:
    assert key(**change) != key()


def test_given_another_engine_then_another_key() -> None:
    assert key("fallback") != key("primary")
