"""Typed configuration, read from the environment once per process when a handler first runs.

The names are the environment variables `template.yaml` sets (the local stack sets the same
ones from the same template). Settings that must be set have no default.
"""

from __future__ import annotations

from functools import cache
from typing import TypeVar

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tts_core.models import SAMPLE_RATES, AudioFormat


class _Env(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)


class StorageSettings(_Env):
    bucket_name: str = Field(min_length=3)
    audio_sample_rate: int

    def model_post_init(self, _context: object) -> None:
        if self.audio_sample_rate not in SAMPLE_RATES:
            raise ValueError(f"AUDIO_SAMPLE_RATE must be one of {SAMPLE_RATES}")


class PauseSettings(StorageSettings):
    """The silence between two segments (or two sentences a request's utterances keep apart) where the text
    asks for no pause of its own (template Parameter SegmentPauseMs, set on every function)."""

    segment_pause_ms: int = Field(ge=0)


class EngineSettings(PauseSettings):
    # Kept free before the Lambda's own timeout so an engine can report ENGINE_TIMEOUT itself.
    engine_deadline_margin_ms: int = Field(default=3000, ge=0)


class PlanSettings(StorageSettings):
    """The plan_segments function: how long one segment of a long text may be."""

    segment_max_chars: int = Field(gt=0)


class JoinSettings(PauseSettings):
    """The join_segments function."""


class BookPlanSettings(StorageSettings):
    """The book_plan function: the book's size limit, its segments, the engines its passes may use."""

    max_book_chars: int = Field(gt=0)
    book_segment_max_chars: int = Field(gt=0)
    primary_memory_size: int = Field(gt=0)  # MB: the estimate's GB-seconds
    last_resort_enabled: bool


class FallbackSettings(EngineSettings):
    dashscope_secret_arn: str = ""  # empty: the fallback is not configured (ENGINE_NOT_CONFIGURED)
    dashscope_websocket_url: str | None = None  # None: the SDK's default (the real service)


class ApiSettings(StorageSettings):
    state_machine_arn: str
    book_state_machine_arn: str
    route_parameter_name: str  # GET /api/health reads it, PUT /api/route overrides it
    max_text_chars: int = Field(gt=0)
    sync_wait_seconds: float = Field(ge=0, le=28)
    presign_expiry_seconds: int = Field(default=900, gt=0)
    cors_allow_origin: str = Field(min_length=1)  # "*" or one origin, e.g. https://app.example.com
    public_api_url: str = ""  # status_url's base; empty: API Gateway's stage URL (template Parameter PublicApiUrl)
    primary_function_name: str  # POST /api/voices asks it to prepare a new voice
    voice_bootstrap_function_name: str  # POST /api/voices/bootstrap starts it
    tenant_usage_table: str  # each key's budget (tts_core.tenancy.budget)
    key_daily_characters: int = Field(gt=0)
    key_max_jobs_in_flight: int = Field(gt=0)
    key_max_voices: int = Field(gt=0)


class BootstrapSettings(FallbackSettings):
    """The voice_bootstrap function: Sambert (the fallback's key and endpoint) records the catalogue voices'
    references; the primary prepares them."""

    primary_function_name: str
    voice_reference_dir: str | None = None  # operator references baked into the image (<voice id>.<ext>)


class IngestSettings(StorageSettings):
    """The ingest_upload function: an object under inbox/ becomes a synthesis."""

    state_machine_arn: str
    max_text_chars: int = Field(gt=0)
    upload_text_format: AudioFormat  # what a .txt upload is delivered as (a .json names its own)


class BookIngestSettings(IngestSettings):
    """The ingest_upload function, for uploads that are books (tts_core.books.uploads.is_book)."""

    book_state_machine_arn: str


class BreakerEnv(_Env):
    """The circuit breaker's thresholds (template Parameters, set on every function that moves it)."""

    route_parameter_name: str
    breaker_failure_threshold: int = Field(ge=1)
    breaker_success_threshold: int = Field(ge=1)
    probe_latency_threshold_ms: float = Field(gt=0)
    breaker_base_cooldown_seconds: int = Field(gt=0)
    breaker_max_cooldown_seconds: int = Field(gt=0)


class ProbeSettings(BreakerEnv):
    primary_function_name: str
    probe_timeout_seconds: float = Field(gt=0)


class ResultSettings(StorageSettings, BreakerEnv):
    """The record_result function, which also delivers the audio: it times captions on the segments the
    plan cut (the same segmentation, so the same SEGMENT_MAX_CHARS as the plan)."""

    segment_max_chars: int = Field(gt=0)
    tenant_usage_table: str  # an API job's end frees its key's slot (tts_core.tenancy.budget)


S = TypeVar("S", bound=BaseSettings)


@cache
def load(kind: type[S]) -> S:
    """The settings of one kind, read once per process (a handler's cold start)."""
    return kind()


def reset() -> None:
    """Forget loaded settings (the local stack calls this when it starts with another template)."""
    load.cache_clear()
