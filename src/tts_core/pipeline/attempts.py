"""Every engine attempt of one execution, read from the Step Functions execution history.

The history is the one record that sees retries, timeouts and crashed Lambdas alike; the engines
themselves cannot report an attempt that timed out."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tts_core.errors import AwsServiceError, code_for_error_name, sanitized
from tts_core.models import Attempt
from tts_core.platform import aws

_FINISH = {"TaskSucceeded": "succeeded", "TaskFailed": "failed", "TaskTimedOut": "timed_out"}


def _engine_task(scheduled: dict[str, Any]) -> tuple[str | None, int | None]:
    """(engine, segment index) of an engine task's payload; (None, None) for any other task."""
    try:
        payload = json.loads(scheduled.get("parameters") or "{}").get("Payload")
    except ValueError:
        return None, None
    if not isinstance(payload, dict):
        return None, None
    segment = payload.get("segment")
    index = segment.get("index") if isinstance(segment, dict) else None
    return payload.get("engine"), index if isinstance(index, int) else None


def _message(cause: str | None) -> str | None:
    """The attempt's message as its record (which clients read) keeps it: sanitized, cut; the execution
    history keeps the whole cause for operators."""
    if not cause:
        return None
    try:
        text = str(json.loads(cause).get("errorMessage", cause))
    except (ValueError, AttributeError):
        text = cause
    return sanitized(text)[:500]


def attempts_from_history(events: list[dict[str, Any]]) -> list[Attempt]:
    by_id = {e["id"]: e for e in events}
    # scheduled event id -> the attempt so far (a Map's iterations interleave: nothing is "current")
    open_tasks: dict[int, Attempt] = {}
    attempts: dict[int, Attempt] = {}
    for event in sorted(events, key=lambda e: e["id"]):
        kind = event["type"]
        if kind == "TaskScheduled":
            engine, segment = _engine_task(event["taskScheduledEventDetails"])
            if engine:
                open_tasks[event["id"]] = Attempt(
                    engine=engine, state=_state_of(event, by_id), segment=segment, outcome="running",
                    started_at=event["timestamp"].isoformat(), duration_ms=0)
        elif kind in _FINISH:
            scheduled_id = _scheduled_id(event, by_id)
            if scheduled_id not in open_tasks:
                continue
            attempt = open_tasks.pop(scheduled_id)
            details = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
            error = details.get("error")
            attempts[scheduled_id] = attempt.model_copy(update=dict(
                outcome=_FINISH[kind], error=error, code=code_for_error_name(error) if error else None,
                message=_message(details.get("cause")),
                duration_ms=_ms(by_id[scheduled_id]["timestamp"], event["timestamp"])))
    # In the order they started: a Map's segments finish in any order.
    return [attempt for _, attempt in sorted((attempts | open_tasks).items())]


def _state_of(scheduled: dict[str, Any], by_id: dict[int, dict[str, Any]]) -> str:
    """The state a task belongs to: walk back (previousEventId) to its TaskStateEntered, through any
    earlier attempts of a retry."""
    event: dict[str, Any] | None = scheduled
    while event is not None:
        if event["type"].endswith("StateEntered"):
            return str(event["stateEnteredEventDetails"]["name"])
        event = by_id.get(event.get("previousEventId", 0))
    return ""


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
    """AwsServiceError (retryable: the record step's Retry takes it) when the history cannot be read."""
    paginator = aws.client("stepfunctions").get_paginator("get_execution_history")
    events: list[dict[str, Any]] = []
    try:
        for page in paginator.paginate(executionArn=execution_arn, includeExecutionData=True):
            events.extend(page["events"])
    except (ClientError, BotoCoreError) as exc:
        raise AwsServiceError(f"could not read the execution history of {execution_arn.rsplit(':', 1)[-1]}: "
                              f"{type(exc).__name__}") from exc
    return attempts_from_history(events)
