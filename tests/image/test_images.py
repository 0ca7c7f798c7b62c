"""Smoke test of the two container images as built (`make test-image`; part of `make test`).

Builds the primary image (tiny random weights of the real architecture, in the published layout, so
the image's own packing stage runs) and the offline image from the project's Dockerfiles with Debian's
buildah, then runs each handler inside its image through the image's own entry point (awslambdaric
against a Runtime API on 127.0.0.1), as Lambda's sandbox user, the root filesystem read-only except
/tmp, with S3 served by a moto server on 127.0.0.1. Needs root, buildah and debootstrap (`make
image-tools`), and the IndexTTS-2 virtualenv to write the weights (TTS_INDEXTTS_PYTHON).
TTS_PRIMARY_MODEL=indextts2.5 (`make test-image PRIMARY_MODEL=indextts2.5`; not part of `make test`) builds
the primary with that PRIMARY_MODEL build ARG and tiny random IndexTTS-2.5 weights instead.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import soundfile

from tts_core.errors import code_for_error_name
from tts_core.platform import aws
from tts_core.voices import registry as voice_registry
from tts_local.images.build import build
from tts_local.images.random_weights import DEFAULT_MODEL, random_weights
from tts_local.images.runtime_api import RuntimeApi
from tts_local.images.sandbox import LambdaContainer
from tts_local.images.store import remove_images
from tts_local.template import function_environment

pytestmark = pytest.mark.image

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
BUCKET = "image-test-audio"
TAGS = {"primary": "localhost/tts-synthesize-primary:smoke", "offline": "localhost/tts-synthesize-offline:smoke"}
MAX_MEL_TOKENS = 40  # a random GPT never emits its stop token: 40 codes = 0.79 s of audio (2.5: 1.6 s)
PRIMARY_MODEL = os.environ.get("TTS_PRIMARY_MODEL") or DEFAULT_MODEL


@pytest.fixture(scope="session")
def tiny_weights() -> str:
    """Tiny random weights in the published layout (fp32, optimizer state, unused files), in the build
    context: the image's own packing stage turns them into what it ships."""
    return random_weights("tiny", model=PRIMARY_MODEL)


def _built(name: str, tmp: Path, build_args: dict[str, str] | None = None) -> Iterator[str]:
    build(name, TAGS[name], build_args, log=tmp / f"build-{name}.log")
    yield TAGS[name]
    remove_images(TAGS[name])


