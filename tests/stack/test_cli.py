"""`tts-local` as a person runs it: a fresh in-process stack, and a client talking to `serve`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tts_core.audio import wav_info

pytestmark = pytest.mark.stack
TTS_LOCAL = str(Path(sys.executable).parent / "tts-local")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
def served() -> Iterator[tuple[str, str]]:
    api_port, aws_port = free_port(), free_port()
    server = subprocess.Popen([TTS_LOCAL, "serve", "--port", str(api_port), "--aws-port", str(aws_port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        assert server.stdout is not None
        for line in server.stdout:
            if line.strip() == "ready":
                break
            assert time.monotonic() < deadline, "serve did not start"
        yield f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{aws_port}"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)


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


def test_an_explicit_endpoint_that_does_not_answer_is_an_error() -> None:
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


def test_serve_runs_the_probe_on_its_schedule() -> None:
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
