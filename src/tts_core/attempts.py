"""Every engine attempt of one execution, read from the Step Functions execution history.

The history is the one record that sees retries, timeouts and crashed Lambdas alike; the engines
themselves cannot report an attempt that timed out."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from tts_core import aws
from tts_core.errors import code_for_error_name
from tts_core.models import Attempt

_FINISH = {"TaskSucceeded": "succeeded", "TaskFailed": "failed", "TaskTimedOut": "timed_out"}


def _engine_of(scheduled: dict[str, Any]) -> str | None:
    try:
        payload = json.loads(scheduled.get("parameters") or "{}").get("Payload")
    except ValueError:
        return None
    return payload.get("engine") if isinstance(payload, dict) else None


def _message(cause: str | None) -> str | None:
    if not cause:
        return None
    try:
        return str(json.loads(cause).get("errorMessage", cause))[:500]
    except (ValueError, AttributeError):
        return cause[:500]


def attempts_from_history(events: list[dict[str, Any]]) -> list[Attempt]:
    by_id = {e["id"]: e for e in events}
    open_tasks: dict[int, tuple[str, str, datetime]] = {}  # scheduled event id -> engine, state, time
    state_of_task: dict[int, str] = {}
    current_state = ""
    attempts: list[Attempt] = []
    for event in sorted(events, key=lambda e: e["id"]):
        kind = event["type"]
        if kind.endswith("StateEntered"):
            current_state = event["stateEnteredEventDetails"]["name"]
        elif kind == "TaskScheduled":
            engine = _engine_of(event["taskScheduledEventDetails"])
            if engine:
                open_tasks[event["id"]] = (engine, current_state, event["timestamp"])
                state_of_task[event["id"]] = current_state
        elif kind in _FINISH:
            scheduled_id = _scheduled_id(event, by_id)
            if scheduled_id not in open_tasks:
                continue
            engine, state, started = open_tasks.pop(scheduled_id)
            details = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
            error = details.get("error")
            attempts.append(Attempt(
                engine=engine, state=state, outcome=_FINISH[kind], error=error,
                code=code_for_error_name(error) if error else None, message=_message(details.get("cause")),
                started_at=started.isoformat(), duration_ms=_ms(started, event["timestamp"])))
    for engine, state, started in open_tasks.values():
        attempts.append(Attempt(engine=engine, state=state, outcome="running",
                                started_at=started.isoformat(), duration_ms=0))
    return attempts


def _scheduled_id(event: dict[str, Any], by_id: dict[int, dict[str, Any]]) -> int | None:
    """Walk back from a finishing event to its TaskScheduled event (Started sits in between)."""
    previous = by_id.get(event.get("previousEventId", 0))
    while previous is not None and previous["type"] != "TaskScheduled":
        if previous["type"] not in ("TaskStarted", "TaskSubmitted"):
            return None
        previous = by_id.get(previous.get("previousEventId", 0))
    return previous["id"] if previous else None


def _ms(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds() * 1000))


def read_attempts(execution_arn: str) -> list[Attempt]:
    paginator = aws.client("stepfunctions").get_paginator("get_execution_history")
    events: list[dict[str, Any]] = []
    for page in paginator.paginate(executionArn=execution_arn, includeExecutionData=True):
        events.extend(page["events"])
    return attempts_from_history(events)
