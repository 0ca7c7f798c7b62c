"""SambertEngine through the real dashscope SDK, against the local DashScope WebSocket server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import numpy as np
import pytest

from tts_core.deadline import Deadline
from tts_core.engines.sambert import (
    SAMBERT_MAX_CHARS,
    STYLES,
    SambertEngine,
    StyleAdjust,
    classify_failure,
    sambert_params,
    split_text,
    validate_styles,
)
from tts_core.errors import (
    EngineAuthError,
    EngineError,
    EngineLanguageError,
    EngineNotConfiguredError,
    EngineRejectedError,
    EngineThrottledError,
    EngineTimeoutError,
    EngineUnavailableError,
    TtsError,
)
from tts_core.models import SynthesisRequest
from tts_local.dashscope_server import DashScopeServer

SECONDS_PER_CHAR = 0.02  # the local server's audio length per character


class Keys:
    """A key provider that records how it was asked: `keys[0]` normally, `keys[1]` on refresh."""

    def __init__(self, first: str | None, refreshed: str | None = None) -> None:
        self.first = first
        self.refreshed = first if refreshed is None else refreshed
        self.calls: list[bool] = []

    def __call__(self, refresh: bool = False) -> str | None:
        self.calls.append(refresh)
        return self.refreshed if refresh else self.first


@pytest.fixture(scope="module")
def server() -> Iterator[DashScopeServer]:
    with DashScopeServer(seconds_per_char=SECONDS_PER_CHAR) as srv:
        yield srv


@pytest.fixture
def dashscope(server: DashScopeServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[DashScopeServer]:
    """The shared server, reset to the success scenario for each test."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # the SDK's aiohttp session trusts proxy env vars
    server.reset()
    server.seconds_per_char = SECONDS_PER_CHAR
    yield server
    server.reset()


def engine_for(server: DashScopeServer, keys: Keys | None = None, **kwargs: int) -> SambertEngine:
    return SambertEngine(keys or Keys("test-key"), server.url, **kwargs)


def request(text: str = "你好，世界。Hello world.", **fields: object) -> SynthesisRequest:
    return SynthesisRequest.model_validate({"text": text, **fields})


# -- success -----------------------------------------------------------------------------------


def test_given_a_chinese_voice_then_wav_at_the_voice_rate(dashscope: DashScopeServer) -> None:
    text = "今天天气很好。We go out."
    audio = engine_for(dashscope).synthesize(request(text, voice="zh-female"), Deadline.in_seconds(10))

    assert audio.sample_rate == 48000
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert len(audio.samples) / audio.sample_rate == pytest.approx(len(text) * SECONDS_PER_CHAR, abs=0.01)
    assert float(np.max(np.abs(audio.samples))) > 0.1  # a real tone, not silence
    [sent] = dashscope.requests
    assert sent.model == "sambert-zhiqi-v1"
    assert sent.text == text
    assert sent.api_key == "test-key"
    assert sent.parameters == {"format": "wav", "sample_rate": 48000, "rate": 1.0, "pitch": 1.0, "volume": 50}


def test_given_an_english_voice_then_its_model_and_16k(dashscope: DashScopeServer) -> None:
    audio = engine_for(dashscope).synthesize(request("Good morning.", voice="en-male"),
                                             Deadline.in_seconds(10))

    assert audio.sample_rate == 16000
    assert dashscope.requests[0].model == "sambert-brian-v1"
    assert dashscope.requests[0].parameters["sample_rate"] == 16000


