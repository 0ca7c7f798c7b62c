"""Schemas at the edges: the synthesis request, what engines return, and the result record."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from tts_core.catalogue import DEFAULT_VOICE_ID, Language, get_voice
from tts_core.errors import InvalidInputError, MalformedJsonError, NothingToSpeakError, TextTooLongError, quoted

ModelT = TypeVar("ModelT", bound=BaseModel)

SAMPLE_RATES = (16000, 22050, 24000, 44100, 48000)
MAX_REQUEST_BYTES = 256 * 1024  # an API body or an uploaded file
EMOTION_DIMENSIONS = 8  # IndexTTS-2: happy, angry, sad, afraid, disgusted, melancholic, surprised, calm

class EngineName(StrEnum):
    """The engines, in the order a request tries them when the primary is routed first."""

    PRIMARY = "primary"  # IndexTTS-2
    FALLBACK = "fallback"  # Sambert (DashScope)
    OFFLINE = "offline"  # eSpeak NG, the last resort


Style = Literal["default", "emotional", "narration"]
Profile = Literal["quality", "fast"]
TextType = Literal["plain", "ssml", "markdown"]
UnknownTags = Literal["refuse", "ignore"]
Alphabet = Literal["pinyin", "ipa", "arpabet"]
MAX_LEXICONS_PER_REQUEST = 5  # as Polly
LEXICON_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,40}$"
MAX_PAUSE_MS = 10_000  # the longest pause one <break> (or several in a row) makes, as Polly caps it
# What an output is delivered as (tts_core.delivery.formats has each format's spec, mastering its profiles).
AudioFormat = Literal["wav", "flac", "mp3", "opus"]
Mastering = Literal["default", "acx", "podcast", "broadcast"]


def clean_text(value: str) -> str:
    """Text to speak: Windows and old Mac line endings become LF, NFC, trimmed; refused when empty or
    holding control characters other than newline and tab."""
    value = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if not value:
        raise ValueError("is empty or only whitespace")
    bad = [ch for ch in value if unicodedata.category(ch) == "Cc" and ch not in "\n\t"]
    if bad:
        raise ValueError(f"holds a control character (U+{ord(bad[0]):04X})")
    return value


def has_something_to_speak(text: str) -> bool:
    """A letter or a digit somewhere: emoji, punctuation, symbols and zero-width characters alone are silence."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


# Strict where the OpenAPI document says number or boolean: "48000", "false" or "yes" are refused, not coerced.
Number = Annotated[float, Field(strict=True)]
Integer = Annotated[int, Field(strict=True)]
Boolean = Annotated[bool, Field(strict=True)]


class Prosody(BaseModel, frozen=True):
    """Multipliers of the request's speed and pitch (handed to the engine) and of the loudness (a gain on the
    engine's audio once it is brought to the contract's level, so every engine says it alike) for one
    utterance (SSML <prosody>)."""

    rate: float = 1.0
    pitch: float = 1.0
    volume: float = 1.0


class Phoneme(BaseModel, frozen=True):
    """How to say `text[start:end]` of an utterance (SSML <phoneme>, a lexicon's phoneme entry), for the
    engines that can honour it (tts_core.text.render)."""

    start: int
    end: int
    ph: str
    alphabet: Alphabet


class Speech(BaseModel):
    """Words to say, and how: what an engine is handed for one utterance or one segment of it."""

    text: str
    prosody: Prosody = Prosody()
    voice: str | None = None  # an SSML <voice name> switch; None: the request's voice
    phonemes: list[Phoneme] = []
    pause_after_ms: Annotated[int, Field(ge=0, le=MAX_PAUSE_MS)] | None = None  # None: the default pause
    marks: list[str] = []  # SSML <mark> names at its start
    # The catalogue language of its voice (the text front end's: what the language check passed it for), for an
    # engine that cannot tell it from the script (IndexTTS-2.5: Spanish or English). None: not known.
    language: Language | None = None


class Utterance(Speech):
    """One unit of the text front end's output (tts_core.text.front_end): spoken with one prosody and one
    voice, then `pause_after_ms` of silence."""

    source_start: int  # where it came from: offsets into the request's text
    source_end: int


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


class Emotion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vector: Annotated[list[Annotated[Number, Field(ge=0.0, le=1.0)]], Field(
        min_length=EMOTION_DIMENSIONS, max_length=EMOTION_DIMENSIONS)] | None = None
    text: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(clean_text)] | None = None
    reference_voice: str | None = None  # a voice id, checked as `voice` is (check_limits)
    alpha: Annotated[Number, Field(ge=0.0, le=1.0)] = 1.0


