"""Mastering profiles measured on what real engines say (eSpeak NG offline; Sambert through the real
dashscope SDK against the local DashScope server) and over a long joined text, as delivered files
decoded by ffmpeg; the streaming meter against pyloudnorm; the streaming master against the whole."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator

import av
import numpy as np
import pyloudnorm
import pytest

from tts_core.audio import AudioContract, gated_loudness_dbfs, join_pcm
from tts_core.deadline import Deadline
from tts_core.delivery import mastering
from tts_core.delivery import render as render_module
from tts_core.delivery.formats import resolve
from tts_core.delivery.loudness import LoudnessMeter, measure
from tts_core.delivery.mastering import PROFILES, apply, master, prepare
from tts_core.delivery.render import render
from tts_core.engines.espeak import EspeakEngine
from tts_core.engines.sambert import SambertEngine
from tts_core.models import SynthesisRequest
from tts_core.segmentation import segment
from tts_local.dashscope_server import DashScopeServer

RATE = 22050
TEXT = "The quick brown fox jumps over the lazy dog. 你好，世界。 It is a long way to Tipperary!"
LONG_TEXT = " ".join([
    "Chapter one. It was a bright cold day in April, and the clocks were striking thirteen.",
    "Winston Smith, his chin nuzzled into his breast in an effort to escape the vile wind, slipped quickly",
    "through the glass doors of Victory Mansions. 春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。",
    "The hallway smelt of boiled cabbage and old rag mats. At one end of it a coloured poster had been tacked",
    "to the wall.",
] * 2)


def contract(samples: np.ndarray, rate: int) -> np.ndarray:
    return AudioContract(RATE).conform(samples, rate)


@pytest.fixture(scope="module")
def outputs() -> dict[str, np.ndarray]:
    """Contract PCM at 22.05 kHz from each engine that runs here, and a long text joined as the pipeline joins."""
    espeak = EspeakEngine()
    deadline = Deadline.in_seconds(60)
    said = {"offline": contract(*_audio(espeak.synthesize(SynthesisRequest(text=TEXT), deadline)))}
    with DashScopeServer(seconds_per_char=0.05) as server, pytest.MonkeyPatch.context() as patch:
        patch.setenv("NO_PROXY", "127.0.0.1,localhost")
        sambert = SambertEngine(lambda refresh=False: "test-key", server.url)
        said["fallback"] = contract(*_audio(sambert.synthesize(SynthesisRequest(text=TEXT), deadline)))
    parts = [contract(*_audio(espeak.synthesize(SynthesisRequest(text=t), deadline)))
             for t in segment(LONG_TEXT, 200)]
    said["long"] = join_pcm(parts, RATE, 0.3)
    return said


def _audio(audio) -> tuple[np.ndarray, int]:
    return audio.samples, audio.sample_rate


def ffmpeg_decode(data: bytes) -> tuple[np.ndarray, int]:
    """Float samples in [-1, 1] as ffmpeg decodes them (WAV and FLAC come as int16, MP3 and Opus as float)."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(stream)])
    scale = 32768.0 if samples.dtype == np.int16 else 1.0
    return samples.astype(np.float64) / scale, int(stream.rate)


@pytest.mark.parametrize("source", ["offline", "fallback", "long"])
@pytest.mark.parametrize(("profile", "fmt"), [("default", "wav"), ("acx", None), ("podcast", "mp3"),
                                              ("broadcast", "opus")])