def test_given_indextts25s_spanish_female_voice_then_camila(dashscope: DashScopeServer,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INDEXTTS_MODEL", "indextts2.5")
    audio = engine_for(dashscope).synthesize(request("Buenos días.", voice="es-female"), Deadline.in_seconds(10))

    assert audio.sample_rate == 16000 and dashscope.requests[0].model == "sambert-camila-v1"


@pytest.mark.parametrize("voice", ["ja-female", "ar-male", "es-male"])
def test_given_a_voice_sambert_has_none_for_then_refused_before_any_call(dashscope: DashScopeServer,
                                                                        monkeypatch: pytest.MonkeyPatch,
                                                                        voice: str) -> None:
    monkeypatch.setenv("INDEXTTS_MODEL", "indextts2.5")
    keys = Keys("test-key")
    with pytest.raises(EngineLanguageError, match="Sambert has no voice that speaks") as refused:
        engine_for(dashscope, keys).synthesize(request("كلمة", voice=voice), Deadline.in_seconds(10))

    assert (refused.value.code, refused.value.retryable) == ("ENGINE_LANGUAGE_UNSUPPORTED", False)
    assert dashscope.requests == [] and keys.calls == []  # neither the service nor the key was asked


def test_given_task_finished_carrying_a_sentence_then_still_success(dashscope: DashScopeServer) -> None:
    # The SDK then records no final status at all; only a failure would have recorded one.
    dashscope.scenario = "finish_with_sentence"
    audio = engine_for(dashscope).synthesize(request(), Deadline.in_seconds(10))
    assert len(audio.samples) > 0


# -- errors by class -----------------------------------------------------------------------------


@pytest.mark.parametrize(("scenario", "error", "code", "detail"), [
    ("throttle", EngineThrottledError, "ENGINE_THROTTLED", "Throttling.RateQuota"),
    ("invalid_key", EngineAuthError, "ENGINE_AUTH_FAILED", "401"),
    ("content_rejected", EngineRejectedError, "ENGINE_REJECTED", "DataInspectionFailed"),
    ("invalid_parameter", EngineRejectedError, "ENGINE_REJECTED", "InvalidParameter"),
    ("drop", EngineUnavailableError, "ENGINE_UNAVAILABLE", "Unknown"),
    ("partial_then_fail", EngineUnavailableError, "ENGINE_UNAVAILABLE", "InternalError"),
])
def test_given_a_failing_service_then_error_by_class(
        dashscope: DashScopeServer, scenario: str, error: type[TtsError], code: str, detail: str) -> None:
    dashscope.scenario = scenario
    with pytest.raises(error) as caught:
        engine_for(dashscope).synthesize(request(), Deadline.in_seconds(10))

    assert type(caught.value) is error
    assert caught.value.code == code
    assert caught.value.detail == detail
    assert caught.value.retryable is (error in (EngineThrottledError, EngineUnavailableError))


def test_given_the_scenario_in_the_key_then_that_scenario(dashscope: DashScopeServer) -> None:
    with pytest.raises(EngineThrottledError):
        engine_for(dashscope, Keys("scenario:throttle")).synthesize(request(), Deadline.in_seconds(10))


def test_given_partial_audio_then_failure_no_audio_is_returned(dashscope: DashScopeServer) -> None:
    # The SDK hands back the audio received before task-failed; the status must win over it.
    dashscope.scenario = "partial_then_fail"
    with pytest.raises(EngineUnavailableError, match="InternalError"):
        engine_for(dashscope).synthesize(request("一二三四五六七八九十。" * 5), Deadline.in_seconds(10))


def test_given_nothing_listening_then_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # free, and nothing listens once closed
    engine = SambertEngine(Keys("k"), f"ws://127.0.0.1:{port}/api-ws/v1/inference")
    with pytest.raises(EngineUnavailableError) as caught:
        engine.synthesize(request(), Deadline.in_seconds(10))
    assert caught.value.detail == "ClientConnectorError"


@pytest.mark.parametrize("key", [None, "", "   "])
def test_given_no_key_then_not_configured_and_no_connection(
        dashscope: DashScopeServer, key: str | None) -> None:
    with pytest.raises(EngineNotConfiguredError):
        engine_for(dashscope, Keys(key)).synthesize(request(), Deadline.in_seconds(10))
    assert dashscope.handshakes == 0


def test_given_dashscope_not_installed_then_not_configured(
        dashscope: DashScopeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dashscope.audio.tts", None)  # makes the lazy import fail
    with pytest.raises(EngineNotConfiguredError) as caught:
        engine_for(dashscope).synthesize(request(), Deadline.in_seconds(10))
    assert caught.value.detail == "NoSdk"


def test_importing_the_engine_does_not_import_dashscope() -> None:
    code = ("import sys; import tts_core.engines.sambert as s; s.SambertEngine(lambda refresh=False: 'k'); "
            "print('dashscope' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- deadline ------------------------------------------------------------------------------------


@pytest.mark.parametrize("budget", [1.0, 2.0])
def test_given_a_silent_server_then_timeout_within_the_deadline(
        dashscope: DashScopeServer, budget: float) -> None:
    dashscope.scenario = "hang"
    started = time.monotonic()
    with pytest.raises(EngineTimeoutError) as caught:
        engine_for(dashscope).synthesize(request(), Deadline.in_seconds(budget))
    elapsed = time.monotonic() - started

    assert budget - 0.05 <= elapsed < budget + 1.0
    assert caught.value.retryable and caught.value.code == "ENGINE_TIMEOUT"
    assert len(dashscope.requests) == 1  # it really was connected and waiting


def test_given_an_expired_deadline_then_timeout_without_connecting(dashscope: DashScopeServer) -> None:
    with pytest.raises(EngineTimeoutError):
        engine_for(dashscope).synthesize(request(), Deadline(time.monotonic() - 1))
    assert dashscope.handshakes == 0


# -- auth refresh --------------------------------------------------------------------------------


def test_given_a_rotated_key_then_one_refresh_and_retry(dashscope: DashScopeServer) -> None:
    dashscope.valid_keys = {"new-key"}
    keys = Keys("old-key", "new-key")
    audio = engine_for(dashscope, keys).synthesize(request(), Deadline.in_seconds(10))

    assert len(audio.samples) > 0
    assert keys.calls == [False, True]
    assert dashscope.handshakes == 2
    assert [r.api_key for r in dashscope.requests] == ["new-key"]  # the 401 came before any run-task


def test_given_a_rotated_key_then_later_chunks_use_the_new_key(dashscope: DashScopeServer) -> None:
    dashscope.valid_keys = {"new-key"}
    keys = Keys("old-key", "new-key")
    engine_for(dashscope, keys, max_chunk_chars=10).synthesize(
        request("第一句话在这里。第二句话在这里。第三句话在这里。"), Deadline.in_seconds(10))

    assert keys.calls == [False, True]
    assert [r.api_key for r in dashscope.requests] == ["new-key"] * 3


def test_given_the_refreshed_key_is_the_same_then_no_second_attempt(dashscope: DashScopeServer) -> None:
    dashscope.valid_keys = {"other"}
    keys = Keys("bad-key")
    with pytest.raises(EngineAuthError):
        engine_for(dashscope, keys).synthesize(request(), Deadline.in_seconds(10))
    assert keys.calls == [False, True]
    assert dashscope.handshakes == 1


def test_given_the_refreshed_key_also_fails_then_one_retry_only(dashscope: DashScopeServer) -> None:
    dashscope.valid_keys = {"other"}
    keys = Keys("bad-key", "still-bad")
    with pytest.raises(EngineAuthError):
        engine_for(dashscope, keys).synthesize(request(), Deadline.in_seconds(10))
    assert keys.calls == [False, True]
    assert dashscope.handshakes == 2


# -- long text -----------------------------------------------------------------------------------


def test_given_long_text_then_several_requests_and_joined_audio(dashscope: DashScopeServer) -> None:
    sentences = [f"这是第{i}个句子，用来测试分段。" for i in range(12)] + ["And a last English one!"]
    text = "".join(sentences)
    engine = engine_for(dashscope, max_chunk_chars=60)

    audio = engine.synthesize(request(text), Deadline.in_seconds(20))

    sent = [r.text for r in dashscope.requests]
    assert len(sent) >= 4
    assert all(len(t) <= 60 for t in sent)
    assert "".join(sent) == text  # nothing lost, nothing repeated
    assert all(t.endswith(("。", "!")) for t in sent)  # cut at sentence ends
    first_chunk_s = len(sent[0]) * SECONDS_PER_CHAR
    assert len(audio.samples) / audio.sample_rate == pytest.approx(len(text) * SECONDS_PER_CHAR, abs=0.05)
    assert len(audio.samples) / audio.sample_rate > 3 * first_chunk_s


def test_given_text_over_sambert_limit_then_split_at_10000(dashscope: DashScopeServer) -> None:
    # The local server rejects a request over 10,000 characters, as Sambert does.
    dashscope.seconds_per_char = 0.0005  # keep the audio small
    text = "这是一个很长的测试句子。" * 2200  # 26,400 characters
    audio = engine_for(dashscope).synthesize(request(text, voice="en-female"), Deadline.in_seconds(30))

    sizes = [len(r.text) for r in dashscope.requests]
    assert len(sizes) == 3 and max(sizes) <= SAMBERT_MAX_CHARS
    assert sum(sizes) == len(text)
    assert audio.sample_rate == 16000


# -- style mapping -------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["default", "emotional", "narration"])
def test_given_a_style_then_the_server_receives_the_scaled_prosody(
        dashscope: DashScopeServer, style: str) -> None:
    engine_for(dashscope).synthesize(request(style=style, speed=1.2, pitch=0.9, volume=60),
                                     Deadline.in_seconds(10))
    adj = STYLES[style]
    params = dashscope.requests[0].parameters
    assert params["rate"] == pytest.approx(1.2 * adj.rate, abs=1e-3)
    assert params["pitch"] == pytest.approx(0.9 * adj.pitch, abs=1e-3)
    assert params["volume"] == round(60 * adj.volume)


def test_styles_differ() -> None:
    got = {s: sambert_params(request(style=s)) for s in ("default", "emotional", "narration")}
    assert len(set(got.values())) == 3
    assert got["narration"].rate < got["default"].rate < got["emotional"].rate


def test_given_extreme_values_then_clamped_and_accepted_by_the_server(dashscope: DashScopeServer) -> None:
    engine = engine_for(dashscope)
    engine.synthesize(request(style="emotional", speed=2.0, pitch=2.0, volume=100), Deadline.in_seconds(10))
    engine.synthesize(request(style="narration", speed=0.5, pitch=0.5, volume=0), Deadline.in_seconds(10))
    high, low = (r.parameters for r in dashscope.requests)
    assert (high["rate"], high["pitch"], high["volume"]) == (2.0, 2.0, 100)
    assert (low["rate"], low["pitch"], low["volume"]) == (0.5, 0.5, 0)


def test_style_table_is_validated() -> None:
    validate_styles(STYLES)
    with pytest.raises(ValueError, match="keys"):
        validate_styles({"default": StyleAdjust(1, 1, 1)})
    with pytest.raises(ValueError, match="outside"):
        validate_styles({**STYLES, "emotional": StyleAdjust(rate=3.0, pitch=1, volume=1)})
    with pytest.raises(ValueError):
        SambertEngine(Keys("k"), styles={"default": StyleAdjust(1, 1, 1)})


# -- pure helpers --------------------------------------------------------------------------------


def test_split_text_keeps_short_text_whole() -> None:
    assert split_text("你好。Hello!", 100) == ["你好。Hello!"]


def test_split_text_cuts_at_sentence_ends_and_lines() -> None:
    chunks = split_text("一二三。四五六！七八九？\n十一十二；end.", 5)
    assert chunks == ["一二三。", "四五六！", "七八九？", "十一十二；", "end."]


def test_split_text_keeps_decimals_and_packs_greedily() -> None:
    text = "Pi is 3.14 exactly. Or not. Yes."
    assert split_text(text, 20) == ["Pi is 3.14 exactly.", "Or not. Yes."]


def test_split_text_falls_back_to_commas_then_hard_cuts() -> None:
    assert split_text("一二三四，五六七八，九十", 5) == ["一二三四，", "五六七八，", "九十"]
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_split_text_never_exceeds_the_limit_and_loses_nothing() -> None:
    rng = np.random.default_rng(7)
    alphabet = list("我们的汉字abc ，。！？；.!?\n")
    for _ in range(200):
        text = "".join(rng.choice(alphabet, size=int(rng.integers(1, 300))))
        limit = int(rng.integers(1, 50))
        chunks = split_text(text, limit)
        assert all(0 < len(c) <= limit for c in chunks)
        assert "".join(chunks).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace("\n", "")


@pytest.mark.parametrize(("status", "code", "error"), [
    (44, "Throttling.AllocationQuota", EngineThrottledError),
    (429, "", EngineThrottledError),
    (401, 401, EngineAuthError),
    (44, "InvalidApiKey", EngineAuthError),
    (44, "DataInspectionFailed", EngineRejectedError),
    (44, "InvalidParameter.TextTooLong", EngineRejectedError),
    (-1, "ClientConnectorError", EngineUnavailableError),
    (503, 503, EngineUnavailableError),
    (44, "SomethingNew", EngineError),
])
def test_classify_failure(status: int, code: object, error: type[TtsError]) -> None:
    exc = classify_failure(status, code, "msg")
    assert type(exc) is error
    assert exc.detail == (str(code) or "Unknown")


def test_given_a_rate_limited_server_then_tasks_over_the_limit_are_throttled(dashscope: DashScopeServer) -> None:
    """The server's rate limit answers as DashScope does past its per-account QPS: Throttling.RateQuota."""
    dashscope.rate_limit = 2  # reset() lifts it for the next test
    engine = engine_for(dashscope)
    for _ in range(2):
        engine.synthesize(request(), Deadline.in_seconds(10))
    with pytest.raises(EngineThrottledError) as caught:
        engine.synthesize(request(), Deadline.in_seconds(10))
    assert caught.value.detail == "Throttling.RateQuota" and dashscope.throttled == 1
    time.sleep(1.05)  # the window has moved on
    assert len(engine.synthesize(request(), Deadline.in_seconds(10)).samples) > 0
