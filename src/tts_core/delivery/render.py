"""One output from PCM16: resampled to its format's rate, mastered to its profile, encoded, and
measured as the file decodes (what the record reports is what a listener gets, codec included)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import soxr

from tts_core.delivery.encode import encode
from tts_core.delivery.formats import DeliveryOptions
from tts_core.delivery.loudness import Loudness, measure_file
from tts_core.delivery.mastering import PROFILES, apply, check, prepare


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


def render(pcm: np.ndarray, rate: int, options: DeliveryOptions) -> Rendered:
    audio = resample(pcm, rate, options.sample_rate)
    profile = PROFILES[options.mastering]
    gain = options.spec.encoder_gain_db
    the_plan, frames = prepare(lambda: [audio], options.sample_rate, profile, gain)
    mastered = np.concatenate(list(apply([audio], profile, the_plan, options.sample_rate, frames, gain)))
    data = encode(mastered, options.sample_rate, options.format, options.bitrate_kbps)
    measured = measure_file(io.BytesIO(data))
    return Rendered(data, options, measured, check(profile, measured),
                    round((the_plan.head_pad - the_plan.head_cut) / options.sample_rate, 3))
