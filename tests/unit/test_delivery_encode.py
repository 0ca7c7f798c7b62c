"""Every delivered format, read back by a second decoder (ffmpeg, through PyAV) and by libsndfile;
bitrates and CBR read from the MP3 frames by mutagen; the streaming encoder against the whole-buffer one."""

from __future__ import annotations

import io

import av
import mutagen.mp3
import numpy as np
import pytest
import soundfile as sf

from tts_core.delivery.encode import Encoder, encode
from tts_core.delivery.formats import FORMATS, resolve
from tts_core.errors import InvalidInputError


def speechlike(rate: int, seconds: float = 3.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    envelope = (np.sin(2 * np.pi * 2.5 * t) > -0.3).astype(float)  # syllables and gaps
    tone = 0.3 * np.sin(2 * np.pi * 180 * t) + 0.1 * np.sin(2 * np.pi * 1400 * t)
    return np.round(tone * envelope * 32767).astype(np.int16)


def ffmpeg_decode(data: bytes) -> tuple[np.ndarray, int]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        frames = [f.to_ndarray().reshape(-1) for f in container.decode(stream)]
        return np.concatenate(frames), int(stream.rate)


@pytest.mark.parametrize(("fmt", "rate", "kbps"), [
    ("wav", 22050, None), ("flac", 44100, None), ("mp3", 22050, 64), ("mp3", 44100, 192), ("mp3", 16000, 160),
    ("mp3", 48000, 320), ("opus", 24000, 32), ("opus", 48000, 96), ("opus", 16000, 24)])
def test_every_format_decodes_elsewhere_to_the_same_duration(fmt, rate, kbps) -> None:
    pcm = speechlike(rate)
    data = encode(pcm, rate, fmt, kbps)
    expected = pcm.size / rate
    samples, decoded_rate = ffmpeg_decode(data)
    assert decoded_rate == (48000 if fmt == "opus" else rate)  # ffmpeg decodes Opus at its native 48 kHz
    # ffmpeg honours LAME's delay and padding (the Info frame) and Opus' pre-skip.
    assert abs(samples.size / decoded_rate - expected) < 0.05
    info = sf.info(io.BytesIO(data))
    assert (info.samplerate, info.channels) == (rate, 1) and abs(info.frames / rate - expected) < 0.05
    if fmt == "mp3":
        frames = mutagen.mp3.MP3(io.BytesIO(data)).info
        assert round(frames.bitrate / 1000) == kbps and frames.bitrate_mode == mutagen.mp3.BitrateMode.CBR
        assert frames.sample_rate == rate and frames.channels == 1
    if fmt in ("wav", "flac"):  # lossless: every sample back
        assert np.array_equal(sf.read(io.BytesIO(data), dtype="int16")[0], pcm)


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "opus"])
def test_the_streaming_encoder_writes_chunks_into_one_file(tmp_path, fmt) -> None:
    rate = 48000 if fmt == "opus" else 22050
    pcm = speechlike(rate, 4.0)
    path = tmp_path / f"chapter.{FORMATS[fmt].extension}"
    with Encoder(path, fmt, rate) as encoder:
        for chunk in np.array_split(pcm, 37):  # uneven chunks, as segments come
            encoder.write(chunk)
    assert encoder.frames == pcm.size
    samples, decoded_rate = ffmpeg_decode(path.read_bytes())
    assert decoded_rate == rate and abs(samples.size / decoded_rate - pcm.size / rate) < 0.05
    if fmt in ("wav", "flac"):
        assert path.read_bytes() == encode(pcm, rate, fmt)


def test_the_encoder_refuses_a_rate_or_samples_the_format_cannot_take(tmp_path) -> None:
    with pytest.raises(ValueError, match="22050 Hz"):
        Encoder(tmp_path / "x.opus", "opus", 22050)
    with Encoder(tmp_path / "x.wav", "wav", 22050) as encoder, pytest.raises(ValueError, match="int16"):
        encoder.write(np.zeros(10, dtype=np.float32))


def test_resolve_fills_in_defaults_and_moves_rates_a_codec_needs() -> None:
    assert resolve(None, 22050, None, "default") == resolve("wav", 22050, None, "default")
    wav = resolve(None, 22050, None, "default")
    assert (wav.format, wav.sample_rate, wav.bitrate_kbps, wav.spec.content_type) == ("wav", 22050, None, "audio/wav")
    opus = resolve("opus", 22050, None, "podcast")
    assert (opus.sample_rate, opus.bitrate_kbps, opus.spec.content_type) == (24000, 64, "audio/ogg")
    assert resolve("opus", 44100, None, "default").sample_rate == 48000
    mp3 = resolve("mp3", 22050, None, "default")
    assert (mp3.sample_rate, mp3.bitrate_kbps, mp3.spec.content_type) == (22050, 64, "audio/mpeg")
    assert resolve("mp3", 22050, 256, "default").sample_rate == 44100  # MPEG-2 stops at 160 kbps
    acx = resolve(None, 22050, None, "acx")
    assert (acx.format, acx.sample_rate, acx.bitrate_kbps) == ("mp3", 44100, 192)
    assert resolve("mp3", 44100, 192, "acx", rate_requested=True) == acx


@pytest.mark.parametrize(("args", "message"), [
    (("wav", 22050, 128, "default"), "lossless"),
    (("flac", 22050, 64, "default"), "lossless"),
    (("mp3", 22050, 32, "default"), "64 to 160"),
    (("mp3", 16000, 192, "default", True), "64 to 160"),
    (("opus", 48000, 300, "default"), "6 to 256"),
    (("wav", 22050, None, "acx"), "format wav"),
    (("mp3", 22050, 128, "acx"), "bitrate_kbps 128"),
    (("mp3", 22050, None, "acx", True), "sample_rate 22050"),
])
def test_resolve_refuses_what_a_format_or_profile_cannot_deliver(args, message) -> None:
    fmt, rate, kbps, mastering, *requested = args
    with pytest.raises(InvalidInputError, match=message):
        resolve(fmt, rate, kbps, mastering, rate_requested=bool(requested))
