"""The API function's work for one event: resolve it, then, for a synthesis it started, wait for the
audio (an explicit second step, outside the resolver: see `synthesis.wait_for_audio`)."""

from __future__ import annotations

import base64
import binascii
import codecs
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


def without_byte_order_mark(event: dict[str, Any]) -> dict[str, Any]:
    """A UTF-8 body may start with a byte-order mark (Windows tools write one; an upload is read with it,
    tts_core.pipeline.upload_encoding): powertools' JSON parser refuses it, so it goes before parsing."""
    body = event.get("body")
    if not isinstance(body, str):
        return event
    if not event.get("isBase64Encoded"):
        return event | {"body": body.removeprefix("\ufeff")} if body.startswith("\ufeff") else event
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return event  # refused as it is (tts_core.api.http.raw_body)
    if not raw.startswith(codecs.BOM_UTF8):
        return event
    return event | {"body": base64.b64encode(raw.removeprefix(codecs.BOM_UTF8)).decode()}


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    answer = app.resolve(with_media_type_in_lower_case(without_byte_order_mark(event)), context)
    started = synthesis.started_synthesis(event, answer)
    return answer if started is None else synthesis.wait_for_audio(started, answer)
