"""Mastering profiles: the loudness, peaks and room tone a delivered file is brought to, and the
numbers it must then measure (`check`).

Two passes over the audio, both chunk by chunk so a chapter of any length streams: the first measures
(`loudness.LoudnessMeter`), the second applies one gain, a look-ahead peak limiter and the profile's
head and tail silence (`MasterStream`). Profiles with a limiter run a dry second pass first and correct
the gain by what the limiter took, so the output lands on the target rather than under it.
`prepare` runs the first pass(es) over a source it can read more than once, `apply` the second;
`master` does both for one buffer.

Profiles and their sources:
- default: the audio contract (tts_core.audio): gated RMS -20 dBFS, peaks at most -1 dBFS by a
  static gain (no limiter), nothing added.
- acx: ACX (Audible) submission requirements: RMS -23 to -18 dBFS over the file, peaks at most
  -3 dBFS, noise floor at most -60 dB, 0.5-1 s of room tone at the head and 1-5 s at the tail
  (delivered as MP3 192 kbps CBR 44.1 kHz: formats.ACX_*). Target RMS -20, limiter at -3.5 dBFS
  (room for MP3's overshoot), 0.75 s head and 2 s tail.
- podcast: Apple Podcasts / AES TD1004 for mono: -19 LUFS integrated (stereo -16), true peak at most
  -1 dBTP. Target -19 LUFS within 1 LU, limiter at -2 dBFS sample peak (room for inter-sample peaks).
- broadcast: EBU R128: -23 LUFS integrated within 0.5 LU, true peak at most -1 dBTP; limiter at -2 dBFS.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

from tts_core.delivery.formats import Mastering
from tts_core.delivery.loudness import Loudness, LoudnessMeter

Level = Literal["gated_rms_dbfs", "rms_dbfs", "integrated_lufs"]


@dataclass(frozen=True)
class Profile:
    name: Mastering
    level: Level  # the measure the gain aims at
    target_db: float
    level_range: tuple[float, float]  # what that measure must be in the output
    ceiling_dbfs: float  # no sample above it
    limiter: bool  # False: one static gain, lowered so the peak stays under the ceiling
    peak_max_dbfs: float | None = None
    true_peak_max_dbtp: float | None = None
    head_s: float | None = None  # silence put at the head (None: as synthesized)
    tail_s: float | None = None
    head_range_s: tuple[float, float] | None = None
    tail_range_s: tuple[float, float] | None = None


PROFILES: dict[Mastering, Profile] = {
    "default": Profile("default", "gated_rms_dbfs", -20.0, (-21.0, -19.0), -1.0, limiter=False,
                       peak_max_dbfs=-1.0),
    "acx": Profile("acx", "rms_dbfs", -20.0, (-23.0, -18.0), -3.5, limiter=True, peak_max_dbfs=-3.0,
                   head_s=0.75, tail_s=2.0, head_range_s=(0.5, 1.0), tail_range_s=(1.0, 5.0)),
    "podcast": Profile("podcast", "integrated_lufs", -19.0, (-20.0, -18.0), -2.0, limiter=True,
                       true_peak_max_dbtp=-1.0),
    "broadcast": Profile("broadcast", "integrated_lufs", -23.0, (-23.5, -22.5), -2.0, limiter=True,
                         true_peak_max_dbtp=-1.0),
}
_LIMITER_WINDOW_S = 0.01  # look-ahead and smoothing of the limiter's gain: 10 ms each way
_MAX_GAIN_DB = 40.0  # a near-silent input is not blown up into noise


def check(profile: Profile, measured: Loudness) -> list[str]:
    """What the measured output misses of its profile: empty when it meets it."""
    misses: list[str] = []

    def within(name: str, value: float | None, low: float | None, high: float | None) -> None:
        if value is None:
            misses.append(f"{name} not measurable (silence)")
        elif (low is not None and value < low) or (high is not None and value > high):
            misses.append(f"{name} {value} outside {low if low is not None else '-inf'}..{high}")

    within(profile.level, getattr(measured, profile.level), *profile.level_range)
    if profile.peak_max_dbfs is not None:
        within("peak_dbfs", measured.peak_dbfs, None, profile.peak_max_dbfs)
    if profile.true_peak_max_dbtp is not None:
        within("true_peak_dbtp", measured.true_peak_dbtp, None, profile.true_peak_max_dbtp)
    if profile.head_range_s is not None:
        within("head_silence_s", measured.head_silence_s, *profile.head_range_s)
    if profile.tail_range_s is not None:
        within("tail_silence_s", measured.tail_silence_s, *profile.tail_range_s)
    return misses


@dataclass(frozen=True)
class Plan:
    """What the second pass does: one gain, and samples put at (or taken off) the head and tail."""

    gain_db: float
    head_pad: int = 0
    head_cut: int = 0
    tail_pad: int = 0
    tail_cut: int = 0

    def framed_frames(self, frames: int) -> int:
        return frames + self.head_pad - self.head_cut + self.tail_pad - self.tail_cut


def plan(profile: Profile, measured: Loudness, rate: int, output_gain_db: float = 0.0) -> Plan:
    """The gain that brings `measured` to the profile's target once the encoder has applied
    `output_gain_db` (formats.FormatSpec.encoder_gain_db), and its head and tail silence."""
    frames = round(measured.duration_s * rate)
    head = round(measured.head_silence_s * rate)
    tail = round(measured.tail_silence_s * rate)
    head_pad = head_cut = tail_pad = tail_cut = 0
    if profile.head_s is not None and head < frames:
        want = round(profile.head_s * rate)
        head_pad, head_cut = max(0, want - head), max(0, head - want)
    if profile.tail_s is not None and tail < frames:
        want = round(profile.tail_s * rate)
        tail_pad, tail_cut = max(0, want - tail), max(0, tail - want)
    framing = Plan(0.0, head_pad, head_cut, tail_pad, tail_cut)
    level = getattr(measured, profile.level)
    if level is None:  # silence: nothing to bring up
        return framing
    if profile.level == "rms_dbfs":  # over the whole file: the silence put in or taken off counts
        level += 10 * math.log10(frames / max(1, framing.framed_frames(frames)))
    gain = min(profile.target_db - output_gain_db - level, _MAX_GAIN_DB)
    if not profile.limiter and measured.peak_dbfs is not None:
        gain = min(gain, profile.ceiling_dbfs - output_gain_db - measured.peak_dbfs)
    return Plan(gain, head_pad, head_cut, tail_pad, tail_cut)


class Limiter:
    """A look-ahead peak limiter over chunks: the gain at each sample is the smallest gain any sample
    within `w` of it needs to stay under the ceiling, averaged over `w` either side, so it moves
    smoothly and never lets a sample over. Its output lags its input by 2w samples until `flush`."""

    def __init__(self, rate: int, ceiling_dbfs: float) -> None:
        self.ceiling = 10 ** (ceiling_dbfs / 20)
        self.w = max(1, round(rate * _LIMITER_WINDOW_S))
        self._needs = np.ones(2 * self.w)  # the gains needed by the 2w samples before the pending ones
        self._pending = np.zeros(0)

    def process(self, x: np.ndarray, *, last: bool = False) -> np.ndarray:
        from scipy.ndimage import minimum_filter1d, uniform_filter1d  # scipy on first use

        w = self.w
        self._pending = np.concatenate([self._pending, x])
        magnitude = np.abs(x)
        needs = np.ones_like(magnitude)
        np.divide(self.ceiling, magnitude, out=needs, where=magnitude > self.ceiling)
        self._needs = np.concatenate([self._needs, needs])
        if last:  # beyond the end nothing needs limiting
            self._needs = np.concatenate([self._needs, np.ones(2 * w)])
        ready = self._needs.size - 4 * w  # samples with 2w of needs either side
        if ready <= 0:
            return np.zeros(0)
        smooth = uniform_filter1d(minimum_filter1d(self._needs, 2 * w + 1), 2 * w + 1)[2 * w:2 * w + ready]
        out = self._pending[:ready] * np.minimum(smooth, 1.0)
        self._pending = self._pending[ready:]
        self._needs = self._needs[ready:]
        return out


def _to_float(chunk: np.ndarray) -> np.ndarray:
    return chunk.astype(np.float64) / 32768.0 if chunk.dtype == np.int16 else chunk.astype(np.float64)


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


class MasterStream:
    """The second pass: chunks (int16 or float) in, mastered int16 chunks out, in order; `flush` at the end."""

    def __init__(self, profile: Profile, the_plan: Plan, rate: int, frames: int,
                 output_gain_db: float = 0.0) -> None:
        # The chunk sizes are the caller's; `frames` (the source's length) places the tail cut.
        self.plan = the_plan
        self._gain = 10 ** (the_plan.gain_db / 20)
        ceiling = min(profile.ceiling_dbfs - output_gain_db, 0.0)
        self._limiter = Limiter(rate, ceiling) if profile.limiter else None
        self._keep_until = frames - the_plan.tail_cut  # input frames after it are cut
        self._seen = 0
        self._started = False

    def process(self, chunk: np.ndarray, *, last: bool = False) -> np.ndarray:
        x = _to_float(chunk)
        start, end = self._seen, self._seen + x.size
        self._seen = end
        x = x[max(0, self.plan.head_cut - start):max(0, min(x.size, self._keep_until - start))] * self._gain
        head = np.zeros(0 if self._started else self.plan.head_pad)
        self._started = True
        tail = np.zeros(self.plan.tail_pad if last else 0)
        x = np.concatenate([head, x, tail])
        if self._limiter is not None:
            x = self._limiter.process(x, last=last)
        return _to_int16(x)

    def flush(self) -> np.ndarray:
        return self.process(np.zeros(0, dtype=np.int16), last=True)


def _measure(chunks: Iterable[np.ndarray], rate: int) -> Loudness:
    meter = LoudnessMeter(rate)
    for chunk in chunks:
        meter.add(chunk)
    return meter.result()


def apply(chunks: Iterable[np.ndarray], profile: Profile, the_plan: Plan, rate: int, frames: int,
          output_gain_db: float = 0.0) -> Iterator[np.ndarray]:
    """The second pass over `frames` frames of audio, with a plan from `prepare`."""
    stream = MasterStream(profile, the_plan, rate, frames, output_gain_db)
    for chunk in chunks:
        yield stream.process(chunk)
    yield stream.flush()


def prepare(source: Callable[[], Iterable[np.ndarray]], rate: int, profile: Profile,
            output_gain_db: float = 0.0) -> tuple[Plan, int]:
    """The first pass (two with a limiter): the plan for `apply`, and how many frames the source has.
    `source` is called once per pass and must give the same chunks each time; `output_gain_db` is what
    the encoder will do to the level (MP3: formats.FormatSpec.encoder_gain_db)."""
    measured = _measure(source(), rate)
    the_plan = plan(profile, measured, rate, output_gain_db)
    frames = round(measured.duration_s * rate)
    if profile.limiter:  # what the limiter takes off the level is given back to the gain, once
        dry = getattr(_measure(apply(source(), profile, the_plan, rate, frames, output_gain_db), rate),
                      profile.level)
        if dry is not None:
            correction = min(profile.target_db - output_gain_db - dry, _MAX_GAIN_DB - the_plan.gain_db)
            the_plan = Plan(the_plan.gain_db + correction, the_plan.head_pad, the_plan.head_cut,
                            the_plan.tail_pad, the_plan.tail_cut)
    return the_plan, frames


def master(pcm: np.ndarray, rate: int, profile: Profile | Mastering, output_gain_db: float = 0.0) -> np.ndarray:
    """One buffer, both passes."""
    chosen = PROFILES[profile] if isinstance(profile, str) else profile
    the_plan, frames = prepare(lambda: [pcm], rate, chosen, output_gain_db)
    return np.concatenate(list(apply([pcm], chosen, the_plan, rate, frames, output_gain_db)))
