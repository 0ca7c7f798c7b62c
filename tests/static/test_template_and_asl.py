"""Static checks that keep template.yaml, the ASL and the code from drifting apart, plus the
linters the issue names (cfn-lint, sam validate --lint, statelint), run for real."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tts_core.errors import (
    SERVICE_ERROR_CODES,
    AwsServiceError,
    EngineError,
    StorageError,
    TtsError,
    all_error_classes,
    error_class_named,
)
from tts_local.stack import LOCAL_PARAMETERS, LocalStack
from tts_local.template import ROOT, load_template, parameter_defaults, resources_of_type

TEMPLATE = load_template()
ASL_FILES = sorted((ROOT / "statemachine").glob("*.asl.json"))
VENV_BIN = Path(sys.executable).parent
SAM = shutil.which("sam") or str(ROOT / ".venv-sam" / "bin" / "sam")


def state_machines() -> dict[str, dict[str, Any]]:
    return resources_of_type(TEMPLATE, "AWS::Serverless::StateMachine")


def resolved_definition(parameters: dict[str, str] | None = None,
                        machine: str = "SynthesisStateMachine") -> dict[str, Any]:
    """The ASL as deployed with the template defaults (substitutions done as the local stack does)."""
    stack = LocalStack(parameters)
    spec = state_machines()[machine]
    text = (ROOT / spec["Properties"]["DefinitionUri"]).read_text()
    for key, value in stack.resolver.resolve(spec["Properties"]["DefinitionSubstitutions"]).items():
        text = text.replace("${" + key + "}", str(value))
    return json.loads(text)


def walk_states(definition: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, state in definition["States"].items():
        found.append((name, state))
        for branch in [*state.get("Branches", []), state.get("ItemProcessor") or state.get("Iterator") or {}]:
            if branch:
                found.extend(walk_states(branch))
    return found


def test_every_asl_file_is_used_by_the_template() -> None:
    used = {ROOT / spec["Properties"]["DefinitionUri"] for spec in state_machines().values()}
    assert used == set(ASL_FILES)


def test_every_substitution_in_the_asl_has_a_definition_substitution_and_vice_versa() -> None:
    for spec in state_machines().values():
        text = (ROOT / spec["Properties"]["DefinitionUri"]).read_text()
        placeholders = set(re.findall(r"\$\{([^}]+)\}", text))
        assert placeholders == set(spec["Properties"]["DefinitionSubstitutions"])


def test_every_error_name_in_the_asl_is_a_real_one() -> None:
    names = {n for machine in state_machines() for _, state in walk_states(resolved_definition(machine=machine))
             for rule in state.get("Retry", []) + state.get("Catch", []) for n in rule["ErrorEquals"]}
    for name in names:
        known = (name.startswith("States.") or name in SERVICE_ERROR_CODES
                 or error_class_named(name) is not None)
        assert known, f"ErrorEquals names '{name}', which nothing raises"


def test_only_retryable_errors_are_retried_and_every_retryable_engine_error_is() -> None:
    # What an engine task can raise: the engine's errors and the S3 write (not the route store's).
    retryable = {c.__name__ for c in all_error_classes()
                 if c.retryable and (issubclass(c, EngineError) or c is StorageError)}
    retryable_anywhere = retryable | {AwsServiceError.__name__}  # the record step's history read
    for name, state in [s for m in state_machines() for s in walk_states(resolved_definition(machine=m))]:
        for rule in state.get("Retry", []):
            ours = {n for n in rule["ErrorEquals"] if error_class_named(n)}
            assert all(error_class_named(n).retryable for n in ours), f"{name} retries a non-retryable error"
            assert ours <= retryable_anywhere, f"{name} retries non-retryable {ours - retryable_anywhere}"
            assert "States.ALL" not in rule["ErrorEquals"] and "States.Timeout" not in rule["ErrorEquals"]
        if name in ("Primary", "Fallback", "SegmentPrimary", "SegmentFallback", "BookSegmentPrimary",
                    "BookSegmentFallback"):
            missing = retryable - {n for rule in state["Retry"] for n in rule["ErrorEquals"]}
            assert not missing, f"{name} does not retry {missing}"
            assert all(rule["JitterStrategy"] == "FULL" and rule["MaxDelaySeconds"] >= 1 for rule in state["Retry"])


def test_fallback_retries_throttling_on_its_own_budget() -> None:
    definition = resolved_definition({"FallbackThrottleRetryMaxAttempts": "9",
                                      "FallbackThrottleRetryIntervalSeconds": "3"})
    throttling, other = definition["States"]["Fallback"]["Retry"]
    assert throttling["ErrorEquals"] == ["EngineThrottledError", "Lambda.TooManyRequestsException"]
    assert (throttling["MaxAttempts"], throttling["IntervalSeconds"]) == (9, 3)
    assert not set(throttling["ErrorEquals"]) & set(other["ErrorEquals"])


def test_error_classes_have_unique_codes() -> None:
    codes = [c.code for c in all_error_classes()]
    assert len(codes) == len(set(codes))
    assert issubclass(error_class_named("EngineTimeoutError"), TtsError)


def test_engine_tasks_name_their_engine_and_have_timeouts() -> None:
    definition = resolved_definition()
    engines = {}
    for name, state in walk_states(definition):
        payload = state.get("Parameters", {}).get("Payload", {})
        if "engine" in payload:
            engines[name] = payload["engine"]
            assert isinstance(state.get("TimeoutSeconds"), int) or state.get("TimeoutSecondsPath"), \
                f"{name} has no timeout"
            if name in definition["States"]:  # inside the Map, the Map's own Catch is the one that counts
                assert state["Catch"][0]["ErrorEquals"] == ["States.ALL"], f"{name} lets an error escape"
    assert engines == {"Primary": "primary", "Fallback": "fallback", "LastResort": "offline",
                       "SegmentPrimary": "primary", "SegmentFallback": "fallback"}
    segments = definition["States"]["PrimarySegments"]
    assert segments["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.primary_error",
                                  "Next": "PrimaryFailed"}]


def test_the_route_orders_the_engines_and_never_removes_one() -> None:
    """Whichever engine the route puts first, a failure goes on to the other one, then the last resort."""
    states = resolved_definition()["States"]
    assert states["Primary"]["Catch"][0]["Next"] == states["JoinSegments"]["Catch"][0]["Next"] == "PrimaryFailed"
    assert states["Fallback"]["Catch"][0]["Next"] == "FallbackFailed"
    for choice, route_fallback, route_primary in (("PrimaryFailed", "LastResortSwitch", "Fallback"),
                                                   ("FallbackFailed", "PlanSegments", "LastResortSwitch")):
        (rule,) = states[choice]["Choices"]
        assert (rule["Variable"], rule["StringEquals"]) == ("$.routing.planned_engine", "fallback")
        assert (rule["Next"], states[choice]["Default"]) == (route_fallback, route_primary)


def test_the_primary_timeout_after_the_fallback_defaults_to_the_primary_timeout() -> None:
    states = resolved_definition({"PrimaryTimeoutSeconds": "77"})["States"]
    assert states["UseFallback"]["Result"]["primary_timeout_s"] == 77
    assert states["UsePrimary"]["Result"]["primary_timeout_s"] == 77
    shortened = resolved_definition({"PrimaryTimeoutSeconds": "77", "PrimaryTimeoutAfterFallbackSeconds": "5"})
    assert shortened["States"]["UseFallback"]["Result"]["primary_timeout_s"] == 5
    assert shortened["States"]["UsePrimary"]["Result"]["primary_timeout_s"] == 77


def test_a_segment_has_the_same_timeout_and_retries_as_a_whole_request_on_that_engine() -> None:
    definition = resolved_definition({"PrimaryTimeoutSeconds": "77", "PrimaryRetryMaxAttempts": "5",
                                      "FallbackTimeoutSeconds": "33"})
    inner = definition["States"]["PrimarySegments"]["ItemProcessor"]["States"]
    for whole, segment in (("Primary", "SegmentPrimary"), ("Fallback", "SegmentFallback")):
        assert inner[segment]["Retry"] == definition["States"][whole]["Retry"], f"{segment}'s Retry differs"
        assert inner[segment]["Parameters"]["FunctionName"] == definition["States"][whole]["Parameters"]["FunctionName"]
    assert inner["SegmentFallback"]["TimeoutSeconds"] == definition["States"]["Fallback"]["TimeoutSeconds"] == 33
    # The primary's timeout depends on the route: both read it from the state, which the route set.
    assert definition["States"]["Primary"]["TimeoutSecondsPath"] == "$.routing.primary_timeout_s"
    assert inner["SegmentPrimary"]["TimeoutSecondsPath"] == "$.primary_timeout_s"
    item = definition["States"]["PrimarySegments"]["ItemSelector"]
    assert item["primary_timeout_s.$"] == "$.routing.primary_timeout_s"
    assert definition["States"]["PrimarySegments"]["MaxConcurrency"] == 10  # SegmentMaxConcurrency's default


def test_a_book_segment_has_the_same_timeout_and_retries_as_a_request_on_that_engine() -> None:
    parameters = {"PrimaryTimeoutSeconds": "77", "PrimaryRetryMaxAttempts": "5", "FallbackTimeoutSeconds": "33",
                  "BookMaxConcurrency": "123"}
    synthesis = resolved_definition(parameters)["States"]
    book = resolved_definition(parameters, "BookStateMachine")["States"]
    inner = book["VoicePass"]["ItemProcessor"]["States"]
    for whole, segment in (("Primary", "BookSegmentPrimary"), ("Fallback", "BookSegmentFallback"),
                           ("LastResort", "BookSegmentLastResort")):
        assert inner[segment]["Retry"] == synthesis[whole]["Retry"], f"{segment}'s Retry differs"
        assert inner[segment]["Parameters"]["FunctionName"] == synthesis[whole]["Parameters"]["FunctionName"]
        assert inner[segment]["Parameters"]["Payload"]["engine"] == synthesis[whole]["Parameters"]["Payload"]["engine"]
        assert inner[segment]["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                                            "Next": "SegmentNotVoiced"}]
    assert inner["BookSegmentFallback"]["TimeoutSeconds"] == synthesis["Fallback"]["TimeoutSeconds"] == 33
    assert inner["BookSegmentPrimary"]["TimeoutSecondsPath"] == "$.primary_timeout_s"
    assert book["UsePrimary"]["Result"]["primary_timeout_s"] == 77
    # Distributed Maps reading their items from S3, with nothing moto cannot run (FACTS.md).
    for name in ("VoicePass", "EncodeChapters"):
        assert book[name]["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
        assert book[name]["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
        assert book[name]["MaxConcurrency"] == 123
        assert book[name]["ResultPath"] is None  # no per-item result ever enters the parent's state
        assert "ItemBatcher" not in book[name] and "ToleratedFailurePercentage" not in book[name]


def test_template_parameters_reach_the_definition() -> None:
    definition = resolved_definition({"PrimaryTimeoutSeconds": "77", "LastResortEnabled": "false"})
    assert definition["States"]["UsePrimary"]["Result"]["primary_timeout_s"] == 77
    assert definition["States"]["LastResortSwitch"]["Result"] == "false"


def test_local_runs_change_only_what_they_say() -> None:
    assert set(LOCAL_PARAMETERS) <= set(parameter_defaults(TEMPLATE))
    assert parameter_defaults(TEMPLATE)["LastResortEnabled"] == "false"  # off in production by default


def test_initial_route_document_means_primary() -> None:
    value = TEMPLATE["Resources"]["RouteParameter"]["Properties"]["Value"]
    assert json.loads(value)["route"] == "primary"


def test_statelint_accepts_every_resolved_definition(tmp_path: Path) -> None:
    for machine in state_machines():
        definition = resolved_definition(machine=machine)
        for _, state in walk_states(definition):  # statelint 3.1.0 predates ReaderConfig.InputType (JSON items)
            state.get("ItemReader", {}).get("ReaderConfig", {}).pop("InputType", None)
        path = tmp_path / f"{machine}.json"
        path.write_text(json.dumps(definition))
        run = subprocess.run([str(VENV_BIN / "statelint"), str(path)], capture_output=True, text=True, check=False)
        assert run.returncode == 0, machine + run.stdout + run.stderr


def test_statelint_rejects_a_broken_definition(tmp_path: Path) -> None:
    """The check above can fail: a dangling Next is caught."""
    definition = resolved_definition()
    definition["States"]["Primary"]["Next"] = "NoSuchState"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(definition))
    run = subprocess.run([str(VENV_BIN / "statelint"), str(path)], capture_output=True, text=True, check=False)
    assert run.returncode != 0


@pytest.mark.linter
def test_cfn_lint_accepts_the_template() -> None:
    run = subprocess.run([str(VENV_BIN / "cfn-lint"), str(ROOT / "template.yaml")],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.linter
def test_sam_validate_lint_accepts_the_template() -> None:
    """`make test` installs the SAM CLI in its own virtualenv (its pins clash with moto's)."""
    assert Path(SAM).exists(), "SAM CLI missing: run the tests through `make test`"
    run = subprocess.run([SAM, "validate", "--lint", "--template-file", str(ROOT / "template.yaml")],
                         capture_output=True, text=True, check=False,
                         env={"SAM_CLI_TELEMETRY": "0", "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stdout + run.stderr


def _metric_names_emitted() -> set[str]:
    code = "\n".join(p.read_text() for p in (ROOT / "src" / "tts_core").rglob("*.py"))
    return set(re.findall(r'add_metric\(\s*name="(\w+)"', code)) | set(re.findall(r'_breaker_metric\("(\w+)"', code))


def test_alarms_watch_metrics_the_code_emits() -> None:
    emitted = _metric_names_emitted()
    for name, alarm in resources_of_type(TEMPLATE, "AWS::CloudWatch::Alarm").items():
        props = alarm["Properties"]
        watched = [props] if "MetricName" in props else [
            m["MetricStat"]["Metric"] for m in props["Metrics"] if "MetricStat" in m]
        # AWS's own metrics (SQS, Lambda, Step Functions) are not ours to emit
        names = [m["MetricName"] for m in watched if m["Namespace"] == "TextToSpeech"]
        assert set(names) <= emitted, f"{name} watches {set(names) - emitted}, which nothing emits"


def test_dashboard_is_valid_json_over_emitted_metrics() -> None:
    stack = LocalStack()
    (dashboard,) = resources_of_type(TEMPLATE, "AWS::CloudWatch::Dashboard").values()
    for alarm in resources_of_type(TEMPLATE, "AWS::CloudWatch::Alarm"):
        stack.resolver.attributes[alarm] = {"Arn": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{alarm}"}
    body = json.loads(stack.resolver.resolve(dashboard["Properties"]["DashboardBody"]))
    named = {row[1] for widget in body["widgets"] if widget["type"] == "metric"
             for row in widget["properties"]["metrics"] if row[0] == "TextToSpeech"}
    assert named and named <= _metric_names_emitted()


def test_the_template_and_the_code_agree_on_rates_segment_size_and_engines() -> None:
    """Facts that live in the code and must be what the template's Parameters allow."""
    from tts_core.models import SAMPLE_RATES, EngineName
    from tts_core.segmentation import DEFAULT_SEGMENT_CHARS

    parameters = TEMPLATE["Parameters"]
    assert tuple(parameters["AudioSampleRate"]["AllowedValues"]) == SAMPLE_RATES
    assert parameters["SegmentMaxChars"]["Default"] == DEFAULT_SEGMENT_CHARS
    engine_functions = {Path(spec["Properties"]["CodeUri"]).name if "CodeUri" in spec["Properties"]
                        else Path(spec["Metadata"]["Dockerfile"]).parent.name
                        for spec in resources_of_type(TEMPLATE, "AWS::Serverless::Function").values()}
    assert {f"synthesize_{name}" for name in EngineName} <= engine_functions