class SynthesisRequest(BaseModel):
    """A validated request. Every entry point (API, S3 upload, CLI) builds one of these."""

    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, Field(min_length=1), AfterValidator(clean_text)]
    voice: str = DEFAULT_VOICE_ID
    sample_rate: Integer | None = None  # None: the service's configured contract rate
    speed: Annotated[Number, Field(ge=0.5, le=2.0)] = 1.0
    pitch: Annotated[Number, Field(ge=0.5, le=2.0)] = 1.0
    volume: Annotated[Integer, Field(ge=0, le=100)] = 50
    style: Style = "default"
    profile: Profile | None = None  # None: the primary's configured default
    emotion: Emotion | None = None
    cache: Boolean = True  # False: always synthesize, never serve (or store) this request from the cache
    # A long text's segments that fail on the primary may come from the fallback (one output, two voices).
    # False: one failing segment makes the whole request fall back, so every output has one voice.
    allow_mixed_engines: Boolean = False
    text_type: TextType | None = Field(
        default=None, description="plain, ssml (the subset in docs/text.md) or markdown; null: ssml when the "
                                  "text starts with <speak>, else plain")
    unknown_tags: UnknownTags = Field(
        default="refuse", description="an SSML tag outside the subset: refuse (400 SSML_UNSUPPORTED_TAG) or "
                                      "ignore (its text is spoken, the tag is not)")
    speak_code: Boolean = Field(default=False, description="markdown: speak code blocks (skipped by default)")
    lexicons: Annotated[list[Annotated[str, Field(pattern=LEXICON_NAME_PATTERN)]],
                        Field(max_length=MAX_LEXICONS_PER_REQUEST)] = Field(
        default=[], description="up to 5 of your lexicons (PUT /api/lexicons/{name}), applied in this order: "
                                "the first that has a word decides how it is said")
    # The text front end's output, filled in by every entry point (tts_core.pipeline.front): what the
    # engines say. Not a client field: whatever a client sends here is replaced.
    utterances: SkipJsonSchema[list[Utterance] | None] = None
    # What one engine call is for (speaking): the language of the utterance's voice. Not a client field.
    language: SkipJsonSchema[Language | None] = None
    format: AudioFormat | None = None  # None: wav, or the mastering profile's format (acx: mp3)
    bitrate_kbps: Annotated[Integer, Field(ge=6, le=320)] | None = None  # lossy formats only; None: the profile's
    mastering: Mastering = "default"
    captions: Boolean = False  # .srt, .vtt and .marks.json (sentence marks) beside the audio

    @property
    def voice_ids(self) -> list[str]:
        """Every voice the request names: `voice`, the emotion's reference voice, the SSML <voice> switches."""
        reference = [self.emotion.reference_voice] if self.emotion and self.emotion.reference_voice is not None else []
        switches = [u.voice for u in self.utterances or [] if u.voice]
        return list(dict.fromkeys([self.voice, *reference, *switches]))

    def speaking(self, speech: Speech, text: str | None = None) -> SynthesisRequest:
        """This request for one utterance or segment: its words (`text`: as rendered for one engine), voice, its
        voice's language, and prosody's rate and pitch applied to the request's own, within the request's ranges
        (its volume is a gain after the engine: tts_core.audio.apply_gain)."""
        p = speech.prosody
        return self.model_copy(update={
            "text": speech.text if text is None else text, "voice": speech.voice or self.voice, "utterances": None,
            "language": speech.language,
            "speed": round(_clamp(self.speed * p.rate, 0.5, 2.0), 3),
            "pitch": round(_clamp(self.pitch * p.pitch, 0.5, 2.0), 3)})

    @field_validator("sample_rate")
    @classmethod
    def _known_rate(cls, value: int | None) -> int | None:
        if value is not None and value not in SAMPLE_RATES:
            raise ValueError(f"must be one of {SAMPLE_RATES}")
        return value


def parse_request(raw: Any, *, max_text_chars: int,
                  voice_exists: Callable[[str], object] = get_voice) -> SynthesisRequest:
    """Validate untrusted input into a request, or raise an error with a stable code."""
    return check_limits(validated(SynthesisRequest, raw), max_text_chars=max_text_chars, voice_exists=voice_exists)


