"""schemathesis against docs/openapi.json, driving the local API Gateway front over HTTP on 127.0.0.1.

Valid and invalid requests (generation mode "all"), a bounded number of examples per operation
(POST /api/synthesize fewest: each valid one starts an execution; SyncWaitSeconds=0 answers 202 at
once), with engine doubles. Checks: no 5xx; status codes, content types and bodies as the document
says; every error body exactly {"status": "error", "code", "message"}."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import boto3
import pytest
import schemathesis
from schemathesis import Case, CheckContext, Response
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tts_local.stack import LocalStack
from tts_local.template import ROOT

pytestmark = pytest.mark.stack

EXAMPLES = 12  # per operation (and per phase): the whole file stays well under a minute
SYNTHESIZE_EXAMPLES = 4

CONFIG = schemathesis.Config.from_dict({
    "seed": 20261123,  # the same cases every run: a failure here is reproducible
    "phases": {"stateful": {"enabled": False}},
    "generation": {"mode": "all", "max-examples": EXAMPLES, "no-shrink": True},
    "operations": [
        {"include-name": "POST /api/synthesize", "generation": {"max-examples": SYNTHESIZE_EXAMPLES},
         "phases": {"coverage": {"enabled": False}}},  # coverage's cases are many and unbounded
        {"include-name": "POST /api/books", "generation": {"max-examples": SYNTHESIZE_EXAMPLES},
         "phases": {"coverage": {"enabled": False}}},  # each valid one starts a book
    ],
})
schema = schemathesis.openapi.from_path(ROOT / "docs" / "openapi.json", config=CONFIG)


def error_body(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Every answer of the service at 400 or above is exactly {"status": "error", "code", "message"}.
    A method the document does not list (the coverage phase's probes) is answered by API Gateway
    itself: a CORS preflight for OPTIONS, else 403 {"message": "Missing Authentication Token"}."""
    if case.method.upper() == "OPTIONS" and case.operation.method.upper() != "OPTIONS":
        assert response.status_code == 200, response.status_code
        return True
    if case.method.upper() != case.operation.method.upper():
        assert (response.status_code, json.loads(response.content)) == (
            403, {"message": "Missing Authentication Token"})
        return True
    if response.status_code < 400:
        return None
    body = json.loads(response.content)
    assert isinstance(body, dict) and set(body) == {"status", "code", "message"}, body
    assert body["status"] == "error" and body["code"] and isinstance(body["code"], str), body
    assert isinstance(body["message"], str) and body["message"], body
    return True


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          error_body]


@pytest.fixture(scope="module")
def api(served_api) -> Iterator[tuple[str, dict[str, str]]]:
    """The API's URL, and the headers every call carries: PUT /api/route is IAM-authorised, and the
    local front's admin credential stands in for the signature."""
    with served_api({"SyncWaitSeconds": "0"}) as (stack, server):
        yield server.url, {"x-admin-key": server.admin_key}
        _let_executions_finish(stack)


def _let_executions_finish(stack: LocalStack, timeout_s: float = 30) -> None:
    client = boto3.client("stepfunctions")
    deadline = time.monotonic() + timeout_s
    while client.list_executions(stateMachineArn=stack.state_machine_arn, statusFilter="RUNNING")["executions"]:
        assert time.monotonic() < deadline, "executions started by the fuzzer did not end"
        time.sleep(0.2)


@schema.parametrize()
def test_given_generated_requests_then_no_server_error_and_answers_as_documented(
        case: Case, api: tuple[str, dict[str, str]]) -> None:
    base_url, headers = api
    case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=30, headers=headers)
