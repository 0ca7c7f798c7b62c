"""What Step Functions sends EventBridge when an execution ends ("Step Functions Execution Status
Change"), which moto does not: installed by the local stack, so the template's rules on it (the
ended-execution record) run locally as they do in AWS. An execution that ends after its stack stopped
sends nothing (there is no local AWS left to send it to)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import boto3
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

_original: Callable[[BaseExecutionWorkerCommunication], None] = BaseExecutionWorkerCommunication.terminated
_state = threading.Condition()
_region: str | None = None  # set while a stack is running
_sending = 0  # events being sent now: uninstall waits for them


def install(region: str) -> None:
    global _region
    with _state:
        _region = region
    BaseExecutionWorkerCommunication.terminated = _terminated  # type: ignore[method-assign]


def uninstall() -> None:
    """Stop sending, and wait for what is being sent (before the stack's mock of AWS goes)."""
    global _region
    with _state:
        _region = None
        _state.wait_for(lambda: _sending == 0, timeout=30)  # a record step is bounded by its own timeout
    BaseExecutionWorkerCommunication.terminated = _original  # type: ignore[method-assign]


def _terminated(self: BaseExecutionWorkerCommunication) -> None:
    global _sending
    _original(self)
    with _state:
        region = _region
        if region is None:
            return
        _sending += 1
    try:
        execution = self.execution
        detail: dict[str, Any] = {
            "executionArn": execution.exec_arn, "stateMachineArn": execution.state_machine.arn,
            "name": execution.name, "status": execution.exec_status.value,
            "error": getattr(execution, "error", None), "cause": getattr(execution, "cause", None)}
        boto3.client("events", region_name=region).put_events(Entries=[{
            "Source": "aws.states", "DetailType": "Step Functions Execution Status Change",
            "Detail": json.dumps(detail), "Resources": [execution.exec_arn]}])
    finally:
        with _state:
            _sending -= 1
            _state.notify_all()
