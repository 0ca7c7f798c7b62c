"""What the REST API answers: the handlers build these, and the OpenAPI document is generated from
them, so the published schema is the one the code sends."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from tts_core.catalogue import Gender, Language
from tts_core.models import Attempt, AudioFormat, LoudnessReport, Mark, SegmentPart
from tts_core.pipeline.jobs import Progress
from tts_core.routing.breaker import Route, RouteDocument
from tts_core.text.lexicon import MAX_LEXEMES, Lexeme
from tts_core.voices.names import clean_name


class ErrorBody(BaseModel):
    status: Literal["error"] = "error"
    code: str = Field(description="stable error code (docs/api.md, error codes)")
    message: str


class CaptionUrls(BaseModel):
    srt: str = Field(description="SubRip captions, one cue per sentence")
    vtt: str = Field(description="WebVTT captions, the same cues")
    marks: str = Field(description="sentence marks as Amazon Polly's: one JSON object a line, time in ms, "
                                   "byte offsets into the UTF-8 text")


class JobBody(BaseModel):
    """A synthesis job: accepted (still running), success (with audio) or error (every attempt listed)."""

    status: Literal["accepted", "success", "error", "failed"]
    request_id: str
    status_url: str = Field(description="GET it to follow the job")
    engine_used: str | None = Field(
        default=None, description="primary, fallback or offline; mixed for a long text whose segments came from "
                                  "both engines (only with allow_mixed_engines)")
    progress: Progress | None = Field(default=None, description="a long text while it runs: segments done / total")
    cache_hit: bool | None = Field(default=None, description="served from the cache: no engine ran")
    total_ms: int | None = None
    attempts: list[Attempt] | None = Field(default=None, description="every engine attempt, failed ones first")
    duration_s: float | None = None
    sample_rate: int | None = None
    audio_key: str | None = None
    audio_url: str | None = Field(default=None, description="presigned S3 URL of the audio, short-lived; it "
                                                            "answers with content_type")
    format: AudioFormat | None = Field(default=None, description="what audio_url holds: wav, flac, mp3 or opus (Ogg)")
    content_type: str | None = Field(default=None, description="audio/wav, audio/flac, audio/mpeg or audio/ogg")
    bitrate_kbps: int | None = Field(default=None, description="mp3 and opus: the bitrate encoded at")
    captions: CaptionUrls | None = Field(default=None, description="with captions: presigned URLs of the .srt, "
                                                                   ".vtt and .marks.json (sentence marks)")
    loudness: LoudnessReport | None = Field(default=None, description="what the delivered file measured, decoded, "
                                                                      "against its mastering profile")
    segments: list[SegmentPart] | None = Field(
        default=None, description="a long text: each segment's engine, duration and number of attempts, in order")
    marks: list[Mark] | None = Field(default=None, description="the SSML <mark>s: each name and its time in the audio")
    code: str | None = None
    message: str | None = None


class VoiceBody(BaseModel):
    id: str
    name: str | None = Field(default=None, description="a custom voice's name")
    language: str
    gender: str
    description: str
    custom: bool = Field(description="cloned through POST /api/voices (false: a catalogue voice)")
    engines: list[str] = Field(description="the engines that serve it, in the order they are tried")
    fallback_voice: str = Field(description="the catalogue voice the fallback and the last resort speak it with")
    reference: Literal["fallback", "operator", "upload"] | None = Field(
        description="where the primary's reference recording came from: fallback (recorded by Sambert in the "
                    "fallback voice), operator (a supplied file), upload (cloned); null: it has none yet")
    primary_ready: bool = Field(description="the primary (IndexTTS-2) has a prepared reference for it")
    primary_reason: str | None = Field(default=None, description="when primary_ready is false: why")


class CreateVoice(BaseModel):
    """POST /api/voices: clone a voice from 3-30 s of someone speaking."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                           pattern=r"^[^\x00-\x1f\x7f]+$"),
                    AfterValidator(clean_name)] = Field(description="visible text (tts_core.voices.names); a key's "
                                                                    "voices never share a name")
    language: Language = Field(description="the language it speaks (the catalogue's values; ja, es and ar only "
                                           "where the primary is IndexTTS-2.5, else 422 UNSUPPORTED_LANGUAGE)")
    gender: Gender
    audio_base64: Annotated[str, Field(min_length=1, description="WAV, FLAC, OGG or MP3, base64-encoded; "
                                                                  "3-30 s after decoding")]


class VoicesBody(BaseModel):
    voices: list[VoiceBody]


class VoiceReadiness(BaseModel):
    primary_ready: bool
    primary_reason: str | None = None


class HealthBody(BaseModel):
    status: Literal["ok"] = "ok"
    route: dict[str, Any] = Field(description="where requests go and why: the route document's route, state, since, "
                                              "reason, cooldown_until and override")
    engines: dict[str, str]
    voices: dict[str, VoiceReadiness] = Field(description="per voice (the catalogue's and the caller's): whether "
                                                          "the primary can serve it, and if not, why")


class AcceptedBody(BaseModel):
    status: Literal["accepted"] = "accepted"
    message: str


class RouteOverride(BaseModel):
    """PUT /api/route: force the route, or clear the override with null."""

    model_config = ConfigDict(extra="forbid")
    override: Route | None


class RouteBody(BaseModel):
    status: Literal["ok"] = "ok"
    route: RouteDocument


class PutLexicon(BaseModel):
    """PUT /api/lexicons/{name}: the lexemes as JSON, or a W3C PLS document (exactly one of the two)."""

    model_config = ConfigDict(extra="forbid")
    lexemes: Annotated[list[Lexeme], Field(min_length=1, max_length=MAX_LEXEMES)] | None = Field(
        default=None,
        description='each {"grapheme", "alias"} or {"grapheme", "phoneme", "alphabet": pinyin | ipa | arpabet}')
    pls: Annotated[str, Field(min_length=1)] | None = Field(
        default=None, description="a Pronunciation Lexicon Specification 1.0 document (<lexicon>...</lexicon>)")


class LexiconBody(BaseModel):
    name: str
    lexemes: list[Lexeme]
    updated_at: str


class LexiconSummary(BaseModel):
    name: str
    lexemes: int = Field(description="how many lexemes it holds")
    updated_at: str


class LexiconsBody(BaseModel):
    lexicons: list[LexiconSummary]