@pytest.fixture(scope="session")
def primary_image(tiny_weights: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _built("primary", tmp_path_factory.mktemp("build"),
                      {"WEIGHTS_DIR": tiny_weights, "PRIMARY_MODEL": PRIMARY_MODEL})


@pytest.fixture(scope="session")
def offline_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _built("offline", tmp_path_factory.mktemp("build"))


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server on 127.0.0.1 with the audio bucket and one registered voice."""
    from moto.server import ThreadedMotoServer

    from tts_local.tiny_indextts import write_prompt_wav

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    aws.reset_clients()
    try:
        aws.client("s3").create_bucket(Bucket=BUCKET)
        prompt = tmp_path_factory.mktemp("voice") / "prompt.wav"
        write_prompt_wav(prompt, seconds=3.0)
        voice_registry.register_voice(BUCKET, "zh-female", prompt.read_bytes(), language="zh-en", gender="female",
                                      fallback="zh-female", source="operator")
        yield endpoint
    finally:
        aws.reset_clients()
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _function_env(logical_id: str, endpoint: str, **extra: str) -> dict[str, str]:
    return function_environment(logical_id, refs={"AudioBucket": BUCKET},
                                parameters={"PrimaryModel": PRIMARY_MODEL}) | {
        "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing", **extra}


def _invoke(tag: str, env: dict[str, str], event: dict[str, Any], log: Path, timeout_s: float = 300) -> Any:
    """One invocation through the image's entry point; returns the Runtime API's record of it."""
    with RuntimeApi() as api, LambdaContainer(tag, env) as container, \
            container.serving(api, log) as proc:
        invocation = api.invoke(event, timeout_s)
        finished = invocation.done.wait(timeout_s)
        output = log.read_text(errors="replace")[-4000:]
        assert finished, f"no response within {timeout_s} s (exit code {proc.poll()}):\n{output}"
        assert api.init_error is None, output
        return invocation


def _check_wav(result: dict[str, Any], engine: str) -> None:
    assert result["engine"] == engine and result["bucket"] == BUCKET
    body = aws.client("s3").get_object(Bucket=BUCKET, Key=result["audio_key"])["Body"].read()
    samples, rate = soundfile.read(io.BytesIO(body), dtype="float32")
    assert body[:4] == b"RIFF" and rate == result["sample_rate"]
    assert abs(len(samples) / rate - result["duration_s"]) < 0.01 and result["duration_s"] > 0.3
    assert float(abs(samples).max()) > 0.01  # not silence


def test_primary_image_synthesizes_through_its_entry_point(primary_image: str, s3_endpoint: str,
                                                            tmp_path: Path) -> None:
    event = json.loads((EVENTS / "engine_task_primary.json").read_text())
    env = _function_env("SynthesizePrimaryFunction", s3_endpoint, INDEXTTS_MAX_MEL_TOKENS=str(MAX_MEL_TOKENS))
    invocation = _invoke(primary_image, env, event, tmp_path / "primary.log")
    assert invocation.error is None, f"{invocation.error}\n{(tmp_path / 'primary.log').read_text()[-4000:]}"
    _check_wav(invocation.result, "primary")


def test_primary_image_without_weights_is_model_unavailable(primary_image: str, s3_endpoint: str,
                                                            tmp_path: Path) -> None:
    """The same image with its model directory gone (as an image built without weights)."""
    event = json.loads((EVENTS / "engine_task_primary.json").read_text())
    env = _function_env("SynthesizePrimaryFunction", s3_endpoint, INDEXTTS_MODEL_DIR="/opt/indextts/absent")
    invocation = _invoke(primary_image, env, event, tmp_path / "primary-missing.log")
    assert invocation.result is None and invocation.error is not None
    assert code_for_error_name(invocation.error["errorType"]) == "MODEL_UNAVAILABLE", invocation.error


def test_offline_image_synthesizes_through_its_entry_point(offline_image: str, s3_endpoint: str,
                                                            tmp_path: Path) -> None:
    event = json.loads((EVENTS / "engine_task_offline.json").read_text())
    invocation = _invoke(offline_image, _function_env("SynthesizeOfflineFunction", s3_endpoint), event,
                         tmp_path / "offline.log", timeout_s=60)
    assert invocation.error is None, f"{invocation.error}\n{(tmp_path / 'offline.log').read_text()[-4000:]}"
    _check_wav(invocation.result, "offline")


PROBE = """
import errno, sys
for path in sys.argv[1:]:
    try:
        open(path, "w").write("x")
        print(path, "written")
    except OSError as exc:
        print(path, errno.errorcode[exc.errno])
"""


@pytest.mark.parametrize("name", ["primary", "offline"])
def test_only_tmp_is_writable_in_the_images(name: str, request: pytest.FixtureRequest) -> None:
    """The sandbox the handlers run in: as on Lambda, the root filesystem is read-only but for /tmp
    (EROFS, not merely a permission error of the non-root user: /var/tmp is world-writable)."""
    tag = request.getfixturevalue(f"{name}_image")
    outside = ["/var/task/x", "/var/tmp/x", "/opt/x", "/x"]
    with LambdaContainer(tag) as container:
        done = container.run(["python", "-c", PROBE, "/tmp/ok", *outside], timeout=60)
    assert done.returncode == 0, done.stderr
    outcome = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert outcome == {"/tmp/ok": "written"} | {path: "EROFS" for path in outside}
