"""What every route shares: JSON answers with stable error bodies, the checks of the raw body that API
Gateway leaves to us, and who is asking (the API key's id, the API's own URL)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import BaseModel

from tts_core.api.schemas import ErrorBody
from tts_core.errors import (
    InvalidEncodingError,
    InvalidInputError,
    MalformedJsonError,
    PayloadTooLargeError,
    QuotaExceededError,
    TtsError,
    UnsupportedMediaTypeError,
    quoted,
    sanitized,
)
from tts_core.models import MAX_REQUEST_BYTES, parse_json
from tts_core.platform import config
from tts_core.platform.config import ApiSettings
from tts_core.tenancy.budget import Limits

# A voice's recording travels base64-encoded in the JSON body: Lambda takes at most 6 MB per synchronous
# invocation (event included), API Gateway 10 MB. 5 MiB of body holds 30 s of 16-bit mono WAV at 48 kHz.
MAX_VOICE_BODY_BYTES = 5 * 1024 * 1024
# A 30 s recording fits as mono 16-bit WAV up to 44.1 kHz (2.6 MB, 3.5 MB in base64), or as FLAC; stereo
# 48 kHz does not (5.8 MB, 7.7 MB in base64). The page resamples large files itself; an API caller is told.
VOICE_TOO_LARGE_HELP = ("; the base64 of a recording takes a third more than the file: save it as mono, at 16 kHz "
                        "(30 s of 16 kHz mono 16-bit WAV is 0.96 MB), or as FLAC")
VOICES_PATH = "/api/voices"
API_KEY = [{"ApiKey": []}]  # OpenAPI security requirements, as template.yaml sets them per route
IAM = [{"IamSigV4": []}]


def settings() -> ApiSettings:
    return config.load(ApiSettings)


def json_answer(status: int, body: BaseModel, *, exclude_none: bool = False,
                headers: dict[str, str] | None = None) -> Response[str]:
    text = json.dumps(body.model_dump(mode="json", exclude_none=exclude_none), ensure_ascii=False)
    # Messages may quote what was sent (a voice id, a field name): never as markup a browser would parse.
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=text.replace("<", "\\u003c").replace(">", "\\u003e"), headers=headers)


def error_answer(exc: TtsError) -> Response[str]:
    # A spent budget says when to come back (RFC 9110 Retry-After, in seconds).
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, QuotaExceededError) else None
    return json_answer(exc.http_status, ErrorBody(code=exc.code, message=sanitized(exc.message)), headers=headers)


def budget_limits() -> Limits:
    conf = settings()
    return Limits(daily_characters=conf.key_daily_characters, jobs_in_flight=conf.key_max_jobs_in_flight)


def documented(ok: dict[int, tuple[str, type[BaseModel]]], errors: tuple[int, ...] = ()) -> dict[int, Any]:
    """powertools' `responses`: the OpenAPI document's answers, each with the model the code sends."""
    answers = {status: {"description": text, "content": {"application/json": {"model": model}}}
               for status, (text, model) in ok.items()}
    for status in errors:
        answers[status] = {"description": "error (see `code`)", "content": {"application/json": {"model": ErrorBody}}}
    return answers


def check_raw_body(event: APIGatewayProxyEvent, limit: int | None = None) -> None:
    """What powertools' validation does not check: JSON only, the size limits, UTF-8, an object. `limit`:
    a route's own (a book's body), else the voices' or every other request's."""
    content_type = (event.headers or {}).get("content-type") or (event.headers or {}).get("Content-Type") or ""
    if content_type and not content_type.split(";")[0].strip().lower().endswith("json"):
        raise UnsupportedMediaTypeError(f"send the body as application/json, not {quoted(content_type)}")
    raw = raw_body(event)
    voices = event.path.rstrip("/") == VOICES_PATH
    limit = limit or (MAX_VOICE_BODY_BYTES if voices else MAX_REQUEST_BYTES)
    if len(raw) > limit:
        raise PayloadTooLargeError(f"the body is larger than {limit} bytes" + (VOICE_TOO_LARGE_HELP if voices else ""))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEncodingError(f"the body is not valid UTF-8 (byte {exc.start})") from None
    # powertools validates a JSON array body by its first item: an array must not pass as an object.
    if raw.lstrip(b" \t\r\n")[:1] == b"[":
        raise InvalidInputError("the request body must be a JSON object, not an array")
    if b"NaN" in raw or b"Infinity" in raw:  # Python's json (powertools') reads them; JSON has no such numbers
        parse_json(text, "the body")


def raw_body(event: APIGatewayProxyEvent) -> bytes:
    if not event.body:
        return b""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(event.body, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedJsonError("the body is neither text nor valid base64") from None
    return event.body.encode("utf-8", "surrogatepass")


def owner(event: APIGatewayProxyEvent) -> str | None:
    """The API key that made the request (API Gateway's key id; None where no key is in use)."""
    return event.request_context.identity.api_key_id or None


def base_url(event: APIGatewayProxyEvent) -> str:
    """Where clients reach this API: the configured URL (PublicApiUrl, e.g. a custom domain), else API
    Gateway's own stage URL from the request context. Never the client's Host header."""
    configured = settings().public_api_url
    if configured:
        return configured.rstrip("/")
    context = event.request_context
    return f"https://{context.domain_name}/{context.stage}" if context.domain_name else ""
