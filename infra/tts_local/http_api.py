"""`tts-local serve`'s HTTP front: API Gateway (REST, proxy integration) on 127.0.0.1, like
`sam local start-api` without Docker. Routes, API-key requirements, CORS preflight answers and
API Gateway's own refusals come from the Api resource and the Api events in template.yaml.

It runs on werkzeug's threaded server (a listen backlog of 128, a thread per connection). What API
Gateway refuses itself is refused here before any Lambda runs, always as JSON: a route or method it
does not know, a bad or oversized Content-Length, a body that stalls, a missing API key, and an
IAM-authorised route without the local admin credential (`x-admin-key`, standing in for SigV4)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tts_local.stack import ACCOUNT, LocalStack
from tts_local.template import resources_of_type
from tts_local.throttle import Throttles

STAGE = "local"
_TEXT_TYPES = ("application/json", "text/", "application/xml", "application/javascript")
GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit; the API's own (smaller) limit is its code's
READ_TIMEOUT_S = 10.0  # a client that sends nothing for this long loses its connection
ADMIN_KEY_HEADER = "x-admin-key"  # locally, the credential of IAM-authorised routes (SigV4 in AWS)
ADMIN_ARN = f"arn:aws:iam::{ACCOUNT}:user/tts-local-admin"  # the identity the admin credential stands for


@dataclass(frozen=True)
class Route:
    method: str
    resource: str  # "/api/jobs/{request_id}"
    function: str  # physical function name
    pattern: re.Pattern[str]
    api_key_required: bool = False
    iam_required: bool = False  # Authorizer AWS_IAM: locally, the admin credential

    @classmethod
    def of(cls, method: str, resource: str, function: str, api_key_required: bool = False,
           iam_required: bool = False) -> Route:
        regex = re.sub(r"\\\{(\w+)(?:\\\+)?\\\}", r"(?P<\1>[^/]+)", re.escape(resource))
        return cls(method.upper(), resource, function, re.compile(f"^{regex}$"), api_key_required, iam_required)


def _api_properties(stack: LocalStack) -> dict[str, Any]:
    (api,) = resources_of_type(stack.template, "AWS::Serverless::Api").values()
    return stack.resolver.resolve(api["Properties"])


def throttles_from_template(stack: LocalStack) -> Throttles:
    props = _api_properties(stack)
    plan = props.get("Auth", {}).get("UsagePlan", {}).get("Throttle")
    stage = next((s for s in props.get("MethodSettings", []) if s.get("ResourcePath") == "/*"), None)
    return Throttles(
        (float(stage["ThrottlingRateLimit"]), float(stage["ThrottlingBurstLimit"])) if stage else None,
        (float(plan["RateLimit"]), float(plan["BurstLimit"])) if plan else None)


def routes_from_template(stack: LocalStack) -> list[Route]:
    key_by_default = bool(_api_properties(stack).get("Auth", {}).get("ApiKeyRequired", False))
    routes = []
    for logical, spec in resources_of_type(stack.template, "AWS::Serverless::Function").items():
        for event in spec["Properties"].get("Events", {}).values():
            if event["Type"] == "Api":
                props = event["Properties"]
                auth = props.get("Auth", {})
                iam = auth.get("Authorizer") == "AWS_IAM"
                needs_key = auth.get("ApiKeyRequired", key_by_default) and "Authorizer" not in auth
                routes.append(Route.of(props["Method"], props["Path"], stack.resolver.refs[logical], bool(needs_key),
                                       iam))
    return routes


def _unquote(value: Any) -> str:
    """API Gateway header values in SAM are quoted literals: "'*'" -> "*"."""
    return str(value).strip("'")


def cors_preflight_headers(stack: LocalStack) -> dict[str, str] | None:
    """What API Gateway's generated OPTIONS methods answer (None: the template configures no CORS)."""
    cors = _api_properties(stack).get("Cors")
    if not cors:
        return None
    names = {"AllowOrigin": "Access-Control-Allow-Origin", "AllowMethods": "Access-Control-Allow-Methods",
             "AllowHeaders": "Access-Control-Allow-Headers", "MaxAge": "Access-Control-Max-Age"}
    return {header: _unquote(cors[key]) for key, header in names.items() if key in cors}


