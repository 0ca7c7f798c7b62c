"""The route document in SSM: the only code that reads or writes the parameter.

SSM has no compare-and-swap, so `write(doc, expected_version)` comes as close as it can:

1. It reads the parameter's version again just before writing and refuses (returns False) if it
   is not the version the document was computed from: the usual race, a write between our read
   and our write, is refused and the caller recomputes.
2. A first write (expected_version None) uses Overwrite=False, which SSM applies atomically.
3. put_parameter returns the new version. Anything but expected + 1 means another write landed in
   the milliseconds between the check and the put, and ours replaced it unseen. The store then
   puts that write's value back (read with the `name:version` selector) and refuses, so the
   caller recomputes on top of it: an operator's override is not lost to a probe. If a newer
   write has already replaced ours, it was built on ours or restores ours, so ours stands.

What is left is a window of milliseconds in which three or more writers overlap; then one
write (one failure count, say) can be lost or counted twice, never the document corrupted.
The deployment keeps that rare: the health probe, the main writer, runs with
ReservedConcurrentExecutions 1, so two probes never overlap, and request failures stop writing
once the breaker is open.

Every SSM failure other than "not found" raises RouteStoreError: callers must never change the
route because the store could not be read.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tts_core.errors import StorageError
from tts_core.platform import aws
from tts_core.platform.observability import logger
from tts_core.routing.breaker import RouteDocument, Transition, parse


class RouteStoreError(StorageError):
    """SSM could not be read or written (throttled, denied, unreachable)."""

    code = "ROUTE_STORE_ERROR"


class RouteConflictError(RouteStoreError):
    """Other writers kept changing the document: `update` gave up."""

    code = "ROUTE_CONFLICT"


_NOT_FOUND = ("ParameterNotFound", "ParameterVersionNotFound")
_BACKOFF_S = 0.05  # first retry within 50 ms, doubling: spreads writers that collided


def _default_ssm() -> Any:
    return aws.client("ssm")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class RouteStore:
    def __init__(self, parameter_name: str, ssm_client_factory: Callable[[], Any] = _default_ssm, *,
                 clock: Callable[[], datetime] = _utc_now,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.parameter_name = parameter_name
        self._ssm = ssm_client_factory  # called per use: the client is created lazily (and cached by aws.client)
        self._clock = clock
        self._sleep = sleep

    def read(self) -> tuple[RouteDocument, int | None]:
        """The document and the parameter's version; a missing parameter gives a fresh document and
        None. A malformed one gives a fresh document (`repaired`) and its real version, so that
        writing the repair back is still checked against it."""
        found = self._get(self.parameter_name)
        if found is None:
            return parse(None, now=self._clock()), None
        value, version = found
        doc = parse(value, now=self._clock())
        if doc.repaired:
            logger.warning("route document repaired", extra={
                "parameter": self.parameter_name, "version": version, "reason": doc.reason})
        return doc, version

    def write(self, doc: RouteDocument, expected_version: int | None) -> bool:
        """Write `doc` if the parameter is still at `expected_version` (None: it must not exist).
        False: another writer got there first; read again and recompute."""
        return self._write(doc.model_dump_json(), expected_version) is not None

    def update(self, fn: Callable[[RouteDocument], RouteDocument], retries: int = 3) -> Transition:
        """Read, apply `fn`, write; on a conflict read again and reapply (`fn` must be pure).
        Nothing is written when `fn` changes nothing (unless the stored text needed repair)."""
        for attempt in range(retries + 1):
            before, version = self.read()
            after = fn(before)
            if after == before and not before.repaired:
                return Transition(before, after)
            if self._write(after.model_dump_json(), version) is not None:
                return Transition(before, after)
            logger.info("route document changed during update; retrying",
                        extra={"parameter": self.parameter_name, "attempt": attempt + 1})
            if attempt < retries:
                self._sleep(random.uniform(0, _BACKOFF_S * 2**attempt))
        raise RouteConflictError(f"{self.parameter_name} kept changing; gave up after {retries + 1} attempts")

    def _write(self, value: str, expected: int | None) -> int | None:
        """The new version, or None if refused."""
        if self._version() != expected:
            return None
        if expected is None:
            try:
                return self._put(value, overwrite=False)
            except RouteStoreError as exc:
                if _error_code(exc.__cause__) == "ParameterAlreadyExists":
                    return None
                raise
        written = self._put(value, overwrite=True)
        if written == expected + 1:
            return written
        logger.warning("route document written over a concurrent write", extra={
            "parameter": self.parameter_name, "expected_version": expected, "written_version": written})
        return None if self._restore(written) else written

    def _restore(self, ours: int) -> bool:
        """Put back the version our write replaced unseen. False if a newer write already replaced ours."""
        found = self._get(f"{self.parameter_name}:{ours - 1}")
        if found is None or self._version() != ours:
            return False
        self._put(found[0], overwrite=True)
        return True

    def _version(self) -> int | None:
        found = self._get(self.parameter_name)
        return None if found is None else found[1]

    def _get(self, name: str) -> tuple[str, int] | None:
        try:
            parameter = self._ssm().get_parameter(Name=name)["Parameter"]
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                return None
            raise RouteStoreError(f"could not read {name}: {exc}") from exc
        except BotoCoreError as exc:
            raise RouteStoreError(f"could not read {name}: {exc}") from exc
        return parameter["Value"], int(parameter["Version"])

    def _put(self, value: str, *, overwrite: bool) -> int:
        try:
            response = self._ssm().put_parameter(
                Name=self.parameter_name, Value=value, Type="String", Overwrite=overwrite)
        except (ClientError, BotoCoreError) as exc:
            raise RouteStoreError(f"could not write {self.parameter_name}: {exc}") from exc
        return int(response["Version"])


def _error_code(exc: BaseException | None) -> str | None:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code")
    return None
