"""The API function's work for one event: resolve it, then, for a synthesis it started, wait for the
audio (an explicit second step, outside the resolver: see `synthesis.wait_for_audio`)."""

from __future__ import annotations

from typing import Any

from tts_core.api import synthesis
from tts_core.api.app import app


def _lower_media_type(value: str) -> str:
    media_type, sep, parameters = value.partition(";")
    return media_type.lower() + sep + parameters


def with_media_type_in_lower_case(event: dict[str, Any]) -> dict[str, Any]:
    """Media types are case-insensitive (RFC 9110); powertools compares them as written."""
    fixed = dict(event)
    if isinstance(event.get("headers"), dict):
        fixed["headers"] = {k: _lower_media_type(v) if k.lower() == "content-type" else v
                            for k, v in event["headers"].items()}
    if isinstance(event.get("multiValueHeaders"), dict):
        fixed["multiValueHeaders"] = {k: [_lower_media_type(v) for v in vs] if k.lower() == "content-type" else vs
                                      for k, vs in event["multiValueHeaders"].items()}
    return fixed


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    answer = app.resolve(with_media_type_in_lower_case(event), context)
    started = synthesis.started_synthesis(event, answer)
    return answer if started is None else synthesis.wait_for_audio(started, answer)
