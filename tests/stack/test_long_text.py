"""Long texts on the local stack: the plan, the PrimarySegments Map, the join, the whole-request
fallback, the opt-in mixed mode and progress — the real ASL, with engine doubles at the engine
interface only."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from tts_core.audio import read_pcm16, wav_info
from tts_core.errors import EngineError, EngineUnavailableError
from tts_core.models import SynthesisRequest
from tts_core.pipeline import jobs
from tts_core.platform import storage
from tts_core.routing.route_store import RouteStore
from tts_core.segmentation import segment
from tts_local.doubles import ToneEngine

pytestmark = pytest.mark.stack

MAX_CHARS = 30  # the template's default SegmentMaxChars
PAUSE_MS = 200
# Longest first: with a cost that grows with the text, the segments finish in the reverse of their order.
SENTENCES = ["The first sentence is longest.", "The second is shorter.", "A third one is here.", "Fourth, shorter.",
             "Fifth is tiny."]
LONG_TEXT = " ".join(SENTENCES)


def states_entered(stack, request_id: str) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in stack.execution_history(request_id)
            if e["type"].endswith("StateEntered")]


def speech_runs(pcm: np.ndarray, rate: int, pause_ms: int) -> list[tuple[int, int]]:
    """(start, end) of the audio between the joined output's pauses: runs of exact zeros that long."""
    pause = int(rate * pause_ms / 1000)
    zero = np.concatenate([[False], pcm == 0, [False]])
    edges = np.flatnonzero(np.diff(zero.astype(np.int8)))
    gaps = [(s, e) for s, e in zip(edges[::2], edges[1::2], strict=True) if e - s >= pause]
    bounds = [0] + [b for gap in gaps for b in gap] + [pcm.size]
    return list(zip(bounds[::2], bounds[1::2], strict=True))


def test_segments_are_joined_in_text_order_with_the_pause(local_stack) -> None:
    primary = ToneEngine("primary", seconds_per_char=0.01)
    assert segment(LONG_TEXT, MAX_CHARS) == SENTENCES
    with local_stack(engines={"primary": primary}, SegmentPauseMs=str(PAUSE_MS)) as stack:
        job = stack.wait(stack.submit(SynthesisRequest(text=LONG_TEXT)))
        result = job.result
        assert result is not None and result.status == "succeeded", result
        assert result.engine_used == "primary"
        assert result.audio_key == storage.audio_key(job.request_id, "primary")
        assert sorted(c.text for c in primary.calls) == sorted(SENTENCES)  # one invocation per segment
        assert [(p.index, p.engine, p.attempts) for p in result.segments] == [(i, "primary", 1) for i in range(5)]
        assert {a.segment for a in result.attempts} == set(range(5))
        assert all(a.state == "SegmentPrimary" for a in result.attempts)
        assert "PrimarySegments" in states_entered(stack, job.request_id)
        assert "Primary" not in states_entered(stack, job.request_id)

        wav = storage.get_bytes(stack.bucket, result.audio_key)
        info = wav_info(wav)
        assert (info.channels, info.subtype, info.sample_rate) == (1, "PCM_16", 22050)
        pcm, rate = read_pcm16(wav)
        runs = speech_runs(pcm, rate, PAUSE_MS)
        # ToneEngine speaks 0.25 s + 0.06 s per character: the runs' lengths give the segments' order.
        expected = [round(rate * (0.25 + 0.06 * len(s))) for s in SENTENCES]
        assert [e - s for s, e in runs] == pytest.approx(expected, abs=2)
        assert runs[1][0] - runs[0][1] == round(rate * PAUSE_MS / 1000)
        assert result.duration_s == pytest.approx(pcm.size / rate, abs=1e-3)
        assert [p.duration_s for p in result.segments] == pytest.approx([n / rate for n in expected], abs=1e-3)

        # The joined output is cached like any primary audio: the same text again runs no segment.
        calls = len(primary.calls)
        again = stack.wait(stack.submit(SynthesisRequest(text=LONG_TEXT))).result
        assert again is not None and again.cache_hit and again.engine_used == "primary"
        assert again.segments is None and len(primary.calls) == calls
        assert storage.get_bytes(stack.bucket, again.audio_key) == wav


def test_a_text_that_fits_one_invocation_takes_the_single_primary_task(local_stack) -> None:
    primary = ToneEngine("primary")
    with local_stack(engines={"primary": primary}) as stack:
        job = stack.wait(stack.submit(SynthesisRequest(text="你好，世界。Hello.")))
        result = job.result
        assert result is not None and result.engine_used == "primary"
        assert result.audio_key == storage.audio_key(job.request_id, "primary")
        assert result.segments is None
        assert [(a.state, a.segment) for a in result.attempts] == [("Primary", None)]
        entered = states_entered(stack, job.request_id)
        assert "PlanSegments" in entered and "Primary" in entered
        assert "PrimarySegments" not in entered and "JoinSegments" not in entered
        assert [c.text for c in primary.calls] == ["你好，世界。Hello."]
        assert not storage.list_keys(stack.bucket, storage.segments_prefix(job.request_id))


