"""One output from PCM16: resampled to its format's rate, mastered to its profile, encoded, and
measured as the file decodes (what the record reports is what a listener gets, codec included)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import soxr

from tts_core.delivery.encode import Encoder
from tts_core.delivery.formats import DeliveryOptions
from tts_core.delivery.loudness import Loudness, measure_file
from tts_core.delivery.mastering import PROFILES, apply, check, prepare

_CHUNK_S = 10  # seconds of audio per chunk through the passes


@dataclass(frozen=True)
class Rendered:
    audio: bytes
    options: DeliveryOptions
    loudness: Loudness  # of the encoded file, decoded
    misses: list[str]  # what it misses of its profile (empty: it meets it)
    head_shift_s: float  # silence mastering put at (+) or took off (-) the head: captions move by it


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


def resample(pcm: np.ndarray, rate: int, out_rate: int) -> np.ndarray:
    if rate == out_rate:
        return pcm
    return _to_int16(soxr.resample(pcm.astype(np.float32) / 32768.0, rate, out_rate, quality="HQ"))


def resample_chunks(chunks: Iterable[np.ndarray], rate: int, out_rate: int) -> Iterator[np.ndarray]:
    """Int16 chunks at `rate` -> int16 chunks at `out_rate`, streaming (soxr keeps the filter state)."""
    if rate == out_rate:
        yield from chunks
        return
    stream = soxr.ResampleStream(rate, out_rate, 1, dtype="float32", quality="HQ")
    for chunk in chunks:
        yield _to_int16(stream.resample_chunk(chunk.astype(np.float32) / 32768.0))
    yield _to_int16(stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True))


def _chunks(pcm: np.ndarray, frames: int) -> Iterator[np.ndarray]:
    for start in range(0, pcm.size, frames):
        yield pcm[start:start + frames]


def render(pcm: np.ndarray, rate: int, options: DeliveryOptions) -> Rendered:
    """In chunks of _CHUNK_S: the meter's float copies (its 4x oversampled true peak above all) stay small
    whatever the length (a whole 6-minute buffer at 44.1 kHz peaked at 2.4 GB)."""
    audio = resample(pcm, rate, options.sample_rate)  # int16: 32 MB for 6 minutes at 44.1 kHz
    profile = PROFILES[options.mastering]
    gain = options.spec.encoder_gain_db
    size = options.sample_rate * _CHUNK_S
    the_plan, frames = prepare(lambda: _chunks(audio, size), options.sample_rate, profile, gain)
    buffer = io.BytesIO()
    with Encoder(buffer, options.format, options.sample_rate, options.bitrate_kbps) as encoder:
        for chunk in apply(_chunks(audio, size), profile, the_plan, options.sample_rate, frames, gain):
            encoder.write(chunk)
    data = buffer.getvalue()
    measured = measure_file(io.BytesIO(data))
    return Rendered(data, options, measured, check(profile, measured),
                    round((the_plan.head_pad - the_plan.head_cut) / options.sample_rate, 3))
