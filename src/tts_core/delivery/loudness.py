"""What a piece of audio measures: ITU-R BS.1770-4 integrated loudness, RMS, sample and true peak,
and the silence at its head and tail, measured chunk by chunk (a chapter never has to fit in memory).

The K-weighting filters are pyloudnorm's (its BS.1770-4 coefficients for any rate), run with
scipy's `lfilter` carrying its state from chunk to chunk; the gating (400 ms blocks, 75 % overlap,
-70 LUFS absolute and -10 LU relative gates) is BS.1770's, kept as one mean square per 100 ms, so an
hour costs 36,000 floats. Tests check it against `pyloudnorm.Meter.integrated_loudness`.
scipy and pyloudnorm are imported on first use: they cost about a second of import."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import soundfile as sf
import soxr

SILENCE_DBFS = -60.0  # a sample below this is silence (ACX's noise floor)
_STEP_S = 0.1  # BS.1770: 400 ms blocks every 100 ms
_BLOCK_STEPS = 4
_ABSOLUTE_GATE = -70.0
_RELATIVE_GATE = -10.0
_CONTRACT_BLOCK_STEPS = 4  # tts_core.audio's gated RMS: non-overlapping 400 ms blocks, no weighting
_TRUE_PEAK_OVERSAMPLING = 4  # BS.1770-4 Annex 2


@dataclass(frozen=True)
class Loudness:
    integrated_lufs: float | None  # None: nothing above the absolute gate (silence)
    rms_dbfs: float | None  # over the whole file, silence included (as ACX measures)
    gated_rms_dbfs: float | None  # the audio contract's level: unweighted, gated as BS.1770
    peak_dbfs: float | None
    true_peak_dbtp: float | None
    head_silence_s: float
    tail_silence_s: float
    duration_s: float


def _db(power: float) -> float | None:
    return 10.0 * math.log10(power) if power > 0 else None


def _gated(powers: np.ndarray, offset: float) -> float | None:
    """BS.1770's two gates over block mean squares; `offset` is -0.691 for LUFS, 0 for dBFS."""
    with np.errstate(divide="ignore"):
        levels = offset + 10.0 * np.log10(powers)
    loud = powers[levels > _ABSOLUTE_GATE]
    if loud.size == 0:
        return None
    relative = offset + 10.0 * math.log10(float(np.mean(loud))) + _RELATIVE_GATE
    kept = powers[(levels > _ABSOLUTE_GATE) & (levels > relative)]
    return offset + 10.0 * math.log10(float(np.mean(kept)))