def validated(model: type[ModelT], raw: Any) -> ModelT:
    """A request body (a JSON object) as `model`, or INVALID_INPUT saying which field is wrong and why."""
    if not isinstance(raw, dict):
        raise InvalidInputError("the request body must be a JSON object")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInputError(validation_message(exc.errors()[0])) from None


def validation_message(error: Any) -> str:
    """One pydantic (or powertools) validation error as `field.path: why`, in this service's words (field
    names cut short): pydantic's own wording names Python types, classes and regular expressions."""
    where = ".".join(quoted(p) for p in error.get("loc", ()) if p != "body") or "body"
    return f"{where}: {_why(str(error.get('type', '')), error.get('ctx') or {})}"


def _why(kind: str, ctx: dict[str, Any]) -> str:
    """Every error type the API's schemas can produce (tests/unit/test_validation_messages.py sweeps them)."""
    if kind == "value_error":  # our own validators' ValueError: its text is already ours
        return str(ctx.get("error", "is not valid"))
    if kind in _BOUNDS:
        return _BOUNDS[kind].format(**ctx)
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', 'the documented values')}"
    return _FIXED.get(kind, "is not valid")


_FIXED = {
    "missing": "is required",
    "extra_forbidden": "is not a field of this request",
    "string_type": "must be a string",
    "string_unicode": "must be valid Unicode (a lone surrogate escape is not)",
    "string_pattern_mismatch": "holds characters that are not allowed",
    "int_type": "must be a whole number", "int_from_float": "must be a whole number",
    "int_parsing": "must be a whole number",
    "float_type": "must be a number", "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false", "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be an object", "model_type": "must be an object", "model_attributes_type": "must be an object",
}
_BOUNDS = {
    "greater_than_equal": "must be at least {ge}", "less_than_equal": "must be at most {le}",
    "greater_than": "must be more than {gt}", "less_than": "must be less than {lt}",
    "too_short": "must have at least {min_length} items", "too_long": "must have at most {max_length} items",
    "string_too_short": "must have at least {min_length} character(s)",
    "string_too_long": "must have at most {max_length} characters",
}


def parse_json(text: str, what: str) -> Any:
    """JSON as RFC 8259 defines it: Python's parser also takes NaN, Infinity and -Infinity, which are not
    JSON (and would pass as out-of-range numbers); MalformedJsonError names `what` (e.g. "the body")."""
    def refuse(constant: str) -> Any:
        raise MalformedJsonError(f"{what} is not valid JSON: {constant} is not a JSON number")

    try:
        return json.loads(text, parse_constant=refuse)
    except MalformedJsonError:
        raise
    except ValueError as exc:
        raise MalformedJsonError(f"{what} is not valid JSON: {exc}") from None
    except RecursionError:
        raise MalformedJsonError(f"{what} nests too deeply to parse") from None


def check_limits(request: SynthesisRequest, *, max_text_chars: int,
                 voice_exists: Callable[[str], object] = get_voice) -> SynthesisRequest:
    """What the schema alone cannot say: the deployment's text limit, whether there is anything to
    speak, and the voices (every voice id the request names, checked the same way: `voice_exists` raises
    VoiceNotFoundError; by default only the catalogue's voices exist)."""
    if len(request.text) > max_text_chars:
        raise TextTooLongError(f"text has {len(request.text)} characters; the limit is {max_text_chars}")
    if not has_something_to_speak(request.text):
        raise NothingToSpeakError("text has no letter or digit: nothing to speak")
    for voice_id in request.voice_ids:
        voice_exists(voice_id)
    return request


class UploadSource(BaseModel):
    """The object under inbox/ that a synthesis came from; `name` (tts_core.pipeline.uploads.output_name)
    names its outputs. `version_id` and `sequencer` come from S3's event: the sequencer orders the
    versions of one key (a greater one is newer), which S3's event delivery does not."""

    bucket: str
    key: str
    etag: str
    name: str
    version_id: str | None = None
    sequencer: str | None = None


class Segment(Speech):
    """One piece of a long text, synthesized by one engine invocation (see tts_core.segmentation): a piece
    of one utterance, with its prosody and voice, and the pause after it in the joined audio."""

    index: Annotated[int, Field(ge=0)]
    utterance: int = 0  # which of the request's utterances it is a piece of


