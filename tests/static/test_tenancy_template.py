"""What template.yaml must keep so that one API key cannot burn the account nor leave a job without a
record (issue 23, items 1, 2, 8, 9, 15): each check fails if the policy it names is removed."""

from __future__ import annotations

import json
from typing import Any

from tts_core.platform import storage
from tts_core.voices.registry import VOICES_PREFIX
from tts_local.stack import LocalStack
from tts_local.template import ROOT, load_template, parameter_defaults

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
DEFAULTS = parameter_defaults(TEMPLATE)
ACCOUNT_CONCURRENCY = 1000  # Lambda's default per region
UNRESERVED_MINIMUM = 100  # Lambda refuses reservations that leave less unreserved


def props(logical: str) -> dict[str, Any]:
    return RESOURCES[logical]["Properties"]


def definition_with(parameters: dict[str, str]) -> dict[str, Any]:
    """The ASL with the template's substitutions, as the local stack and CloudFormation make them."""
    stack = LocalStack(parameters)
    spec = props("SynthesisStateMachine")
    text = (ROOT / spec["DefinitionUri"]).read_text()
    for key, value in stack.resolver.resolve(spec["DefinitionSubstitutions"]).items():
        text = text.replace("${" + key + "}", str(value))
    definition: dict[str, Any] = json.loads(text)
    return definition


def test_the_primary_is_bounded_by_a_parameter_and_the_functions_that_must_run_keep_capacity() -> None:
    expected = {"SynthesizePrimaryFunction": "PrimaryReservedConcurrency",
                "ApiFunction": "ApiReservedConcurrency", "RecordResultFunction": "RecordReservedConcurrency",
                "IngestUploadFunction": "IngestReservedConcurrency"}
    for logical, parameter in expected.items():
        assert props(logical)["ReservedConcurrentExecutions"] == {"Ref": parameter}, logical
    reserved = 0
    for spec in RESOURCES.values():
        value = spec.get("Properties", {}).get("ReservedConcurrentExecutions")
        if value is not None:
            reserved += int(DEFAULTS[value["Ref"]]) if isinstance(value, dict) else int(value)
    assert reserved <= ACCOUNT_CONCURRENCY - UNRESERVED_MINIMUM


def test_the_whole_stage_is_throttled_keyless_routes_included() -> None:
    api = props("TtsApi")
    (setting,) = api["MethodSettings"]
    assert (setting["ResourcePath"], setting["HttpMethod"]) == ("/*", "*")
    assert setting["ThrottlingRateLimit"] == {"Ref": "StageRateLimit"}
    assert setting["ThrottlingBurstLimit"] == {"Ref": "StageBurstLimit"}
    keyless = [name for name, event in props("ApiFunction")["Events"].items()
               if event["Properties"].get("Auth", {}).get("ApiKeyRequired") is False]
    assert sorted(keyless) == ["OpenApi", "Page"]  # what the stage throttle is for
    throttle = api["Auth"]["UsagePlan"]["Throttle"]
    assert throttle == {"RateLimit": {"Ref": "ApiKeyRateLimit"}, "BurstLimit": {"Ref": "ApiKeyBurstLimit"}}


def test_every_prefix_the_service_writes_expires_by_a_parameter_and_voices_never_do() -> None:
    rules = props("AudioBucket")["LifecycleConfiguration"]["Rules"]
    by_prefix = {r["Prefix"]: r for r in rules if "Prefix" in r}
    written = {storage.AUDIO_PREFIX, storage.RESULTS_PREFIX, storage.CACHE_PREFIX, storage.INBOX_PREFIX,
               storage.OUTPUTS_PREFIX, storage.FAILED_PREFIX, storage.SUPERSEDED_PREFIX}
    for prefix in written:
        days = by_prefix[prefix]["ExpirationInDays"]
        assert isinstance(days, dict) and days["Ref"].endswith("RetentionDays"), prefix
    assert VOICES_PREFIX not in by_prefix  # a voice lives until its owner deletes it
    (noncurrent,) = [r for r in rules if "NoncurrentVersionExpiration" in r]
    assert noncurrent["NoncurrentVersionExpiration"]["NoncurrentDays"] == {"Ref": "NoncurrentRetentionDays"}


def _watched(alarm: str) -> set[tuple[str, str]]:
    return {(m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"])
            for m in props(alarm)["Metrics"] if "MetricStat" in m}


def test_a_concurrency_alarm_a_spend_alarm_and_an_alarm_on_executions_that_end_badly_exist() -> None:
    assert _watched("PrimaryConcurrencyAlarm") == {("AWS/Lambda", "ConcurrentExecutions")}
    assert _watched("PrimarySpendAlarm") == {("AWS/Lambda", "Duration")}
    assert {("AWS/States", "ExecutionsTimedOut"), ("AWS/States", "ExecutionsAborted"),
            ("AWS/States", "ExecutionsFailed")} <= _watched("ExecutionsEndedBadlyAlarm")
    for alarm in ("PrimaryConcurrencyAlarm", "PrimarySpendAlarm"):
        (metric,) = [m for m in props(alarm)["Metrics"] if "MetricStat" in m]
        assert metric["MetricStat"]["Metric"]["Dimensions"] == [
            {"Name": "FunctionName", "Value": {"Ref": "SynthesizePrimaryFunction"}}]


def test_an_execution_that_ends_badly_reaches_the_record_function() -> None:
    event = props("RecordResultFunction")["Events"]["ExecutionEnded"]
    assert event["Type"] == "EventBridgeRule"
    pattern = event["Properties"]["Pattern"]
    assert pattern["source"] == ["aws.states"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert sorted(pattern["detail"]["status"]) == ["ABORTED", "FAILED", "TIMED_OUT"]
    assert pattern["detail"]["stateMachineArn"] == [{"Ref": "SynthesisStateMachine"}]
    assert "DeadLetterConfig" in event["Properties"]


def test_the_job_has_a_deadline_and_the_record_step_retries_what_is_transient() -> None:
    definition = definition_with({"JobTimeoutSeconds": "1234"})
    assert definition["TimeoutSeconds"] == 1234
    for state in ("RecordSuccess", "RecordFailure"):
        retried = {name for rule in definition["States"][state]["Retry"] for name in rule["ErrorEquals"]}
        assert {"AwsServiceError", "StorageError", "Lambda.TooManyRequestsException"} <= retried, state


def test_every_engine_task_tells_its_engine_the_states_timeout() -> None:
    definition = definition_with({"PrimaryTimeoutSeconds": "77", "FallbackTimeoutSeconds": "33"})
    states = dict(definition["States"]) | definition["States"]["PrimarySegments"]["ItemProcessor"]["States"]
    for name, state in states.items():
        payload = state.get("Parameters", {}).get("Payload", {})
        if "engine" not in payload:
            continue
        if "TimeoutSecondsPath" in state:  # the route sets the primary's: the engine reads the same field
            assert payload["timeout_s.$"] == state["TimeoutSecondsPath"], name
        else:
            assert payload["timeout_s"] == state["TimeoutSeconds"], name
