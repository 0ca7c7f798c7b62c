"""The REST API (API Gateway proxy events) and the web page, on powertools' event handler: the resolver,
its error handling, and the routes of `synthesis`, `voices`, `lexicons` and `operations`.

Every error leaves as {"status": "error", "code", "message"} with the code's HTTP status. Request
bodies are validated by powertools against the same pydantic models the OpenAPI document is generated
from (`tts_core.api.openapi`); what the schema cannot say (content type, body size, the text limit, the
voice catalogue) is checked by the routes, with the same stable codes as everywhere else."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from importlib import resources

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as RouteNotFound
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType, RequestValidationError

from tts_core.api import books, lexicons, openapi, operations, synthesis, voices
from tts_core.api.http import check_raw_body, error_answer, settings
from tts_core.errors import (
    InvalidInputError,
    MalformedJsonError,
    RouteNotFoundError,
    TtsError,
    UnsupportedMediaTypeError,
    quoted,
)
from tts_core.models import validation_message
from tts_core.platform import storage
from tts_core.platform.observability import logger


class DeployedCors(CORSConfig):
    """CORS for the one origin the deployment allows (template Parameter CorsAllowOrigin). The origin
    is read when a request arrives: the resolver is built at import, before settings may be read."""

    def allowed_origin(self, extracted_origin: str) -> str | None:
        allowed = settings().cors_allow_origin
        if not extracted_origin:
            return None
        return "*" if allowed == "*" else (extracted_origin if extracted_origin == allowed else None)


app = APIGatewayRestResolver(cors=DeployedCors(max_age=600))
for _routes in (synthesis.router, voices.router, lexicons.router, operations.router, books.router):
    app.include_router(_routes)


@app.exception_handler(TtsError)
def _tts_error(exc: TtsError) -> Response[str]:
    logger.info("request refused", extra={"code": exc.code, "error": exc.message})
    return error_answer(exc)


@app.exception_handler([RequestValidationError, RequestUnsupportedContentType])
def _invalid_body(exc: RequestValidationError | RequestUnsupportedContentType) -> Response[str]:
    """powertools refused the body: say why with our codes (media type and size first, as for a valid body)."""
    try:
        check_raw_body(app.current_event)
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
        check_raw_body(app.current_event)
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
    return error_answer(RouteNotFoundError(f"no route {event.http_method} {quoted(event.path)}"))


@app.exception_handler(Exception)
def _unexpected(exc: Exception) -> Response[str]:
    logger.exception("unexpected error")
    return error_answer(TtsError("the service failed unexpectedly; the request id is in the logs"))


@app.get("/api/openapi.json", summary="This document",
         responses={200: {"description": "the OpenAPI document", "content": {"application/json": {}}}})
def openapi_document() -> Response[str]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi.document(app))


@app.get("/", summary="The web page", responses={200: {"description": "HTML", "content": {"text/html": {}}}})
def page() -> Response[str]:
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=page_html(),
                    headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
                             "Referrer-Policy": "no-referrer",
                             "Content-Security-Policy": page_policy(storage.presigned_origin(settings().bucket_name)),
                             "X-Frame-Options": "DENY"})


@cache
def page_policy(bucket_origin: str) -> str:
    """The page runs its own script only (by hash), talks to its own origin and the bucket's (presigned audio
    it plays, a manuscript it PUTs), and is never framed (clickjacking a page that holds an API key)."""
    script = page_html().split("<script>", 1)[1].split("</script>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    return (f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; "
            f"connect-src 'self' {bucket_origin}; media-src 'self' {bucket_origin} blob: data:; "
            "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
            "form-action 'none'")


@cache
def page_html() -> str:
    return resources.files("tts_core.api").joinpath("static/index.html").read_text(encoding="utf-8")