class LoudnessMeter:
    """Float mono chunks in [-1, 1] (or int16) -> `Loudness`. Feed with `add`, read with `result`."""

    def __init__(self, rate: int) -> None:
        import pyloudnorm  # a second of import: only where audio is measured
        from scipy.signal import lfilter, lfilter_zi

        self.rate = rate
        self._lfilter = lfilter
        stages = pyloudnorm.Meter(rate)._filters.values()  # K-weighting: high shelf, then high pass
        self._stages: list[tuple[Any, Any, float, np.ndarray]] = [
            (s.b, s.a, s.passband_gain, lfilter_zi(s.b, s.a) * 0.0) for s in stages]
        self._step = round(rate * _STEP_S)
        self._k_steps: list[float] = []  # K-weighted sum of squares per 100 ms
        self._raw_steps: list[float] = []  # unweighted
        self._k_part = self._raw_part = 0.0
        self._in_step = 0
        self._frames = 0
        self._sum_squares = 0.0
        self._peak = 0.0
        self._first_sound: int | None = None
        self._last_sound = -1
        self._upsampler = soxr.ResampleStream(rate, rate * _TRUE_PEAK_OVERSAMPLING, 1, dtype="float64")
        self._true_peak = 0.0

    def add(self, chunk: np.ndarray) -> None:
        x = chunk.astype(np.float64) / 32768.0 if chunk.dtype == np.int16 else chunk.astype(np.float64)
        if x.size == 0:
            return
        weighted = x
        for i, (b, a, gain, zi) in enumerate(self._stages):
            weighted, zf = self._lfilter(b, a, weighted, zi=zi)
            self._stages[i] = (b, a, gain, zf)
            weighted = weighted * gain
        self._accumulate_steps(np.square(weighted), np.square(x))
        self._sum_squares += float(np.sum(np.square(x)))
        magnitude = np.abs(x)
        self._peak = max(self._peak, float(magnitude.max()))
        loud = np.flatnonzero(magnitude > 10 ** (SILENCE_DBFS / 20))
        if loud.size:
            if self._first_sound is None:
                self._first_sound = self._frames + int(loud[0])
            self._last_sound = self._frames + int(loud[-1])
        self._frames += x.size
        self._true_peak = max(self._true_peak, self._max_abs(self._upsampler.resample_chunk(x)))

    @staticmethod
    def _max_abs(x: np.ndarray) -> float:
        return float(np.max(np.abs(x))) if x.size else 0.0

    def _accumulate_steps(self, k_sq: np.ndarray, raw_sq: np.ndarray) -> None:
        pos = 0
        while pos < k_sq.size:
            take = min(self._step - self._in_step, k_sq.size - pos)
            self._k_part += float(np.sum(k_sq[pos:pos + take]))
            self._raw_part += float(np.sum(raw_sq[pos:pos + take]))
            self._in_step += take
            pos += take
            if self._in_step == self._step:
                self._k_steps.append(self._k_part)
                self._raw_steps.append(self._raw_part)
                self._k_part = self._raw_part = 0.0
                self._in_step = 0

    def result(self) -> Loudness:
        self._true_peak = max(self._true_peak, self._max_abs(self._upsampler.resample_chunk(
            np.zeros(0), last=True)))
        k_steps = np.array([*self._k_steps, self._k_part])  # the partial last step, as pyloudnorm counts it
        block = self._step * _BLOCK_STEPS
        duration = self._frames / self.rate
        # pyloudnorm's block count: round((T - 0.4) / 0.1) + 1, the last block possibly running past the end.
        blocks = int(np.round((duration - _STEP_S * _BLOCK_STEPS) / _STEP_S)) + 1 if self._frames >= block else 0
        padded = np.concatenate([k_steps, np.zeros(_BLOCK_STEPS)])
        k_blocks = np.array([padded[j:j + _BLOCK_STEPS].sum() / block for j in range(blocks)])
        raw = np.array(self._raw_steps)
        whole = raw.size // _CONTRACT_BLOCK_STEPS * _CONTRACT_BLOCK_STEPS
        raw_blocks = raw[:whole].reshape(-1, _CONTRACT_BLOCK_STEPS).sum(axis=1) / block
        silent = self._first_sound is None
        return Loudness(
            integrated_lufs=_rounded(_gated(k_blocks, -0.691)) if blocks else None,
            rms_dbfs=_rounded(_db(self._sum_squares / self._frames)) if self._frames else None,
            gated_rms_dbfs=_rounded(_gated(raw_blocks, 0.0)) if raw_blocks.size else None,
            peak_dbfs=_rounded(_db(self._peak ** 2)),
            true_peak_dbtp=_rounded(_db(self._true_peak ** 2)),
            head_silence_s=round((self._frames if silent else self._first_sound or 0) / self.rate, 3),
            tail_silence_s=round((self._frames if silent else self._frames - 1 - self._last_sound) / self.rate, 3),
            duration_s=round(duration, 3))


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def measure(samples: np.ndarray, rate: int) -> Loudness:
    meter = LoudnessMeter(rate)
    meter.add(samples)
    return meter.result()


def measure_file(source: str | BinaryIO, *, block_frames: int = 1 << 16) -> Loudness:
    """A file of any format libsndfile decodes, measured as decoded, block by block."""
    with sf.SoundFile(source) as f:
        meter = LoudnessMeter(int(f.samplerate))
        # Seek first: libsndfile 1.2.2's MP3 reader decodes its first frames wrong otherwise (libmpg123
        # "part2_3_length too large": it starts without the bit reservoir). SoundFile.blocks does not seek.
        f.seek(0)
        while (block := f.read(block_frames, dtype="float64", always_2d=True)).size:
            meter.add(block.mean(axis=1))
    return meter.result()
