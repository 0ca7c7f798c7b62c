"""The fallback engine: Alibaba Cloud Sambert through the official `dashscope` SDK (WebSocket).

What the SDK does not do for us, and this module does:
- a hard deadline: `SpeechSynthesizer.call` blocks with no overall timeout (`request_timeout` bounds
  only the handshake), so the call runs in a daemon thread and we stop waiting at the deadline;
- errors by class: the SDK returns failures instead of raising them, and a failed task may still
  carry partial audio, so the final status decides, never the presence of audio;
- texts over Sambert's 10,000 characters per request, split at sentence boundaries;
- key rotation: one retry with a freshly read key after an authentication failure.

`dashscope` is imported on first use (~0.4 s) so that importing this module stays cheap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, get_args

import numpy as np

from tts_core.audio import read_wav
from tts_core.catalogue import Voice, get_voice, language_name
from tts_core.deadline import Deadline, run_with_deadline
from tts_core.engines import EngineAudio
from tts_core.errors import (
    EngineAuthError,
    EngineError,
    EngineLanguageError,
    EngineNotConfiguredError,
    EngineRejectedError,
    EngineThrottledError,
    EngineUnavailableError,
    TtsError,
)
from tts_core.models import EngineName, Style, SynthesisRequest
from tts_core.segmentation import segment

if TYPE_CHECKING:
    from dashscope.audio.tts import SpeechSynthesisResult

logger = logging.getLogger(__name__)

SAMBERT_MAX_CHARS = 10_000  # per request, documented by DashScope
RATE_RANGE = (0.5, 2.0)
PITCH_RANGE = (0.5, 2.0)
VOLUME_RANGE = (0, 100)

T = TypeVar("T")


class ApiKeyProvider(Protocol):
    """Returns the DashScope key, or None when none is configured; `refresh` bypasses any cache."""

    def __call__(self, refresh: bool = False) -> str | None: ...


@dataclass(frozen=True)
class StyleAdjust:
    """Multipliers a style applies to the request's speed, pitch and volume."""

    rate: float
    pitch: float
    volume: float


# Sambert has no style parameter; these nudge prosody instead. Kept small so that a user's own
# speed/pitch/volume still dominate.
STYLES: Mapping[str, StyleAdjust] = {
    "default": StyleAdjust(rate=1.0, pitch=1.0, volume=1.0),
    "emotional": StyleAdjust(rate=1.05, pitch=1.08, volume=1.1),
    "narration": StyleAdjust(rate=0.92, pitch=0.97, volume=1.0),
}


def validate_styles(table: Mapping[str, StyleAdjust]) -> None:
    """Every request style has an entry, and every multiplier is in a sane band."""
    expected = set(get_args(Style))
    if set(table) != expected:
        raise ValueError(f"style table keys {sorted(table)} != request styles {sorted(expected)}")
    for name, adj in table.items():
        for field_name in ("rate", "pitch", "volume"):
            value = getattr(adj, field_name)
            if not 0.5 <= value <= 2.0:
                raise ValueError(f"style {name!r}: {field_name} multiplier {value} outside [0.5, 2.0]")


validate_styles(STYLES)  # a bad edit to the table fails at import, not on a live request


@dataclass(frozen=True)
class SambertParams:
    rate: float
    pitch: float
    volume: int


def _clamp(value: float, bounds: tuple[float, float]) -> float:
    return min(max(value, bounds[0]), bounds[1])


def sambert_params(request: SynthesisRequest, styles: Mapping[str, StyleAdjust] = STYLES) -> SambertParams:
    """The request's speed/pitch/volume times its style's multipliers, clamped to Sambert's ranges
    (the SDK does no range check and the service rejects values outside them)."""
    adj = styles[request.style]
    return SambertParams(
        rate=round(_clamp(request.speed * adj.rate, RATE_RANGE), 3),
        pitch=round(_clamp(request.pitch * adj.pitch, PITCH_RANGE), 3),
        volume=round(_clamp(request.volume * adj.volume, VOLUME_RANGE)),
    )


# Sentence ends: CJK marks anywhere, ASCII marks only before whitespace or the end (so "3.14" and
# "e.g.x" stay whole), and line breaks.
def split_text(text: str, limit: int = SAMBERT_MAX_CHARS) -> list[str]:
    """Chunks of at most `limit` characters for Sambert's per-request limit (the shared segmentation)."""
    return segment(text, limit)


def _code_text(code: Any) -> str:
    return str(code) if code not in (None, "") else "Unknown"


def classify_failure(status_code: int, code: Any, message: str) -> TtsError:
    """Turn a non-200 SDK response into our error class; `detail` keeps the provider's code."""
    code_s = _code_text(code)
    text = f"Sambert failed: status {status_code}, {code_s}: {message}".rstrip(": ")
    if status_code in (401, 403) or code_s in ("InvalidApiKey", "401", "403"):
        return EngineAuthError(text, detail=code_s)
    if code_s.startswith("Throttling") or status_code == 429:
        return EngineThrottledError(text, detail=code_s)
    if code_s.startswith("DataInspection"):
        return EngineRejectedError(text, detail=code_s)
    if code_s.startswith(("InvalidParameter", "BadRequest", "ModelNotFound")) or status_code == 400:
        return EngineRejectedError(text, detail=code_s)
    # -1 is the SDK's "no answer": connection refused or reset, closed mid-stream, protocol error.
    if status_code == -1 or status_code >= 500 or code_s.startswith(("InternalError", "ServiceUnavailable")):
        return EngineUnavailableError(text, detail=code_s)
    return EngineError(text, detail=code_s)


