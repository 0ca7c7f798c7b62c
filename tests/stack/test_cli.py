"""`tts-local` as a person runs it: a fresh in-process stack, and a client talking to `serve`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tts_core.audio import wav_info

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
