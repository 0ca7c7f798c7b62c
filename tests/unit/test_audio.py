from __future__ import annotations

import numpy as np
import pytest

from tts_core.audio import (
    PEAK_CEILING_DBFS,
    TARGET_LOUDNESS_DBFS,
    AudioContract,
    gated_loudness_dbfs,
    read_wav,
    wav_info,
)

CONTRACT = AudioContract(22050)


def tone(rate: int, seconds: float, amplitude: float, channels: int = 1) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    mono = (amplitude * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    return np.stack([mono] * channels, axis=1) if channels > 1 else mono


@pytest.mark.parametrize(("rate", "channels", "amplitude"), [(48000, 1, 0.01), (16000, 2, 0.9), (22050, 1, 0.3)])
def test_any_engine_output_becomes_the_contract(rate: int, channels: int, amplitude: float) -> None:
    pcm = CONTRACT.conform(tone(rate, 1.0, amplitude, channels), rate)
    info = wav_info(CONTRACT.encode(pcm))

    assert pcm.dtype == np.int16 and pcm.ndim == 1
    assert (info.sample_rate, info.channels, info.subtype) == (22050, 1, "PCM_16")
    assert info.duration_s == pytest.approx(1.0, abs=0.01)
    samples, _ = read_wav(CONTRACT.encode(pcm))
    assert gated_loudness_dbfs(samples, 22050) == pytest.approx(TARGET_LOUDNESS_DBFS, abs=0.5)


def test_int16_input_is_understood_and_peaks_are_limited() -> None:
    rate = 22050
    speech = (tone(rate, 1.0, 0.05) * 32767).astype(np.int16)
    speech[100] = 32767  # one click far above the speech level
    pcm = CONTRACT.conform(speech, rate)
    assert np.max(np.abs(pcm)) / 32768 <= 10 ** (PEAK_CEILING_DBFS / 20) + 1e-4


def test_silence_stays_silent() -> None:
    pcm = CONTRACT.conform(np.zeros(22050, dtype=np.float32), 22050)
    assert not pcm.any() and gated_loudness_dbfs(pcm.astype(np.float32), 22050) is None


def test_requested_rate_overrides_the_contract_rate() -> None:
    pcm = CONTRACT.conform(tone(22050, 0.5, 0.3), 22050, out_rate=16000)
    assert wav_info(CONTRACT.encode(pcm, 16000)).sample_rate == 16000 and len(pcm) == 8000
