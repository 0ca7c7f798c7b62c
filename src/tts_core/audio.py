"""The one audio contract every engine's output is converted to: PCM16 mono WAV at one rate,
loudness-matched, so that a switch of engine is hard to hear."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import soxr

TARGET_LOUDNESS_DBFS = -20.0  # gated RMS level every engine's speech is brought to
PEAK_CEILING_DBFS = -1.0
_BLOCK_S = 0.4  # gating blocks as in ITU-R BS.1770
_ABSOLUTE_GATE_DBFS = -70.0
_RELATIVE_GATE_DB = -10.0


@dataclass(frozen=True)
class WavInfo:
    sample_rate: int
    channels: int
    subtype: str
    frames: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def _db(x: float) -> float:
    return 10.0 * float(np.log10(max(x, 1e-20)))


def gated_loudness_dbfs(samples: np.ndarray, rate: int) -> float | None:
    """Mean-square level of the blocks that contain speech, in dBFS (None for silence).

    BS.1770's gating without its K-weighting filter: close enough to match engines against each
    other, and it keeps scipy (a second of cold start) out of the Lambda functions.
    """
    block = max(1, int(rate * _BLOCK_S))
    usable = len(samples) // block * block
    blocks = samples[:usable].reshape(-1, block) if usable else samples.reshape(1, -1)
    power = np.mean(np.square(blocks, dtype=np.float64), axis=1)
    loud = power[power > 10 ** (_ABSOLUTE_GATE_DBFS / 10)]
    if loud.size == 0:
        return None
    relative = _db(float(np.mean(loud))) + _RELATIVE_GATE_DB
    kept = loud[loud > 10 ** (relative / 10)]
    return _db(float(np.mean(kept)))


def is_silent(samples: np.ndarray, rate: int) -> bool:
    """No block of the audio reaches the absolute gate (-70 dBFS): all zeros, or as good as."""
    return gated_loudness_dbfs(to_float_mono(samples), rate) is None


def to_float_mono(samples: np.ndarray) -> np.ndarray:
    data = np.asarray(samples)
    data = data.astype(np.float32) / 32768.0 if data.dtype == np.int16 else data.astype(np.float32, copy=False)
    if data.ndim == 2:
        data = data.mean(axis=1)
    return data


@dataclass(frozen=True)
class AudioContract:
    sample_rate: int

    def conform(self, samples: np.ndarray, rate: int, *, out_rate: int | None = None) -> np.ndarray:
        """Any engine's samples (int16 or float, mono or stereo) -> int16 mono, loudness-matched."""
        target_rate = out_rate or self.sample_rate
        audio = to_float_mono(samples)
        if rate != target_rate:
            audio = soxr.resample(audio, rate, target_rate, quality="HQ")
        level = gated_loudness_dbfs(audio, target_rate)
        if level is not None:
            audio = audio * np.float32(10 ** ((TARGET_LOUDNESS_DBFS - level) / 20))
            peak = float(np.max(np.abs(audio))) if audio.size else 0.0
            ceiling = 10 ** (PEAK_CEILING_DBFS / 20)
            if peak > ceiling:
                audio = audio * np.float32(ceiling / peak)
        return np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16)

    def encode(self, pcm: np.ndarray, rate: int | None = None) -> bytes:
        buf = io.BytesIO()
        sf.write(buf, pcm, rate or self.sample_rate, format="WAV", subtype="PCM_16")
        return buf.getvalue()


def apply_gain(pcm: np.ndarray, factor: float) -> np.ndarray:
    """Int16 samples times an amplitude factor (SSML <prosody volume>), clipped at full scale."""
    if factor == 1.0:
        return pcm
    return np.clip(np.round(pcm.astype(np.float32) * np.float32(factor)), -32768, 32767).astype(np.int16)


def join_pcm(parts: list[np.ndarray], rate: int, pause_s: float | list[float]) -> np.ndarray:
    """Int16 parts end to end, in order, with silence between them (none at the ends): `pause_s` after each
    part, or `pause_s[i]` after part i (the last one's is not used)."""
    if not parts:
        return np.zeros(0, dtype=np.int16)
    pauses = pause_s if isinstance(pause_s, list) else [pause_s] * len(parts)
    if len(pauses) < len(parts) - 1:
        raise ValueError(f"{len(parts)} parts need {len(parts) - 1} pauses, not {len(pauses)}")
    pieces = [parts[0]]
    for pause, part in zip(pauses, parts[1:], strict=False):
        pieces += [np.zeros(round(rate * pause), dtype=np.int16), part]
    return np.concatenate(pieces).astype(np.int16, copy=False)


def read_pcm16(data: bytes) -> tuple[np.ndarray, int]:
    """A contract WAV (PCM16 mono) back into its int16 samples, unchanged, and its rate."""
    samples, rate = sf.read(io.BytesIO(data), dtype="int16", always_2d=False)
    return samples, int(rate)


def read_wav(data: bytes, max_frames: int = -1) -> tuple[np.ndarray, int]:
    """Decode any WAV soundfile understands into float32 samples (mono or 2-D) and its rate; with
    `max_frames`, no more than that many frames (whatever the header claims)."""
    samples, rate = sf.read(io.BytesIO(data), frames=max_frames, dtype="float32", always_2d=False)
    return samples, int(rate)


def wav_info(data: bytes) -> WavInfo:
    info = sf.info(io.BytesIO(data))
    return WavInfo(sample_rate=int(info.samplerate), channels=int(info.channels),
                   subtype=str(info.subtype), frames=int(info.frames))
