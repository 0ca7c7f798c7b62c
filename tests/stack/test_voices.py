"""Voices on the local stack: the bootstrap (catalogue references recorded by the fallback engine through
the real dashscope SDK and the local DashScope protocol server), readiness in GET /api/voices and
/api/health, and cloning through the API (create, list, use, delete, refusals, isolation between keys).
The API is called through the Lambda API with API Gateway proxy events (events/api_voices.json), as
API Gateway calls it; the key id is where API Gateway puts it (requestContext.identity.apiKeyId)."""

from __future__ import annotations

import base64
import copy
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import boto3
import numpy as np
import pytest
import soundfile as sf
from http_client import call

from tts_core.audio import read_wav, wav_info
from tts_core.catalogue import Voice, list_voices
from tts_core.errors import EngineError
from tts_core.models import SynthesisRequest
from tts_core.pipeline import front
from tts_core.pipeline.uploads import output_name
from tts_core.platform import storage
from tts_core.voices import registry
from tts_core.voices.directory import ANY_OWNER
from tts_local.dashscope_server import DashScopeServer, _base_hz
from tts_local.doubles import PreparingToneEngine, ToneEngine
from tts_local.http_api import ApiServer, api_key_id
from tts_local.stack import run_voice_bootstrap
from tts_local.template import ROOT

pytestmark = pytest.mark.stack
EVENT = json.loads((ROOT / "events" / "api_voices.json").read_text())
RATE = 24000


def engines() -> dict[str, Any]:
    return {"primary": PreparingToneEngine(), "fallback": ToneEngine("fallback")}


def api(stack, method: str, path: str, body: Any = None, key_id: str | None = None) -> tuple[int, dict[str, Any]]:
    event = copy.deepcopy(EVENT)
    resource = "/api/voices/{voice_id}" if path.startswith("/api/voices/") and method == "DELETE" else path
    event.update(httpMethod=method, path=path, resource=resource, isBase64Encoded=False,
                 body=None if body is None else (body if isinstance(body, str) else json.dumps(body)),
                 pathParameters={"voice_id": path.rsplit("/", 1)[1]} if resource != path else None)
    event["requestContext"].update(httpMethod=method, path=f"/prod{path}", resourcePath=resource)
    event["requestContext"]["identity"]["apiKeyId"] = key_id
    fn = stack.function("api")
    answer = boto3.client("lambda").invoke(FunctionName=fn.name, Payload=json.dumps(event).encode())
    payload = json.loads(answer["Payload"].read())
    assert not answer.get("FunctionError"), payload
    return payload["statusCode"], json.loads(payload["body"])


