"""S3 uploads on the local stack: an object under inbox/ reaches the ingest Lambda through the
template's EventBridge rule (moto's S3 -> EventBridge, delivered in-process), runs the real state
machine, and ends as outputs/<name>.wav + .json or failed/<name>.json (or, for a version a newer one
replaced, superseded/<name>/<version>.json)."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from tts_core.audio import wav_info
from tts_core.pipeline import uploads
from tts_core.platform import storage
from tts_local.doubles import ToneEngine

pytestmark = pytest.mark.stack


def engines(stack) -> list[str]:
    return [name for name, _ in stack.invocations if name in ("primary", "fallback", "offline")]


def executions(stack) -> list[dict]:
    return boto3.client("stepfunctions").list_executions(stateMachineArn=stack.state_machine_arn)["executions"]


def put(stack, key: str, body: bytes) -> str:
    return boto3.client("s3").put_object(Bucket=stack.bucket, Key=key, Body=body)["ETag"].strip('"')


def put_version(stack, key: str, body: bytes) -> str:
    return boto3.client("s3").put_object(Bucket=stack.bucket, Key=key, Body=body)["VersionId"]


def keys(stack, prefix: str = "") -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=stack.bucket, Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents", [])]


@pytest.fixture
def stack(local_stack):
    with local_stack(engines={"primary": ToneEngine("primary"), "fallback": ToneEngine("fallback")}) as stack:
        yield stack


def test_given_a_text_upload_then_outputs_hold_the_wav_and_its_record(stack) -> None:
    etag = put(stack, "inbox/greeting.txt", "你好，世界。Hello, world.\n".encode())
    (delivery,) = stack.deliveries
    assert delivery.function == "ingest_upload" and delivery.answer["status"] == "started", delivery
    job = stack.wait(delivery.answer["request_id"])

    record = storage.get_json(stack.bucket, "outputs/greeting.txt.json")
    assert record["status"] == "succeeded" and record["engine_used"] == "primary"
    source = record["source"]
    assert (source["bucket"], source["key"], source["etag"], source["name"]) == (
        stack.bucket, "inbox/greeting.txt", etag, "greeting.txt")
    assert source["version_id"] == boto3.client("s3").head_object(Bucket=stack.bucket, Key="inbox/greeting.txt")[
        "VersionId"] and source["sequencer"]
    assert record["request_id"] == job.request_id and record["audio_key"] == "outputs/greeting.txt.wav"
    assert [(a["engine"], a["outcome"]) for a in record["attempts"]] == [("primary", "succeeded")]
    assert record["duration_s"] > 0 and record["total_ms"] > 0 and record["attempts"][0]["duration_ms"] >= 0
    info = wav_info(storage.get_bytes(stack.bucket, "outputs/greeting.txt.wav"))
    assert (info.sample_rate, info.channels, info.subtype) == (22050, 1, "PCM_16")
    assert info.duration_s == pytest.approx(record["duration_s"], abs=0.01)
    assert stack.function("primary").engine.calls[0].voice == "zh-female"  # a .txt speaks in the default voice
    # What the service wrote (audio/, results/, cache/, outputs/) never triggered another run.
    assert len(stack.deliveries) == 1 and len(executions(stack)) == 1
    # The WAV reached outputs/ by a server-side copy, not through the record step's memory.
    writes = {operation for function, operation, action, key in stack.iam.calls
              if function == "RecordResultFunction" and action == "s3:PutObject" and key == "outputs/greeting.txt.wav"}
    assert writes == {"CopyObject"}
    head = boto3.client("s3").head_object(Bucket=stack.bucket, Key="outputs/greeting.txt.wav")
    assert head["ContentType"] == "audio/wav" and head["Metadata"]["upload-sequencer"] == source["sequencer"]


def test_given_a_json_upload_then_its_options_reach_the_engine(stack) -> None:
    body = {"text": "Hello from a request body.", "voice": "en-male", "speed": 1.25, "style": "narration"}
    put(stack, "inbox/options.json", json.dumps(body).encode())
    stack.wait(stack.deliveries[-1].answer["request_id"])

    (request,) = stack.function("primary").engine.calls
    assert (request.voice, request.speed, request.style) == ("en-male", 1.25, "narration")
    assert storage.get_json(stack.bucket, "outputs/options.json.json")["status"] == "succeeded"


def test_given_the_same_event_twice_then_one_synthesis(stack) -> None:
    put(stack, "inbox/once.txt", b"Only once.")
    first = stack.deliveries[-1]
    stack.wait(first.answer["request_id"])

    again = stack.deliver(stack.function("ingest_upload").arn, first.event)  # EventBridge delivers at least once

    assert again.answer["status"] == "duplicate" and again.answer["request_id"] == first.answer["request_id"]
    assert engines(stack) == ["primary"] and len(executions(stack)) == 1


def test_given_the_sample_event_then_it_names_the_object_put_with_that_content(stack, load_event) -> None:
    event = load_event("s3_object_created.json")
    fn = stack.function("ingest_upload")

    assert stack.invoke("ingest_upload", event)["status"] == "gone"  # no such object yet: nothing to do
    version = put_version(stack, "inbox/hello.txt", "你好，世界。Hello, world.\n".encode())  # the sample's size, ETag
    started = stack.deliveries[-1].answer
    stack.wait(started["request_id"])

    # The sample is the event S3 sent for that put (S3 chose the version id): replayed, it is a duplicate.
    event["detail"]["object"]["version-id"] = version
    replay = stack.invoke("ingest_upload", event)
    assert replay == started | {"status": "duplicate"}
    assert fn.name in fn.arn and engines(stack) == ["primary"]


def test_given_a_new_version_of_a_file_then_it_is_synthesized_again_and_an_old_failure_is_cleared(stack) -> None:
    put(stack, "inbox/draft.txt", b"")
    assert storage.get_json(stack.bucket, "failed/draft.txt.json")["code"] == "EMPTY_UPLOAD"
    put(stack, "inbox/draft.txt", b"Now with text.")
    stack.wait(stack.deliveries[-1].answer["request_id"])

    assert storage.get_json(stack.bucket, "outputs/draft.txt.json")["status"] == "succeeded"
    assert "failed/draft.txt.json" not in keys(stack, "failed/")

    put(stack, "inbox/draft.txt", b"")  # the newest version is bad: the older audio would mislead
    assert storage.get_json(stack.bucket, "failed/draft.txt.json")["code"] == "EMPTY_UPLOAD"
    assert keys(stack, "outputs/") == []


BAD_UPLOADS = [  # key, body, code (one stack for all: none of them may start anything)
    ("inbox/binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "INVALID_ENCODING"),
    ("inbox/latin1.txt", "Café crème".encode("latin-1"), "INVALID_ENCODING"),
    ("inbox/empty.txt", b"", "EMPTY_UPLOAD"),
    ("inbox/blank.txt", b"   \n\n", "INVALID_INPUT"),
    ("inbox/huge.txt", b"a" * (300 * 1024), "PAYLOAD_TOO_LARGE"),
    ("inbox/long.txt", b"a" * 5001, "TEXT_TOO_LONG"),
    ("inbox/broken.json", b'{"text": "hi",', "MALFORMED_JSON"),
    ("inbox/fields.json", b'{"text": "hi", "speed": 7}', "INVALID_INPUT"),
    ("inbox/voice.json", b'{"text": "hi", "voice": "nobody"}', "VOICE_NOT_FOUND"),
    ("inbox/picture.png", b"not really a picture", "UNSUPPORTED_MEDIA_TYPE"),
]


def test_given_bad_uploads_then_failed_records_with_a_code_and_no_synthesis(stack) -> None:
    for key, body, code in BAD_UPLOADS:
        etag = put(stack, key, body)
        name = key.removeprefix("inbox/")

        assert stack.deliveries[-1].answer["status"] == "rejected", key
        record = storage.get_json(stack.bucket, f"failed/{name}.json")
        assert (record["status"], record["code"]) == ("failed", code), (key, record)
        assert record["message"] and record["source"]["etag"] == etag
    assert len(keys(stack, "failed/")) == len(BAD_UPLOADS)
    assert executions(stack) == [] and engines(stack) == [] and keys(stack, "outputs/") == []


def test_given_hostile_names_then_outputs_stay_flat_under_outputs(stack) -> None:
    hostile = {"inbox/../../outputs/evil.txt": "%2E%2E%2F.%2E%2Foutputs%2Fevil.txt",
               "inbox/%2E%2E%2Fresults%2Fx.txt": "%252E%252E%252Fresults%252Fx.txt",
               "inbox//etc/passwd.txt": "%2Fetc%2Fpasswd.txt"}
    for key, text in zip(hostile, ("One.", "Two.", "Three."), strict=True):
        put(stack, key, text.encode())
        stack.wait(stack.deliveries[-1].answer["request_id"])

    assert sorted(keys(stack, "outputs/")) == sorted(f"outputs/{name}.{ext}" for name in hostile.values()
                                                      for ext in ("json", "wav"))
    written = [k for k in keys(stack) if not k.startswith("inbox/")]
    assert [k for k in written if ".." in k or "//" in k or k.startswith("/")] == []


def test_given_every_engine_failing_then_failed_record_lists_the_attempts(local_stack, monkeypatch) -> None:
    monkeypatch.setenv("TTS_LOCAL_FAULTS", "primary=error,fallback=error")
    with local_stack(engines={"primary": ToneEngine("primary"), "fallback": ToneEngine("fallback")},
                     LastResortEnabled="false") as stack:
        put(stack, "inbox/doomed.txt", b"This will not be spoken.")
        stack.wait(stack.deliveries[-1].answer["request_id"])

        record = storage.get_json(stack.bucket, "failed/doomed.txt.json")
        assert (record["status"], record["code"]) == ("failed", "ALL_ENGINES_FAILED")
        assert [(a["engine"], a["code"]) for a in record["attempts"]] == [
            ("primary", "ENGINE_ERROR"), ("fallback", "ENGINE_ERROR")]
        assert keys(stack, "outputs/") == []


def test_given_an_object_outside_inbox_then_nothing_runs(stack) -> None:
    put(stack, "outputs/manual.txt", b"I was put here by hand.")
    put(stack, "notes/readme.txt", b"Not an upload.")
    assert stack.deliveries == [] and executions(stack) == []


def test_given_keys_that_once_shared_a_name_then_each_has_its_own_outputs(stack) -> None:
    pairs = {"inbox/dir/name.txt": "Directory.", "inbox/dir_name.txt": "Underscore.",
             "inbox/x.txt": "Text file.", "inbox/x.json": json.dumps({"text": "JSON file."})}
    for key, body in pairs.items():
        put(stack, key, body.encode())
        stack.wait(stack.deliveries[-1].answer["request_id"])

    assert sorted(keys(stack, "outputs/")) == sorted(
        f"outputs/{name}.{ext}" for name in ("dir%2Fname.txt", "dir_name.txt", "x.txt", "x.json")
        for ext in ("wav", "json"))
    for key in pairs:
        record = storage.get_json(stack.bucket, storage.output_keys(uploads.output_name(key))[1])
        assert record["source"]["key"] == key


def superseded_records(stack) -> list[dict]:
    return [storage.get_json(stack.bucket, k) for k in keys(stack, "superseded/")]


def test_given_a_long_text_then_a_short_one_the_newest_version_wins(local_stack) -> None:
    """The race a careless user hits: the long first version finishes after the short second one."""
    slow = ToneEngine("primary", seconds_per_char=0.02)
    with local_stack(engines={"primary": slow, "fallback": ToneEngine("fallback")}) as stack:
        long_text = "This first version is long and takes a while to speak, " * 3
        first = put_version(stack, "inbox/race.txt", long_text.encode())
        first_run = stack.deliveries[-1].answer["request_id"]
        time.sleep(0.3)
        second = put_version(stack, "inbox/race.txt", b"Short.")
        second_run = stack.deliveries[-1].answer["request_id"]
        stack.wait(second_run)
        stack.wait(first_run)  # finishes last

        record = storage.get_json(stack.bucket, "outputs/race.txt.json")
        assert record["source"]["version_id"] == second and record["request_id"] == second_run
        audio = wav_info(storage.get_bytes(stack.bucket, "outputs/race.txt.wav"))
        assert audio.duration_s == pytest.approx(record["duration_s"], abs=0.01) and audio.duration_s < 2
        (superseded,) = superseded_records(stack)
        assert (superseded["status"], superseded["superseded_by"]) == ("superseded", second)
        assert superseded["source"]["version_id"] == first and superseded["request_id"] == first_run
        assert "audio_key" not in superseded and keys(stack, "failed/") == []
        assert keys(stack, "superseded/") == [storage.superseded_key("race.txt", first)]


def test_given_a_version_replaced_before_it_was_read_then_it_still_leaves_a_record(stack, monkeypatch) -> None:
    """Its event fails to arrive at first (EventBridge retries later): by then a newer version is current."""
    monkeypatch.setenv("TTS_LOCAL_FAULTS", "ingest_upload=crash")
    first = put_version(stack, "inbox/late.txt", b"The first version.")
    late_event = stack.deliveries[-1].event
    monkeypatch.delenv("TTS_LOCAL_FAULTS")
    second = put_version(stack, "inbox/late.txt", b"The second version.")
    stack.wait(stack.deliveries[-1].answer["request_id"])

    retried = stack.deliver(stack.function("ingest_upload").arn, late_event)

    assert retried.answer["status"] == "superseded"
    (record,) = superseded_records(stack)
    assert (record["source"]["version_id"], record["superseded_by"]) == (first, second)
    assert storage.get_json(stack.bucket, "outputs/late.txt.json")["source"]["version_id"] == second
    assert len(executions(stack)) == 1  # the replaced version was never synthesized


def test_given_events_out_of_order_then_an_older_run_never_replaces_newer_outputs(stack) -> None:
    """Both versions run; the older one's record step comes last and finds newer outputs: superseded."""
    first = put_version(stack, "inbox/order.txt", b"Older.")
    older = stack.deliveries[-1]
    second = put_version(stack, "inbox/order.txt", b"Newer.")
    stack.wait(stack.deliveries[-1].answer["request_id"])
    stack.wait(older.answer["request_id"])

    assert storage.get_json(stack.bucket, "outputs/order.txt.json")["source"]["version_id"] == second
    (record,) = superseded_records(stack)
    assert (record["source"]["version_id"], record["superseded_by"]) == (first, second)


def test_conditional_writes_keep_the_newest_even_when_the_older_run_checks_first(stack) -> None:
    """The window between "is this version current?" and the write: the sequencer on what is written
    decides, so an older version that passed the check still cannot replace a newer one's outputs."""
    put(stack, "inbox/window.txt", b"Newest.")
    stack.wait(stack.deliveries[-1].answer["request_id"])
    newest = storage.get_json(stack.bucket, "outputs/window.txt.json")["source"]
    older = uploads.UploadSource.model_validate(newest | {"sequencer": "0" * 16, "version_id": newest["version_id"]})

    written = uploads._write_if_newest(older, "outputs/window.txt.wav", b"stale", "audio/wav")

    assert written == newest["version_id"]  # refused, naming the newer version
    assert storage.get_bytes(stack.bucket, "outputs/window.txt.wav") != b"stale"
