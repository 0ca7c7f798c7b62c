"""A local stand-in for DashScope's WebSocket TTS endpoint (Sambert), for tests and the local stack.

It speaks the protocol the unmodified `dashscope` SDK uses (`SpeechSynthesizer.call`):
the client opens a WebSocket with `Authorization: Bearer <key>` and sends one `run-task` JSON;
the server answers `task-started`, binary audio frames, `result-generated` (payload.output.sentence)
and `task-finished` (payload.output = null), or `task-failed` with header.error_code/error_message.
An invalid key is refused at the handshake with HTTP 401, as the real service does.

Built on aiohttp, which is already a dependency of the SDK: no extra package.

    with DashScopeServer() as server:
        server.scenario = "throttle"          # or use the API key "scenario:throttle"
    DashScopeServer(rate_limit=20, latency_s=0.5)  # DashScope's account limit: the 21st task in a
                                                   # second fails with Throttling.RateQuota
        SpeechSynthesizer.call(..., base_address=server.url, api_key="k")
        server.requests[-1].parameters       # what the SDK sent
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import socket
import threading
import time
import wave
import zlib
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import WSMsgType, web

SCENARIOS = (
    "success",  # a valid WAV/PCM tone, as long as the text would take to say
    "throttle",  # task-failed Throttling.RateQuota
    "invalid_key",  # HTTP 401 at the handshake
    "content_rejected",  # task-failed DataInspectionFailed
    "invalid_parameter",  # task-failed InvalidParameter
    "hang",  # accept the task, then stay connected and send nothing
    "drop",  # task-started, some audio, then the TCP connection is cut
    "partial_then_fail",  # task-started, some audio, then task-failed InternalError
    "finish_with_sentence",  # success, but task-finished carries output.sentence (no null output)
)
KEY_SCENARIO_PREFIX = "scenario:"  # an API key "scenario:<name>" picks the scenario for that call

SAMPLE_RATES = (8000, 16000, 22050, 24000, 44100, 48000)
MAX_TEXT_CHARS = 10_000  # Sambert's documented limit per request
_MODEL_RE = re.compile(r"^sambert-[a-z0-9-]+-v1$")
_MAX_AUDIO_S = 120.0
# Sambert's pace, roughly: ~4.5 Chinese characters and ~15 other characters (~2.5 English words) a second.
SPEECH_SECONDS = {"cjk": 0.22, "other": 0.065}  # keeps a mistaken huge request from allocating gigabytes


@dataclass
class RunTask:
    """One `run-task` request as the server received it."""

    task_id: str
    model: str
    text: str
    parameters: dict[str, Any]
    api_key: str | None
    scenario: str
    raw: dict[str, Any] = field(repr=False)


class DashScopeServer:
    """Runs on 127.0.0.1 at a free port in a background thread (its own event loop)."""

    def __init__(self, scenario: str = "success", *, valid_keys: Collection[str] | None = None,
                 seconds_per_char: float | None = None, frame_bytes: int = 8192, host: str = "127.0.0.1",
                 rate_limit: float | None = None, latency_s: float = 0.0) -> None:
        self.scenario = scenario
        # Tasks accepted per second (a sliding one-second window, as DashScope's per-account QPS limit);
        # a task over it is answered task-failed Throttling.RateQuota. None: no limit.
        self.rate_limit = rate_limit
        self.latency_s = latency_s  # the synthesis' own time before the first audio frame
        self.throttled = 0
        self._accepted_at: deque[float] = deque()
        # None accepts any key; a collection makes every other key fail with 401 (key rotation tests).
        self.valid_keys: Collection[str] | None = valid_keys
        # None: about as long as Sambert takes to say the text (SPEECH_SECONDS); a number: that per character.
        self.seconds_per_char = seconds_per_char
        self.frame_bytes = frame_bytes
        self.host = host
        self.requests: list[RunTask] = []
        self.handshakes = 0  # every WebSocket attempt, accepted or refused
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._open: set[web.WebSocketResponse] = set()
        self._stopping: asyncio.Event | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("server not started")
        return f"ws://{self.host}:{self.port}/api-ws/v1/inference"

    def start(self) -> DashScopeServer:
        if self._thread is not None:
            raise RuntimeError("server already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        ready = threading.Event()
        failure: list[BaseException] = []
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._serve(sock))
            except BaseException as exc:  # reported to start(); the thread then ends
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="dashscope-local-server", daemon=True)
        self._thread.start()
        if not ready.wait(10) or failure:
            raise RuntimeError(f"local DashScope server failed to start: {failure[:1]}")
        return self

    def stop(self) -> None:
        """Close every open connection (this ends any hung SDK call too) and stop the loop."""
        if self._loop is None or self._thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        with contextlib.suppress(Exception):
            future.result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._loop = None
        self._thread = None

    def __enter__(self) -> DashScopeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self, scenario: str = "success") -> None:
        """Forget recorded requests and go back to a scenario (between tests sharing a server)."""
        self.scenario = scenario
        self.valid_keys = None
        self.requests.clear()
        self.handshakes = 0
        self.rate_limit = None
        self.latency_s = 0.0
        self.throttled = 0
        self._accepted_at.clear()

    async def _serve(self, sock: socket.socket) -> None:
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    async def _shutdown(self) -> None:
        assert self._stopping is not None
        self._stopping.set()
        for ws in list(self._open):
            with contextlib.suppress(Exception):
                await ws.close(code=1001, message=b"server stopping")
        if self._runner is not None:
            await self._runner.cleanup()

    # -- protocol ----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.handshakes += 1
        auth = request.headers.get("Authorization", "")
        key = auth.removeprefix("Bearer ").strip() or None
        scenario = self.scenario
        if key and key.startswith(KEY_SCENARIO_PREFIX):
            scenario = key.removeprefix(KEY_SCENARIO_PREFIX)
        if scenario not in SCENARIOS:
            return web.Response(status=400, text=f"unknown scenario {scenario!r}")
        refused = self.valid_keys is not None and key not in self.valid_keys
        if scenario == "invalid_key" or not key or refused:
            return web.json_response({"code": "InvalidApiKey", "message": "Invalid API-key provided."},
                                     status=401)

        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        self._open.add(ws)
        try:
            msg = await ws.receive()
            if msg.type != WSMsgType.TEXT:
                return ws
            raw = json.loads(msg.data)
            header, payload = raw.get("header", {}), raw.get("payload", {})
            task_id = str(header.get("task_id", ""))
            if header.get("action") != "run-task":
                await self._fail(ws, task_id, "InvalidParameter",
                                 f"expected run-task, got {header.get('action')}")
                return ws
            self.requests.append(RunTask(
                task_id=task_id, model=str(payload.get("model", "")),
                text=str((payload.get("input") or {}).get("text", "")),
                parameters=dict(payload.get("parameters") or {}), api_key=key, scenario=scenario, raw=raw))
            await self._run_scenario(scenario, ws, request, self.requests[-1])
        finally:
            self._open.discard(ws)
        return ws

    async def _run_scenario(self, scenario: str, ws: web.WebSocketResponse, request: web.Request,
                            task: RunTask) -> None:
        tid = task.task_id
        if scenario == "throttle" or self._over_rate_limit():
            await self._fail(ws, tid, "Throttling.RateQuota",
                             "Requests rate limit exceeded, please try again later.")
        elif scenario == "content_rejected":
            await self._fail(ws, tid, "DataInspectionFailed", "Input data may contain inappropriate content.")
        elif scenario == "invalid_parameter":
            await self._fail(ws, tid, "InvalidParameter", "Invalid parameter (forced by the local server).")
        elif scenario == "hang":
            await self._wait_for_close(ws, forever=True)
        elif scenario in ("drop", "partial_then_fail"):
            audio = self._audio(task)
            if isinstance(audio, str):
                await self._fail(ws, tid, "InvalidParameter", audio)
                return
            await self._event(ws, tid, "task-started", {})
            await ws.send_bytes(audio[: max(1, len(audio) // 3)])
            if scenario == "drop":
                # Cut the TCP connection without a close frame, as a network failure would.
                if request.transport is not None:
                    request.transport.abort()
                return
            await self._fail(ws, tid, "InternalError", "Internal error during synthesis.")
        else:  # success, finish_with_sentence
            audio = self._audio(task)
            if isinstance(audio, str):
                await self._fail(ws, tid, "InvalidParameter", audio)
                return
            await self._event(ws, tid, "task-started", {})
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
            for start in range(0, len(audio), self.frame_bytes):
                await ws.send_bytes(audio[start:start + self.frame_bytes])
            end_ms = int(self._duration(task) * 1000)
            sentence = {"begin_time": 0, "end_time": end_ms, "words": []}
            await self._event(ws, tid, "result-generated", {"output": {"sentence": sentence}})
            final_output = {"sentence": sentence} if scenario == "finish_with_sentence" else None
            await self._event(ws, tid, "task-finished",
                              {"output": final_output, "usage": {"characters": len(task.text)}})
            await self._wait_for_close(ws, forever=False)

    def _over_rate_limit(self) -> bool:
        """Counts the task against the rate limit; True if it is over (it is then not counted). Runs on
        the server's one event loop, so no lock is needed."""
        if self.rate_limit is None:
            return False
        now = time.monotonic()
        while self._accepted_at and now - self._accepted_at[0] >= 1.0:
            self._accepted_at.popleft()
        if len(self._accepted_at) >= self.rate_limit:
            self.throttled += 1
            return True
        self._accepted_at.append(now)
        return False

    async def _event(self, ws: web.WebSocketResponse, task_id: str, event: str,
                     payload: dict[str, Any]) -> None:
        await ws.send_str(json.dumps({"header": {"task_id": task_id, "event": event, "attributes": {}},
                                      "payload": payload}, ensure_ascii=False))

    async def _fail(self, ws: web.WebSocketResponse, task_id: str, code: str, message: str) -> None:
        header = {"task_id": task_id, "event": "task-failed", "error_code": code, "error_message": message,
                  "attributes": {}}
        await ws.send_str(json.dumps({"header": header, "payload": {}}))
        await self._wait_for_close(ws, forever=False)

    async def _wait_for_close(self, ws: web.WebSocketResponse, *, forever: bool) -> None:
        """Wait for the client to close (it does after the last event); `forever` is for `hang`."""
        assert self._stopping is not None
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            while not ws.closed:
                receive = asyncio.ensure_future(ws.receive())
                done, _ = await asyncio.wait({receive, stopping}, timeout=None if forever else 5.0,
                                             return_when=asyncio.FIRST_COMPLETED)
                if receive not in done:
                    receive.cancel()
                    return
                if receive.result().type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                                             WSMsgType.ERROR):
                    return
        finally:
            stopping.cancel()

    # -- audio -------------------------------------------------------------------------------

    def _duration(self, task: RunTask) -> float:
        if self.seconds_per_char is not None:
            seconds = len(task.text) * self.seconds_per_char
        else:
            seconds = sum(SPEECH_SECONDS["cjk" if "\u3400" <= ch <= "\u9fff" else "other"] for ch in task.text)
        return min(_MAX_AUDIO_S, max(0.2, seconds))

    def _audio(self, task: RunTask) -> bytes | str:
        """The encoded audio for a task, or the reason its parameters are invalid."""
        p = task.parameters
        if not _MODEL_RE.match(task.model):
            return f"Model not exist: {task.model!r}"
        if not task.text.strip():
            return "input.text is empty"
        if len(task.text) > MAX_TEXT_CHARS:
            return f"input.text has {len(task.text)} characters; the limit is {MAX_TEXT_CHARS}"
        rate = p.get("sample_rate", 16000)
        if rate not in SAMPLE_RATES:
            return f"sample_rate {rate} not supported"
        for name in ("rate", "pitch"):
            value = p.get(name, 1.0)
            if not isinstance(value, int | float) or not 0.5 <= value <= 2.0:
                return f"{name} must be in [0.5, 2.0], got {value!r}"
        volume = p.get("volume", 50)
        if not isinstance(volume, int) or not 0 <= volume <= 100:
            return f"volume must be an integer in [0, 100], got {volume!r}"
        fmt = p.get("format", "wav")
        if fmt not in ("wav", "pcm"):
            return f"format {fmt!r} not supported by the local server"
        pcm = _tone(self._duration(task), int(rate), _base_hz(task.model) * float(p.get("pitch", 1.0)), int(volume))
        if fmt == "pcm":
            return pcm.tobytes()
        buf = io.BytesIO()
        with wave.open(buf, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(int(rate))
            out.writeframes(pcm.tobytes())
        return buf.getvalue()


def _base_hz(model: str) -> float:
    """Each Sambert voice its own pitch (110-219 Hz), so references recorded in different voices differ."""
    return 110.0 + zlib.crc32(model.encode()) % 110


def _tone(seconds: float, rate: int, hz: float, volume: int) -> np.ndarray:
    """A speech-like stand-in: a tone with a 4 Hz syllable envelope, int16 mono."""
    t = np.arange(int(seconds * rate), dtype=np.float64) / rate
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * t)
    signal = np.sin(2 * np.pi * hz * t) * envelope * (0.6 * volume / 100 + 0.05)
    return np.round(signal * 32767).astype("<i2")