class EngineTask(BaseModel):
    """What the state machine sends to an engine Lambda: a whole request, or one segment of it.

    A segment task carries the request's `options` (everything but the text, sent once per execution in
    the plan) and the `segment`; it is read as the request with the segment's text."""

    engine: EngineName
    request_id: str
    correlation_id: str
    request: SynthesisRequest
    segment: Segment | None = None
    retry_count: int = 0
    # The state's TimeoutSeconds: past it Step Functions has given up on this attempt, so the engine stops
    # then too, not at the Lambda's own timeout (a Map's abandoned segments stop early as well).
    timeout_s: float | None = Field(default=None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _segment_request(cls, data: Any) -> Any:
        if isinstance(data, dict) and "options" in data and "request" not in data:
            segment = data.get("segment")
            text = segment.get("text") if isinstance(segment, dict) else None
            options = data["options"] if isinstance(data["options"], dict) else {}
            data = {k: v for k, v in data.items() if k != "options"} | {"request": options | {"text": text}}
        return data


class SegmentPart(BaseModel):
    """One segment of a joined output: which engine spoke it (and, in the result record, how many tries)."""

    index: int
    engine: str
    duration_s: float
    engine_ms: int
    offset_s: float | None = None  # where the segment starts in the joined audio (durations and pauses before it)
    attempts: int | None = None  # filled in by the record step, from the execution history


class Mark(BaseModel):
    """An SSML <mark>: where its name falls in the output, in seconds from the start."""

    name: str
    time_s: float


class LoudnessReport(BaseModel):
    """What the delivered file measured, decoded (tts_core.delivery.loudness), against its profile."""

    integrated_lufs: float | None  # ITU-R BS.1770-4; None: silence
    rms_dbfs: float | None  # over the whole file, silence included (as ACX measures)
    gated_rms_dbfs: float | None  # the audio contract's level (unweighted, BS.1770 gating)
    peak_dbfs: float | None
    true_peak_dbtp: float | None  # 4x oversampled (BS.1770-4 Annex 2)
    head_silence_s: float
    tail_silence_s: float
    profile: Mastering
    meets_profile: bool
    misses: list[str] = []  # which of the profile's numbers the file missed, and by what


class CaptionKeys(BaseModel):
    srt: str
    vtt: str
    marks: str


class EngineOutput(BaseModel):
    """What an engine Lambda returns: keys and metadata only (state payloads are capped at 256 KB)."""

    engine: str
    bucket: str
    audio_key: str
    sample_rate: int
    duration_s: float
    engine_ms: int
    cached: bool = False  # served from the cache: no engine ran for this request
    segment: int | None = None  # the segment's index, for one segment of a long text
    segments: list[SegmentPart] | None = None  # a joined long text: its parts, in order
    pause_after_ms: int | None = None  # one segment's: the silence the join puts after it (None: the default)
    marks: list[Mark] = []  # SSML <mark>s, in order
    # Set by the delivery (the record step): the file as delivered, mastered and encoded.
    format: AudioFormat = "wav"
    content_type: str = "audio/wav"
    bitrate_kbps: int | None = None
    captions: CaptionKeys | None = None
    loudness: LoudnessReport | None = None


class Attempt(BaseModel):
    engine: str
    state: str
    segment: int | None = None  # the segment's index, for an attempt on one segment of a long text
    # abandoned: the execution moved on before it answered (a failing segment stopped the Map)
    outcome: Literal["succeeded", "failed", "timed_out", "running", "abandoned"]
    error: str | None = None  # the Step Functions error name (errorType, States.*, Lambda.*)
    code: str | None = None  # our stable code for it
    message: str | None = None
    started_at: str
    duration_ms: int


class SynthesisResult(BaseModel):
    """The record of one request, written to S3 at the end of every execution, success or failure."""

    request_id: str
    correlation_id: str
    status: Literal["succeeded", "failed"]
    engine_used: str | None = None
    bucket: str
    audio_key: str | None = None
    sample_rate: int | None = None
    duration_s: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    attempts: list[Attempt]
    total_ms: int
    request: SynthesisRequest
    cache_hit: bool = False
    segments: list[SegmentPart] | None = None  # a long text: each segment's engine and attempts, in order
    marks: list[Mark] = []  # the SSML <mark>s of the output, in order
    format: AudioFormat | None = None
    content_type: str | None = None
    bitrate_kbps: int | None = None
    captions: CaptionKeys | None = None  # keys of the .srt, .vtt and .marks.json, when asked for
    loudness: LoudnessReport | None = None