def gateway_response_headers(stack: LocalStack, kind: str) -> dict[str, str]:
    """Headers the template adds to API Gateway's own answers (kind: DEFAULT_4XX or DEFAULT_5XX)."""
    response = _api_properties(stack).get("GatewayResponses", {}).get(kind, {})
    headers = response.get("ResponseParameters", {}).get("Headers", {})
    return {name: _unquote(value) for name, value in headers.items()}


def raw_path(request: Request) -> str:
    """The path as sent (werkzeug's `path` is percent-decoded; API Gateway matches the raw one, so
    `%2F` inside a path parameter is not a separator)."""
    return urlsplit(request.environ.get("RAW_URI") or request.path).path


def proxy_event(request: Request, body: bytes, route: Route, path_parameters: dict[str, str],
                identity: dict[str, str]) -> dict[str, Any]:
    path = raw_path(request)
    headers = {name: value for name, value in request.headers.items()}
    query = parse_qs(request.query_string.decode("latin-1"), keep_blank_values=True)
    is_text = not body or request.mimetype.startswith(_TEXT_TYPES)  # werkzeug's mimetype is lower-cased
    try:
        text_body = body.decode() if is_text else None
    except UnicodeDecodeError:
        text_body = None
    return {
        "resource": route.resource, "path": path, "httpMethod": request.method,
        "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": path_parameters or None, "stageVariables": None,
        "requestContext": {"resourcePath": route.resource, "httpMethod": request.method,
                           "path": f"/{STAGE}{path}", "stage": STAGE, "requestId": str(uuid.uuid4()),
                           "accountId": ACCOUNT, "apiId": "local", "requestTimeEpoch": int(time.time() * 1000),
                           "identity": {"sourceIp": request.remote_addr or "127.0.0.1"} | identity},
        "body": text_body if text_body is not None else (base64.b64encode(body).decode() if body else None),
        "isBase64Encoded": text_body is None and bool(body),
    }


class _GatewayError(Exception):
    """API Gateway's own answer to a request no Lambda sees: `{"message": ...}` with a status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _content_length(request: Request) -> int | None:
    """The declared body length (None: chunked or no body), refused when it is not a plain number."""
    if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        return None
    raw = request.headers.get("Content-Length")
    if raw is None:
        return None
    if not re.fullmatch(r"[0-9]{1,20}", raw.strip()):
        raise _GatewayError(400, "Invalid Content-Length")
    length = int(raw)
    if length > GATEWAY_MAX_BODY_BYTES:
        raise _GatewayError(413, "Request Too Long")  # refused without reading a byte of it
    return length


def _read_body(request: Request) -> bytes:
    """The whole body: `Content-Length` bytes, or a chunked body to its end; never more than API
    Gateway takes. A client that stalls mid-body hits the socket's read timeout: 408."""
    length = _content_length(request)
    chunked = length is None and "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    stream: IO[bytes] = request.environ["wsgi.input"]  # werkzeug de-chunks it when chunked
    wanted = length if length is not None else GATEWAY_MAX_BODY_BYTES + 1 if chunked else 0
    parts: list[bytes] = []
    got = 0
    try:
        while got < wanted and (piece := stream.read(min(65536, wanted - got))):
            parts.append(piece)
            got += len(piece)
    except TimeoutError:
        raise _GatewayError(408, "Request Timeout") from None
    except OSError:  # a malformed chunk header
        raise _GatewayError(400, "Invalid chunked body") from None
    if chunked and got > GATEWAY_MAX_BODY_BYTES:
        raise _GatewayError(413, "Request Too Long")
    if length is not None and got < length:
        raise _GatewayError(400, "Incomplete body")  # the client closed its side early
    return b"".join(parts)


