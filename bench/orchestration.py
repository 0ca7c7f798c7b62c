"""What the orchestration itself costs and how well it keeps the service up, on the local stack.

Engines are doubles of near-zero cost (infra/tts_local/doubles.py), so the figures are the
state machine's, the Lambdas' plumbing and S3's, not an engine's. Four parts:

  latency       added latency per path: direct, route fallback, primary crash -> fallback,
                primary timeout -> fallback (engine time excluded; the timeout path waits out
                PrimaryTimeoutSeconds=1 by design, shown separately)
  availability  N requests per cell with the primary failing at rate p and the fallback at rate q
                (non-retryable, last resort off), three seeds, in each route state (auto with the
                breaker live: passive signal and a probe every second; forced primary; forced
                fallback): measured success rate against 1 - p*q
  outage        a primary outage under load: the real fallback (dashscope SDK) against the local
                DashScope server rate-limited to R tasks/s, requests offered at 2.5 R for a while:
                requests lost, share per engine, p50/p95 latency
  flip          probes from a primary outage to the route flipping, and from recovery back
  load          concurrent POST /api/synthesize through the local HTTP API (loopback only):
                throughput, and that every accepted request has a result record

    .venv/bin/python bench/orchestration.py [--part latency|availability|flip|load|outage|all] [--runs N]

The moto interpreter is slower than Step Functions (FACTS.md: ~58 ms per Lambda task); read the
figures as relative costs of the paths, not as AWS latencies.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import itertools
import json
import logging
import os
import shlex
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3

from tts_core.models import SynthesisRequest, SynthesisResult
from tts_core.platform import storage
from tts_local.dashscope_server import DashScopeServer
from tts_local.doubles import ToneEngine
from tts_local.http_api import ApiServer
from tts_local.stack import LocalStack
from tts_local.template import ROOT

# The breaker is kept shut (threshold out of reach) except in the flip part: otherwise the passive signal
# would route around a failing primary after a few requests and the paths would stop being what they say.
FAST = {"PrimaryTimeoutSeconds": "1", "PrimaryRetryIntervalSeconds": "1", "FallbackRetryIntervalSeconds": "1",
        "StepRetryIntervalSeconds": "1",
        "RetryMaxDelaySeconds": "1", "RetryBackoffRate": "1.0", "BreakerFailureThreshold": "1000000"}
# The cache would answer every repeat of one request: this bench measures synthesis paths, so it opts out.
REQUEST = SynthesisRequest(text="你好。Hello, world.", cache=False)


@contextmanager
def stack(faults: str = "", **parameters: str) -> Iterator[LocalStack]:
    os.environ["TTS_LOCAL_FAULTS"] = faults
    engines = {"primary": ToneEngine("primary"), "fallback": ToneEngine("fallback")}
    try:
        with LocalStack(FAST | parameters, engines=engines) as s:
            yield s
    finally:
        os.environ.pop("TTS_LOCAL_FAULTS", None)


def say(*args: object) -> None:
    print(*args, file=sys.__stdout__, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def part_latency(runs: int) -> None:
    say(f"\n## added latency per path ({runs} requests each; ms; engine time excluded)")
    say(f"{'path':<34}{'median':>8}{'p95':>8}{'min':>8}  attempts")
    paths: dict[str, tuple[str, Callable[[LocalStack], None]]] = {
        "direct (primary ok)": ("", lambda s: None),
        "route fallback (primary skipped)": ("", _route_fallback),
        "primary crash -> fallback": ("primary=crash", lambda s: None),
        "primary timeout -> fallback": ("primary=timeout", lambda s: None),
    }
    for name, (faults, prepare) in paths.items():
        with stack(faults) as s:
            prepare(s)
            s.wait(s.submit(REQUEST))  # warm: handlers imported, engines built
            added, attempts = [], ""
            for _ in range(runs):
                result = s.wait(s.submit(REQUEST)).result
                assert result is not None and result.status == "succeeded"
                engine_ms = sum(a.duration_ms for a in result.attempts if a.outcome == "succeeded")
                added.append(result.total_ms - engine_ms)
                attempts = " -> ".join(f"{a.engine}:{a.code or 'ok'}" for a in result.attempts)
                assert name.startswith("route") or result.attempts[0].engine == "primary", attempts
        say(f"{name:<34}{statistics.median(added):>8.0f}{percentile(added, 0.95):>8.0f}{min(added):>8.0f}"
              f"  {attempts}")
    say("(the timeout path includes waiting out PrimaryTimeoutSeconds=1 s)")


def _route_fallback(s: LocalStack) -> None:
    boto3.client("ssm").put_parameter(Name=s.route_parameter, Value='{"route":"fallback"}', Type="String",
                                      Overwrite=True)


MIXES = ((0.1, 0.1), (0.3, 0.2), (0.5, 0.5), (0.9, 0.5))
ROUTE_STATES = ("auto", "primary", "fallback")
SEEDS = (7, 11, 13)


def run_concurrently(s: LocalStack, requests: int, in_flight: int) -> list[SynthesisResult | None]:
    """`requests` executions, `in_flight` at a time (the interpreter's per-task cost is CPU: threads
    overlap the waits, not the work)."""
    def one(_: int) -> SynthesisResult | None:
        return s.wait(s.submit(REQUEST), timeout_s=600).result

    with concurrent.futures.ThreadPoolExecutor(in_flight) as pool:
        return list(pool.map(one, range(requests)))


@contextmanager
def probing(s: LocalStack, interval_s: float) -> Iterator[list[str]]:
    """The health probe on a schedule (EventBridge's, accelerated), in the background; yields the
    route each probe left."""
    schedule = json.loads((ROOT / "events" / "schedule.json").read_text())
    stop = threading.Event()
    routes: list[str] = []

    def loop() -> None:
        while not stop.wait(interval_s):
            routes.append(s.invoke("health_probe", schedule)["route"])

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield routes
    finally:
        stop.set()
        thread.join()


def part_availability(runs: int, in_flight: int = 12, mixes: list[int] | None = None) -> None:
    say(f"\n## availability ({runs} requests per cell and seed, seeds {', '.join(map(str, SEEDS))} (a fault stream "
        f"per engine, seeded by seed*100 + mix*10 + route and the engine's name), {in_flight} in flight; "
        "non-retryable random failures; last resort off)")
    say("route state: auto = breaker live (passive signal, threshold 3, a probe every second, cool-down 2-8 s); "
        "primary / fallback = forced by the operator's override")
    say(f"{'p':>5}{'q':>6}{'route':>10}{'seed':>6}{'n':>6}{'expected':>10}{'measured':>10}{'std err':>9}"
        f"{'margin/se':>10}{'primary':>9}{'fallback':>10}{'flips':>7}{'other':>7}{'p seen':>8}{'q seen':>8}")
    breaker = {"BreakerFailureThreshold": "3", "BreakerSuccessThreshold": "2", "BreakerBaseCooldownSeconds": "2",
               "BreakerMaxCooldownSeconds": "8"}
    worst = float("inf")
    for mix, (p, q) in enumerate(MIXES):
        if mixes and mix not in mixes:
            continue
        for state, route in enumerate(ROUTE_STATES):
            pooled: list[SynthesisResult | None] = []
            for seed in SEEDS:
                # Streams of their own per cell (and per engine: tts_local.faults): with one seed for every
                # cell, one unlucky stretch of draws would repeat in all of them. A seed fixes the values
                # drawn, so re-running a cell repeats its luck: more evidence needs more seeds.
                os.environ["TTS_LOCAL_FAULTS_SEED"] = str(seed * 100 + mix * 10 + state)
                with stack(f"primary=chaos:{p},fallback=chaos:{q}", LastResortEnabled="false",
                           PrimaryTimeoutSeconds="60", **breaker) as s:
                    if route != "auto":
                        s.invoke("health_probe", {"action": "override", "override": route, "by": "bench"})
                    with probing(s, 1.0) if route == "auto" else contextlib.nullcontext([]) as routes:
                        results = run_concurrently(s, runs, in_flight)
                    flips = sum(1 for a, b in itertools.pairwise(routes) if a != b)
                pooled += results
                worst = min(worst, _availability_row(p, q, route, str(seed), results, flips))
            worst = min(worst, _availability_row(p, q, route, "all", pooled, None))
    os.environ.pop("TTS_LOCAL_FAULTS_SEED")
    say(f"lowest (measured - expected) / std err over every row: {worst:+.2f} (the bound holds within two "
        f"standard errors if >= -2)")


def _availability_row(p: float, q: float, route: str, seed: str, results: list[SynthesisResult | None],
                      flips: int | None) -> float:
    n = len(results)
    ok = [r for r in results if r is not None and r.status == "succeeded"]
    share = {e: sum(1 for r in ok if r.engine_used == e) / max(1, len(ok)) for e in ("primary", "fallback")}
    expected = 1 - p * q
    std_err = (expected * (1 - expected) / n) ** 0.5  # binomial: how far chance alone moves it
    margin = (len(ok) / n - expected) / std_err
    # Invocations Lambda refused (reserved concurrency; retried) never ran, so they drew no fault.
    ran = {id(r): [a for a in r.attempts if a.code != "LAMBDA_THROTTLED"] for r in results if r is not None}
    # A failure the mix explains: each engine ran once, each answering the injected ENGINE_ERROR.
    other = sum(1 for r in results if r is None or (r.status != "succeeded" and sorted(
        (a.engine, a.code) for a in ran[id(r)]) != [("fallback", "ENGINE_ERROR"), ("primary", "ENGINE_ERROR")]))
    # The fault rates the injector really drew for the requests (failed / run attempts, per engine).
    seen = {e: [a.code is not None for attempts in ran.values() for a in attempts if a.engine == e]
            for e in ("primary", "fallback")}
    rate = {e: sum(v) / max(1, len(v)) for e, v in seen.items()}
    say(f"{p:>5.1f}{q:>6.1f}{route:>10}{seed:>6}{n:>6}{expected:>10.3f}{len(ok) / n:>10.3f}{std_err:>9.3f}"
        f"{margin:>+10.2f}{share['primary']:>9.2f}{share['fallback']:>10.2f}{'' if flips is None else flips:>7}"
        f"{other:>7}{rate['primary']:>8.3f}{rate['fallback']:>8.3f}")
    return margin


def part_outage(rate: float, seconds: float, latency_s: float, concurrency: int, retries: int) -> None:
    """A primary outage under load: everything goes to the fallback, offered at 2.5x its provider's rate."""
    offered = 2.5 * rate
    count = int(offered * seconds)
    parameters = FAST | {
        "BreakerFailureThreshold": "3", "BreakerBaseCooldownSeconds": "600", "LastResortEnabled": "false",
        "FallbackReservedConcurrency": str(concurrency), "FallbackThrottleRetryMaxAttempts": str(retries),
        "FallbackThrottleRetryIntervalSeconds": "1", "RetryBackoffRate": "2.0", "RetryMaxDelaySeconds": "8",
        "PrimaryRetryMaxAttempts": "0",
        "FallbackTimeoutSeconds": "30"}
    say(f"\n## primary outage under load: {count} requests offered at {offered:g}/s for {seconds:g} s; DashScope "
        f"server limited to {rate:g} tasks/s ({latency_s:g} s per task); FallbackReservedConcurrency={concurrency}, "
        f"throttling retried up to {retries}x (1 s, x2, capped at 8 s, full jitter); last resort off")
    os.environ["TTS_LOCAL_FAULTS"] = "primary=error"
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    try:
        with DashScopeServer(rate_limit=rate, latency_s=latency_s) as server, LocalStack(
                parameters, engines={"primary": ToneEngine("primary")},
                secrets={"DashScopeSecretArn": json.dumps({"api_key": "sk-bench"})},
                environment={"DASHSCOPE_WEBSOCKET_URL": server.url}) as s:
            ids: list[str] = []
            started = time.monotonic()
            for n in range(count):  # open loop: arrivals do not wait for answers
                time.sleep(max(0.0, started + n / offered - time.monotonic()))
                ids.append(s.submit(REQUEST))
            offered_s = time.monotonic() - started
            results = [s.wait(i, timeout_s=900).result for i in ids]
            drained_s = time.monotonic() - started
            throttled = server.throttled
    finally:
        os.environ.pop("TTS_LOCAL_FAULTS", None)
    ok = [r for r in results if r is not None and r.status == "succeeded"]
    share = {e: sum(1 for r in ok if r.engine_used == e) for e in ("primary", "fallback", "offline")}
    codes = [a.code for r in results if r is not None for a in r.attempts if a.engine == "fallback" and a.code]
    latency = [r.total_ms / 1000 for r in ok]
    say(f"offered in {offered_s:.1f} s, all answered after {drained_s:.1f} s "
        f"(DashScope's rate alone needs {count / rate:.1f} s)")
    say(f"lost (failed on every engine): {count - len(ok)} of {count}; served by "
        + ", ".join(f"{e} {n} ({n / count:.0%})" for e, n in share.items()))
    say(f"latency p50 {percentile(latency, 0.5):.1f} s, p95 {percentile(latency, 0.95):.1f} s, "
        f"max {max(latency):.1f} s")
    say(f"fallback attempts refused: {codes.count('LAMBDA_THROTTLED')} LAMBDA_THROTTLED (reserved concurrency), "
        f"{codes.count('ENGINE_THROTTLED')} ENGINE_THROTTLED (the server answered Throttling.RateQuota "
        f"{throttled} times); other codes: {sorted(set(codes) - {'LAMBDA_THROTTLED', 'ENGINE_THROTTLED'})}")


def part_flip(interval_s: float = 0.5) -> None:
    parameters = {"BreakerFailureThreshold": "3", "BreakerSuccessThreshold": "2", "BreakerBaseCooldownSeconds": "2",
                  "BreakerMaxCooldownSeconds": "8"}
    say(f"\n## route flip (probe every {interval_s} s; N=3, M=2, cool-down 2 s: an accelerated clock)")
    schedule = json.loads((ROOT / "events" / "schedule.json").read_text())
    with stack("", **parameters) as s:
        def probe_until(route: str) -> tuple[int, float]:
            started, probes = time.monotonic(), 0
            while True:
                probes += 1
                doc = s.invoke("health_probe", schedule)
                if doc["route"] == route:
                    return probes, time.monotonic() - started
                time.sleep(interval_s)

        os.environ["TTS_LOCAL_FAULTS"] = "primary=error"
        probes, seconds = probe_until("fallback")
        say(f"outage -> route fallback:   {probes} probes ({seconds:.1f} s)")
        os.environ["TTS_LOCAL_FAULTS"] = ""
        probes, seconds = probe_until("primary")
        say(f"recovery -> route primary:  {probes} probes ({seconds:.1f} s; cool-down 2 s, then M=2 successes)")


def part_load(requests: int, concurrency: int) -> None:
    say(f"\n## concurrent load through the local HTTP API ({requests} requests, {concurrency} at a time, 127.0.0.1)")
    with stack() as s:
        server = ApiServer(s, port=0)
        server.start()
        answers: list[tuple[int, dict[str, Any]]] = []
        lock = threading.Lock()
        queue = list(range(requests))

        def worker() -> None:
            while True:
                with lock:
                    if not queue:
                        return
                    queue.pop()
                body = json.dumps({"text": "你好。Hello, world.", "cache": False}).encode()
                req = urllib.request.Request(f"{server.url}/api/synthesize", data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=120) as answer, lock:
                    answers.append((answer.status, json.loads(answer.read())))

        started = time.monotonic()
        threads = [threading.Thread(target=worker) for _ in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.monotonic() - started
        ids = [a[1]["request_id"] for a in answers if "request_id" in a[1]]
        recorded = sum(1 for i in ids if storage.get_json(s.bucket, storage.result_key(i))["status"] == "succeeded")
        server.stop()
    statuses = {code: sum(1 for a in answers if a[0] == code) for code in sorted({a[0] for a in answers})}
    say(f"answers: {statuses}; {len(answers) / seconds:.1f} requests/s; "
          f"{recorded}/{requests} with a succeeded result record; lost: {requests - recorded}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["latency", "availability", "flip", "load", "outage", "all"],
                        default="all")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--availability-runs", type=int, default=134,
                        help="requests per cell and seed (x 3 seeds: 402 per cell)")
    parser.add_argument("--mix", type=int, action="append", help="only this mix (index into MIXES); repeatable")
    # The local stack runs every execution in one process on 2 cores (~3 executions/s when busy): the
    # provider's rate is scaled down with it, so the provider, not the machine, is the bottleneck.
    parser.add_argument("--rate", type=float, default=1.0, help="the DashScope server's tasks per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the outage load is offered")
    args = parser.parse_args()
    from tts_core.platform.observability import logger

    logger.setLevel("CRITICAL")
    # The handlers print their EMF lines to stdout, as in Lambda: they would bury the tables.
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (for the life of the process)
    logging.getLogger("moto").setLevel(logging.CRITICAL)  # it logs every failed execution at ERROR
    warnings.filterwarnings("ignore", module="aws_lambda_powertools")
    say("command:", shlex.join([sys.executable, *sys.argv]))
    if args.part in ("latency", "all"):
        part_latency(args.runs)
    if args.part in ("availability", "all"):
        part_availability(args.availability_runs, mixes=args.mix)
    if args.part in ("flip", "all"):
        part_flip()
    if args.part in ("load", "all"):
        part_load(requests=args.runs * 2, concurrency=8)
    if args.part in ("outage", "all"):
        # Reserved concurrency / time per task stays under the provider's rate: 2 / 2.5 s = 0.8/s < 1/s.
        part_outage(args.rate, args.seconds, latency_s=2.5, concurrency=2, retries=20)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
