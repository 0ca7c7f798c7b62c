"""`tts-local` as a person runs it: a fresh in-process stack, and a client talking to `serve`."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import av
import mutagen.mp3
import numpy as np
import pytest
import soundfile as sf
import srt
import webvtt

from tts_core.audio import wav_info
from tts_local import serve_state

pytestmark = pytest.mark.stack
TTS_LOCAL = str(Path(sys.executable).parent / "tts-local")


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TTS_LOCAL, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "TTS_LOCAL_ENDPOINT": "", **(env or {})}, check=False)


def test_synthesize_on_a_fresh_stack_writes_a_wav_and_explains_the_failover(tmp_path: Path) -> None:
    out = tmp_path / "hello.wav"
    done = run("synthesize", "你好。Hello.", "--out", str(out))

    assert done.returncode == 0, done.stderr
    assert "engine used: offline (after 2 failed attempts)" in done.stdout
    assert "MODEL_UNAVAILABLE" in done.stdout and "ENGINE_NOT_CONFIGURED" in done.stdout
    info = wav_info(out.read_bytes())
    assert (info.sample_rate, info.channels, info.subtype) == (22050, 1, "PCM_16") and info.duration_s > 0.3


def test_synthesize_an_acx_mp3_with_captions(tmp_path: Path) -> None:
    out = tmp_path / "x.mp3"
    done = run("synthesize", "It was a bright cold day in April. 你好，世界。", "--format", "mp3", "--captions",
               "--mastering", "acx", "--out", str(out))

    assert done.returncode == 0, done.stderr
    assert "(mp3," in done.stdout and "mastering acx:" in done.stdout and "meets it" in done.stdout
    frames = mutagen.mp3.MP3(out).info
    assert (frames.sample_rate, frames.channels, round(frames.bitrate / 1000)) == (44100, 1, 192)
    with av.open(str(out)) as container:  # ffmpeg reads it
        assert sum(frame.samples for frame in container.decode(audio=0)) / 44100 > 1.0
    cues = list(srt.parse((tmp_path / "x.srt").read_text()))
    assert [c.content for c in cues] == ["It was a bright cold day in April.", "你好，世界。"]
    assert [c.text for c in webvtt.read(str(tmp_path / "x.vtt"))] == [c.content for c in cues]
    marks = [json.loads(line) for line in (tmp_path / "x.marks.json").read_text().splitlines()]
    assert [m["value"] for m in marks] == [c.content for c in cues]


def test_a_request_that_cannot_be_delivered_is_refused_before_any_work() -> None:
    done = run("synthesize", "hi", "--format", "wav", "--mastering", "acx")
    assert done.returncode == 2 and "INVALID_INPUT" in done.stderr and "acx" in done.stderr


def test_a_failed_request_exits_non_zero_with_its_code() -> None:
    done = run("synthesize", "hello", env={"TTS_LOCAL_FAULTS": "primary=error,fallback=error,offline=error"})
    assert done.returncode == 1
    assert "error ALL_ENGINES_FAILED" in done.stdout


def test_bad_input_and_bad_fault_spec_are_refused_before_any_work() -> None:
    done = run("synthesize", "   ")
    assert done.returncode == 2 and "INVALID_INPUT" in done.stderr
    done = run("synthesize", "hi", env={"TTS_LOCAL_FAULTS": "primary=explode"})
    assert done.returncode == 2 and "cannot read 'primary=explode'" in done.stderr


@pytest.fixture
def served(tts_local_serve) -> tuple[str, str]:
    return tts_local_serve()


def test_commands_talk_to_a_running_serve(served: tuple[str, str], tmp_path: Path) -> None:
    _, endpoint = served
    out = tmp_path / "served.wav"
    done = run("synthesize", "Hello from serve.", "--out", str(out), env={"TTS_LOCAL_ENDPOINT": endpoint})

    assert done.returncode == 0, done.stderr
    assert f"using the local stack served at {endpoint}" in done.stderr
    assert wav_info(out.read_bytes()).sample_rate == 22050

    # The job lives in the serve process: a second client sees it through the same endpoint.
    request_id = done.stdout.split()[1].rstrip(":")
    with urllib.request.urlopen(f"{served[0]}/api/jobs/{request_id}", timeout=10) as answer:
        assert json.loads(answer.read())["engine_used"] == "offline"


def test_an_explicit_endpoint_that_does_not_answer_is_an_error(free_port) -> None:
    done = run("synthesize", "hi", env={"TTS_LOCAL_ENDPOINT": f"http://127.0.0.1:{free_port()}"})
    assert done.returncode != 0 and "nothing answers" in done.stderr


def test_probe_and_route_commands(tmp_path: Path) -> None:
    done = run("route")
    assert done.returncode == 0 and json.loads(done.stdout)["route"] == "primary"
    done = run("route", "fallback")
    assert done.returncode == 0 and json.loads(done.stdout)["override"] == "fallback"
    done = run("probe", env={"TTS_LOCAL_FAULTS": "primary=error"})
    doc = json.loads(done.stdout)
    assert done.returncode == 0 and doc["consecutive_failures"] == 1 and doc["last_probe_at"]


def test_serve_runs_the_probe_on_its_schedule(free_port) -> None:
    api_port, aws_port = free_port(), free_port()
    server = subprocess.Popen([TTS_LOCAL, "serve", "--port", str(api_port), "--aws-port", str(aws_port),
                               "--probe-interval", "0.5", "-p", "BreakerFailureThreshold=2"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "TTS_LOCAL_FAULTS": "primary=error"})
    try:
        assert server.stdout is not None
        lines = []
        deadline = time.monotonic() + 60
        for line in server.stdout:
            lines.append(line)
            if "route fallback (open)" in line or time.monotonic() > deadline:
                break
        assert any("route fallback (open)" in line for line in lines), "".join(lines)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)


def test_upload_on_a_fresh_stack_waits_for_the_outcome(tmp_path: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_text("你好。Uploaded from the command line.", encoding="utf-8")
    out = tmp_path / "note.wav"
    done = run("upload", str(note), "--out", str(out))

    assert done.returncode == 0, done.stdout + done.stderr
    assert "inbox/note.txt: succeeded -> outputs/note.txt.wav" in done.stdout and "engine offline" in done.stdout
    assert "MODEL_UNAVAILABLE" in done.stdout  # the failover is printed as for `synthesize`
    assert wav_info(out.read_bytes()).sample_rate == 22050


def test_upload_to_a_running_serve_then_download_and_a_bad_upload(served: tuple[str, str], tmp_path: Path) -> None:
    _, endpoint = served
    env = {"TTS_LOCAL_ENDPOINT": endpoint}
    request = tmp_path / "req.json"
    request.write_text(json.dumps({"text": "Hello again.", "voice": "en-male"}))
    done = run("upload", str(request), "--key", "inbox/greetings/hello.json", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "-> outputs/greetings%2Fhello.json.wav" in done.stdout

    out = tmp_path / "back.wav"
    done = run("download", "outputs/greetings%2Fhello.json.wav", "--out", str(out), env=env)
    assert done.returncode == 0 and wav_info(out.read_bytes()).channels == 1

    broken = tmp_path / "broken.json"
    broken.write_text('{"text": ')
    done = run("upload", str(broken), env=env)
    assert done.returncode == 1 and "failed -> failed/broken.json.json" in done.stdout
    assert "error MALFORMED_JSON" in done.stdout
    done = run("download", "outputs/nothing.wav", "--out", str(out), env=env)
    assert done.returncode == 1 and "no s3://" in done.stderr


# ---- careless use (issue 24) ----------------------------------------------------------------------
def test_commands_find_a_serve_on_other_ports_without_being_told(served: tuple[str, str], tmp_path: Path) -> None:
    _, endpoint = served  # free ports, never the default 4566
    note = tmp_path / "notes.txt"
    note.write_text("Found without an endpoint.", encoding="utf-8")

    done = run("upload", str(note))  # no --endpoint, TTS_LOCAL_ENDPOINT empty

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"using the local stack served at {endpoint}" in done.stderr and "in-process" not in done.stderr
    out = tmp_path / "back.wav"
    done = run("download", "outputs/notes.txt.wav", "--out", str(out), env={"TTS_LOCAL_ENDPOINT": endpoint})
    assert done.returncode == 0 and wav_info(out.read_bytes()).channels == 1  # the running server has it


def test_a_recorded_serve_that_does_not_answer_is_refused_loudly(free_port) -> None:
    state = serve_state.ServeState(pid=os.getpid(), aws_endpoint=f"http://127.0.0.1:{free_port()}",
                                   api_url=f"http://127.0.0.1:{free_port()}", api_key_required=False)
    path = serve_state.write("tts-local", state)
    try:
        done = run("probe")
    finally:
        path.unlink()

    assert done.returncode != 0 and "runs but nothing answers" in done.stderr, done.stderr
    assert "in-process" not in done.stderr


def write_key_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "key"
    path.write_text(text)
    return path


def test_a_key_file_with_comments_gives_its_key_line(tts_local_serve, tmp_path: Path) -> None:
    key = f"k-{uuid.uuid4().hex}"
    key_file = write_key_file(tmp_path, f"# local key\n\n{key}\n# rotated monthly\n")
    api_url, _ = tts_local_serve("--api-key-file", str(key_file))

    request = urllib.request.Request(f"{api_url}/api/voices", headers={"x-api-key": key})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200


@pytest.mark.parametrize(("text", "says"), [("# only a comment\n\n", "holds no key"),
                                            ("key-one\nkey-two\n", "second key on line 2"),
                                            ("my key\n", "holds a space")])
def test_a_key_file_that_is_not_one_key_stops_serve_at_start(tmp_path: Path, free_port, text: str,
                                                             says: str) -> None:
    done = run("serve", "--port", str(free_port()), "--aws-port", str(free_port()),
               "--api-key-file", str(write_key_file(tmp_path, text)), timeout=30)

    assert done.returncode != 0 and says in done.stderr, done.stderr
    assert "ready" not in done.stdout


def test_voices_list_with_the_key_lists_the_keys_own_voices(tts_local_serve) -> None:
    key = f"k-{uuid.uuid4().hex}"
    api_url, _ = tts_local_serve(env={"TTS_LOCAL_API_KEY": key})
    rate = 24000
    t = np.arange(4 * rate) / rate
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 150 * t)).astype(np.float32), rate, format="WAV")
    body = {"name": "My narrator", "language": "en", "gender": "male",
            "audio_base64": base64.b64encode(buf.getvalue()).decode()}
    request = urllib.request.Request(f"{api_url}/api/voices", data=json.dumps(body).encode(), method="POST",
                                     headers={"x-api-key": key, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        voice = json.loads(answer.read())

    without = run("voices", "list", env={"TTS_LOCAL_API_KEY": ""})
    with_key = run("voices", "list", env={"TTS_LOCAL_API_KEY": key})

    assert without.returncode == 0 and voice["id"] not in without.stdout
    assert "the server checks API keys" in without.stdout  # says what it leaves out
    assert with_key.returncode == 0 and voice["id"] in with_key.stdout and "'My narrator'" in with_key.stdout
    assert "zh-female" in with_key.stdout  # and the catalogue


ACCESS_LINE = re.compile(r'"(GET|PUT|POST|HEAD|DELETE) /\S* HTTP/1\.1"')


FAST_PRIMARY = ("-p", "PrimaryTimeoutSeconds=2", "-p", "PrimaryRetryIntervalSeconds=1", "-p", "RetryBackoffRate=1.0",
                "-p", "RetryMaxDelaySeconds=1")


@pytest.mark.parametrize("aws_log", [False, True])
def test_the_serve_log_is_ours_unless_asked_and_never_coloured_in_a_file(tts_local_serve, aws_log: bool) -> None:
    # Segments that outlast the primary's 2 s timeout: their Map fails with States.Timeout, then the text
    # falls back. (slow, not timeout: the voice bootstrap at start prepares each voice on the primary too.)
    api_url, _ = tts_local_serve(*FAST_PRIMARY, *(["--aws-log"] if aws_log else []),
                                 env={"TTS_LOCAL_FAULTS": "primary=slow:3"}, timeout_s=120)
    text = " ".join(f"Sentence {n} of a text long enough to be cut into segments." for n in range(30))
    request = urllib.request.Request(f"{api_url}/api/synthesize", data=json.dumps({"text": text}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:  # no weights: the primary's Map fails
            status, job = answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        status, job = error.code, json.loads(error.read())
    time.sleep(1)

    log = tts_local_serve.output(api_url)
    assert status in (200, 202), (job, log[-3000:])
    assert "\x1b[" not in log  # a pipe, not a terminal
    assert bool(ACCESS_LINE.search(log)) is aws_log, log[-2000:]
    for moto_error in ("unhandled exception", "Unhandled termination error", "Traceback"):
        assert moto_error not in log, log[-3000:]
    assert "synthesis started" in log  # our own lines stay


def test_ssml_on_the_real_offline_engine_and_a_language_it_cannot_speak(tmp_path: Path) -> None:
    out = tmp_path / "ssml.wav"
    done = run("synthesize", '<speak>Hello. <break time="3s"/> <sub alias="World Wide Web">WWW</sub>.</speak>',
               "--voice", "en-female", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "engine used: offline" in done.stdout and wav_info(out.read_bytes()).duration_s > 3.5  # the break
    done = run("synthesize", "こんにちは")
    assert done.returncode == 2 and "UNSUPPORTED_LANGUAGE" in done.stderr and "Hiragana" in done.stderr


def test_book_writes_each_chapter_its_captions_and_the_manifest(tmp_path: Path) -> None:
    manuscript = tmp_path / "tiny.md"
    manuscript.write_text("# Morning\n\nThe *sun* rose.\n\n# Evening\n\nThe sun set. 天黑了。\n", encoding="utf-8")
    out = tmp_path / "book"
    done = run("book", str(manuscript), "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert [c["title"] for c in manifest["chapters"]] == ["Morning", "Evening"]
    for stem in ("01-morning", "02-evening"):
        assert wav_info((out / f"{stem}.wav").read_bytes()).duration_s > 0.3
        assert (out / f"{stem}.vtt").read_text(encoding="utf-8").startswith("WEBVTT")
    assert "2 of 2 chapters" in done.stdout
