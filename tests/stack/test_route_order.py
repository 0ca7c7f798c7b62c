"""The route orders the engines, it never removes one: on the fallback route a failing fallback goes
on to the primary (under its own, possibly shorter, timeout), then the last resort. Each path is
checked on the execution history: which states ran, in which order, and every attempt."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tts_core.errors import EngineThrottledError
from tts_core.models import SynthesisRequest
from tts_local.doubles import ToneEngine

pytestmark = pytest.mark.stack
REQUEST = SynthesisRequest(text="你好。Hello.", cache=False)
# The breaker never opens by itself here: the route is the operator's override.
SHUT = {"BreakerFailureThreshold": "1000"}


def engines(**doubles: ToneEngine) -> dict[str, ToneEngine]:
    return {"primary": ToneEngine("primary"), "fallback": ToneEngine("fallback")} | doubles


def force_fallback_route(stack: Any) -> None:
    stack.invoke("health_probe", {"action": "override", "override": "fallback", "by": "test"})


def states_entered(stack: Any, request_id: str) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in stack.execution_history(request_id)
            if e["type"].endswith("StateEntered")]


def attempts(result: Any) -> list[tuple[str, str | None]]:
    return [(a.engine, a.code) for a in result.attempts]


def test_given_the_fallback_route_when_the_fallback_fails_then_the_primary_serves(local_stack, monkeypatch) -> None:
    monkeypatch.setenv("TTS_LOCAL_FAULTS", "fallback=error")
    with local_stack(engines=engines(), **SHUT) as stack:
        force_fallback_route(stack)
        job = stack.wait(stack.submit(REQUEST))
        assert job.result.engine_used == "primary"
        assert attempts(job.result) == [("fallback", "ENGINE_ERROR"), ("primary", None)]
        assert states_entered(stack, job.request_id) == [
            "ReadRoute", "ChooseRoute", "UseFallback", "CacheWanted?", "ChooseEngine", "Fallback", "FallbackFailed",
            "PlanSegments", "OneSegment?", "Primary", "RecordSuccess"]


def test_given_the_fallback_route_when_the_fallback_succeeds_then_the_primary_is_not_invoked(local_stack) -> None:
    with local_stack(engines=engines(), **SHUT) as stack:
        force_fallback_route(stack)
        job = stack.wait(stack.submit(REQUEST))
        assert attempts(job.result) == [("fallback", None)]
        assert "Primary" not in states_entered(stack, job.request_id)


def test_given_the_fallback_route_when_both_fail_then_the_last_resort_serves(local_stack, monkeypatch) -> None:
    monkeypatch.setenv("TTS_LOCAL_FAULTS", "fallback=error,primary=crash")
    with local_stack(engines=engines(), **SHUT) as stack:
        force_fallback_route(stack)
        job = stack.wait(stack.submit(REQUEST))
        assert job.result.engine_used == "offline"
        assert attempts(job.result) == [("fallback", "ENGINE_ERROR"), ("primary", "ENGINE_CRASHED"), ("offline", None)]
        entered = states_entered(stack, job.request_id)
        assert entered[entered.index("Primary"):] == ["Primary", "PrimaryFailed", "LastResortSwitch",
                                                      "LastResortEnabled?", "LastResort", "RecordSuccess"]
        assert entered.count("Fallback") == 1  # the failed fallback is not run a second time


def test_given_the_fallback_route_when_every_engine_fails_then_a_failure_is_recorded(local_stack, monkeypatch) -> None:
    monkeypatch.setenv("TTS_LOCAL_FAULTS", "fallback=error,primary=error")
    with local_stack(engines=engines(), LastResortEnabled="false", **SHUT) as stack:
        force_fallback_route(stack)
        job = stack.wait(stack.submit(REQUEST))
        assert job.status == "failed" and job.result.error_code == "ALL_ENGINES_FAILED"
        assert attempts(job.result) == [("fallback", "ENGINE_ERROR"), ("primary", "ENGINE_ERROR")]
        assert states_entered(stack, job.request_id)[-2:] == ["RecordFailure", "AllEnginesFailed"]


def test_given_the_fallback_route_the_primary_runs_under_the_shorter_timeout(local_stack, monkeypatch) -> None:
    monkeypatch.setenv("TTS_LOCAL_FAULTS", "fallback=error,primary=timeout")
    with local_stack(engines=engines(), PrimaryTimeoutSeconds="60", PrimaryTimeoutAfterFallbackSeconds="1",
                     **SHUT) as stack:
        force_fallback_route(stack)
        started = time.monotonic()
        job = stack.wait(stack.submit(REQUEST))
        assert time.monotonic() - started < 30, "the primary ran under PrimaryTimeoutSeconds, not the shorter one"
        assert job.result.engine_used == "offline"
        timed_out = [a for a in job.result.attempts if a.engine == "primary"]
        assert [a.code for a in timed_out] == ["ENGINE_TIMEOUT"] and timed_out[0].duration_ms < 5000


def test_given_the_fallback_route_a_long_text_takes_the_primary_segments_path(local_stack, monkeypatch) -> None:
    monkeypatch.setenv("TTS_LOCAL_FAULTS", "fallback=error")
    text = "第一句话在这里，说得比较长一些。第二句话也在这里，同样比较长。"
    with local_stack(engines=engines(), SegmentMaxChars="20", **SHUT) as stack:
        force_fallback_route(stack)
        job = stack.wait(stack.submit(SynthesisRequest(text=text, cache=False)))
        assert job.result.engine_used == "primary"
        entered = states_entered(stack, job.request_id)
        assert entered.index("FallbackFailed") < entered.index("PrimarySegments") < entered.index("JoinSegments")


def test_a_throttled_fallback_is_retried_within_its_budget(local_stack) -> None:
    throttled = ToneEngine("fallback", failures=[EngineThrottledError("Throttling.RateQuota")] * 2)
    with local_stack(engines=engines(fallback=throttled), FallbackThrottleRetryMaxAttempts="3", **SHUT) as stack:
        force_fallback_route(stack)
        job = stack.wait(stack.submit(REQUEST))
        assert attempts(job.result) == [("fallback", "ENGINE_THROTTLED")] * 2 + [("fallback", None)]


def test_past_the_throttling_budget_the_primary_serves(local_stack, monkeypatch) -> None:
    monkeypatch.setenv("TTS_LOCAL_FAULTS", "fallback=throttle")
    with local_stack(engines=engines(), FallbackThrottleRetryMaxAttempts="2", **SHUT) as stack:
        force_fallback_route(stack)
        job = stack.wait(stack.submit(REQUEST))
        assert attempts(job.result) == [("fallback", "ENGINE_THROTTLED")] * 3 + [("primary", None)]


def test_the_fallbacks_reserved_concurrency_throttles_and_the_retries_absorb_it(local_stack) -> None:
    """One fallback at a time: of three simultaneous requests, the ones refused by Lambda
    (TooManyRequestsException) are retried with backoff and still served by the fallback."""
    slow = ToneEngine("fallback", seconds_per_char=0.05)  # ~0.5 s per call
    with local_stack(engines=engines(fallback=slow), FallbackReservedConcurrency="1",
                     FallbackThrottleRetryMaxAttempts="8", **SHUT) as stack:
        force_fallback_route(stack)
        ids: list[str] = []
        threads = [threading.Thread(target=lambda: ids.append(stack.submit(REQUEST))) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        results = [stack.wait(i).result for i in ids]
        assert [r.engine_used for r in results] == ["fallback"] * 3
        codes = [code for r in results for engine, code in attempts(r) if engine == "fallback" and code]
        assert codes and set(codes) == {"LAMBDA_THROTTLED"}
