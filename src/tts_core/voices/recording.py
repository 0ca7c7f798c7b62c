"""Where the voice is in a recording: what `registry.validate_prompt` keeps of an upload.

A reference is judged on the part that is kept, never on the whole file: 29 s of silence and 1 s of
tone must not pass as a 30 s voice. Silence at either end is cut (a short margin stays), then the
first MAX_PROMPT_S of what is left is kept and its own trailing silence cut again. Levels are
measured without each block's offset, so a constant offset (DC) alone never counts as sound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tts_core.audio import gated_loudness_dbfs

BLOCK_S = 0.1  # resolution of the silence found at the ends
MARGIN_S = 0.2  # kept around the sound, so a word's onset and decay are never cut
FLOOR_DBFS = -60.0  # a block quieter than this is silence, whatever the recording's level
RELATIVE_FLOOR_DB = -30.0  # ... and so is one this far below the recording's speech level


@dataclass(frozen=True)
class Span:
    """Samples [start, end) of the recording, at its own rate."""

    start: int
    end: int

    def seconds(self, rate: int) -> float:
        return (self.end - self.start) / rate


def _block(rate: int) -> int:
    return max(1, int(rate * BLOCK_S))


def without_offset(mono: np.ndarray, rate: int) -> np.ndarray:
    """The recording with each BLOCK_S block's mean taken out: a constant offset (DC) or a slow drift carry
    no sound, and nothing rings into the silence around a sound (as a filter's would)."""
    block = _block(rate)
    count = -(-mono.size // block)
    padded = np.zeros(count * block, dtype=np.float32)
    padded[: mono.size] = mono
    blocks = padded.reshape(count, block)
    return (blocks - blocks.mean(axis=1, keepdims=True)).reshape(-1)[: mono.size]


def _sounding_blocks(centred: np.ndarray, rate: int) -> np.ndarray:
    """Per BLOCK_S block of `without_offset`'s output: whether it carries sound (all False for silence)."""
    block = _block(rate)
    count = -(-centred.size // block)
    padded = np.zeros(count * block, dtype=np.float64)
    padded[: centred.size] = centred
    power = np.mean(np.square(padded.reshape(count, block)), axis=1)
    level = gated_loudness_dbfs(centred, rate)
    if level is None:
        return np.zeros(count, dtype=bool)
    floor = max(FLOOR_DBFS, level + RELATIVE_FLOOR_DB)
    return np.asarray(power > 10 ** (floor / 10))


def kept_span(centred: np.ndarray, rate: int, max_s: float) -> Span | None:
    """The part of the recording (`without_offset`'s output) a reference keeps: the sound, trimmed at both
    ends, at most `max_s` long; None when nothing in it carries sound."""
    sounding = _sounding_blocks(centred, rate)
    if not sounding.any():
        return None
    block, margin = _block(rate), int(rate * MARGIN_S)
    first = int(np.argmax(sounding))
    start = max(0, first * block - margin)
    window = sounding[first: first + int(max_s / BLOCK_S)]
    last = first + int(len(window) - 1 - np.argmax(window[::-1]))
    end = min(centred.size, (last + 1) * block + margin, start + int(max_s * rate))
    return Span(start, end)
