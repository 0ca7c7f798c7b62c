"""A book on the local stack: how the book state machine's figures grow with the manuscript.

A generated manuscript (100 chapters by default, Chinese and English sentences mixed, `第N章` and
`Chapter N` headings) goes through POST /api/books' path (tts_core.books.jobs.submit) on an in-process
local stack. The primary is a double of fixed cost per character (a sleep) answering a short tone, so
the figures are the orchestration's, not an engine's. For each size it prints:
  chapters      present in the manifest / planned
  history       the parent execution's history events (goal: at most 20 per chapter + 50)
  state         the largest state the parent carried (its history's inputs and outputs) and the largest
                task input any state sent a Lambda, the Distributed Maps' items included (goal: <= 64 KB)
  encode peak   the longest chapter encoded again, alone: the peak of what Python and numpy allocated
                (tracemalloc), and the process's RSS growth meanwhile (goal: <= 512 MB); its upload is
                read back in 16 MB parts instead of stored, since moto's S3 lives in this process
  wall          submission -> record; voicing: the VoicePass Map's entered -> exited
  ideal         the segments' engine time on BookMaxConcurrency slots (sum / C, at least the longest):
                voicing / ideal is the goal's figure (<= 1.5)

    .venv/bin/python bench/book.py [--sizes 100000,1000000] [--chapters 100] [--concurrency 40]
                                   [--segment-chars 30] [--seconds-per-char 0.02]

moto runs every item of a Distributed Map as a thread of this process, under the GIL on two shared
cores (~10 ms of interpreter per item, FACTS.md), and keeps every object in memory: the local overhead
is an upper bound of Step Functions' own, which costs no Lambda time.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
import tracemalloc
import uuid
import warnings
from datetime import datetime
from typing import Any

import boto3
import numpy as np

from tts_core.books import jobs as book_jobs
from tts_core.books import plan as book_plan
from tts_core.books import steps
from tts_core.books.models import BookRequest
from tts_core.deadline import Deadline
from tts_core.engines import EngineAudio
from tts_core.models import SynthesisRequest
from tts_core.platform import config, storage
from tts_core.platform.config import BookPlanSettings, JoinSettings
from tts_local.stack import REGION, LocalStack

ZH = ["天色渐渐暗了下来。", "风从山那边吹过来，带着雨的气味。", "他停下脚步，回头看了一眼。", "远处传来钟声。",
      "她说：“我们明天再走吧。”", "河水比昨天涨了许多。"]
EN = ["The road turned west along the river.", "Nobody spoke for a long while.",
      "A light was burning in the window.", "She folded the letter twice and put it away.",
      "The rain had not stopped since morning."]


def say(*args: object) -> None:
    print(*args, file=sys.__stdout__, flush=True)


class FixedCostPrimary:
    """The primary's double: `seconds_per_char` of work per character (a sleep: other threads run), and a
    tone of 0.05 s + 5 ms per character (short, so a million characters fit in moto's memory)."""

    name = "primary"

    def __init__(self, seconds_per_char: float, rate: int = 16000) -> None:
        self.seconds_per_char = seconds_per_char
        self.rate = rate
        self.calls = 0

    def synthesize(self, request: SynthesisRequest, deadline: Deadline) -> EngineAudio:
        self.calls += 1
        time.sleep(self.seconds_per_char * len(request.text))
        t = np.arange(int(self.rate * (0.05 + 0.005 * len(request.text)))) / self.rate
        return EngineAudio(samples=(0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sample_rate=self.rate)


def manuscript(chars: int, chapters: int) -> list[dict[str, str]]:
    """`chapters` chapters of about chars / chapters characters each, sentences alternating zh / en."""
    per = chars // chapters
    out = []
    for c in range(chapters):
        title = f"第{c + 1}章 夜行" if c % 2 == 0 else f"Chapter {c + 1} The Crossing"
        body, n = [], 0
        while n < per - len(title):
            s = ZH[(n // 7) % len(ZH)] if (len(body) % 2 == 0) else EN[(n // 11) % len(EN)]
            body.append(s)
            n += len(s) + 1
        out.append({"title": title, "text": " ".join(body)})
    return out


def _time(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def history(request_id: str, machine_arn: str) -> list[dict[str, Any]]:
    client = boto3.client("stepfunctions", region_name=REGION)
    arn = machine_arn.replace(":stateMachine:", ":execution:") + f":{request_id}"
    events, token = [], None
    while True:
        page = client.get_execution_history(executionArn=arn, **({"nextToken": token} if token else {}))
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            return events


def largest_parent_state(events: list[dict[str, Any]]) -> int:
    sizes = [len(str(detail.get(field, "")).encode()) for e in events for key, detail in e.items()
             if key.endswith("EventDetails") and isinstance(detail, dict) for field in ("input", "output")]
    return max(sizes, default=0)


def voicing_seconds(events: list[dict[str, Any]]) -> float:
    """From the first VoicePass entered to the last exited."""
    entered = [_time(e["timestamp"]) for e in events if e["type"] == "MapStateEntered"
               and e["stateEnteredEventDetails"]["name"] == "VoicePass"]
    exited = [_time(e["timestamp"]) for e in events if e["type"] == "MapStateExited"
              and e["stateExitedEventDetails"]["name"] == "VoicePass"]
    return max(exited) - min(entered) if entered and exited else 0.0


def _rss_bytes() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))


def encode_peak_bytes(stack: LocalStack, request_id: str) -> tuple[int, int, int, float]:
    """(peak traced bytes, peak RSS growth sampled every 5 ms, the chapter's segments, its seconds of
    audio) for the longest chapter encoded again alone. The RSS growth is this process's (moto's objects
    included, libsndfile's buffers too); the traced peak is Python's and numpy's allocations only."""
    made = book_plan.load(stack.bucket, request_id)
    longest = max(made.chapters, key=lambda c: c.segments)
    before, peak_rss, done = _rss_bytes(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak_rss[0] = max(peak_rss[0], _rss_bytes() - before)
            done.wait(0.005)

    def read_back(_bucket: str, _key: str, path: str, _content_type: str) -> None:
        # moto would keep the uploaded chapter in this very process (S3's memory, not the Lambda's): read
        # the file back in boto3's 16 MB parts instead, as its multipart upload does.
        with open(path, "rb") as chapter:
            while chapter.read(16 << 20):
                pass

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    tracemalloc.start()
    saved, storage.upload_file = storage.upload_file, read_back
    try:
        summary = steps.encode(steps.EncodeTask(request_id=request_id, chapter=longest.index),
                               config.load(JoinSettings))
    finally:
        storage.upload_file = saved
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    done.set()
    sampler.join()
    return peak, peak_rss[0], longest.segments, float(summary["duration_s"])


def run(stack: LocalStack, chars: int, args: argparse.Namespace, primary: FixedCostPrimary) -> None:
    body = manuscript(chars, args.chapters)
    request = BookRequest.model_validate({"title": f"Bench {chars}", "chapters": body})
    invocations_before = len(stack.invocations)
    started = time.monotonic()
    request_id = book_jobs.submit(stack.book_state_machine_arn, request, config.load(BookPlanSettings),
                                  str(uuid.uuid4()))
    status = book_jobs.wait(stack.book_state_machine_arn, stack.bucket, request_id, timeout_s=args.timeout,
                            poll_s=1.0)
    wall = time.monotonic() - started
    if status.status == "running" or status.result is None:
        say(f"{chars:>9,} chars: {status.status} after {wall:.0f} s, no record")
        return
    manifest = storage.get_json(stack.bucket, status.result.manifest_key or "")
    events = history(request_id, stack.book_state_machine_arn)
    made = book_plan.load(stack.bucket, request_id)
    texts = storage.get_json(stack.bucket, storage.book_key(request_id, book_plan.SEGMENTS))["texts"]
    work = [args.seconds_per_char * len(t) for t in texts]
    ideal = max(sum(work) / args.concurrency, max(work))
    task_inputs = max(len(json.dumps(event, ensure_ascii=False).encode())
                      for _, event in stack.invocations[invocations_before:])
    voicing = voicing_seconds(events)
    peak, peak_rss, peak_segments, peak_audio = encode_peak_bytes(stack, request_id)
    n = len(made.chapters)
    say(f"{chars:>9,} chars  {made.segments_total:>6} segments  chapters {manifest['totals']['chapters']}/{n}  "
        f"status {status.status}")
    say(f"    history   {len(events)} events (goal <= {20 * n + 50})")
    say(f"    state     parent {largest_parent_state(events) / 1024:.1f} KB, largest task input "
        f"{task_inputs / 1024:.1f} KB (goal <= 64 KB)")
    say(f"    encode    peak {peak / 2**20:.1f} MB traced, RSS +{peak_rss / 2**20:.1f} MB, for its longest chapter "
        f"({peak_segments} segments, {peak_audio:.0f} s of audio; goal <= 512 MB)")
    say(f"    wall      {wall:.1f} s; voicing {voicing:.1f} s vs ideal {ideal:.1f} s at C={args.concurrency}: "
        f"{voicing / ideal:.2f}x (goal <= 1.5x); primary calls {primary.calls}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--chapters", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=40)
    parser.add_argument("--segment-chars", type=int, default=30)
    parser.add_argument("--seconds-per-char", type=float, default=0.02)
    parser.add_argument("--timeout", type=float, default=7200.0)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # the handlers' JSON logs: one line per task
    warnings.simplefilter("ignore")
    for chars in (int(s) for s in args.sizes.split(",")):
        primary = FixedCostPrimary(args.seconds_per_char)
        parameters = {"BookMaxConcurrency": str(args.concurrency), "BookSegmentMaxChars": str(args.segment_chars),
                      "AudioSampleRate": "16000", "LastResortEnabled": "false"}
        with LocalStack(parameters, engines={"primary": primary}) as stack:
            run(stack, chars, args, primary)


if __name__ == "__main__":
    main()
