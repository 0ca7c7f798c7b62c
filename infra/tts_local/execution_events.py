"""What Step Functions sends EventBridge when an execution ends ("Step Functions Execution Status
Change"), which moto does not: installed by the local stack, so the template's rules on it (the
ended-execution record) run locally as they do in AWS."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

_saved: Callable[[BaseExecutionWorkerCommunication], None] | None = None


def install(region: str) -> None:
    global _saved
    original = _saved = BaseExecutionWorkerCommunication.terminated

    def terminated(self: BaseExecutionWorkerCommunication) -> None:
        original(self)
        execution = self.execution
        detail: dict[str, Any] = {
            "executionArn": execution.exec_arn, "stateMachineArn": execution.state_machine.arn,
            "name": execution.name, "status": execution.exec_status.value,
            "error": getattr(execution, "error", None), "cause": getattr(execution, "cause", None)}
        boto3.client("events", region_name=region).put_events(Entries=[{
            "Source": "aws.states", "DetailType": "Step Functions Execution Status Change",
            "Detail": json.dumps(detail), "Resources": [execution.exec_arn]}])

    BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]


def uninstall() -> None:
    global _saved
    if _saved is not None:
        BaseExecutionWorkerCommunication.terminated = _saved  # type: ignore[method-assign]
        _saved = None
