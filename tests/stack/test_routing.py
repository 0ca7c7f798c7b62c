"""The circuit breaker on the local stack: the probe, the passive signal and the override move the
route, and the state machine follows it."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import boto3
import pytest

from tts_core.models import SynthesisRequest
from tts_core.pipeline import jobs
from tts_core.routing import breaker
from tts_local.doubles import ToneEngine

pytestmark = pytest.mark.stack

REQUEST = SynthesisRequest(text="你好。Hello.")
BREAKER = {"BreakerFailureThreshold": "2", "BreakerSuccessThreshold": "1", "BreakerBaseCooldownSeconds": "1",
           "BreakerMaxCooldownSeconds": "4"}


def engines() -> dict[str, ToneEngine]:
    return {"primary": ToneEngine("primary"), "fallback": ToneEngine("fallback")}


def route_document(stack) -> breaker.RouteDocument:
    raw = boto3.client("ssm").get_parameter(Name=stack.route_parameter)["Parameter"]["Value"]
    return breaker.parse(raw)


def primary_calls(stack) -> int:
    return sum(1 for name, _ in stack.invocations if name == "primary")


def test_probe_opens_the_breaker_and_routes_back_on_its_own(local_stack, monkeypatch, load_event) -> None:
    monkeypatch.setenv("TTS_LOCAL_FAULTS", "primary=error")
    # A cool-down long enough that the request below cannot outlast it on a busy machine.
    with local_stack(engines=engines(), **(BREAKER | {"BreakerBaseCooldownSeconds": "4"})) as stack:
        first = stack.invoke("health_probe", load_event("schedule.json"))
        assert (first["state"], first["route"], first["consecutive_failures"]) == ("closed", "primary", 1)
        second = stack.invoke("health_probe", load_event("schedule.json"))
        assert (second["state"], second["route"]) == ("open", "fallback")
        assert second["reason"].startswith("error: EngineError")

        before = primary_calls(stack)
        job = stack.wait(stack.submit(REQUEST))
        assert job.result.engine_used == "fallback"
        assert primary_calls(stack) == before, "the state machine invoked the primary while routed around it"

        monkeypatch.delenv("TTS_LOCAL_FAULTS")
        still_cooling = stack.invoke("health_probe", load_event("schedule.json"))
        assert still_cooling["state"] == "open"  # a success inside the cool-down does not count
        cooldown_until = datetime.fromisoformat(still_cooling["cooldown_until"])
        time.sleep(max(0.0, (cooldown_until - datetime.now(UTC)).total_seconds()) + 0.2)
        recovered = stack.invoke("health_probe", load_event("schedule.json"))
        assert (recovered["state"], recovered["route"]) == ("closed", "primary")

        job = stack.wait(stack.submit(REQUEST))
        assert job.result.engine_used == "primary"


def test_slow_probe_counts_as_a_failure(local_stack, monkeypatch, load_event) -> None:
    monkeypatch.setenv("TTS_LOCAL_FAULTS", "primary=slow:0.3")
    with local_stack(engines=engines(), ProbeLatencyThresholdMs="100", **BREAKER) as stack:
        doc = stack.invoke("health_probe", load_event("schedule.json"))
        assert doc["consecutive_failures"] == 1 and doc["reason"] == "slow"
        assert doc["last_probe_latency_ms"] >= 300


def test_hanging_primary_fails_the_probe_at_its_deadline(local_stack, monkeypatch, load_event) -> None:
    monkeypatch.setenv("TTS_LOCAL_FAULTS", "primary=timeout")
    with local_stack(engines=engines(), ProbeTimeoutSeconds="1", **BREAKER) as stack:
        started = time.monotonic()
        doc = stack.invoke("health_probe", load_event("schedule.json"))
        assert time.monotonic() - started < 5
        assert doc["consecutive_failures"] == 1 and "no answer within 1 s" in doc["reason"]


def _submit_as(stack, owner: str) -> str:
    return jobs.start(stack.state_machine_arn, REQUEST, correlation_id=owner, owner=owner)


def test_real_requests_failing_on_the_primary_trip_the_breaker(local_stack, monkeypatch) -> None:
    monkeypatch.setenv("TTS_LOCAL_FAULTS", "primary=error")
    with local_stack(engines=engines(), **BREAKER) as stack:
        for owner in ("key-a", "key-b"):  # two tenants see the primary fail
            assert stack.wait(_submit_as(stack, owner)).result.engine_used == "fallback"
        assert route_document(stack).route == "fallback"

        before = primary_calls(stack)
        stack.wait(stack.submit(REQUEST))
        assert primary_calls(stack) == before


def test_one_keys_failing_requests_cannot_switch_every_tenant_to_the_fallback(local_stack, monkeypatch) -> None:
    """A key whose texts fail the primary (say, each times out) fails over itself, and nobody else does."""
    monkeypatch.setenv("TTS_LOCAL_FAULTS", "primary=error")
    with local_stack(engines=engines(), **BREAKER) as stack:
        for _ in range(5):
            assert stack.wait(_submit_as(stack, "key-a")).result.engine_used == "fallback"
        document = route_document(stack)
        assert (document.route, document.state) == ("primary", "closed") and document.consecutive_failures == 5


def test_override_forces_the_route_until_cleared(local_stack, load_event) -> None:
    with local_stack(engines=engines(), **BREAKER) as stack:
        forced = stack.invoke("health_probe", {"action": "override", "override": "fallback", "by": "test"})
        assert (forced["route"], forced["override"], forced["state"]) == ("fallback", "fallback", "closed")
        # Healthy probes do not undo an operator's override.
        assert stack.invoke("health_probe", load_event("schedule.json"))["route"] == "fallback"
        assert stack.wait(stack.submit(REQUEST)).result.engine_used == "fallback"

        cleared = stack.invoke("health_probe", {"action": "override", "override": None})
        assert (cleared["route"], cleared["override"]) == ("primary", None)
        assert stack.wait(stack.submit(REQUEST)).result.engine_used == "primary"


def test_malformed_document_is_repaired_by_the_next_probe(local_stack, load_event) -> None:
    with local_stack(engines=engines(), **BREAKER) as stack:
        boto3.client("ssm").put_parameter(Name=stack.route_parameter, Value="not json", Type="String",
                                          Overwrite=True)
        assert stack.wait(stack.submit(REQUEST)).result.engine_used == "primary"
        stack.invoke("health_probe", load_event("schedule.json"))
        raw = boto3.client("ssm").get_parameter(Name=stack.route_parameter)["Parameter"]["Value"]
        assert json.loads(raw)["route"] == "primary" and not breaker.parse(raw).repaired


def test_ssm_failure_in_the_probe_never_flips_the_route(local_stack, monkeypatch, load_event) -> None:
    monkeypatch.setenv("TTS_LOCAL_FAULTS", "primary=error")
    with local_stack(engines=engines(), **BREAKER) as stack:
        original = route_document(stack)
        monkeypatch.setenv("TTS_LOCAL_FAULTS", "primary=error,ssm=unavailable")
        for _ in range(3):
            with pytest.raises(RuntimeError, match="RouteStoreError"):
                stack.invoke("health_probe", load_event("schedule.json"))
        monkeypatch.setenv("TTS_LOCAL_FAULTS", "primary=error")
        assert route_document(stack) == original


def test_ssm_outage_during_a_request_means_primary(local_stack, monkeypatch) -> None:
    with local_stack(engines=engines(), **BREAKER) as stack:
        stack.invoke("health_probe", {"action": "override", "override": "fallback"})
        monkeypatch.setenv("TTS_LOCAL_FAULTS", "ssm=unavailable")
        job = stack.wait(stack.submit(REQUEST))
        assert job.result.engine_used == "primary"
