"""`tts-local serve`'s HTTP front: API Gateway (REST, proxy integration) on 127.0.0.1, like
`sam local start-api` without Docker. Routes, API-key requirements, CORS preflight answers and
API Gateway's own refusals come from the Api resource and the Api events in template.yaml."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tts_local.stack import LocalStack
from tts_local.template import resources_of_type

STAGE = "local"
_TEXT_TYPES = ("application/json", "text/", "application/xml", "application/javascript")


@dataclass(frozen=True)
class Route:
    method: str
    resource: str  # "/api/jobs/{request_id}"
    function: str  # physical function name
    pattern: re.Pattern[str]
    api_key_required: bool = False

    @classmethod
    def of(cls, method: str, resource: str, function: str, api_key_required: bool = False) -> Route:
        regex = re.sub(r"\\\{(\w+)(?:\\\+)?\\\}", r"(?P<\1>[^/]+)", re.escape(resource))
        return cls(method.upper(), resource, function, re.compile(f"^{regex}$"), api_key_required)


def _api_properties(stack: LocalStack) -> dict[str, Any]:
    (api,) = resources_of_type(stack.template, "AWS::Serverless::Api").values()
    return stack.resolver.resolve(api["Properties"])


def routes_from_template(stack: LocalStack) -> list[Route]:
    key_by_default = bool(_api_properties(stack).get("Auth", {}).get("ApiKeyRequired", False))
    routes = []
    for logical, spec in resources_of_type(stack.template, "AWS::Serverless::Function").items():
        for event in spec["Properties"].get("Events", {}).values():
            if event["Type"] == "Api":
                props = event["Properties"]
                auth = props.get("Auth", {})
                # IAM-signed routes cannot be checked here; they are open locally, as with `sam local`.
                needs_key = auth.get("ApiKeyRequired", key_by_default) and "Authorizer" not in auth
                routes.append(Route.of(props["Method"], props["Path"], stack.resolver.refs[logical], bool(needs_key)))
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


def proxy_event(method: str, raw_path: str, headers: dict[str, str], body: bytes, route: Route,
                path_parameters: dict[str, str]) -> dict[str, Any]:
    url = urlsplit(raw_path)
    query = parse_qs(url.query, keep_blank_values=True)
    content_type = headers.get("Content-Type", headers.get("content-type", ""))
    is_text = not body or content_type.startswith(_TEXT_TYPES)
    try:
        text_body = body.decode() if is_text else None
    except UnicodeDecodeError:
        text_body = None
    request_id = str(uuid.uuid4())
    return {
        "resource": route.resource, "path": url.path, "httpMethod": method,
        "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": path_parameters or None, "stageVariables": None,
        "requestContext": {"resourcePath": route.resource, "httpMethod": method, "path": f"/{STAGE}{url.path}",
                           "stage": STAGE, "requestId": request_id, "accountId": "123456789012",
                           "apiId": "local", "requestTimeEpoch": int(time.time() * 1000),
                           "identity": {"sourceIp": "127.0.0.1"}},
        "body": text_body if text_body is not None else (base64.b64encode(body).decode() if body else None),
        "isBase64Encoded": text_body is None and bool(body),
    }


class ApiServer:
    """`api_key`: the key routes with ApiKeyRequired must send in x-api-key (None: no key checked,
    as on `sam local start-api`)."""

    def __init__(self, stack: LocalStack, port: int, api_key: str | None = None) -> None:
        self.stack = stack
        self.routes = routes_from_template(stack)
        self.api_key = api_key
        self.preflight = cors_preflight_headers(stack)
        self.refusal_headers = {"Content-Type": "application/json"} | gateway_response_headers(stack, "DEFAULT_4XX")
        self.failure_headers = {"Content-Type": "application/json"} | gateway_response_headers(stack, "DEFAULT_5XX")
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server.handle(self)

            do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass  # requests are logged by the API handler itself

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="tts-local-api", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        path = urlsplit(request.path).path
        matching = [(route, match) for route in self.routes if (match := route.pattern.match(path))]
        if request.command == "OPTIONS" and matching and self.preflight is not None:
            return self._send(request, 200, {"Content-Type": "application/json"} | self.preflight, b"{}")
        for route, match in matching:
            if route.method in (request.command, "ANY"):
                if route.api_key_required and self.api_key is not None \
                        and request.headers.get("x-api-key") != self.api_key:
                    return self._send(request, 403, self.refusal_headers, b'{"message": "Forbidden"}')
                event = proxy_event(request.command, request.path, dict(request.headers.items()), body,
                                    route, match.groupdict())
                headers: dict[str, str] = {}
                raw = self.stack.dispatch(route.function, json.dumps(event), headers)
                answer = json.loads(raw)
                if headers.get("x-amz-function-error"):
                    # What API Gateway answers when the integration Lambda fails.
                    return self._send(request, 502, self.failure_headers, b'{"message": "Internal server error"}')
                return self._send_lambda(request, answer)
        # API Gateway's answer for a path or method it has no route for.
        self._send(request, 403, self.refusal_headers, b'{"message": "Missing Authentication Token"}')

    def _send_lambda(self, request: BaseHTTPRequestHandler, answer: dict[str, Any]) -> None:
        body = answer.get("body") or ""
        data = base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode()
        headers = dict(answer.get("headers") or {})
        for name, values in (answer.get("multiValueHeaders") or {}).items():
            headers[name] = ", ".join(values)
        self._send(request, int(answer.get("statusCode", 200)), headers, data)

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], data: bytes) -> None:
        request.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection"):
                request.send_header(name, value)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(data)