def speech(seconds: float = 5.0, rate: int = RATE, amplitude: float = 0.3, hz: float = 150.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def encode(samples: np.ndarray, fmt: str, rate: int = RATE, subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def clone_body(audio: bytes, name: str = "Ada", language: str = "en", gender: str = "female") -> dict[str, str]:
    return {"name": name, "language": language, "gender": gender, "audio_base64": base64.b64encode(audio).decode()}


def voice_keys(stack) -> list[str]:
    return sorted(k for k in storage.list_keys(stack.bucket, registry.VOICES_PREFIX)
                  if not k.startswith(registry.BOOTSTRAP_REPORT_KEY))


def sambert_model(voice: Voice) -> str:
    """The Sambert model the bootstrap records `voice`'s reference with (its reference_from voice's when
    Sambert has none for it)."""
    recorder = next(v for v in list_voices("indextts2.5") if v.id == voice.reference_from) if voice.reference_from \
        else voice
    assert recorder.sambert is not None, voice.id
    return f"sambert-{recorder.sambert.name}-v1"


def dominant_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(samples.size, 1 / rate)[int(np.argmax(spectrum))])


# ---- the bootstrap ------------------------------------------------------------------------------
def test_the_stack_starts_with_every_catalogue_voice_recorded_by_the_fallback_in_its_own_voice(local_stack) -> None:
    with local_stack(engines=engines(), voices=True) as stack:
        status, body = api(stack, "GET", "/api/voices")

        assert status == 200
        listed = {v["id"]: v for v in body["voices"]}
        for voice in list_voices():
            entry = listed[voice.id]
            assert (entry["reference"], entry["primary_ready"], entry["custom"]) == ("fallback", True, False), entry
            assert "primary_reason" not in entry or entry["primary_reason"] is None
            samples, rate = read_wav(storage.get_bytes(stack.bucket, registry.voice_keys(voice.id)[0]))
            assert rate == registry.STORE_RATE and 8.0 <= samples.size / rate <= 15.0
            # Spoken by the local Sambert in that voice's own Sambert voice (each has its own pitch there).
            assert abs(dominant_hz(samples, rate) - _base_hz(sambert_model(voice))) < 2.0
        assert stack.engine_doubles["primary"].prepared == [v.id for v in list_voices()]
        status, health = api(stack, "GET", "/api/health")
        assert status == 200 and all(v["primary_ready"] for v in health["voices"].values())


def test_a_bootstrap_run_again_keeps_what_is_there(local_stack) -> None:
    with local_stack(engines=engines(), voices=True) as stack:
        before = {k: storage.get_bytes(stack.bucket, k) for k in voice_keys(stack)}
        primary = stack.engine_doubles["primary"]

        report = run_voice_bootstrap(stack.bucket, stack.function("primary").name)

        assert [v.status for v in report.voices] == ["present"] * len(list_voices())
        assert {k: storage.get_bytes(stack.bucket, k) for k in voice_keys(stack)} == before
        assert len(primary.prepared) == len(list_voices())  # prepared voices are not prepared again


def test_without_a_dashscope_key_the_voices_say_why_the_primary_cannot_serve_them(local_stack) -> None:
    with local_stack(engines=engines()) as stack:
        report = run_voice_bootstrap(stack.bucket, stack.function("primary").name, api_key=None)

        assert {(v.status, v.code) for v in report.voices} == {("failed", "ENGINE_NOT_CONFIGURED")}
        assert voice_keys(stack) == []
        _, body = api(stack, "GET", "/api/voices")
        for entry in body["voices"]:
            assert entry["primary_ready"] is False and entry["reference"] is None
            assert "ENGINE_NOT_CONFIGURED" in entry["primary_reason"] and "DashScope" in entry["primary_reason"]
        _, health = api(stack, "GET", "/api/health")
        assert {v["primary_ready"] for v in health["voices"].values()} == {False}
        assert all("ENGINE_NOT_CONFIGURED" in v["primary_reason"] for v in health["voices"].values())

        # Re-runnable: with a key the same bootstrap fills the gap.
        again = run_voice_bootstrap(stack.bucket, stack.function("primary").name)
        assert {v.status for v in again.voices} == {"registered"}
        _, body = api(stack, "GET", "/api/voices")
        assert {v["primary_ready"] for v in body["voices"]} == {True}


def test_a_primary_that_cannot_load_is_the_reason_given(local_stack) -> None:
    with local_stack(voices=True) as stack:  # the real primary: no IndexTTS-2 weights here
        _, body = api(stack, "GET", "/api/voices")

        for entry in body["voices"]:
            assert entry["reference"] == "fallback" and entry["primary_ready"] is False
            assert entry["primary_reason"].startswith("the primary could not prepare it: MODEL_UNAVAILABLE")


def test_operator_references_take_precedence_over_the_fallback_recording(local_stack) -> None:
    with local_stack(engines=engines(), voices=True) as stack:
        storage.put_bytes(stack.bucket, "voice-references/en-male.flac", encode(speech(9.0, hz=300.0), "FLAC"),
                          "audio/flac")

        report = run_voice_bootstrap(stack.bucket, stack.function("primary").name)

        assert report.outcome("en-male").status == "registered" and report.outcome("en-male").source == "operator"
        assert {v.status for v in report.voices if v.voice != "en-male"} == {"present"}
        samples, rate = read_wav(storage.get_bytes(stack.bucket, registry.voice_keys("en-male")[0]))
        assert abs(dominant_hz(samples, rate) - 300.0) < 2.0
        _, body = api(stack, "GET", "/api/voices")
        assert next(v for v in body["voices"] if v["id"] == "en-male")["reference"] == "operator"


class _CloudFormation(BaseHTTPRequestHandler):
    answers: ClassVar[list[dict[str, Any]]] = []

    def do_PUT(self) -> None:
        self.answers.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def cloudformation() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A stand-in for the pre-signed S3 URL CloudFormation waits on for a custom resource's answer."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CloudFormation)
    _CloudFormation.answers = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/response", _CloudFormation.answers
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_the_deploy_custom_resource_succeeds_without_a_key_and_records_why(local_stack, cloudformation,
                                                                          request_type: str) -> None:
    url, answers = cloudformation
    event = {"RequestType": request_type, "ResponseURL": url, "StackId": "arn:aws:cloudformation:stack/x",
             "RequestId": "r-1", "LogicalResourceId": "VoiceBootstrap", "ResourceType": "Custom::VoiceBootstrap",
             "ResourceProperties": {}}
    with local_stack(engines=engines()) as stack:
        stack.invoke("voice_bootstrap", event)

        (answer,) = answers
        assert answer["Status"] == "SUCCESS" and answer["LogicalResourceId"] == "VoiceBootstrap"
        assert "ENGINE_NOT_CONFIGURED" in answer["Reason"]
        _, body = api(stack, "GET", "/api/voices")
        assert all("ENGINE_NOT_CONFIGURED" in v["primary_reason"] for v in body["voices"])


def test_with_indextts25_its_voices_are_listed_recorded_and_failed_over_in_their_language(local_stack) -> None:
    """PrimaryModel=indextts2.5 reaches the API, the bootstrap and the engines through the template alone. A
    voice Sambert has none for gets a reference recorded in another voice (the primary clones its timbre), and
    its failover skips Sambert with a stable code, to eSpeak NG's voice of its language."""
    primary = PreparingToneEngine(fail_on={"gatos": EngineError("the primary is down")})
    with local_stack(engines={"primary": primary}, voices=True, PrimaryModel="indextts2.5") as stack:
        status, body = api(stack, "GET", "/api/voices")
        listed = {v["id"]: v for v in body["voices"]}
        assert status == 200 and list(listed) == [v.id for v in list_voices("indextts2.5")]
        assert {(v["reference"], v["primary_ready"]) for v in listed.values()} == {("fallback", True)}
        for voice in list_voices():
            samples, rate = read_wav(storage.get_bytes(stack.bucket, registry.voice_keys(voice.id)[0]))
            assert abs(dominant_hz(samples, rate) - _base_hz(sambert_model(voice))) < 2.0, voice.id

        request = front.prepare(SynthesisRequest(text="Tengo tres gatos.", voice="es-male"), bucket=stack.bucket,
                                owner=ANY_OWNER, lexicon_owner=None)
        job = stack.wait(stack.submit(request))
        assert [(a.engine, a.code) for a in job.result.attempts] == [
            ("primary", "ENGINE_ERROR"), ("fallback", "ENGINE_LANGUAGE_UNSUPPORTED"), ("offline", None)]
        assert primary.calls[-1].language == "es"


def test_the_bootstrap_function_records_with_the_stack_key_when_there_is_one(local_stack) -> None:
    with DashScopeServer(valid_keys={"sk-deploy"}) as dashscope, \
            local_stack(engines=engines(), secrets={"DashScopeSecretArn": json.dumps({"api_key": "sk-deploy"})},
                        environment={"DASHSCOPE_WEBSOCKET_URL": dashscope.url, "NO_PROXY": "127.0.0.1"}) as stack:
        report = stack.invoke("voice_bootstrap", {"force": True})

        assert {v["status"] for v in report["voices"]} == {"registered"}
        assert sorted(r.model for r in dashscope.requests) == sorted(sambert_model(v) for v in list_voices())


# ---- cloning ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("fmt", "subtype"), [("WAV", "PCM_16"), ("FLAC", None), ("OGG", "VORBIS"),
                                              ("MP3", "MPEG_LAYER_III")])
