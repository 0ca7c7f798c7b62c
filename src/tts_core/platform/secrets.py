"""The DashScope API key, read at run time from AWS Secrets Manager and cached per process.

The secret holds either the bare key or JSON `{"api_key": "..."}`. The key never reaches a log:
not ours, and not botocore's either (its DEBUG log prints whole response bodies, so the body of our
GetSecretValue call is filtered out of it).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

from tts_core.errors import EngineNotConfiguredError, EngineUnavailableError

logger = logging.getLogger(__name__)

# Errors that mean "this is set up wrong" rather than "try again later".
_CONFIG_ERRORS = frozenset({"AccessDeniedException", "AccessDenied", "DecryptionFailure",
                            "InvalidRequestException", "InvalidParameterException",
                            "UnrecognizedClientException"})
_MISSING_ERRORS = frozenset({"ResourceNotFoundException"})

_quiet = threading.local()  # set while this thread is inside GetSecretValue
_filter_lock = threading.Lock()
_filter_installed = False


class _DropSecretBodies(logging.Filter):
    """Drops botocore's DEBUG records made while this thread fetches the secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_quiet, "active", False)


def _install_filter() -> None:
    global _filter_installed
    with _filter_lock:
        if not _filter_installed:
            # botocore.parsers logs "Response body" and botocore.endpoint the raw response.
            for name in ("botocore.parsers", "botocore.endpoint", "botocore.hooks", "botocore.retryhandler"):
                logging.getLogger(name).addFilter(_DropSecretBodies())
            _filter_installed = True


@contextlib.contextmanager
def _quiet_botocore() -> Iterator[None]:
    _quiet.active = True
    try:
        yield
    finally:
        _quiet.active = False


def parse_secret(value: str | bytes | None, field: str = "api_key") -> str | None:
    """A bare key, or JSON {field: key}; empty, blank, keyless or other JSON -> None."""
    if value is None:
        return None
    text = value.decode("utf-8") if isinstance(value, bytes) else value
    text = text.strip()
    if text.startswith(("{", "[")):
        try:
            doc = json.loads(text)
        except ValueError:
            return None  # looks like JSON but is not: refuse to send it as a key
        found = doc.get(field) if isinstance(doc, dict) else None
        text = found.strip() if isinstance(found, str) else ""
    return text or None


class SecretKeyProvider:
    """Callable key provider for `SambertEngine`: `provider()` -> cached key, `provider(refresh=True)`
    re-reads the secret (after a 401, the key may have been rotated)."""

    def __init__(self, secret_arn: str, *, field: str = "api_key", client: Any | None = None) -> None:
        if not secret_arn:
            raise ValueError("secret_arn is required")
        self.secret_arn = secret_arn
        self._field = field
        self._client = client  # created on first use: boto3 costs ~0.2 s to import
        self._key: str | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SecretKeyProvider({self.secret_arn!r}, cached={self._key is not None})"

    def __call__(self, refresh: bool = False) -> str | None:
        with self._lock:
            if self._key is None or refresh:
                # A missing key is not cached: a secret created later is picked up on the next call.
                self._key = self._read()
            return self._key

    def _client_once(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("secretsmanager")
        return self._client

    def _read(self) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError

        client = self._client_once()
        _install_filter()
        try:
            with _quiet_botocore():
                response = client.get_secret_value(SecretId=self.secret_arn)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
            if code in _MISSING_ERRORS:
                logger.warning("DashScope key secret not found", extra={"secret": self.secret_arn})
                return None
            if code in _CONFIG_ERRORS:
                raise EngineNotConfiguredError(f"cannot read the DashScope key secret: {code}",
                                               detail=code) from exc
            raise EngineUnavailableError(f"Secrets Manager failed: {code}", detail=code) from exc
        except BotoCoreError as exc:
            raise EngineUnavailableError(f"Secrets Manager unreachable: {type(exc).__name__}",
                                         detail=type(exc).__name__) from exc
        key = parse_secret(response.get("SecretString", response.get("SecretBinary")), self._field)
        if key is None:
            logger.warning("DashScope key secret is empty or has no key", extra={"secret": self.secret_arn})
        return key


def no_key(refresh: bool = False) -> None:
    """The key provider when no secret is configured: the engine reports ENGINE_NOT_CONFIGURED."""
    return None