def test_each_profile_meets_its_numbers_on_every_engine_and_a_long_text(outputs, source, profile, fmt) -> None:
    pcm = outputs[source]
    options = resolve(fmt, RATE, None, profile)
    done = render(pcm, RATE, options)
    assert done.misses == [], done.loudness

    # Measured again, independently: ffmpeg's decoder and pyloudnorm's own integrated loudness.
    samples, rate = ffmpeg_decode(done.audio)
    lufs = pyloudnorm.Meter(rate).integrated_loudness(samples.astype(np.float64))
    assert lufs == pytest.approx(done.loudness.integrated_lufs, abs=0.1)
    peak = 20 * np.log10(np.max(np.abs(samples)))
    rms = 10 * np.log10(np.mean(np.square(samples.astype(np.float64))))
    seconds = samples.size / rate
    if profile == "default":  # today's contract: gated RMS -20 dBFS, peaks under -1 dBFS
        assert gated_loudness_dbfs(samples, rate) == pytest.approx(-20.0, abs=1.0) and peak <= -1.0
    elif profile == "acx":  # ACX: RMS -23..-18 dBFS, peaks <= -3 dBFS, 0.5-1 s head, 1-5 s tail, 44.1 kHz
        assert -23.0 <= rms <= -18.0 and peak <= -3.0 and rate == 44100
        loud = np.flatnonzero(np.abs(samples) > 10 ** (-60 / 20))
        assert 0.5 <= loud[0] / rate <= 1.0 and 1.0 <= seconds - loud[-1] / rate <= 5.0
    elif profile == "podcast":  # -19 LUFS mono within 1 LU, true peak <= -1 dBTP
        assert -20.0 <= lufs <= -18.0 and done.loudness.true_peak_dbtp <= -1.0
    else:  # EBU R128: -23 LUFS within 0.5 LU, true peak <= -1 dBTP
        assert -23.5 <= lufs <= -22.5 and done.loudness.true_peak_dbtp <= -1.0
    head = done.head_shift_s if profile == "acx" else 0.0
    tail = PROFILES[profile].tail_s or 0.0
    assert seconds == pytest.approx(pcm.size / RATE + head + (tail if profile == "acx" else 0.0), abs=0.05)


def test_a_file_that_misses_its_loudness_is_reported_so(outputs, monkeypatch) -> None:
    def six_db_too_quiet(*args, **kwargs):
        planned, frames = prepare(*args, **kwargs)
        return dataclasses.replace(planned, gain_db=planned.gain_db - 6.0), frames

    monkeypatch.setattr(render_module, "prepare", six_db_too_quiet)
    done = render(outputs["offline"], RATE, resolve("mp3", RATE, None, "broadcast"))
    assert done.loudness.integrated_lufs < -28.0
    assert done.misses and done.misses[0].startswith("integrated_lufs")
    assert mastering.check(PROFILES["broadcast"], measure(outputs["offline"], RATE))  # -20 LUFS is not R128


@pytest.mark.parametrize("rate", [16000, 22050, 44100, 48000])
def test_the_streaming_meter_agrees_with_pyloudnorm_and_the_contract(rate) -> None:
    rng = np.random.default_rng(rate)
    n = int(rate * 7.37)
    x = rng.standard_normal(n) * 0.05 * (np.sin(np.arange(n) / rate * 3) > 0)
    meter = LoudnessMeter(rate)
    for chunk in np.array_split(x, 13):
        meter.add(chunk)
    got = meter.result()
    assert got.integrated_lufs == pytest.approx(pyloudnorm.Meter(rate).integrated_loudness(x), abs=0.01)
    assert got.gated_rms_dbfs == pytest.approx(gated_loudness_dbfs(x.astype(np.float32), rate), abs=0.01)
    assert got.rms_dbfs == pytest.approx(10 * np.log10(np.mean(x ** 2)), abs=0.01)
    assert got.duration_s == pytest.approx(n / rate, abs=0.001)


def test_true_peak_sees_what_samples_miss_and_silence_is_timed() -> None:
    rate = 48000
    t = np.arange(rate) / rate
    x = 0.5 * np.sin(2 * np.pi * rate / 4 * t + np.pi / 4)  # every sample at 0.354, the wave at 0.5
    padded = np.concatenate([np.zeros(rate // 2), x, np.zeros(rate)])
    got = measure(padded, rate)
    assert got.peak_dbfs == pytest.approx(-9.03, abs=0.05) and got.true_peak_dbtp == pytest.approx(-6.02, abs=0.2)
    assert got.head_silence_s == pytest.approx(0.5, abs=0.001) and got.tail_silence_s == pytest.approx(1.0, abs=0.001)
    assert measure(np.zeros(rate), rate).integrated_lufs is None


def _chunks(pcm: np.ndarray, pieces: int) -> Iterator[np.ndarray]:
    yield from np.array_split(pcm, pieces)


@pytest.mark.parametrize("profile", ["default", "acx", "podcast"])
def test_mastering_in_chunks_gives_the_whole_buffer_answer(outputs, profile) -> None:
    pcm = outputs["offline"]
    chosen = PROFILES[profile]
    the_plan, frames = prepare(lambda: _chunks(pcm, 29), RATE, chosen)
    streamed = np.concatenate(list(apply(_chunks(pcm, 29), chosen, the_plan, RATE, frames)))
    whole = master(pcm, RATE, profile)
    assert streamed.size == whole.size and np.max(np.abs(streamed.astype(int) - whole)) <= 1
