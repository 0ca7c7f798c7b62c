"""The REST API (API Gateway proxy events), on powertools' event handler.

Every error leaves as {"status": "error", "code", "message"} with the code's HTTP status."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as RouteNotFound
from pydantic import BaseModel, ConfigDict, ValidationError

from tts_core import config, jobs, routing, storage
from tts_core.breaker import Route
from tts_core.config import ApiSettings
from tts_core.errors import (
    InvalidInputError,
    MalformedJsonError,
    NotFoundError,
    PayloadTooLargeError,
    TtsError,
    UnsupportedMediaTypeError,
)
from tts_core.jobs import Job
from tts_core.models import parse_request
from tts_core.observability import logger
from tts_core.route_store import RouteStore, RouteStoreError
from tts_core.voices import list_voices

ENGINES = ("primary", "fallback", "offline")
MAX_BODY_BYTES = 256 * 1024

app = APIGatewayRestResolver()


def settings() -> ApiSettings:
    return config.load(ApiSettings)


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=json.dumps(body, ensure_ascii=False))


def _error(status: int, code: str, message: str, **extra: Any) -> Response:
    return _json(status, {"status": "error", "code": code, "message": message, **extra})


@app.exception_handler(TtsError)
def _tts_error(exc: TtsError) -> Response:
    logger.info("request refused", extra={"code": exc.code, "error": exc.message})
    return _error(exc.http_status, exc.code, exc.message)


@app.not_found
def _no_route(_exc: RouteNotFound) -> Response:
    return _error(404, "ROUTE_NOT_FOUND", f"no route {app.current_event.http_method} {app.current_event.path}")


@app.exception_handler(Exception)
def _unexpected(exc: Exception) -> Response:
    logger.exception("unexpected error")
    return _error(500, "INTERNAL_ERROR", "the service failed unexpectedly; the request id is in the logs")


def _body() -> Any:
    event = app.current_event
    content_type = (event.headers or {}).get("content-type") or (event.headers or {}).get("Content-Type") or ""
    if content_type and not content_type.split(";")[0].strip().lower().endswith("json"):
        raise UnsupportedMediaTypeError(f"send the body as application/json, not {content_type}")
    raw = event.decoded_body or ""
    if len(raw.encode()) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise MalformedJsonError(f"the body is not valid JSON: {exc}") from None


def _base_url() -> str:
    event = app.current_event
    host = (event.headers or {}).get("Host") or (event.headers or {}).get("host") or ""
    stage = event.request_context.stage
    if host.endswith(".amazonaws.com"):
        return f"https://{host}/{stage}"
    return f"http://{host}" if host else ""


def _job_body(job: Job) -> dict[str, Any]:
    body: dict[str, Any] = {"request_id": job.request_id, "status": job.status,
                            "status_url": f"{_base_url()}/api/jobs/{job.request_id}"}
    result = job.result
    if result is None:
        return body | {"status": "accepted" if job.status == "running" else job.status}
    body |= {"engine_used": result.engine_used, "total_ms": result.total_ms,
             "attempts": [a.model_dump(exclude_none=True) for a in result.attempts]}
    if result.status == "succeeded" and result.audio_key:
        body |= {"status": "success", "duration_s": result.duration_s, "sample_rate": result.sample_rate,
                 "audio_key": result.audio_key,
                 "audio_url": storage.presigned_url(result.bucket, result.audio_key,
                                                    settings().presign_expiry_seconds)}
    else:
        body |= {"status": "error", "code": result.error_code, "message": result.error_message}
    return body


@app.post("/api/synthesize")
def synthesize() -> Response:
    config = settings()
    request = parse_request(_body(), max_text_chars=config.max_text_chars)
    correlation_id = logger.get_correlation_id() or jobs.new_request_id()
    request_id = jobs.start(config.state_machine_arn, request, correlation_id)
    logger.info("synthesis started", extra={"request_id": request_id, "voice": request.voice,
                                            "chars": len(request.text)})
    job = jobs.wait(config.state_machine_arn, config.bucket_name, request_id, config.sync_wait_seconds)
    if job.status == "running":
        return _json(202, _job_body(job))
    return _json(200 if job.status == "succeeded" else 502, _job_body(job))


@app.get("/api/jobs/<request_id>")
def job_status(request_id: str) -> Response:
    config = settings()
    job = jobs.status(config.state_machine_arn, config.bucket_name, request_id)
    return _json(200, _job_body(job))


@app.get("/api/voices")
def voices() -> Response:
    return _json(200, {"voices": [v.model_dump(include={"id", "language", "gender", "description"})
                                  | {"engines": list(ENGINES)} for v in list_voices()]})


@app.get("/api/health")
def health() -> Response:
    try:
        route: dict[str, Any] = RouteStore(settings().route_parameter_name).read()[0].model_dump(mode="json")
    except RouteStoreError as exc:  # the route hint is advisory: report, never fail the health call
        logger.warning("route document unreadable", extra={"error": str(exc)})
        route = {"route": "primary", "reason": f"route document unreadable: {exc.code}"}
    engines = {"primary": "fallback-routed" if route["route"] == "fallback" else "in service",
               "fallback": "in service", "offline": "last resort"}
    return _json(200, {"status": "ok", "route": route, "engines": engines})


class RouteOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")
    override: Route | None


@app.put("/api/route")
def override_route() -> Response:
    """Operators only (IAM auth in the template): force the route, or clear the override with null."""
    try:
        body = RouteOverride.model_validate(_body())
    except ValidationError as exc:
        raise InvalidInputError(f"override: {exc.errors()[0]['msg']}") from None
    identity = app.current_event.request_context.identity
    by = f"operator:{identity.user_arn or identity.source_ip or 'unknown'}"
    doc = routing.set_override(RouteStore(settings().route_parameter_name), body.override, by=by)
    return _json(200, {"status": "ok", "route": doc.model_dump(mode="json")})


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)


__all__ = ["NotFoundError", "app", "handle"]