class SambertEngine:
    """Engine protocol implementation over `dashscope.audio.tts.SpeechSynthesizer`."""

    name = EngineName.FALLBACK

    def __init__(self, api_key: ApiKeyProvider, base_url: str | None = None, *,
                 max_chunk_chars: int = SAMBERT_MAX_CHARS,
                 styles: Mapping[str, StyleAdjust] = STYLES, voices: Callable[[str], Voice] = get_voice) -> None:
        if not 1 <= max_chunk_chars <= SAMBERT_MAX_CHARS:
            raise ValueError(f"max_chunk_chars must be in [1, {SAMBERT_MAX_CHARS}]")
        validate_styles(styles)
        self._api_key = api_key
        self._base_url = base_url  # None: the SDK's default (wss://dashscope.aliyuncs.com/...)
        self._max_chunk_chars = max_chunk_chars
        self._styles = styles
        self._voices = voices  # a voice id -> the catalogue voice that speaks it (custom voices: their fallback)

    def synthesize(self, request: SynthesisRequest, deadline: Deadline) -> EngineAudio:
        voice = self._voices(request.voice)
        sambert = voice.sambert
        if sambert is None:  # the catalogue's explicit "none": never another language's voice
            raise EngineLanguageError(f"Sambert has no voice that speaks {language_name(voice.language)} as voice "
                                      f"'{voice.id}' ({voice.gender})", detail="NoSambertVoice")
        model = f"sambert-{sambert.name}-v1"
        params = sambert_params(request, self._styles)
        chunks = split_text(request.text, self._max_chunk_chars)
        key = self._key(refresh=False)
        refreshed = False
        parts: list[np.ndarray] = []
        rate: int | None = None
        for index, chunk in enumerate(chunks):
            try:
                wav = self._call(model, chunk, sambert.rate, params, key, deadline)
            except EngineAuthError:
                # A rotated key: read it again once per request, and retry only if it changed.
                if refreshed:
                    raise
                refreshed = True
                fresh = self._key(refresh=True)
                if fresh == key:
                    raise
                logger.info("sambert auth failed; retrying with a refreshed key")
                key = fresh
                wav = self._call(model, chunk, sambert.rate, params, key, deadline)
            try:
                samples, chunk_rate = read_wav(wav)
            except Exception as exc:  # soundfile's errors for a truncated or non-WAV body
                raise EngineError(f"chunk {index}: Sambert audio is not a readable WAV: {exc}",
                                  detail="BadAudio") from exc
            if rate is not None and chunk_rate != rate:
                raise EngineError(f"chunk {index} came back at {chunk_rate} Hz, not {rate} Hz",
                                  detail="MixedSampleRates")
            rate = chunk_rate
            parts.append(samples)
        if rate is None:  # not reachable for a validated request (its text is never blank)
            raise EngineError("no text to synthesize", detail="EmptyText")
        audio = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
        return EngineAudio(samples=audio, sample_rate=rate)

    def _key(self, *, refresh: bool) -> str:
        key = self._api_key(refresh=refresh)
        if not key or not key.strip():
            raise EngineNotConfiguredError("no DashScope API key is configured", detail="MissingApiKey")
        return key.strip()

    def _call(self, model: str, text: str, sample_rate: int, params: SambertParams, key: str,
              deadline: Deadline) -> bytes:
        try:
            from dashscope.audio.tts import SpeechSynthesizer
        except ImportError as exc:
            raise EngineNotConfiguredError("the dashscope SDK is not installed", detail="NoSdk") from exc

        def call() -> SpeechSynthesisResult:
            extra: dict[str, Any] = {} if self._base_url is None else {"base_address": self._base_url}
            return SpeechSynthesizer.call(
                model=model, text=text, format="wav", sample_rate=sample_rate,
                rate=params.rate, pitch=params.pitch, volume=params.volume, api_key=key,
                # Bounds the WebSocket handshake only; the thread deadline bounds everything else.
                request_timeout=max(1.0, deadline.remaining()),
                **extra,
            )

        try:
            result = run_with_deadline(call, deadline, what=f"Sambert {model}")
        except TtsError:
            raise
        except Exception as exc:  # the SDK choking on an answer it did not expect: a provider-side bug
            raise EngineError(f"dashscope SDK raised {type(exc).__name__}: {exc}",
                              detail=type(exc).__name__) from exc
        response = result.get_response()
        audio = result.get_audio_data()
        if response is None:
            # The SDK records every failure (task-failed, connection error, protocol error) as a
            # non-200 response, so no response means the stream ended on task-finished with an output
            # the SDK took for a sentence. That is a success; audio must still be there.
            if not audio:
                raise EngineError("Sambert finished without a status or audio", detail="NoResponse")
            return audio
        if response.status_code != 200:
            raise classify_failure(int(response.status_code), response.code, response.message or "")
        if not audio:
            raise EngineError("Sambert reported success but returned no audio", detail="NoAudio")
        return audio
