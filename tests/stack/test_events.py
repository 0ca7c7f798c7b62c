"""Each function invoked with its sample event from events/ (the files `sam local invoke -e` takes),
through the Lambda API of the local stack, so the samples cannot drift from the handlers."""

from __future__ import annotations

import json

import boto3
import pytest

from tts_core.audio import wav_info
from tts_core.models import SynthesisRequest
from tts_core.pipeline import jobs
from tts_core.platform import storage
from tts_local.doubles import ToneEngine

pytestmark = pytest.mark.stack


def invoke(stack, short_name: str, event: dict) -> tuple[dict, str | None]:
    fn = stack.function(short_name)
    answer = boto3.client("lambda").invoke(FunctionName=fn.name, Payload=json.dumps(event).encode())
    return json.loads(answer["Payload"].read()), answer.get("FunctionError")


def test_api_synthesize_event_answers_with_audio(local_stack, load_event) -> None:
    with local_stack(engines={"primary": ToneEngine("primary")}) as stack:
        answer, error = invoke(stack, "api", load_event("api_synthesize.json"))
        body = json.loads(answer["body"])

        assert error is None and answer["statusCode"] == 200, body
        assert body["status"] == "success" and body["engine_used"] == "primary"
        assert body["audio_url"].startswith("https://")
        assert body["status_url"] == (  # API Gateway's own stage URL (requestContext), not the Host header
            f"https://1234567890.execute-api.us-east-1.amazonaws.com/prod/api/jobs/{body['request_id']}")


@pytest.mark.parametrize(("event", "status", "key"), [
    ("api_voices.json", 200, "voices"), ("api_health.json", 200, "route"), ("api_job.json", 404, "code")])
def test_api_get_events(local_stack, load_event, event: str, status: int, key: str) -> None:
    with local_stack() as stack:
        answer, error = invoke(stack, "api", load_event(event))
        assert error is None and answer["statusCode"] == status
        assert key in json.loads(answer["body"])


def test_engine_task_event_writes_a_wav(local_stack, load_event) -> None:
    with local_stack() as stack:
        event = load_event("engine_task_offline.json")
        output, error = invoke(stack, "offline", event)

        assert error is None, output
        assert output["audio_key"] == storage.audio_key(event["request_id"], "offline")
        assert wav_info(storage.get_bytes(stack.bucket, output["audio_key"])).sample_rate == 22050


def test_primary_engine_task_without_weights_reports_model_unavailable(local_stack, load_event) -> None:
    with local_stack() as stack:
        output, error = invoke(stack, "primary", load_event("engine_task_primary.json"))
        assert error == "Unhandled" and output["errorType"] == "ModelUnavailableError"


def test_malformed_engine_task_is_invalid_input(local_stack) -> None:
    with local_stack() as stack:
        output, error = invoke(stack, "offline", {"engine": "offline"})
        assert error == "Unhandled" and output["errorType"] == "InvalidInputError"


def test_record_result_event_writes_the_record(local_stack, load_event) -> None:
    event = load_event("record_result.json")
    with local_stack() as stack:
        # The execution the sample names must exist: run it first, under the sample's request id.
        jobs.start(stack.state_machine_arn, SynthesisRequest.model_validate(event["request"]),
                   correlation_id=event["correlation_id"], request_id=event["request_id"])
        stack.wait(event["request_id"])
        event["execution_arn"] = jobs.execution_arn(stack.state_machine_arn, event["request_id"])
        output, error = invoke(stack, "record_result", event)

        assert error is None and output["status"] == "succeeded"
        assert [a["engine"] for a in output["attempts"]] == ["primary", "fallback", "offline"]
        assert storage.get_json(stack.bucket, storage.result_key(event["request_id"]))["engine_used"] == "offline"


def test_cache_lookup_event_is_a_miss_on_an_empty_cache_then_a_hit(local_stack, load_event) -> None:
    event = load_event("cache_lookup.json")
    with local_stack(engines={"primary": ToneEngine("primary")}) as stack:
        miss, error = invoke(stack, "cache_lookup", event)
        assert error is None and miss["hit"] is False and miss["key"].startswith("cache/primary/")

        stack.wait(stack.submit(SynthesisRequest.model_validate(event["request"])))
        hit, error = invoke(stack, "cache_lookup", event)
        assert error is None and hit["hit"] is True and hit["key"] == miss["key"]
        assert hit["output"]["cached"] is True and hit["output"]["engine"] == "primary"


def test_plan_segments_event_cuts_the_text_and_records_the_count(local_stack, load_event) -> None:
    event = load_event("plan_segments.json")
    with local_stack() as stack:
        plan, error = invoke(stack, "plan_segments", event)

        assert error is None and plan["count"] == len(plan["segments"]) > 1
        spoken = "".join(s["text"] for s in plan["segments"])
        assert spoken.replace(" ", "") == event["request"]["text"].replace(" ", "")
        assert "text" not in plan["options"] and plan["options"]["style"] == "narration"
        assert storage.get_json(stack.bucket, storage.plan_key(event["request_id"])) == {"count": plan["count"]}


def test_segment_events_then_the_join_event_write_one_wav(local_stack, load_event) -> None:
    segment_event, join_event = load_event("engine_task_segment.json"), load_event("join_segments.json")
    with local_stack() as stack:
        for index in (0, 1):  # the join's sample names the WAVs of segments 0 and 1: write them first
            event = segment_event | {"segment": segment_event["segment"] | {"index": index}}
            output, error = invoke(stack, "offline", event)
            assert error is None and output["audio_key"] == join_event["segments"][index]["audio_key"], output
        output, error = invoke(stack, "join_segments", join_event)

        assert error is None, output
        assert output["audio_key"] == storage.audio_key(join_event["request_id"], "offline")
        assert [p["index"] for p in output["segments"]] == [0, 1]
        info = wav_info(storage.get_bytes(stack.bucket, output["audio_key"]))
        assert info.sample_rate == 22050 and info.duration_s == pytest.approx(output["duration_s"], abs=1e-3)


def test_api_event_for_an_unknown_path_is_route_not_found(local_stack, load_event) -> None:
    event = load_event("api_voices.json") | {"path": "/api/nothing", "resource": "/api/nothing"}
    with local_stack() as stack:
        answer, error = invoke(stack, "api", event)
        assert error is None and answer["statusCode"] == 404
        assert json.loads(answer["body"])["code"] == "ROUTE_NOT_FOUND"
