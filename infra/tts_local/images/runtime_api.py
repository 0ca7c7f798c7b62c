"""Lambda's Runtime API (2018-06-01) served on 127.0.0.1, for a function's runtime interface client."""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Invocation:
    request_id: str
    event: dict[str, Any]
    deadline_ms: int
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: dict[str, Any] | None = None
    finished_at: float = 0.0


class RuntimeApi:
    """Lambda's Runtime API (2018-06-01) on 127.0.0.1: hands out queued events to the function's
    runtime interface client and records each response or error."""

    def __init__(self, function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:local") -> None:
        self.pending: queue.Queue[Invocation] = queue.Queue()
        self.invocations: dict[str, Invocation] = {}
        self.init_error: dict[str, Any] | None = None
        self.first_poll: float | None = None  # time.monotonic() of the runtime's first /next: init is over
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if not self.path.endswith("/runtime/invocation/next"):
                    return self._reply(404)
                api.first_poll = api.first_poll or time.monotonic()
                inv = api.pending.get()
                self._reply(200, json.dumps(inv.event).encode(), {
                    "Content-Type": "application/json", "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(inv.deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": function_arn,
                    "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]};Sampled=0"})
                return None

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = self.path.strip("/").split("/")
                payload = json.loads(body) if body else None
                if parts[-2:] == ["init", "error"]:
                    api.init_error = payload
                elif len(parts) >= 2 and parts[-1] in ("response", "error") and parts[-2] in api.invocations:
                    inv = api.invocations[parts[-2]]
                    if parts[-1] == "response":
                        inv.result = payload
                    else:
                        inv.error = payload
                    inv.finished_at = time.monotonic()
                    inv.done.set()
                else:
                    return self._reply(404)
                self._reply(202, b"{}", {"Content-Type": "application/json"})
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> RuntimeApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def invoke(self, event: dict[str, Any], timeout_s: float = 900) -> Invocation:
        inv = Invocation(uuid.uuid4().hex, event, int((time.time() + timeout_s) * 1000))
        self.invocations[inv.request_id] = inv
        self.pending.put(inv)
        return inv
