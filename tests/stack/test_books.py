"""Book jobs on the local stack: the real book ASL (Distributed Maps reading the plan from S3) on moto,
engine doubles at the engine interface only."""

from __future__ import annotations

import json
import threading
import time
import uuid

import numpy as np
import pytest

from tts_core.audio import read_pcm16
from tts_core.books import jobs as book_jobs
from tts_core.books.models import BookRequest
from tts_core.errors import BookTooLongError, EngineError
from tts_core.platform import config, storage
from tts_core.platform.config import BookPlanSettings
from tts_local.doubles import ToneEngine

pytestmark = pytest.mark.stack

PAUSE_MS = 200
BOOK = {"BookSegmentMaxChars": "20", "BookMaxConcurrency": "4", "SegmentPauseMs": str(PAUSE_MS),
        "LastResortEnabled": "false"}
CHAPTERS = [
    {"title": "One", "text": "Alpha is first. Beta is second."},
    {"title": "Two", "text": "Gamma MARK here. Delta follows it."},
    {"title": "Three", "text": "Epsilon ends the book."},
]


def submit(stack, **fields) -> str:
    request = BookRequest.model_validate({"title": "Test Book", "chapters": CHAPTERS} | fields)
    return book_jobs.submit(stack.book_state_machine_arn, request, config.load(BookPlanSettings), str(uuid.uuid4()))


def wait(stack, request_id: str, timeout_s: float = 120):
    job = book_jobs.wait(stack.book_state_machine_arn, stack.bucket, request_id, timeout_s)
    assert job.status != "running", f"{request_id} still running"
    return job


def manifest_of(stack, job) -> dict:
    assert job.result is not None and job.result.manifest_key
    return storage.get_json(stack.bucket, job.result.manifest_key)


def history(stack, request_id: str) -> list[dict]:
    import boto3

    arn = stack.book_state_machine_arn.replace(":stateMachine:", ":execution:") + f":{request_id}"
    return boto3.client("stepfunctions", region_name="us-east-1").get_execution_history(executionArn=arn)["events"]


def test_a_book_is_voiced_by_chapter_in_order_with_its_manifest_and_captions(local_stack) -> None:
    primary = ToneEngine("primary")
    with local_stack(engines={"primary": primary, "fallback": ToneEngine("fallback")}, **BOOK) as stack:
        job = wait(stack, submit(stack))
        assert job.status == "succeeded", job
        manifest = manifest_of(stack, job)
        assert manifest["title"] == "Test Book"
        chapters = manifest["chapters"]
        assert [c["index"] for c in chapters] == [0, 1, 2]
        assert [c["title"] for c in chapters] == ["One", "Two", "Three"]
        assert all(c["engines"] == ["primary"] for c in chapters)
        assert chapters[0]["files"]["audio"] == f"outputs/{job.request_id}/01-one.wav"
        start = 0.0
        for chapter in chapters:
            assert chapter["start_s"] == pytest.approx(start, abs=1e-3)
            start += chapter["duration_s"]
            pcm, rate = read_pcm16(storage.get_bytes(stack.bucket, chapter["files"]["audio"]))
            assert pcm.size / rate == pytest.approx(chapter["duration_s"], abs=1e-3)
            srt = storage.get_bytes(stack.bucket, chapter["files"]["srt"]).decode()
            vtt = storage.get_bytes(stack.bucket, chapter["files"]["vtt"]).decode()
            assert vtt.startswith("WEBVTT")
            spoken = [line for line in srt.split("\n") if line and not line[0].isdigit()]
            # The cues are the chapter's segments in reading order, its title first.
            assert " ".join(spoken).startswith(chapter["title"])
            # ToneEngine speaks 0.25 s + 0.06 s per character: each cue's length gives its segment's text.
            cues = [c for c in srt.strip().split("\n\n")]
            assert len(cues) == chapter["segments"]
            assert pcm.size == pytest.approx(sum(round(rate * (0.25 + 0.06 * len(c.split("\n", 2)[2])))
                                                 for c in cues) + (len(cues) - 1) * round(rate * PAUSE_MS / 1000),
                                             abs=len(cues) * 2)
        assert manifest["totals"]["chapters"] == 3
        assert manifest["totals"]["duration_s"] == pytest.approx(start, abs=1e-3)
        assert manifest["estimate"]["primary_invocations"] == manifest["totals"]["segments"] == len(primary.calls)
        assert manifest["spent"]["by_engine"]["primary"]["segments"] == len(primary.calls)