def test_a_cloned_voice_is_created_listed_used_and_deleted(local_stack, fmt: str, subtype: str | None) -> None:
    with local_stack(engines=engines()) as stack:
        status, voice = api(stack, "POST", "/api/voices", clone_body(encode(speech(6.0), fmt, subtype=subtype),
                                                                      language="zh-en", gender="male"))

        assert status == 201, voice
        assert voice["id"].startswith("v-") and voice["name"] == "Ada" and voice["custom"] is True
        assert voice["fallback_voice"] == "zh-male" and voice["reference"] == "upload"
        assert voice["primary_ready"] is True  # prepared at creation, not on the first synthesis
        assert stack.engine_doubles["primary"].prepared == [voice["id"]]
        info = wav_info(storage.get_bytes(stack.bucket, registry.voice_keys(voice["id"])[0]))
        assert info.sample_rate == registry.STORE_RATE and 5.5 < info.duration_s < 6.5

        _, listing = api(stack, "GET", "/api/voices")
        assert voice["id"] in [v["id"] for v in listing["voices"]]

        status, job = api(stack, "POST", "/api/synthesize", {"text": "hello", "voice": voice["id"]})
        assert status == 200 and job["engine_used"] == "primary", job
        assert stack.engine_doubles["primary"].calls[-1].voice == voice["id"]

        status, _ = api(stack, "DELETE", f"/api/voices/{voice['id']}")
        assert status == 200
        assert voice_keys(stack) == []  # record, reference, conditioning and owner marker
        emotion = {"reference_voice": voice["id"]}
        for method, path, body in [("DELETE", f"/api/voices/{voice['id']}", None),
                                   ("POST", "/api/synthesize", {"text": "hello", "voice": voice["id"]}),
                                   ("POST", "/api/synthesize", {"text": "hi", "emotion": emotion})]:
            status, error = api(stack, method, path, body)
            assert (status, error["code"]) == (404, "VOICE_NOT_FOUND")
        _, listing = api(stack, "GET", "/api/voices")
        assert voice["id"] not in [v["id"] for v in listing["voices"]]


