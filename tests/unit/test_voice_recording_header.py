"""A voice recording is judged by its header before it is decoded (issue 23, item 12): a small FLAC
that decodes to hundreds of MB is refused for the few KB it is."""

from __future__ import annotations

import contextlib
import io
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from tts_core.errors import AudioFormatUnsupportedError, AudioRateTooLowError, AudioTooLongError
from tts_core.voices.registry import MAX_UPLOAD_S, STORE_RATE, validate_prompt

PEAK_BUDGET = 40 * 2**20  # 30 s of stereo at 96 kHz decoded as float32 is 23 MB


def _flac(rate: int, channels: int, seconds: float) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.zeros((int(rate * seconds), channels), dtype=np.int16), rate, format="FLAC")
    return buf.getvalue()


def _peak_of(call: object) -> int:
    tracemalloc.start()
    with contextlib.suppress(Exception):
        call()  # type: ignore[operator]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


@pytest.mark.parametrize(("rate", "channels"), [(192_000, 8), (655_350, 1), (48_000, 3)])
def test_too_many_channels_or_a_rate_out_of_range_is_refused_from_the_header(rate: int, channels: int) -> None:
    data = _flac(rate, channels, 2.0)
    with pytest.raises(AudioFormatUnsupportedError) as refused:
        validate_prompt(data)
    assert refused.value.code == "AUDIO_FORMAT_UNSUPPORTED" and refused.value.http_status == 422


def test_a_rate_under_8_khz_is_refused_from_the_header_with_its_own_code() -> None:
    with pytest.raises(AudioRateTooLowError) as refused:
        validate_prompt(_flac(4_000, 1, 2.0))
    assert refused.value.code == "AUDIO_RATE_TOO_LOW"


def test_the_bomb_of_the_issue_is_refused_without_decoding_it() -> None:
    data = _flac(192_000, 8, 29.0)  # ~46 KB of silence; 178 MB as float32
    assert len(data) < 200_000
    assert _peak_of(lambda: validate_prompt(data)) < PEAK_BUDGET


def test_a_recording_longer_than_the_limit_is_refused_from_its_frame_count() -> None:
    data = _flac(96_000, 2, MAX_UPLOAD_S + 5)
    with pytest.raises(AudioTooLongError):
        validate_prompt(data)
    assert _peak_of(lambda: validate_prompt(data)) < PEAK_BUDGET


def test_an_accepted_recording_at_the_limits_decodes_within_the_budget() -> None:
    rate = 96_000
    t = np.arange(int(rate * 5.0)) / rate
    tone = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype(np.int16)
    buf = io.BytesIO()
    sf.write(buf, np.stack([tone, tone], axis=1), rate, format="FLAC")
    prompt = validate_prompt(buf.getvalue())
    assert prompt.dtype == np.float32 and prompt.size == int(5.0 * STORE_RATE)