def test_one_failing_segment_makes_the_whole_request_fall_back(local_stack) -> None:
    primary = ToneEngine("primary", fail_on={"A third one": EngineUnavailableError("segment 2 is down")})
    fallback = ToneEngine("fallback")
    with local_stack(engines={"primary": primary, "fallback": fallback}) as stack:
        job = stack.wait(stack.submit(SynthesisRequest(text=LONG_TEXT)))
        result = job.result
        assert result is not None and result.status == "succeeded"
        assert result.engine_used == "fallback"
        assert result.audio_key == storage.audio_key(job.request_id, "fallback")
        assert [c.text for c in fallback.calls] == [LONG_TEXT]  # the whole text, one voice
        assert result.segments is None
        failed = [a for a in result.attempts if a.outcome == "failed"]
        # The failing segment had its retries (FAST: 2) before the request fell back.
        assert [(a.engine, a.segment, a.code) for a in failed] == [("primary", 2, "ENGINE_UNAVAILABLE")] * 3
        assert result.attempts[-1].engine == "fallback" and result.attempts[-1].segment is None
        assert {a.outcome for a in result.attempts} <= {"succeeded", "failed", "abandoned"}  # none left "running"
        assert "JoinSegments" not in states_entered(stack, job.request_id)


def test_segments_in_flight_when_one_fails_are_recorded_as_abandoned(local_stack) -> None:
    # The last segment fails at once; the others (started before it) take a second or more.
    slow = ToneEngine("primary", seconds_per_char=0.05, fail_on={"Fifth": EngineError("cannot")})
    engines = {"primary": slow, "fallback": ToneEngine("fallback")}
    with local_stack(engines=engines, PrimaryTimeoutSeconds="10") as stack:
        result = stack.wait(stack.submit(SynthesisRequest(text=LONG_TEXT))).result

        assert result is not None and result.engine_used == "fallback"
        primary = [a for a in result.attempts if a.engine == "primary"]
        assert [(a.segment, a.outcome) for a in primary if a.outcome != "abandoned"] == [(4, "failed")]
        assert len(primary) > 1  # the segments still running were abandoned, not left "running"


def test_mixed_engines_is_an_opt_in_that_replaces_only_the_failing_segment(local_stack) -> None:
    primary = ToneEngine("primary", fail_on={"A third one": EngineError("this segment cannot be spoken")})
    fallback = ToneEngine("fallback")
    with local_stack(engines={"primary": primary, "fallback": fallback}) as stack:
        job = stack.wait(stack.submit(SynthesisRequest(text=LONG_TEXT, allow_mixed_engines=True)))
        result = job.result
        assert result is not None and result.status == "succeeded"
        assert result.engine_used == "mixed"
        assert result.audio_key == storage.audio_key(job.request_id, "mixed")
        assert [c.text for c in fallback.calls] == ["A third one is here."]
        assert [(p.engine, p.attempts) for p in result.segments] == [
            ("primary", 1), ("primary", 1), ("fallback", 2), ("primary", 1), ("primary", 1)]
        assert [(a.state, a.outcome) for a in result.attempts if a.segment == 2] == [
            ("SegmentPrimary", "failed"), ("SegmentFallback", "succeeded")]
        # A mixed output is never cached: the next identical request synthesizes again.
        assert not storage.list_keys(stack.bucket, "cache/")


def test_a_failing_plan_or_join_still_speaks(local_stack, monkeypatch) -> None:
    with local_stack(engines={"primary": ToneEngine("primary"), "fallback": ToneEngine("fallback")}) as stack:
        monkeypatch.setenv("TTS_LOCAL_FAULTS", "plan_segments=error")
        planless = stack.wait(stack.submit(SynthesisRequest(text=LONG_TEXT, cache=False))).result
        monkeypatch.setenv("TTS_LOCAL_FAULTS", "join_segments=error")
        joinless = stack.wait(stack.submit(SynthesisRequest(text=LONG_TEXT, cache=False))).result

        # No plan: the whole text in one primary invocation, as before segmentation existed.
        assert planless is not None and planless.engine_used == "primary" and planless.segments is None
        # The segments could not be joined: the whole request falls back rather than failing.
        assert joinless is not None and joinless.engine_used == "fallback"


def test_a_transient_segment_failure_is_retried_and_the_primary_keeps_the_request(local_stack) -> None:
    primary = ToneEngine("primary", failures=[EngineUnavailableError("blip")])
    with local_stack(engines={"primary": primary}) as stack:
        job = stack.wait(stack.submit(SynthesisRequest(text=LONG_TEXT)))
        result = job.result
        assert result is not None and result.engine_used == "primary"
        assert sorted(p.attempts for p in result.segments) == [1, 1, 1, 1, 2]
        route, _ = RouteStore(stack.route_parameter).read()
        assert route.consecutive_failures == 0  # a request the primary served never counts against it


def test_a_running_long_job_reports_segments_done_of_total(local_stack) -> None:
    primary = ToneEngine("primary", seconds_per_char=0.03)
    with local_stack(engines={"primary": primary}, SegmentMaxConcurrency="1") as stack:
        request_id = stack.submit(SynthesisRequest(text=LONG_TEXT))
        seen: list[tuple[int, int]] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job = jobs.status(stack.state_machine_arn, stack.bucket, request_id)
            if job.status != "running":
                break
            if job.progress is not None:
                seen.append((job.progress.segments_done, job.progress.segments_total))
            threading.Event().wait(0.05)
        assert job.status == "succeeded"
        assert job.progress is None and len(job.result.segments) == 5
        assert {total for _, total in seen} == {5}
        done = [d for d, _ in seen]
        assert done == sorted(done) and len(set(done)) >= 3  # it moved, one segment at a time, never back
