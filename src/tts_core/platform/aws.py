"""boto3 clients, created lazily once per process (never at import: it slows cold starts and
binds clients to whatever environment a test had at import time)."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)


@cache
def client(service: str) -> Any:
    return boto3.client(service, config=_CONFIG)  # type: ignore[call-overload]


def reset_clients() -> None:
    """Forget cached clients (the local stack calls this when it starts a fresh mock)."""
    client.cache_clear()