class _QuietHandler(WSGIRequestHandler):
    """Requests are logged by the API handler itself, not once more per line by werkzeug. What
    http.server refuses before the request reaches the WSGI app (a header line over 64 KB, a malformed
    request line) is answered in JSON too, never as its HTML error page."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        phrase = self.responses.get(code, ("Error",))[0]  # http.server's message may quote the request line
        body = json.dumps({"message": phrase}).encode()
        self.request_version = "HTTP/1.1"  # an unparsable request line leaves HTTP/0.9: no status line at all
        self.send_response(code, phrase)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)


class ApiServer:
    """`api_key`: the key (or keys) routes with ApiKeyRequired must send in x-api-key (None: no key
    checked, as on `sam local start-api`); the Lambda sees which one in requestContext.identity.apiKeyId,
    as API Gateway passes the key's id. `admin_key`: what IAM-authorised routes (PUT /api/route) must
    send in x-admin-key (None: no credential is valid, so those routes always answer 403)."""

    def __init__(self, stack: LocalStack, port: int, api_key: str | Collection[str] | None = None,
                 admin_key: str | None = None,
                 read_timeout_s: float = READ_TIMEOUT_S, throttled: bool = False) -> None:
        """`throttled`: apply the template's usage plan throttle per key and the stage's throttle (429 past
        them), as `tts-local serve` does; tests that fire requests faster leave it off."""
        self.stack = stack
        self.throttles = throttles_from_template(stack) if throttled else None
        self.routes = routes_from_template(stack)
        self.api_keys = [api_key] if isinstance(api_key, str) else list(api_key or [])
        self.admin_key = admin_key
        self.preflight = cors_preflight_headers(stack)
        self.refusal_headers = {"Content-Type": "application/json"} | gateway_response_headers(stack, "DEFAULT_4XX")
        self.failure_headers = {"Content-Type": "application/json"} | gateway_response_headers(stack, "DEFAULT_5XX")
        handler = type("Handler", (_QuietHandler,), {"timeout": read_timeout_s})
        self.httpd: BaseWSGIServer = make_server("127.0.0.1", port, self.wsgi, threaded=True, request_handler=handler)
        self.port = self.httpd.server_address[1]
        stack.serve_api_at(self.url)
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="tts-local-api", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self.handle(request)
        except _GatewayError as refused:
            response = self._json(refused.status, self.refusal_headers, {"message": refused.message})
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        body = _read_body(request)
        path = raw_path(request)
        matching = [(route, match) for route in self.routes if (match := route.pattern.match(path))]
        if request.method == "OPTIONS" and matching and self.preflight is not None:
            return self._json(200, self.preflight, {})
        for route, match in matching:
            if route.method in (request.method, "ANY"):
                identity = self._authorise(route, request)
                if self.throttles is not None and not self.throttles.allow(identity.get("apiKeyId")):
                    return self._json(429, self.refusal_headers, {"message": "Too Many Requests"})
                event = proxy_event(request, body, route, match.groupdict(), identity)
                headers: dict[str, str] = {}
                answer = json.loads(self.stack.dispatch(route.function, json.dumps(event), headers))
                if headers.get("x-amz-function-error"):
                    # What API Gateway answers when the integration Lambda fails.
                    return self._json(502, self.failure_headers, {"message": "Internal server error"})
                return self._lambda_answer(answer)
        # API Gateway's answer for a path or method it has no route for (an unknown method too).
        raise _GatewayError(403, "Missing Authentication Token")

    def _authorise(self, route: Route, request: Request) -> dict[str, str]:
        """What API Gateway checks before it calls the Lambda; returns the caller's identity fields."""
        identity: dict[str, str] = {}
        if route.api_key_required and self.api_keys:
            key = next((k for k in self.api_keys if _same(request.headers.get("x-api-key"), k)), None)
            if key is None:
                raise _GatewayError(403, "Forbidden")
            identity["apiKeyId"] = api_key_id(key)
        if not route.iam_required:
            return identity
        if self.admin_key is None or not _same(request.headers.get(ADMIN_KEY_HEADER), self.admin_key):
            raise _GatewayError(403, "Forbidden")
        return identity | {"userArn": ADMIN_ARN, "user": "tts-local-admin"}

    @staticmethod
    def _lambda_answer(answer: dict[str, Any]) -> Response:
        body = answer.get("body") or ""
        data = base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode()
        headers = dict(answer.get("headers") or {})
        for name, values in (answer.get("multiValueHeaders") or {}).items():
            headers[name] = ", ".join(values)
        headers = {k: v for k, v in headers.items() if k.lower() not in ("content-length", "connection")}
        return Response(data, status=int(answer.get("statusCode", 200)), headers=headers)

    @staticmethod
    def _json(status: int, headers: dict[str, str], body: dict[str, Any]) -> Response:
        return Response(json.dumps(body), status=status, headers=headers)


def api_key_id(key: str) -> str:
    """A stable id for a key (API Gateway's key ids are opaque too): never the key itself."""
    return "local-" + hashlib.sha256(key.encode()).hexdigest()[:10]


def _same(sent: str | None, expected: str) -> bool:
    return sent is not None and hmac.compare_digest(sent.encode(), expected.encode())
