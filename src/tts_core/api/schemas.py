"""What the REST API answers: the handlers build these, and the OpenAPI document is generated from
them, so the published schema is the one the code sends."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tts_core.models import Attempt, SegmentPart
from tts_core.pipeline.jobs import Progress
from tts_core.routing.breaker import Route, RouteDocument


class ErrorBody(BaseModel):
    status: Literal["error"] = "error"
    code: str = Field(description="stable error code (see the README)")
    message: str


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
    audio_url: str | None = Field(default=None, description="presigned S3 URL of the WAV, short-lived")
    segments: list[SegmentPart] | None = Field(
        default=None, description="a long text: each segment's engine, duration and number of attempts, in order")
    code: str | None = None
    message: str | None = None


class VoiceBody(BaseModel):
    id: str
    language: str
    gender: str
    description: str
    engines: list[str]


class VoicesBody(BaseModel):
    voices: list[VoiceBody]


class HealthBody(BaseModel):
    status: Literal["ok"] = "ok"
    route: dict[str, Any] = Field(description="the route document (tts_core.routing.breaker.RouteDocument)")
    engines: dict[str, str]


class RouteOverride(BaseModel):
    """PUT /api/route: force the route, or clear the override with null."""

    model_config = ConfigDict(extra="forbid")
    override: Route | None


class RouteBody(BaseModel):
    status: Literal["ok"] = "ok"
    route: RouteDocument
