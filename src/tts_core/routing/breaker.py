"""The circuit breaker that routes synthesis between the primary engine and the fallback.

Pure logic: no AWS, no clock. Every transition takes `now`, so tests drive time by hand; the
route store (`route_store`) alone reads and writes the document in SSM.

The state machine reads the document as a raw string: its Choice sends a request to the fallback
when the string matches `*"route":"fallback"*` (or the same with a space after the colon), and to
the primary otherwise, so a missing or malformed document means primary. Hence `route` is derived,
never set: the override if there is one, else fallback exactly when the breaker is open.

States:
  closed     primary. N consecutive failures (probes or real requests) open it, for base_cooldown_s.
  open       fallback until `cooldown_until`. The probe keeps probing (it is cheap and records the
             primary's latency), but results before the cool-down ends are not counted. After it,
             the next result decides: success -> half_open (closed at once when M == 1); failure ->
             open again with the cool-down doubled, up to max_cooldown_s.
  half_open  primary again, on trial. M consecutive successes close it (cool-down back to base);
             any failure, probe or real request, reopens it with the cool-down doubled.

A probe slower than latency_threshold_ms is a failure with the reason "slow".

There is no `should_probe_primary`: the probe always probes (see above) and can ask `in_cooldown`
whether its result will count. An override forces the route but the breaker keeps counting under
it, so clearing the override lands on the primary's real state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from tts_core.errors import (
    EngineRejectedError,
    InvalidInputError,
    NotFoundError,
    StorageError,
    all_error_classes,
)

Route = Literal["primary", "fallback"]
State = Literal["closed", "open", "half_open"]

SLOW = "slow"
REPAIRED = "repaired"
# Who wrote the document (updated_by); callers may pass their own.
BY_PROBE = "health-probe"
BY_REQUEST = "request-failure"
BY_OPERATOR = "operator"
BY_REPAIR = "repair"
# Reasons carry provider error text: keep the document far below SSM's 4 KB standard limit.
MAX_REASON_CHARS = 200
PROBE_SOURCE = "probe"  # a failing_sources entry: the probe's known-good synthesis failed
MAX_SOURCES = 4

# Codes that say nothing about the primary's health: the request itself was bad or refused,
# or the shared bucket failed (the fallback writes to it too, so routing away cannot help).
_NOT_PRIMARY_FAULTS = frozenset(
    cls.code
    for cls in all_error_classes()
    if issubclass(cls, InvalidInputError | NotFoundError | EngineRejectedError | StorageError)
)


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


Timestamp = Annotated[AwareDatetime, AfterValidator(_to_utc)]  # serialised as ISO-8601 "...Z"


class BreakerSettings(BaseModel):
    """Thresholds, with no defaults: the probe's configuration sets every one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    failure_threshold: int = Field(ge=1)  # N consecutive failures open the breaker
    success_threshold: int = Field(ge=1)  # M consecutive successes in half_open close it
    latency_threshold_ms: float = Field(gt=0)  # a slower probe is a failure
    base_cooldown_s: int = Field(gt=0)
    max_cooldown_s: int = Field(gt=0)

    @model_validator(mode="after")
    def _cap_not_below_base(self) -> Self:
        if self.max_cooldown_s < self.base_cooldown_s:
            raise ValueError("max_cooldown_s must be at least base_cooldown_s")
        return self


def effective_route(state: Any, override: Any) -> Route:
    """The route a document with this state and override must carry."""
    if override == "fallback" or (override != "primary" and state == "open"):
        return "fallback"
    return "primary"


