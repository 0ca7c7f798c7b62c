"""The REST API (API Gateway proxy events) and the web page, on powertools' event handler.

Every error leaves as {"status": "error", "code", "message"} with the code's HTTP status. Request
bodies are validated by powertools against the same pydantic models the OpenAPI document is generated
from (`tts_core.api.openapi`); what the schema cannot say (content type, body size, the text limit, the
voice catalogue) is checked here, with the same stable codes as everywhere else."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as RouteNotFound
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType, RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel

from tts_core.api import openapi
from tts_core.api.schemas import (
    AcceptedBody,
    CreateVoice,
    ErrorBody,
    HealthBody,
    JobBody,
    RouteBody,
    RouteOverride,
    VoiceBody,
    VoiceReadiness,
    VoicesBody,
)
from tts_core.catalogue import Voice, catalogue_voice_for
from tts_core.errors import (
    InvalidEncodingError,
    InvalidInputError,
    MalformedJsonError,
    NotFoundError,
    PayloadTooLargeError,
    TtsError,
    UnsupportedMediaTypeError,
    quoted,
)
from tts_core.models import MAX_REQUEST_BYTES, SynthesisRequest, check_limits, validation_message
from tts_core.pipeline import jobs
from tts_core.pipeline.jobs import Job
from tts_core.platform import aws, config, storage
from tts_core.platform.config import ApiSettings
from tts_core.platform.observability import logger
from tts_core.routing import signals as routing
from tts_core.routing.route_store import RouteStore, RouteStoreError
from tts_core.voices import directory, registry
from tts_core.voices.prepare import remote_prepare

# A voice's recording travels base64-encoded in the JSON body: Lambda takes at most 6 MB per synchronous
# invocation (event included), API Gateway 10 MB. 5 MiB of body holds 30 s of 16-bit mono WAV at 48 kHz.
MAX_VOICE_BODY_BYTES = 5 * 1024 * 1024
API_KEY = [{"ApiKey": []}]  # OpenAPI security requirements, as template.yaml sets them per route
IAM = [{"IamSigV4": []}]


def settings() -> ApiSettings:
    return config.load(ApiSettings)


class DeployedCors(CORSConfig):
    """CORS for the one origin the deployment allows (template Parameter CorsAllowOrigin). The origin
    is read when a request arrives: the resolver is built at import, before settings may be read."""

    def allowed_origin(self, extracted_origin: str) -> str | None:
        allowed = settings().cors_allow_origin
        if not extracted_origin:
            return None
        return "*" if allowed == "*" else (extracted_origin if extracted_origin == allowed else None)


app = APIGatewayRestResolver(cors=DeployedCors(max_age=600))


# ---- answers ------------------------------------------------------------------------------------
def _json(status: int, body: BaseModel, *, exclude_none: bool = False) -> Response[str]:
    text = json.dumps(body.model_dump(mode="json", exclude_none=exclude_none), ensure_ascii=False)
    # Messages may quote what was sent (a voice id, a field name): never as markup a browser would parse.
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=text.replace("<", "\\u003c").replace(">", "\\u003e"))


def _error(exc: TtsError) -> Response[str]:
    return _json(exc.http_status, ErrorBody(code=exc.code, message=exc.message))


def _documented(ok: dict[int, tuple[str, type[BaseModel]]], errors: tuple[int, ...] = ()) -> dict[int, Any]:
    """powertools' `responses`: the OpenAPI document's answers, each with the model the code sends."""
    answers = {status: {"description": text, "content": {"application/json": {"model": model}}}
               for status, (text, model) in ok.items()}
    for status in errors:
        answers[status] = {"description": "error (see `code`)", "content": {"application/json": {"model": ErrorBody}}}
    return answers


@app.exception_handler(TtsError)
def _tts_error(exc: TtsError) -> Response[str]:
    logger.info("request refused", extra={"code": exc.code, "error": exc.message})
    return _error(exc)


@app.exception_handler([RequestValidationError, RequestUnsupportedContentType])
def _invalid_body(exc: RequestValidationError | RequestUnsupportedContentType) -> Response[str]:
    """powertools refused the body: say why with our codes (media type and size first, as for a valid body)."""
    try:
        _check_raw_body()
    except TtsError as refused:
        return _tts_error(refused)
    if isinstance(exc, RequestUnsupportedContentType):  # a JSON type powertools does not parse (+json, case)
        return _tts_error(UnsupportedMediaTypeError("send the body as application/json"))
    first = exc.errors()[0]
    if first.get("type") == "json_invalid":
        return _tts_error(MalformedJsonError("the body is not valid JSON"))
    return _tts_error(InvalidInputError(validation_message(first)))


@app.exception_handler([ValueError, RecursionError])
def _unparsable_body(exc: ValueError | RecursionError) -> Response[str]:
    """powertools could not decode the body (not UTF-8, a multipart type without a boundary) or parse it
    (nested too deeply for json): refuse the body as for any other; anything else stays unexpected."""
    try:
        _check_raw_body()
        if isinstance(exc, RecursionError):
            json.loads(app.current_event.decoded_body or "null")
    except TtsError as refused:
        return _tts_error(refused)
    except RecursionError:
        return _tts_error(MalformedJsonError("the body nests too deeply to parse"))
    return _unexpected(exc)  # raised by something else than the body


@app.not_found
def _no_route(_exc: RouteNotFound) -> Response[str]:
    event = app.current_event
    return _json(404, ErrorBody(code="ROUTE_NOT_FOUND", message=f"no route {event.http_method} {quoted(event.path)}"))


@app.exception_handler(Exception)
def _unexpected(exc: Exception) -> Response[str]:
    logger.exception("unexpected error")
    return _json(500, ErrorBody(code="INTERNAL_ERROR",
                                message="the service failed unexpectedly; the request id is in the logs"))


def _check_raw_body() -> None:
    event = app.current_event
    content_type = (event.headers or {}).get("content-type") or (event.headers or {}).get("Content-Type") or ""
    if content_type and not content_type.split(";")[0].strip().lower().endswith("json"):
        raise UnsupportedMediaTypeError(f"send the body as application/json, not {quoted(content_type)}")
    raw = _raw_body()
    limit = MAX_VOICE_BODY_BYTES if event.path.rstrip("/") == "/api/voices" else MAX_REQUEST_BYTES
    if len(raw) > limit:
        raise PayloadTooLargeError(f"the body is larger than {limit} bytes")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEncodingError(f"the body is not valid UTF-8 (byte {exc.start})") from None
    # powertools validates a JSON array body by its first item: an array must not pass as an object.
    if raw.lstrip(b" \t\r\n")[:1] == b"[":
        raise InvalidInputError("the request body must be a JSON object, not an array")


def _raw_body() -> bytes:
    event = app.current_event
    if not event.body:
        return b""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(event.body, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedJsonError("the body is neither text nor valid base64") from None
    return event.body.encode("utf-8", "surrogatepass")


def _base_url() -> str:
    """Where clients reach this API: the configured URL (PublicApiUrl, e.g. a custom domain), else API
    Gateway's own stage URL from the request context. Never the client's Host header."""
    configured = settings().public_api_url
    if configured:
        return configured.rstrip("/")
    context = app.current_event.request_context
    return f"https://{context.domain_name}/{context.stage}" if context.domain_name else ""


def _job_body(job: Job, base_url: str | None = None) -> JobBody:
    base = _base_url() if base_url is None else base_url
    fields: dict[str, Any] = {"request_id": job.request_id, "status_url": f"{base}/api/jobs/{job.request_id}"}
    result = job.result
    if result is None:  # running, or ended without a record (e.g. aborted by an operator)
        return JobBody(status="accepted" if job.status == "running" else "failed", progress=job.progress, **fields)
    fields |= {"engine_used": result.engine_used, "total_ms": result.total_ms, "attempts": result.attempts,
               "cache_hit": result.cache_hit}
    if result.status == "succeeded" and result.audio_key:
        url = storage.presigned_url(result.bucket, result.audio_key, settings().presign_expiry_seconds)
        return JobBody(status="success", duration_s=result.duration_s, sample_rate=result.sample_rate,
                       audio_key=result.audio_key, audio_url=url, segments=result.segments, **fields)
    return JobBody(status="error", code=result.error_code, message=result.error_message, **fields)


# ---- routes -------------------------------------------------------------------------------------
@app.post("/api/synthesize", enable_validation=True, security=API_KEY, summary="Synthesize speech",
          description="Waits up to SyncWaitSeconds: 200 with the audio, 202 while it runs on, 502 if every "
                      "engine failed. An identical request is served from the cache unless `cache` is false.",
          responses=_documented({200: ("the audio is ready", JobBody), 202: ("still running: poll status_url", JobBody),
                                 502: ("every engine failed; the attempts say why", JobBody)},
                                (400, 404, 413, 415, 422)))
def synthesize(request: Annotated[SynthesisRequest, Body(description="what to say and how")]) -> Response[str]:
    _check_raw_body()  # powertools also accepts form bodies; this API speaks JSON only
    conf = settings()
    owner = _owner()
    request = check_limits(request, max_text_chars=conf.max_text_chars,
                           voice_exists=lambda voice: directory.lookup(conf.bucket_name, voice, owner))
    correlation_id = logger.get_correlation_id() or jobs.new_request_id()
    request_id = jobs.start(conf.state_machine_arn, request, correlation_id)
    logger.info("synthesis started", extra={"request_id": request_id, "voice": request.voice,
                                            "chars": len(request.text)})
    # The wait for the audio happens in `handle`, after the resolver is done with this event.
    _started.set(_Started(request_id=request_id, base_url=_base_url()))
    job = jobs.Job(request_id=request_id, status="running", execution_status="RUNNING")
    return _json(202, _job_body(job), exclude_none=True)


@app.get("/api/jobs/<request_id>", security=API_KEY, summary="A job's status and result",
         responses=_documented({200: ("the job (accepted, success or error)", JobBody)}, (400, 404)))
def job_status(request_id: str) -> Response[str]:
    conf = settings()
    job = jobs.status(conf.state_machine_arn, conf.bucket_name, request_id)
    return _json(200, _job_body(job), exclude_none=True)


def _owner() -> str | None:
    """The API key that made the request (API Gateway's key id; None where no key is in use)."""
    return app.current_event.request_context.identity.api_key_id or None


def _voice_body(entry: directory.VoiceEntry) -> VoiceBody:
    return VoiceBody(id=entry.id, name=entry.name, language=entry.language, gender=entry.gender,
                     description=entry.description, custom=entry.custom, engines=list(entry.engines),
                     fallback_voice=entry.fallback, reference=entry.reference, primary_ready=entry.primary_ready,
                     primary_reason=entry.primary_reason)


@app.get("/api/voices", security=API_KEY, summary="The voices: the catalogue's and your own",
         description="Each voice says which engines serve it and whether the primary is ready for it (if not, why).",
         responses=_documented({200: ("the voices", VoicesBody)}))
def voices() -> Response[str]:
    entries = directory.list_for(settings().bucket_name, _owner())
    return _json(200, VoicesBody(voices=[_voice_body(e) for e in entries]))


@app.post("/api/voices", enable_validation=True, security=API_KEY, summary="Clone a voice",
          description="3-30 s of someone speaking (WAV, FLAC, OGG or MP3, base64) becomes a voice of your API key. "
                      "The primary computes its speaker conditioning right away (primary_ready turns true when it "
                      "is done); the fallback engines speak it with the catalogue voice of its language and gender. "
                      "Nothing is stored when the recording is refused.",
          responses=_documented({201: ("the new voice", VoiceBody)}, (400, 413, 415)))
def create_voice(body: Annotated[CreateVoice, Body(description="the recording and what to call it")]) -> Response[str]:
    _check_raw_body()
    conf = settings()
    try:
        audio = base64.b64decode(body.audio_base64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError("audio_base64 is not valid base64") from None
    fallback = catalogue_voice_for(body.language, body.gender)
    voice_id = f"v-{secrets.token_hex(6)}"
    record = registry.register_voice(conf.bucket_name, voice_id, audio, language=body.language,
                                     gender=body.gender, fallback=fallback.id, source="upload", name=body.name,
                                     owner=_owner())
    preparation = remote_prepare(conf.primary_function_name, voice_id, wait=False)
    if preparation.state == "failed":
        registry.set_preparation(conf.bucket_name, voice_id, record.sha256, preparation)
    record = registry.get_record(conf.bucket_name, voice_id)  # the primary may have prepared it already
    ready = record.preparation.state == "ready"
    entry = directory.custom_entry(record, ready, None if ready else directory.preparation_reason(record))
    logger.info("voice created", extra={"voice": voice_id, "fallback": fallback.id, "seconds": record.duration_s})
    return _json(201, _voice_body(entry))


@app.delete("/api/voices/<voice_id>", security=API_KEY, summary="Delete one of your voices",
            description="Removes its recording, its speaker conditioning and its record.",
            responses=_documented({200: ("deleted", VoiceBody)}, (400, 404)))
def delete_voice(voice_id: str) -> Response[str]:
    conf = settings()
    found = directory.lookup(conf.bucket_name, voice_id, _owner())
    if isinstance(found, Voice):
        raise InvalidInputError(f"'{quoted(voice_id)}' is a built-in voice; only custom voices can be deleted")
    registry.delete_voice(conf.bucket_name, found)
    logger.info("voice deleted", extra={"voice": voice_id})
    return _json(200, _voice_body(directory.custom_entry(found, False, "deleted")))


@app.post("/api/voices/bootstrap", security=IAM, summary="Re-run the voice bootstrap (operators, IAM-signed)",
          description="Starts the function that gives every catalogue voice a reference recorded by the fallback "
                      "engine (or an operator-supplied one) and prepares it on the primary; GET /api/voices shows "
                      "the outcome.",
          responses=_documented({202: ("started", AcceptedBody)}))
def rerun_bootstrap() -> Response[str]:
    conf = settings()
    aws.client("lambda").invoke(FunctionName=conf.voice_bootstrap_function_name, InvocationType="Event",
                                Payload=json.dumps({"force": False}).encode())
    return _json(202, AcceptedBody(message="the voice bootstrap is running; GET /api/voices shows its outcome"))


@app.get("/api/health", security=API_KEY, summary="The route document, each engine's state and each voice's readiness",
         responses=_documented({200: ("the route, the engines and the voices", HealthBody)}))
def health() -> Response[str]:
    try:
        route: dict[str, Any] = RouteStore(settings().route_parameter_name).read()[0].model_dump(mode="json")
    except RouteStoreError as exc:  # the route hint is advisory: report, never fail the health call
        logger.warning("route document unreadable", extra={"error": str(exc)})
        route = {"route": "primary", "reason": f"route document unreadable: {exc.code}"}
    engines = {"primary": "fallback-routed" if route["route"] == "fallback" else "in service",
               "fallback": "in service", "offline": "last resort"}
    voices = {e.id: VoiceReadiness(primary_ready=e.primary_ready, primary_reason=e.primary_reason)
              for e in directory.list_for(settings().bucket_name, _owner())}
    return _json(200, HealthBody(route=route, engines=engines, voices=voices))


@app.put("/api/route", enable_validation=True, security=IAM, summary="Force the route (operators, IAM-signed)",
         responses=_documented({200: ("the new route document", RouteBody)}, (400, 415)))
def override_route(body: Annotated[RouteOverride, Body(description="a route, or null to clear")]) -> Response[str]:
    _check_raw_body()
    identity = app.current_event.request_context.identity
    by = f"operator:{identity.user_arn or identity.source_ip or 'unknown'}"
    doc = routing.set_override(RouteStore(settings().route_parameter_name), body.override, by=by)
    return _json(200, RouteBody(route=doc))


@app.get("/api/openapi.json", summary="This document",
         responses={200: {"description": "the OpenAPI document", "content": {"application/json": {}}}})
def openapi_document() -> Response[str]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi.document())


@app.get("/", summary="The web page", responses={200: {"description": "HTML", "content": {"text/html": {}}}})
def page() -> Response[str]:
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=page_html(),
                    headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
                             "Referrer-Policy": "no-referrer"})


