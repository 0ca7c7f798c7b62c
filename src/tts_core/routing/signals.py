"""What moves the route: the health probe's measurement, real requests failing on the primary
(the passive signal), and an operator's override. The breaker decides (`breaker`); the route
store writes (`route_store`); this module measures, logs and counts."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict

from tts_core.deadline import Deadline, run_with_deadline
from tts_core.errors import EngineTimeoutError
from tts_core.models import EngineName, EngineTask, SynthesisRequest, SynthesisResult
from tts_core.platform import aws
from tts_core.platform.config import BreakerEnv, ProbeSettings
from tts_core.platform.observability import logger, new_metrics
from tts_core.routing import breaker
from tts_core.routing.breaker import Route, RouteDocument, Transition
from tts_core.routing.route_store import RouteStore

# Short, mixed-language, and through the real engine: what users send, at the smallest cost.
PROBE_TEXT = "你好。Hello."
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def probe_primary(settings: ProbeSettings, now: datetime) -> tuple[bool, float | None, str]:
    """One real short synthesis on the primary under a deadline: (ok, latency in ms, reason)."""
    task = EngineTask(engine=EngineName.PRIMARY, request_id=f"probe-{now:%Y%m%dT%H%M%SZ}",
                      correlation_id="health-probe", request=SynthesisRequest(text=PROBE_TEXT, profile="fast"))
    started = time.monotonic()
    try:
        answer = run_with_deadline(
            lambda: aws.client("lambda").invoke(FunctionName=settings.primary_function_name,
                                                Payload=task.model_dump_json().encode()),
            Deadline.in_seconds(settings.probe_timeout_seconds), what="probe")
        payload = json.loads(answer["Payload"].read() or b"null")
    except EngineTimeoutError:
        return False, None, f"no answer within {settings.probe_timeout_seconds:g} s"
    except Exception as exc:  # the invoke itself failed: as bad as the engine failing
        return False, None, f"invoke failed: {type(exc).__name__}"
    latency_ms = (time.monotonic() - started) * 1000
    if answer.get("FunctionError"):
        return False, latency_ms, f"error: {payload.get('errorType')}: {str(payload.get('errorMessage'))[:120]}"
    return True, latency_ms, "ok"


def run_probe(settings: ProbeSettings, store: RouteStore, clock: Clock = utc_now) -> RouteDocument:
    now = clock()
    ok, latency_ms, reason = probe_primary(settings, now)
    metrics = new_metrics()
    metrics.add_metric(name="ProbeFailed", unit=MetricUnit.Count, value=int(not ok))
    if latency_ms is not None:
        metrics.add_metric(name="ProbeLatencyMs", unit=MetricUnit.Milliseconds, value=latency_ms)
    metrics.flush_metrics()
    logger.info("probe measured the primary", extra={"ok": ok, "latency_ms": latency_ms, "reason": reason})
    thresholds = breaker_settings(settings)
    transition = store.update(lambda doc: breaker.on_probe(doc, ok, latency_ms, reason, clock(), thresholds))
    _report(transition)
    return transition.after


def failure_source(owner: str | None, from_upload: bool) -> str:
    """Who a request's failure is counted for: its key, hashed (the route document is no place for key
    ids), or the uploads (the operators')."""
    if from_upload:
        return "uploads"
    return "key-" + hashlib.sha256((owner or "_public").encode()).hexdigest()[:8]


def record_request_failure(result: SynthesisResult, settings: BreakerEnv, store: RouteStore,
                           clock: Clock = utc_now, *, source: str) -> Transition | None:
    """A request that failed on the primary (after its retries) counts toward opening the breaker; one
    the primary served in the end, after a retry, does not. `source` (failure_source) says whose it was:
    one key's failures alone never open it."""
    if result.engine_used == EngineName.PRIMARY:
        return None
    codes = [a.code for a in result.attempts if a.engine == EngineName.PRIMARY and a.outcome in ("failed", "timed_out")]
    if not codes or not codes[-1] or not breaker.counts_against_primary(codes[-1]):
        return None
    code = codes[-1]
    transition = store.update(lambda doc: breaker.on_request_failure(doc, code, clock(), breaker_settings(settings),
                                                                     source=source))
    _report(transition)
    return transition


def set_override(store: RouteStore, override: Route | None, by: str, clock: Clock = utc_now) -> RouteDocument:
    transition = store.update(lambda doc: breaker.set_override(doc, override, clock(), by=by))
    _report(transition)
    return transition.after


def _breaker_metric(name: str, value: float) -> None:
    # Its own EMF line, dimensioned by service only: the record step that carries the passive signal
    # has an `engine` dimension on its metrics, and the BreakerOpen alarm must see every datapoint.
    breaker_metrics = new_metrics()
    breaker_metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    breaker_metrics.flush_metrics()


def _report(transition: Transition) -> None:
    _breaker_metric("BreakerOpen", int(transition.new_state == "open"))
    if transition.route_changed or transition.state_changed:
        _breaker_metric("RouteChanged", int(transition.route_changed))
        logger.warning("route changed" if transition.route_changed else "breaker state changed", extra={
            "old_route": transition.old_route, "new_route": transition.new_route,
            "old_state": transition.old_state, "new_state": transition.new_state, "reason": transition.reason})


class ProbeCommand(BaseModel):
    """The health probe's input: a scheduled event (no `action`: probe) or an operator's command."""

    model_config = ConfigDict(extra="ignore")

    action: Literal["probe", "show", "override"] = "probe"
    override: Route | None = None
    by: str = "operator"


def handle(command: ProbeCommand, settings: ProbeSettings, store: RouteStore) -> RouteDocument:
    match command.action:
        case "show":
            return store.read()[0]
        case "override":
            return set_override(store, command.override, by=command.by)
        case _:
            return run_probe(settings, store)


def breaker_settings(env: BreakerEnv) -> breaker.BreakerSettings:
    """The breaker's thresholds from the environment (template Parameters)."""
    return breaker.BreakerSettings(
        failure_threshold=env.breaker_failure_threshold, success_threshold=env.breaker_success_threshold,
        latency_threshold_ms=env.probe_latency_threshold_ms, base_cooldown_s=env.breaker_base_cooldown_seconds,
        max_cooldown_s=env.breaker_max_cooldown_seconds)