def test_an_upload_naming_a_deleted_voice_fails_with_voice_not_found(local_stack) -> None:
    with local_stack(engines=engines()) as stack:
        _, voice = api(stack, "POST", "/api/voices", clone_body(encode(speech(), "WAV")))
        api(stack, "DELETE", f"/api/voices/{voice['id']}")

        storage.put_bytes(stack.bucket, "inbox/gone.json", json.dumps({"text": "hi", "voice": voice["id"]}).encode(),
                          "application/json")

        name = output_name("inbox/gone.json")
        assert json.loads(storage.get_bytes(stack.bucket, storage.failed_key(name)))["code"] == "VOICE_NOT_FOUND"


def test_an_upload_may_use_a_custom_voice(local_stack) -> None:
    with local_stack(engines=engines()) as stack:
        _, voice = api(stack, "POST", "/api/voices", clone_body(encode(speech(), "WAV")), key_id="key-a")
        storage.put_bytes(stack.bucket, "inbox/mine.json", json.dumps({"text": "hi", "voice": voice["id"]}).encode(),
                          "application/json")

        assert stack.deliveries[-1].answer["status"] == "started", stack.deliveries[-1].answer


def test_the_fallback_speaks_a_custom_voice_in_its_catalogue_voice(local_stack, monkeypatch) -> None:
    monkeypatch.setenv("TTS_LOCAL_FAULTS", "primary=error")
    with DashScopeServer(valid_keys={"sk-x"}) as dashscope, \
            local_stack(engines={"primary": PreparingToneEngine()},
                        secrets={"DashScopeSecretArn": json.dumps({"api_key": "sk-x"})},
                        environment={"DASHSCOPE_WEBSOCKET_URL": dashscope.url, "NO_PROXY": "127.0.0.1"}) as stack:
        _, voice = api(stack, "POST", "/api/voices", clone_body(encode(speech(), "WAV"), language="en", gender="male"))

        status, job = api(stack, "POST", "/api/synthesize", {"text": "hello there", "voice": voice["id"]})

        assert status == 200 and job["engine_used"] == "fallback", job
        assert dashscope.requests[-1].model == "sambert-brian-v1"  # en-male's Sambert voice


def _clipped() -> np.ndarray:
    return np.clip(speech(5.0, amplitude=3.0), -1.0, 1.0)


@pytest.mark.parametrize(("body", "status", "code"), [
    (clone_body(b"RIFF\x00\x00\x00\x00WAVEnot really"), 415, "AUDIO_UNDECODABLE"),
    (clone_body(b"\x00" * 1000), 415, "AUDIO_UNDECODABLE"),
    (clone_body(encode(speech(2.5), "WAV")), 400, "AUDIO_TOO_SHORT"),
    (clone_body(encode(speech(31.0, rate=8000), "FLAC", rate=8000)), 400, "AUDIO_TOO_LONG"),
    (clone_body(encode(np.zeros(RATE * 5, dtype=np.float32), "WAV")), 400, "AUDIO_SILENT"),
    (clone_body(encode(speech(5.0, amplitude=0.001), "WAV")), 400, "AUDIO_SILENT"),
    (clone_body(encode(_clipped(), "WAV")), 400, "AUDIO_CLIPPED"),
    ({"name": "x", "language": "en", "gender": "female", "audio_base64": "not base64!"}, 400, "INVALID_INPUT"),
    ({"name": "x", "language": "fr", "gender": "female", "audio_base64": "AAAA"}, 400, "INVALID_INPUT"),
    ({"name": "", "language": "en", "gender": "female", "audio_base64": "AAAA"}, 400, "INVALID_INPUT"),
    ({"name": "x", "language": "en", "gender": "female", "audio_base64": "AAAA", "extra": 1}, 400, "INVALID_INPUT"),
    ({"name": "x", "language": "en", "gender": "female", "audio_base64": "A" * (5 * 1024 * 1024)}, 413,
     "PAYLOAD_TOO_LARGE"),
    ("{not json", 400, "MALFORMED_JSON"),
], ids=["garbage-wav", "zeros", "short", "long", "silence", "too-quiet", "clipped", "bad-base64", "language",
        "no-name", "unknown-field", "too-large", "not-json"])
