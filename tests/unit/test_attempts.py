"""Attempts from an execution history: the shapes Step Functions writes (captured from a real run
on the local stack and cut down to what matters)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tts_core.pipeline.attempts import attempts_from_history

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def event(id_: int, prev: int, kind: str, seconds: float, **details: object) -> dict:
    key = {"TaskStateEntered": "stateEnteredEventDetails", "TaskScheduled": "taskScheduledEventDetails",
           "TaskStarted": "taskStartedEventDetails", "TaskFailed": "taskFailedEventDetails",
           "TaskSucceeded": "taskSucceededEventDetails", "TaskTimedOut": "taskTimedOutEventDetails"}[kind]
    return {"id": id_, "previousEventId": prev, "type": kind, "timestamp": T0 + timedelta(seconds=seconds),
            key: details}


def scheduled(id_: int, prev: int, seconds: float, engine: str | None) -> dict:
    payload = {"engine": engine} if engine else {"outcome": "succeeded"}
    return event(id_, prev, "TaskScheduled", seconds, resourceType="lambda", resource="invoke",
                 parameters=json.dumps({"FunctionName": "f", "Payload": payload}))


def test_retries_timeouts_and_success_are_all_listed_in_order() -> None:
    cause = json.dumps({"errorType": "EngineThrottledError", "errorMessage": "slow down"})
    history = [
        event(1, 0, "TaskStateEntered", 0, name="Primary"),
        scheduled(2, 1, 0.0, "primary"), event(3, 2, "TaskStarted", 0.01),
        event(4, 3, "TaskFailed", 0.5, error="EngineThrottledError", cause=cause),
        scheduled(5, 4, 1.5, "primary"), event(6, 5, "TaskStarted", 1.51),
        event(7, 6, "TaskTimedOut", 3.5, error="States.Timeout"),
        event(8, 7, "TaskStateEntered", 3.6, name="Fallback"),
        scheduled(9, 8, 3.6, "fallback"), event(10, 9, "TaskStarted", 3.61), event(11, 10, "TaskSucceeded", 4.0),
        event(12, 11, "TaskStateEntered", 4.1, name="RecordSuccess"), scheduled(13, 12, 4.1, None),
    ]
    attempts = attempts_from_history(history)

    assert [(a.engine, a.state, a.outcome, a.code) for a in attempts] == [
        ("primary", "Primary", "failed", "ENGINE_THROTTLED"),
        ("primary", "Primary", "timed_out", "ENGINE_TIMEOUT"),
        ("fallback", "Fallback", "succeeded", None)]
    assert [a.duration_ms for a in attempts] == [500, 2000, 400]
    assert attempts[0].message == "slow down"


def test_an_attempt_still_running_is_reported_as_running() -> None:
    history = [event(1, 0, "TaskStateEntered", 0, name="Primary"), scheduled(2, 1, 0, "primary"),
               event(3, 2, "TaskStarted", 0.1)]
    (attempt,) = attempts_from_history(history)
    assert attempt.outcome == "running"


def segment_scheduled(id_: int, prev: int, seconds: float, engine: str, index: int) -> dict:
    payload = {"engine": engine, "options": {}, "segment": {"index": index, "text": "..."}}
    return event(id_, prev, "TaskScheduled", seconds, resourceType="lambda", resource="invoke",
                 parameters=json.dumps({"FunctionName": "f", "Payload": payload}))


def test_interleaved_map_iterations_keep_their_own_state_and_segment() -> None:
    # Two iterations run at once: events alternate, and only previousEventId links each to its state.
    history = [
        event(1, 0, "TaskStateEntered", 0, name="SegmentPrimary"),
        event(2, 0, "TaskStateEntered", 0, name="SegmentPrimary"),
        segment_scheduled(3, 1, 0.0, "primary", 0), segment_scheduled(4, 2, 0.0, "primary", 1),
        event(5, 3, "TaskStarted", 0.01), event(6, 4, "TaskStarted", 0.01),
        event(7, 6, "TaskFailed", 0.2, error="EngineError", cause="{}"),
        event(8, 7, "TaskStateEntered", 0.3, name="SegmentFallback"),
        event(9, 5, "TaskSucceeded", 0.4),
        segment_scheduled(10, 8, 0.3, "fallback", 1), event(11, 10, "TaskStarted", 0.31),
        event(12, 11, "TaskSucceeded", 0.5),
    ]
    attempts = attempts_from_history(history)

    assert [(a.engine, a.state, a.segment, a.outcome, a.duration_ms) for a in attempts] == [
        ("primary", "SegmentPrimary", 0, "succeeded", 400),  # in the order they started
        ("primary", "SegmentPrimary", 1, "failed", 200),
        ("fallback", "SegmentFallback", 1, "succeeded", 200)]
