"""Shared fixtures. The local stack runs the real template and ASL on moto; engines may be
replaced by doubles (at the engine interface only) to drive the orchestration through faults."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from tts_core.engines import Engine
from tts_local.doubles import ToneEngine
from tts_local.http_api import ApiServer
from tts_local.stack import LocalStack

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
TTS_LOCAL = str(Path(sys.executable).parent / "tts-local")

# Short intervals and timeouts so that retries and timeouts take seconds, not minutes.
FAST = {
    "PrimaryTimeoutSeconds": "2",
    "PrimaryRetryIntervalSeconds": "1",
    "PrimaryRetryMaxAttempts": "2",
    "FallbackTimeoutSeconds": "5",
    "FallbackRetryIntervalSeconds": "1",
    "FallbackRetryMaxAttempts": "1",
    "StepRetryIntervalSeconds": "1",
    "StepRetryMaxAttempts": "1",
    "FallbackThrottleRetryMaxAttempts": "1",
    "RetryBackoffRate": "1.0",
    "RetryMaxDelaySeconds": "1",
}

StackFactory = Callable[..., AbstractContextManager[LocalStack]]
# Text markers that make served_api's engine doubles answer silence (0.0) or near-silence (-100 dBFS noise).
SILENT_PRIMARY = {"PRIMARYSILENT": 0.0, "PRIMARYNEARSILENT": 1e-5}
SILENT_BOTH = {"BOTHSILENT": 0.0}


@pytest.fixture
def load_event() -> Callable[[str], dict[str, Any]]:
    """`load_event("api_voices.json")`: a sample event from events/ (the files `sam local invoke -e` takes)."""
    return lambda name: json.loads((EVENTS / name).read_text())


@pytest.fixture
def local_stack(monkeypatch: pytest.MonkeyPatch) -> StackFactory:
    """`with local_stack(engines={...}, **parameters) as stack:` a fresh stack with FAST settings
    (`voices=True`: the voice bootstrap runs at start, as on a deploy)."""
    monkeypatch.delenv("TTS_LOCAL_FAULTS", raising=False)

    @contextmanager
    def make(engines: dict[str, Engine] | None = None, secrets: dict[str, str] | None = None,
             environment: dict[str, str] | None = None, voices: bool = False,
             **parameters: str) -> Iterator[LocalStack]:
        with LocalStack(FAST | parameters, engines=engines, secrets=secrets, environment=environment,
                        voices=voices) as stack:
            yield stack

    return make


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests may talk to 127.0.0.1 only: a connection anywhere else is a bug in the test or the code."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "localhost", "::1") and self.family != socket.AF_UNIX:
            raise ConnectionRefusedError(f"network access to {address} attempted in a test")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def free_port() -> Callable[[], int]:
    """`free_port()`: a TCP port on 127.0.0.1 that nothing listens on."""
    return _free_port


def _drain(stream: Any) -> None:
    for _ in stream:
        pass


@pytest.fixture
def tts_local_serve() -> Iterator[Callable[..., tuple[str, str]]]:
    """`api_url, aws_url = tts_local_serve("--api-key", "k", env={...})`: a `tts-local serve` process,
    ready, on free ports; stopped (SIGTERM) after the test."""
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str, env: dict[str, str] | None = None, timeout_s: float = 60) -> tuple[str, str]:
        api_port, aws_port = _free_port(), _free_port()
        server = subprocess.Popen([TTS_LOCAL, "serve", "--port", str(api_port), "--aws-port", str(aws_port), *args],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  env={**os.environ, **(env or {})})
        processes.append(server)
        deadline = time.monotonic() + timeout_s
        assert server.stdout is not None
        for line in server.stdout:
            if line.strip() == "ready":
                break
            assert time.monotonic() < deadline, "serve did not start"
        else:
            raise AssertionError(f"serve exited with {server.wait()}")
        # Keep reading its logs: a full pipe would block the server.
        threading.Thread(target=_drain, args=(server.stdout,), daemon=True).start()
        return f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{aws_port}"

    yield start
    for server in processes:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)


@contextmanager
def _served_api(parameters: dict[str, str]) -> Iterator[tuple[LocalStack, ApiServer]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("TTS_LOCAL_FAULTS", raising=False)
        engines: dict[str, Engine] = {"primary": ToneEngine("primary", silent_on=SILENT_PRIMARY | SILENT_BOTH),
                                      "fallback": ToneEngine("fallback", silent_on=SILENT_BOTH)}
        with LocalStack(parameters, engines=engines) as stack:
            server = ApiServer(stack, port=0, admin_key="test-admin-key")
            server.start()
            try:
                yield stack, server
            finally:
                server.stop()


@pytest.fixture(scope="module")
def served_api() -> Callable[[dict[str, str]], AbstractContextManager[tuple[LocalStack, ApiServer]]]:
    """`with served_api({...parameters}) as (stack, server):` a local stack with engine doubles and its
    HTTP API on 127.0.0.1, for module-scoped fixtures (a stack per test is too slow for big tables).
    No API key is checked; PUT /api/route needs `x-admin-key: server.admin_key`. A text holding a marker
    of SILENT_PRIMARY (SILENT_BOTH) gets silence from the primary (and the fallback)."""
    return _served_api
