"""A JSON call to the local HTTP front (tts_local.http_api.ApiServer), shared by the stack tests."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from tts_local.http_api import ApiServer


def call(server: ApiServer, method: str, path: str, body: bytes | None = None,
         content_type: str = "application/json", headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    sent = ({"Content-Type": content_type} if body is not None else {}) | (headers or {})
    request = urllib.request.Request(server.url + path, data=body, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
