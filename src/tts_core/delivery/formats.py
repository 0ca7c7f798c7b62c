"""The audio formats the service delivers: what each is called, its file extension and content type,
the sample rates it takes, and its bitrates."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tts_core.errors import InvalidInputError
from tts_core.models import AudioFormat, Mastering, SynthesisRequest

__all__ = ["AudioFormat", "DeliveryOptions", "FormatSpec", "Mastering", "for_request", "resolve", "spec"]

DEFAULT_FORMAT: AudioFormat = "wav"

# ACX (Audible) accepts only this: MP3, 192 kbps constant bitrate, 44.1 kHz (acx.com audio submission
# requirements). A request mastered for ACX is delivered so, whatever it asked.
ACX_FORMAT: AudioFormat = "mp3"
ACX_SAMPLE_RATE = 44100
ACX_BITRATE_KBPS = 192


@dataclass(frozen=True)
class FormatSpec:
    name: AudioFormat
    extension: str
    content_type: str
    sf_format: str  # libsndfile's container and codec names (soundfile's format/subtype)
    sf_subtype: str
    rates: tuple[int, ...] | None  # the sample rates the codec takes; None: any
    bitrate_range_kbps: tuple[int, int] | None  # None: lossless, no bitrate
    default_bitrate_kbps: dict[Mastering, int] | None = None
    low_rate_max_kbps: int | None = None  # the highest bitrate below 32 kHz (MPEG-2 Layer III: 160)
    # What the encoder does to the level: LAME (in libsndfile 1.2.2) scales mono by 0.95, -0.45 dB, as
    # measured on files decoded by libsndfile and by ffmpeg alike. Mastering aims past it.
    encoder_gain_db: float = 0.0

    @property
    def lossy(self) -> bool:
        return self.bitrate_range_kbps is not None

    def delivery_rate(self, rate: int) -> int:
        """`rate` if the codec takes it, else the next rate up it takes (no information is thrown away),
        else its highest."""
        if self.rates is None or rate in self.rates:
            return rate
        return next((r for r in sorted(self.rates) if r > rate), max(self.rates))

    def bitrate_limits(self, rate: int) -> tuple[int, int] | None:
        if self.bitrate_range_kbps is None:
            return None
        low, high = self.bitrate_range_kbps
        return (low, min(high, self.low_rate_max_kbps)) if self.low_rate_max_kbps and rate < 32000 else (low, high)

    def bitrate(self, mastering: Mastering, requested_kbps: int | None, rate: int) -> int | None:
        """The bitrate to encode at `rate`: the request's, checked against the codec's range, or the
        profile's default (at most the codec's highest at that rate)."""
        limits = self.bitrate_limits(rate)
        if limits is None or self.default_bitrate_kbps is None:
            if requested_kbps is not None:
                raise InvalidInputError(f"bitrate_kbps: {self.name} is lossless and takes no bitrate")
            return None
        low, high = limits
        if requested_kbps is None:
            return min(self.default_bitrate_kbps[mastering], high)
        if not low <= requested_kbps <= high:
            raise InvalidInputError(f"bitrate_kbps: {self.name} at {rate} Hz takes {low} to {high} kbps")
        return requested_kbps


# Defaults for mono speech: MP3 64 kbps and Opus 32 kbps are transparent enough for a voice; a podcast
# gets more (Apple and Spotify recommend 96-128 kbps MP3), broadcast contribution 128 kbps.
FORMATS: dict[AudioFormat, FormatSpec] = {
    "wav": FormatSpec("wav", "wav", "audio/wav", "WAV", "PCM_16", None, None),
    "flac": FormatSpec("flac", "flac", "audio/flac", "FLAC", "PCM_16", None, None),
    # MPEG-1 Layer III at 32-48 kHz, MPEG-2 at 16-24 kHz (up to 160 kbps). From 64 kbps up, so that
    # LAME's Info frame (which carries the encoder delay and padding that decoders trim) fits in a frame:
    # below it the decoded file is 30-80 ms longer than what was encoded (measured, libsndfile 1.2.2).
    "mp3": FormatSpec("mp3", "mp3", "audio/mpeg", "MP3", "MPEG_LAYER_III",
                      (16000, 22050, 24000, 32000, 44100, 48000), (64, 320),
                      {"default": 64, "acx": ACX_BITRATE_KBPS, "podcast": 128, "broadcast": 128},
                      low_rate_max_kbps=160, encoder_gain_db=20 * math.log10(0.95)),
    # Opus codes at 8/12/16/24/48 kHz only (RFC 6716): 22.05 kHz goes up to 24 kHz, 44.1 kHz to 48 kHz.
    "opus": FormatSpec("opus", "opus", "audio/ogg", "OGG", "OPUS", (8000, 12000, 16000, 24000, 48000), (6, 256),
                       {"default": 32, "acx": 64, "podcast": 64, "broadcast": 96}),
}


def spec(fmt: AudioFormat) -> FormatSpec:
    return FORMATS[fmt]


@dataclass(frozen=True)
class DeliveryOptions:
    """What one output is delivered as, every default resolved."""

    format: AudioFormat
    sample_rate: int
    bitrate_kbps: int | None
    mastering: Mastering

    @property
    def spec(self) -> FormatSpec:
        return FORMATS[self.format]


def resolve(fmt: AudioFormat | None, rate: int, bitrate_kbps: int | None, mastering: Mastering,
            *, rate_requested: bool = False) -> DeliveryOptions:
    """The request's choices (None: not chosen) -> what is delivered; InvalidInputError when they conflict.

    `acx` fixes format, rate and bitrate to ACX's: a request that chose others is refused rather than
    quietly changed. `rate` is the synthesis rate (the request's, `rate_requested`, or the contract's); a
    codec that does not take it gets the next rate up it takes, and an MP3 bitrate over MPEG-2's 160 kbps
    moves an unrequested rate up to 44.1 kHz."""
    if mastering == "acx":
        wrong = [f"{name} {value}" for name, value, acx in (
            ("format", fmt, ACX_FORMAT), ("bitrate_kbps", bitrate_kbps, ACX_BITRATE_KBPS),
            ("sample_rate", rate if rate_requested else None, ACX_SAMPLE_RATE)) if value not in (None, acx)]
        if wrong:
            raise InvalidInputError(f"mastering acx delivers {ACX_FORMAT} at {ACX_SAMPLE_RATE} Hz and "
                                    f"{ACX_BITRATE_KBPS} kbps; the request asked for {', '.join(wrong)}")
        return DeliveryOptions(ACX_FORMAT, ACX_SAMPLE_RATE, ACX_BITRATE_KBPS, mastering)
    chosen = FORMATS[fmt or DEFAULT_FORMAT]
    out_rate = chosen.delivery_rate(rate)
    limits = chosen.bitrate_limits(out_rate)
    if not rate_requested and limits and bitrate_kbps is not None and bitrate_kbps > limits[1]:
        out_rate = chosen.delivery_rate(ACX_SAMPLE_RATE)  # a bitrate only 44.1 kHz MP3 takes: go up to it
    return DeliveryOptions(chosen.name, out_rate, chosen.bitrate(mastering, bitrate_kbps, out_rate), mastering)


def for_request(request: SynthesisRequest, contract_rate: int) -> DeliveryOptions:
    """What a request is delivered as; InvalidInputError when its choices conflict (every entry point
    checks this before it starts a synthesis, so the record step never finds a conflict)."""
    return resolve(request.format, request.sample_rate or contract_rate, request.bitrate_kbps, request.mastering,
                   rate_requested=request.sample_rate is not None)