@cache
def page_html() -> str:
    return resources.files("tts_core.api").joinpath("static/index.html").read_text(encoding="utf-8")


@dataclass(frozen=True)
class _Started:
    request_id: str
    base_url: str


_started: ContextVar[_Started | None] = ContextVar("started", default=None)
# powertools keeps the event being resolved on a class attribute (BaseRouter.current_event), shared by
# every resolver in the process. Lambda runs one invocation per process, so this lock costs nothing
# there; the local stack runs concurrent invocations in one process, and they must not interleave.
_RESOLVING = threading.Lock()


def _lower_media_type(value: str) -> str:
    media_type, sep, parameters = value.partition(";")
    return media_type.lower() + sep + parameters


def _with_media_type_in_lower_case(event: dict[str, Any]) -> dict[str, Any]:
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
    _started.set(None)
    with _RESOLVING:
        answer = app.resolve(_with_media_type_in_lower_case(event), context)
    started = _started.get()
    if started is None:
        return answer
    # POST /api/synthesize: wait for the audio outside the lock, then answer 200, 202 or 502.
    conf = settings()
    job = jobs.wait(conf.state_machine_arn, conf.bucket_name, started.request_id, conf.sync_wait_seconds)
    status = 202 if job.status == "running" else 200 if job.status == "succeeded" else 502
    final = _json(status, _job_body(job, started.base_url), exclude_none=True)
    return answer | {"statusCode": status, "body": final.body}


__all__ = ["NotFoundError", "app", "handle"]
