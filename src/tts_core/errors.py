"""Stable error codes.

Each error is a class: its name is what Lambda reports as `errorType`, so it is also the name
the state machine's Retry/Catch `ErrorEquals` use (tests check that the ASL names exist here).
`code` is what users see; `retryable` says whether the state machine may try the same engine again.
"""

from __future__ import annotations

import re
from typing import ClassVar

MAX_QUOTED_CHARS = 80  # how much of a client's value an error message may repeat


def quoted(value: object, limit: int = MAX_QUOTED_CHARS) -> str:
    """A client's value as an error message may show it: cut to `limit` characters, saying how long it was
    (a 100,000-character voice id must not come back whole)."""
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


_ARN = re.compile(r"\barn:[a-z0-9-]+:[a-z0-9-]*:[a-z0-9-]*:\d*:[^\s\"',;)]+")
_ACCOUNT_ID = re.compile(r"(?<!\d)\d{12}(?!\d)")


def sanitized(message: str) -> str:
    """A message as clients may see it: no ARNs or account ids (botocore's messages carry roles and
    resources); the logs keep the original."""
    return _ACCOUNT_ID.sub("<account>", _ARN.sub("<arn>", message))


class TtsError(Exception):
    code: ClassVar[str] = "INTERNAL_ERROR"
    retryable: ClassVar[bool] = False
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # Provider-specific diagnosis (e.g. DashScope's error code), kept for logs and records.
        self.detail = detail


class InvalidInputError(TtsError):
    code = "INVALID_INPUT"
    http_status = 400


class MalformedJsonError(InvalidInputError):
    code = "MALFORMED_JSON"


class UnsupportedMediaTypeError(InvalidInputError):
    code = "UNSUPPORTED_MEDIA_TYPE"
    http_status = 415


class PayloadTooLargeError(InvalidInputError):
    code = "PAYLOAD_TOO_LARGE"
    http_status = 413


class InvalidEncodingError(InvalidInputError):
    """An upload that is binary or not UTF-8."""

    code = "INVALID_ENCODING"


class EmptyUploadError(InvalidInputError):
    code = "EMPTY_UPLOAD"


class TextTooLongError(InvalidInputError):
    code = "TEXT_TOO_LONG"
    http_status = 413


class BookTooLongError(InvalidInputError):
    """A manuscript over MaxBookChars: refused before any engine runs."""

    code = "BOOK_TOO_LONG"
    http_status = 413


class ManuscriptUnreadableError(InvalidInputError):
    """A manuscript that is not a book this service reads (a broken EPUB, JSON without text or chapters)."""

    code = "MANUSCRIPT_UNREADABLE"
    http_status = 422


class NothingToSpeakError(InvalidInputError):
    """Text with no letter or digit (only emoji, punctuation, symbols or invisible characters)."""

    code = "NOTHING_TO_SPEAK"
    http_status = 422


class InvalidSsmlError(InvalidInputError):
    """SSML that is not well-formed XML, or a tag of the subset used wrongly; the message says where
    (line and column of the text)."""

    code = "INVALID_SSML"


class UnsupportedSsmlTagError(InvalidInputError):
    """A tag outside the SSML subset (unless the request's `unknown_tags` is "ignore")."""

    code = "SSML_UNSUPPORTED_TAG"


class UnsupportedLanguageError(InvalidInputError):
    """Text in a script that no engine of its voice speaks (Japanese kana, Hangul, Arabic, Cyrillic ...)."""

    code = "UNSUPPORTED_LANGUAGE"
    http_status = 422


class InvalidLexiconError(InvalidInputError):
    code = "INVALID_LEXICON"


class LexiconNotFoundError(InvalidInputError):
    """A lexicon that does not exist, or belongs to another API key."""

    code = "LEXICON_NOT_FOUND"
    http_status = 404


class LexiconLimitError(InvalidInputError):
    """An API key holds as many lexicons as it may."""

    code = "LEXICON_LIMIT_REACHED"
    http_status = 409


class VoiceNotFoundError(InvalidInputError):
    code = "VOICE_NOT_FOUND"
    http_status = 404


class AudioUndecodableError(InvalidInputError):
    """A voice recording no audio decoder here reads (WAV, FLAC, OGG and MP3 are read)."""

    code = "AUDIO_UNDECODABLE"
    http_status = 415


class AudioRateTooLowError(InvalidInputError):
    """A recording sampled below 8 kHz: too little of a voice survives to clone it."""

    code = "AUDIO_RATE_TOO_LOW"

class AudioFormatUnsupportedError(InvalidInputError):
    """A voice recording with more than two channels or a rate outside 8-96 kHz (read from its header)."""

    code = "AUDIO_FORMAT_UNSUPPORTED"
    http_status = 422


class AudioTooShortError(InvalidInputError):
    code = "AUDIO_TOO_SHORT"


class AudioTooLongError(InvalidInputError):
    code = "AUDIO_TOO_LONG"