class RouteDocument(BaseModel):
    """The route document, the one schema for the probe, the request path and the SSM parameter."""

    # frozen: transitions return new documents. extra="ignore": a newer writer's fields must not
    # make an older reader reset the breaker.
    model_config = ConfigDict(frozen=True, extra="ignore")

    route: Route  # derived from state and override by the validator below; first in the JSON for humans
    state: State
    since: Timestamp  # when the breaker entered `state`
    reason: str = ""  # why: the last counted result, an override, or a repair
    consecutive_failures: int = Field(default=0, ge=0)
    consecutive_successes: int = Field(default=0, ge=0)
    cooldown_s: int = Field(default=0, ge=0)  # the current (or last) cool-down; 0 before the first
    cooldown_until: Timestamp | None = None  # set while open
    last_probe_latency_ms: float | None = Field(default=None, ge=0)
    last_probe_at: Timestamp | None = None
    override: Route | None = None
    # Who saw the failures counted since the last success: the probe, or a key (hashed) or uploads. Failures
    # from one key alone may be its own texts' doing, so they open the breaker only once a second key or the
    # probe sees the primary fail too (issue 23: one key cannot switch every tenant to the fallback).
    failing_sources: tuple[str, ...] = ()
    updated_by: str = ""
    updated_at: Timestamp | None = None
    # Set by `parse` only, never serialised: the stored text was missing, malformed or inconsistent
    # and this document replaces it, so the caller should write it back.
    repaired: bool = Field(default=False, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _derive_route(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = {**data, "route": effective_route(data.get("state"), data.get("override"))}
        return data

    @field_validator("reason", mode="before")
    @classmethod
    def _short_reason(cls, value: Any) -> Any:
        return value[:MAX_REASON_CHARS] if isinstance(value, str) else value


@dataclass(frozen=True)
class Transition:
    """One change of the document, for logs and metrics."""

    before: RouteDocument
    after: RouteDocument

    @property
    def old_route(self) -> Route:
        return self.before.route

    @property
    def new_route(self) -> Route:
        return self.after.route

    @property
    def old_state(self) -> State:
        return self.before.state

    @property
    def new_state(self) -> State:
        return self.after.state

    @property
    def reason(self) -> str:
        return self.after.reason

    @property
    def route_changed(self) -> bool:
        return self.old_route != self.new_route

    @property
    def state_changed(self) -> bool:
        return self.old_state != self.new_state


def fresh_document(now: datetime, reason: str, *, by: str = BY_REPAIR) -> RouteDocument:
    """A closed breaker on the primary, as after a deployment."""
    _require_aware(now)
    return RouteDocument.model_validate(
        {"state": "closed", "since": now, "reason": reason, "updated_by": by, "updated_at": now})


def parse(raw: str | None, *, now: datetime | None = None) -> RouteDocument:
    """The stored text as a document. Missing or malformed text gives a fresh closed/primary one
    with `repaired` set and the reason "repaired: ..." (the state machine already reads such text
    as primary, so this agrees with what requests are doing)."""
    now = now or datetime.now(UTC)
    if raw is None:
        return _repair(now, "missing")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return _repair(now, "malformed: not JSON")
    if not isinstance(data, dict):
        return _repair(now, "malformed: not a JSON object")
    try:
        doc = RouteDocument.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "document"
        return _repair(now, f"malformed: {where}: {first['msg']}")
    stored = data.get("route")
    if stored != doc.route:
        # A hand edit: the state machine follows the stored route until this document is written back.
        return doc.model_copy(update={
            "repaired": True, "reason": f"{REPAIRED}: stored route {stored!r} disagreed with state/override"})
    return doc


def in_cooldown(doc: RouteDocument, now: datetime) -> bool:
    """Open and still cooling down: a probe result now would not be counted."""
    return doc.state == "open" and doc.cooldown_until is not None and now < doc.cooldown_until


def on_probe(doc: RouteDocument, ok: bool, latency_ms: float | None, reason: str, now: datetime,
             settings: BreakerSettings, *, by: str = BY_PROBE) -> RouteDocument:
    """Count one health probe of the primary (`ok`: it produced audio; `reason`: why, e.g. an error code)."""
    _require_aware(now)
    slow = ok and latency_ms is not None and latency_ms > settings.latency_threshold_ms
    measured: dict[str, Any] = {
        "last_probe_latency_ms": latency_ms, "last_probe_at": now, "updated_by": by, "updated_at": now}
    if in_cooldown(doc, now):
        # Recovery is only judged after the cool-down: a lucky probe must not end it early,
        # and failures must not stretch it (probes run far more often than cool-downs end).
        return _evolve(doc, measured)
    return _count(doc, ok and not slow, SLOW if slow else reason, now, settings, measured)


def on_request_failure(doc: RouteDocument, error_code: str, now: datetime, settings: BreakerSettings,
                       *, by: str = BY_REQUEST, source: str = "unknown") -> RouteDocument:
    """Count a real request that failed on the primary. Returns `doc` itself when it does not count,
    so the caller can skip the write.

    Requests never report successes (that would be a write per request), so "consecutive" failures
    here are those since the last successful probe, which resets the count."""
    _require_aware(now)
    if not counts_against_primary(error_code):
        return doc
    if doc.state == "open":
        # Already routed away; a late failure of a request sent before the opening must not
        # restart or lengthen the cool-down.
        return doc
    return _count(doc, False, error_code, now, settings, {"updated_by": by, "updated_at": now}, source=source)


def set_override(doc: RouteDocument, override: Route | None, now: datetime,
                 *, by: str = BY_OPERATOR) -> RouteDocument:
    """Force the route (None clears it). The breaker keeps counting underneath."""
    _require_aware(now)
    reason = f"override: {override}" if override else "override cleared"
    return _evolve(doc, {"override": override, "reason": reason, "updated_by": by, "updated_at": now})


def counts_against_primary(error_code: str) -> bool:
    """Whether a request's error code says something about the primary's health."""
    return error_code not in _NOT_PRIMARY_FAULTS


def _count(doc: RouteDocument, success: bool, reason: str, now: datetime, settings: BreakerSettings,
           extra: dict[str, Any], *, source: str = PROBE_SOURCE) -> RouteDocument:
    # The distinct sources of the failures since the last success, newest last, a few at most (SSM's 4 KB).
    sources = () if success else tuple(dict.fromkeys((*doc.failing_sources, source)))[-MAX_SOURCES:]
    changes: dict[str, Any] = {
        **extra,
        "reason": reason,
        "consecutive_successes": doc.consecutive_successes + 1 if success else 0,
        "consecutive_failures": 0 if success else doc.consecutive_failures + 1,
        "failing_sources": sources,
    }
    if doc.state == "closed":
        confirmed = PROBE_SOURCE in sources or len(sources) >= 2
        if not success and changes["consecutive_failures"] >= settings.failure_threshold and confirmed:
            return _open(doc, now, settings.base_cooldown_s, changes)
        return _evolve(doc, changes)
    if not success:  # open after its cool-down, or half_open: back off further
        return _open(doc, now, min(max(doc.cooldown_s, settings.base_cooldown_s) * 2, settings.max_cooldown_s),
                     changes)
    if doc.state == "open":
        changes["consecutive_successes"] = 1  # the first trial success
    if changes["consecutive_successes"] >= settings.success_threshold:
        return _evolve(doc, {**changes, "state": "closed", "since": now, "cooldown_s": settings.base_cooldown_s,
                             "cooldown_until": None})
    return _evolve(doc, {**changes, "state": "half_open", "since": doc.since if doc.state == "half_open" else now,
                         "cooldown_until": None})


def _open(doc: RouteDocument, now: datetime, cooldown_s: int, changes: dict[str, Any]) -> RouteDocument:
    return _evolve(doc, {
        **changes,
        "state": "open",
        "since": doc.since if doc.state == "open" else now,
        "consecutive_successes": 0,
        "cooldown_s": cooldown_s,
        "cooldown_until": now + timedelta(seconds=cooldown_s),
    })


def _evolve(doc: RouteDocument, changes: dict[str, Any]) -> RouteDocument:
    # Validated (not model_copy) so that `route` is derived again; `repaired` is excluded from the
    # dump, so any transition clears it.
    return RouteDocument.model_validate({**doc.model_dump(), **changes})


def _repair(now: datetime, why: str) -> RouteDocument:
    return fresh_document(now, f"{REPAIRED}: {why}").model_copy(update={"repaired": True})


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
