"""PCM16 mono -> a delivered file, with libsndfile (soundfile): WAV, FLAC, MP3 (LAME) and Ogg Opus.

`Encoder` writes int16 chunks as they come (a book's chapter never has to fit in memory); `encode`
is the same for one buffer."""

from __future__ import annotations

import io
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import numpy as np
import soundfile as sf

from tts_core.delivery.formats import AudioFormat, FormatSpec, spec

# libsndfile sets a bitrate through a "compression level" in [0, 1], mapped linearly per codec
# (libsndfile 1.2 src/mpeg_l3_encode.c and src/ogg_opus.c): the inverse of those maps.
_MP3_KBPS_RANGE = {True: (32.0, 320.0), False: (8.0, 160.0)}  # MPEG-1 (>= 32 kHz), MPEG-2 (16-24 kHz)
_OPUS_KBPS_RANGE = (6.0, 256.0)


def compression_level(fmt: FormatSpec, rate: int, bitrate_kbps: int) -> float:
    if fmt.name == "mp3":
        low, high = _MP3_KBPS_RANGE[rate >= 32000]
        # libsndfile truncates the bitrate it computes to an integer: aim half a kbps above.
        level = (high - (bitrate_kbps + 0.5)) / (high - low)
    else:
        low, high = _OPUS_KBPS_RANGE
        level = 1.0 - (bitrate_kbps + 0.5 - low) / (high - low)
    return min(1.0, max(0.0, level))


class Encoder:
    """Int16 mono chunks -> one file (a path or a seekable binary file), encoded as they are written.

    A context manager; `close` finishes the file (MP3's LAME header, Ogg's last page). The rate must be
    one the format takes (`FormatSpec.delivery_rate`)."""

    def __init__(self, target: str | Path | BinaryIO, fmt: AudioFormat, rate: int,
                 bitrate_kbps: int | None = None) -> None:
        self.spec = spec(fmt)
        if self.spec.rates is not None and rate not in self.spec.rates:
            raise ValueError(f"{fmt} does not take {rate} Hz (it takes {self.spec.rates})")
        options: dict[str, object] = {}
        if self.spec.lossy:
            kbps = bitrate_kbps if bitrate_kbps is not None else self.spec.bitrate("default", None, rate)
            assert kbps is not None
            options["compression_level"] = compression_level(self.spec, rate, kbps)
            if fmt == "mp3":  # constant bitrate: ACX asks for CBR, and players seek CBR exactly
                options["bitrate_mode"] = "CONSTANT"
        self.rate = rate
        self.frames = 0
        self._file = sf.SoundFile(target, "w", samplerate=rate, channels=1, format=self.spec.sf_format,
                                  subtype=self.spec.sf_subtype, **options)  # type: ignore[arg-type]

    def write(self, pcm: np.ndarray) -> None:
        if pcm.dtype != np.int16 or pcm.ndim != 1:
            raise ValueError(f"the encoder takes 1-D int16 samples, not {pcm.ndim}-D {pcm.dtype}")
        if pcm.size:
            self._file.write(pcm)
            self.frames += pcm.size

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Encoder:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def encode(pcm: np.ndarray, rate: int, fmt: AudioFormat, bitrate_kbps: int | None = None) -> bytes:
    buffer = io.BytesIO()
    with Encoder(buffer, fmt, rate, bitrate_kbps) as encoder:
        encoder.write(pcm)
    return buffer.getvalue()
