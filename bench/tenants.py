"""Two API keys on the local stack, one of them greedy (issue 23's load test), through the local HTTP
front with the usage plan's throttles on (loopback only, bounded in time and count).

Key A sends 5,000-character texts as fast as its plan lets it, from several threads; key B sends a
short text each second and waits for its audio. Engines are doubles at the engine interface
(infra/tts_local/doubles.py): the primary costs `--primary-ms-per-char` per character, and counts how
many of its invocations run at once. Printed, then checked (exit 1 if not so):

  - every request of key B succeeds;
  - key A gets 429s (QUOTA_EXCEEDED from its budget, or API Gateway's throttle);
  - the primary's concurrency never passes PrimaryReservedConcurrency;
  - every accepted job ends with a record.

    .venv/bin/python bench/tenants.py [--seconds 20] [--threads 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tts_core.deadline import Deadline
from tts_core.engines import EngineAudio
from tts_core.models import SynthesisRequest
from tts_core.pipeline import jobs
from tts_local.doubles import ToneEngine
from tts_local.http_api import ApiServer
from tts_local.stack import LocalStack

KEY_A, KEY_B = "bench-key-greedy", "bench-key-modest"
LONG_TEXT = ("The quick brown fox jumps over the lazy dog, again and again. " * 90)[:5000]
SHORT_TEXT = "Hello from the other tenant."
PARAMETERS = {
    "PrimaryReservedConcurrency": "4", "SegmentMaxConcurrency": "4", "KeyMaxJobsInFlight": "2",
    "KeyDailyCharacters": "20000", "ApiKeyRateLimit": "5", "ApiKeyBurstLimit": "5", "SyncWaitSeconds": "0",
    "PrimaryRetryIntervalSeconds": "1", "RetryMaxDelaySeconds": "2", "StepRetryIntervalSeconds": "1",
}


class CountingEngine(ToneEngine):
    """The primary's double: how many of its invocations run at once, at most."""

    def __init__(self, ms_per_char: float) -> None:
        super().__init__("primary", seconds_per_char=ms_per_char / 1000)
        self.running = 0
        self.most = 0
        self._count = threading.Lock()

    def synthesize(self, request: SynthesisRequest, deadline: Deadline) -> EngineAudio:
        with self._count:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            return super().synthesize(request, deadline)
        finally:
            with self._count:
                self.running -= 1


@dataclass
class Tally:
    answers: Counter[str] = field(default_factory=Counter)
    accepted: list[str] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def post(url: str, key: str, text: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url + "/api/synthesize", data=json.dumps({"text": text}).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "x-api-key": key})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def kind(status: int, body: dict[str, Any]) -> str:
    if status == 429:
        return "429 " + body.get("code", "throttled (API Gateway)")
    return str(status)


def greedy(url: str, tally: Tally, until: float) -> None:
    while time.monotonic() < until:
        status, body = post(url, KEY_A, LONG_TEXT)
        with tally.lock:
            tally.answers[kind(status, body)] += 1
            if status in (200, 202):
                tally.accepted.append(body["request_id"])


def modest(stack: LocalStack, url: str, tally: Tally, until: float) -> None:
    while time.monotonic() < until:
        started = time.monotonic()
        status, body = post(url, KEY_B, SHORT_TEXT)
        tally.answers[kind(status, body)] += 1
        if status in (200, 202):
            tally.accepted.append(body["request_id"])
            job = jobs.wait(stack.state_machine_arn, stack.bucket, body["request_id"], 120)
            tally.answers["succeeded" if job.status == "succeeded" else f"job {job.status}"] += 1
            tally.latencies_s.append(time.monotonic() - started)
        time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="how long both keys send")
    parser.add_argument("--threads", type=int, default=4, help="key A's concurrent senders")
    parser.add_argument("--primary-ms-per-char", type=float, default=2.0)
    args = parser.parse_args()

    primary = CountingEngine(args.primary_ms_per_char)
    engines = {"primary": primary, "fallback": ToneEngine("fallback"), "offline": ToneEngine("offline")}
    quiet = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}  # the figures, not the logs
    with LocalStack(PARAMETERS, engines=engines, environment=quiet) as stack:
        server = ApiServer(stack, port=0, api_key=[KEY_A, KEY_B], throttled=True)
        server.start()
        a, b = Tally(), Tally()
        until = time.monotonic() + args.seconds
        senders = [threading.Thread(target=greedy, args=(server.url, a, until)) for _ in range(args.threads)]
        senders.append(threading.Thread(target=modest, args=(stack, server.url, b, until)))
        started = time.monotonic()
        for t in senders:
            t.start()
        for t in senders:
            t.join()
        sent_s = time.monotonic() - started
        unfinished = [r for r in a.accepted if jobs.wait(stack.state_machine_arn, stack.bucket, r, 300).status
                      == "running"]
        results = [jobs.status(stack.state_machine_arn, stack.bucket, r) for r in a.accepted + b.accepted]
        server.stop()

    bound = int(PARAMETERS["PrimaryReservedConcurrency"])
    engines_a = Counter(j.result.engine_used or j.result.error_code for j in results[:len(a.accepted)] if j.result)
    engines_b = Counter(j.result.engine_used or j.result.error_code for j in results[len(a.accepted):] if j.result)
    print(f"sent for {sent_s:.1f} s; plan: {PARAMETERS['ApiKeyRateLimit']} requests/s per key, "
          f"{PARAMETERS['KeyMaxJobsInFlight']} jobs in flight, {PARAMETERS['KeyDailyCharacters']} characters a day")
    print(f"key A (5,000 characters, {args.threads} senders): {dict(a.answers)}; its jobs ended on {dict(engines_a)}")
    lat = sorted(b.latencies_s)
    print(f"key B (short text, 1/s): {dict(b.answers)} on {dict(engines_b)}; latency p50 "
          f"{statistics.median(lat):.2f} s, max {lat[-1]:.2f} s" if lat else f"key B: {dict(b.answers)}")
    print(f"primary: at most {primary.most} invocations at once (PrimaryReservedConcurrency={bound}); "
          f"{len(primary.calls)} invocations in all")
    recorded = sum(1 for j in results if j.result is not None)
    print(f"records: {recorded} of {len(results)} accepted jobs; still running after 300 s: {len(unfinished)}")

    checks = {
        "every request of key B succeeded": b.answers["succeeded"] == len(b.accepted) > 0
        and not any(k.startswith("429") for k in b.answers),
        "key A got 429s": any(k.startswith("429") for k in a.answers),
        "the primary never passed its bound": primary.most <= bound,
        "every accepted job has a record": recorded == len(results) and not unfinished,
    }
    for name, ok in checks.items():
        print(f"{'ok ' if ok else 'NOT'} {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