class AudioSilentError(InvalidInputError):
    code = "AUDIO_SILENT"


class AudioClippedError(InvalidInputError):
    code = "AUDIO_CLIPPED"


class VoiceNameTakenError(InvalidInputError):
    """The key already has a voice of that name (names that look alike count as one)."""

    code = "VOICE_NAME_TAKEN"
    http_status = 409

class QuotaExceededError(TtsError):
    """The API key used up a budget (characters today, jobs in flight, voices): `retry_after_s` says
    when to try again (the API's Retry-After header)."""

    code = "QUOTA_EXCEEDED"
    http_status = 429

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class NotFoundError(TtsError):
    code = "NOT_FOUND"
    http_status = 404


class RouteNotFoundError(NotFoundError):
    """No API route for the method and path."""

    code = "ROUTE_NOT_FOUND"


class EngineError(TtsError):
    """The engine failed on this request and would fail again (bug, out of memory, bad output)."""

    code = "ENGINE_ERROR"
    http_status = 502


class SilentOutputError(EngineError):
    """The engine returned silence (every sample at or near zero): never a success, so the state
    machine falls over to the next engine."""

    code = "ENGINE_SILENT_OUTPUT"


class EngineTimeoutError(EngineError):
    code = "ENGINE_TIMEOUT"
    retryable = True
    http_status = 504


class EngineThrottledError(EngineError):
    code = "ENGINE_THROTTLED"
    retryable = True
    http_status = 429


class EngineUnavailableError(EngineError):
    """A transient failure reaching the engine (network, 5xx): worth another try."""

    code = "ENGINE_UNAVAILABLE"
    retryable = True
    http_status = 503


class EngineRejectedError(EngineError):
    """The provider refused this content or these parameters."""

    code = "ENGINE_REJECTED"
    http_status = 422


class EngineLanguageError(EngineRejectedError):
    """This engine cannot say the words of the request's voice here (tts_core.catalogue): Sambert has no
    Japanese, Arabic or male Spanish voice, eSpeak NG reads no kanji, IndexTTS-2.5 speaks Japanese only with a
    word segmenter. Never retried, never counted against the primary: the next engine is tried."""

    code = "ENGINE_LANGUAGE_UNSUPPORTED"


class EngineNotConfiguredError(EngineError):
    """The engine lacks what it needs to run at all (API key, enabled flag)."""

    code = "ENGINE_NOT_CONFIGURED"
    http_status = 503


class EngineAuthError(EngineError):
    code = "ENGINE_AUTH_FAILED"
    http_status = 503


class ModelUnavailableError(EngineError):
    """Weights missing or corrupt: no retry can help."""

    code = "MODEL_UNAVAILABLE"
    http_status = 503


class DeliveryError(TtsError):
    """The synthesized audio could not be mastered, encoded or described (a bug, never the request's fault)."""

    code = "DELIVERY_FAILED"


class StorageError(TtsError):
    code = "STORAGE_ERROR"
    retryable = True
    http_status = 503


class AwsServiceError(TtsError):
    """An AWS API other than S3 failed in a way worth another try (throttled, 5xx, unreachable) after
    botocore's own retries: the record step reading the execution history, say."""

    code = "AWS_SERVICE_ERROR"
    retryable = True
    http_status = 503


def all_error_classes() -> list[type[TtsError]]:
    found: list[type[TtsError]] = []
    stack: list[type[TtsError]] = [TtsError]
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return found


def error_class_with_code(code: str) -> type[TtsError] | None:
    return next((c for c in all_error_classes() if c.code == code), None)


def error_class_named(name: str) -> type[TtsError] | None:
    return next((c for c in all_error_classes() if c.__name__ == name), None)


# Errors raised by Step Functions or the Lambda service rather than by our code, as codes.
SERVICE_ERROR_CODES: dict[str, str] = {
    "States.Timeout": "ENGINE_TIMEOUT",
    "States.TaskFailed": "ENGINE_ERROR",
    "Lambda.TooManyRequestsException": "LAMBDA_THROTTLED",
    "Lambda.Unknown": "ENGINE_CRASHED",  # Lambda timeout or out of memory
    "Sandbox.Timedout": "ENGINE_CRASHED",  # the function's own Timeout was reached
    "Runtime.ExitError": "ENGINE_CRASHED",  # the runtime process died (e.g. killed for memory)
    "Lambda.ServiceException": "LAMBDA_SERVICE_ERROR",
    "Lambda.AWSLambdaException": "LAMBDA_SERVICE_ERROR",
    "Lambda.SdkClientException": "LAMBDA_SERVICE_ERROR",
}


def code_for_error_name(name: str) -> str:
    """Map a Step Functions error name (an errorType or a States./Lambda. name) to a stable code."""
    cls = error_class_named(name)
    if cls is not None:
        return cls.code
    return SERVICE_ERROR_CODES.get(name, "ENGINE_ERROR")