def test_refused_recordings_store_nothing(local_stack, body: Any, status: int, code: str) -> None:
    with local_stack(engines=engines()) as stack:
        got_status, error = api(stack, "POST", "/api/voices", body)

        assert (got_status, error["code"]) == (status, code), error
        assert voice_keys(stack) == []
        assert stack.engine_doubles["primary"].prepared == []


def test_a_custom_voice_belongs_to_the_key_that_made_it(local_stack) -> None:
    with local_stack(engines=engines()) as stack:
        _, mine = api(stack, "POST", "/api/voices", clone_body(encode(speech(), "WAV"), name="mine"), key_id="key-a")
        _, theirs = api(stack, "POST", "/api/voices", clone_body(encode(speech(), "WAV"), name="theirs"),
                        key_id="key-b")

        for key, own, other in (("key-a", mine, theirs), ("key-b", theirs, mine)):
            _, listing = api(stack, "GET", "/api/voices", key_id=key)
            custom = [v["id"] for v in listing["voices"] if v["custom"]]
            assert custom == [own["id"]]
            _, health = api(stack, "GET", "/api/health", key_id=key)
            assert own["id"] in health["voices"] and other["id"] not in health["voices"]
            status, error = api(stack, "POST", "/api/synthesize", {"text": "hi", "voice": other["id"]}, key_id=key)
            assert (status, error["code"]) == (404, "VOICE_NOT_FOUND")
            status, error = api(stack, "DELETE", f"/api/voices/{other['id']}", key_id=key)
            assert (status, error["code"]) == (404, "VOICE_NOT_FOUND")
        # Without a key (where none is in use) neither is visible either.
        _, listing = api(stack, "GET", "/api/voices")
        assert [v for v in listing["voices"] if v["custom"]] == []
        assert registry.get_record(stack.bucket, mine["id"]).owner == "key-a"  # nothing was deleted


def test_built_in_voices_cannot_be_deleted(local_stack) -> None:
    with local_stack(engines=engines(), voices=True) as stack:
        status, error = api(stack, "DELETE", "/api/voices/zh-female")

        assert (status, error["code"]) == (400, "INVALID_INPUT")
        assert registry.get_record(stack.bucket, "zh-female").source == "fallback"


def test_the_local_front_passes_the_callers_key_id_as_api_gateway_does(local_stack) -> None:
    def http(server: ApiServer, method: str, path: str, key: str, body: Any = None) -> tuple[int, Any]:
        return call(server, method, path, None if body is None else json.dumps(body).encode(),
                    headers={"x-api-key": key})

    with local_stack(engines=engines()) as stack:
        server = ApiServer(stack, port=0, api_key=["secret-a", "secret-b"])
        server.start()
        try:
            status, voice = http(server, "POST", "/api/voices", "secret-a", clone_body(encode(speech(), "WAV")))
            assert status == 201, voice
            assert registry.get_record(stack.bucket, voice["id"]).owner == api_key_id("secret-a") != "secret-a"

            _, mine = http(server, "GET", "/api/voices", "secret-a")
            _, theirs = http(server, "GET", "/api/voices", "secret-b")
            assert voice["id"] in [v["id"] for v in mine["voices"]]
            assert voice["id"] not in [v["id"] for v in theirs["voices"]]
            status, error = http(server, "DELETE", f"/api/voices/{voice['id']}", "secret-b")
            assert (status, error["code"]) == (404, "VOICE_NOT_FOUND")
            assert http(server, "GET", "/api/voices", "not-a-key")[0] == 403
        finally:
            server.stop()
