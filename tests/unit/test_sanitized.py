"""Clients see codes and sanitized messages (issue 23, item 7): no ARN or account id of the operator's
account leaves through an error body or an attempt's message."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tts_core.errors import sanitized
from tts_core.pipeline.attempts import attempts_from_history

BOTOCORE = ("An error occurred (AccessDeniedException) when calling the Invoke operation: User: "
            "arn:aws:sts::123456789012:assumed-role/tts-ApiFunctionRole-1AB2/tts-ApiFunction is not authorized "
            "to perform: lambda:InvokeFunction on resource: arn:aws:lambda:eu-west-1:123456789012:function:x")


def test_arns_and_account_ids_are_removed_and_the_rest_kept() -> None:
    clean = sanitized(BOTOCORE)
    assert "123456789012" not in clean and "arn:" not in clean and "assumed-role" not in clean
    assert clean.startswith("An error occurred (AccessDeniedException) when calling the Invoke operation")
    assert sanitized("voice 'zh-female' has no reference; 3.14 s") == "voice 'zh-female' has no reference; 3.14 s"


def test_an_attempts_message_in_the_record_is_sanitized() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    payload = json.dumps({"Payload": {"engine": "primary"}})
    events = [
        {"id": 1, "type": "TaskStateEntered", "timestamp": now, "stateEnteredEventDetails": {"name": "Primary"}},
        {"id": 2, "previousEventId": 1, "type": "TaskScheduled", "timestamp": now,
         "taskScheduledEventDetails": {"parameters": payload}},
        {"id": 3, "previousEventId": 2, "type": "TaskFailed", "timestamp": now,
         "taskFailedEventDetails": {"error": "Lambda.AWSLambdaException",
                                    "cause": json.dumps({"errorMessage": BOTOCORE})}},
    ]
    (attempt,) = attempts_from_history(events)
    assert attempt.code == "LAMBDA_SERVICE_ERROR" and attempt.message and "123456789012" not in attempt.message
