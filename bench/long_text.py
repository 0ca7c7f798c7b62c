"""How a long text's wall time scales with its length and the Map's concurrency, on the local stack.

The primary is a double whose cost grows with the text (`ToneEngine(seconds_per_char=...)`, a sleep),
so the figures show the orchestration (plan, Map, join, record) and not an engine's speed. Each text
is N sentences of 16-29 characters, so with SegmentMaxChars=30 every sentence is one segment.

For each run it prints, from the result record and the execution history:
  wall      submission -> result recorded (the record's total_ms)
  map       the PrimarySegments Map, entered -> exited
  slowest   the slowest segment's engine time; join: the JoinSegments task
  ideal     the segments' own engine times scheduled in order on C slots (what a Map with no overhead
            would take), plus the join
  wall/ideal, and wall/(slowest + join): the issue's goal (<= 1.5 for 50+ segments at C=16) — which
            no Map can meet once N > C, since ceil(N/C) waves must run one after another

    .venv/bin/python bench/long_text.py [--sizes 1,10,50,200] [--concurrency 1,4,16] [--seconds-per-char 0.05]

The moto interpreter costs ~58 ms of CPU per Lambda task (FACTS.md) under the GIL on this machine's two
cores, where Step Functions costs nothing of the account's; read the overhead as an upper bound.
"""

from __future__ import annotations

import argparse
import heapq
import logging
import os
import random
import sys
import warnings
from datetime import datetime
from typing import Any

from tts_core.models import SynthesisRequest
from tts_core.segmentation import segment
from tts_local.doubles import ToneEngine
from tts_local.stack import LocalStack

MAX_CHARS = 30
FILLERS = ["red", "small", "quiet", "river", "under", "the", "old", "bridge", "sings", "slowly"]


def say(*args: object) -> None:
    print(*args, file=sys.__stdout__, flush=True)


def sentence(rng: random.Random, i: int) -> str:
    """16-29 characters: two of them never fit one 30-character segment, so each is one segment."""
    target = rng.randint(16, 29)
    words = [f"Line {i}"]
    while True:
        longer = [*words, rng.choice(FILLERS)]
        if len(" ".join(longer)) + 1 > target:
            break
        words = longer
    text = " ".join(words) + "."
    return text if len(text) >= 16 else " ".join([*words, "then"]) + "."


def long_text(n: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    text = " ".join(sentence(rng, i) for i in range(n))
    assert len(segment(text, MAX_CHARS)) == n, "every sentence must be one segment"
    return text


def makespan(costs: list[float], slots: int) -> float:
    """Items started in order, each on the first free slot (as a Map dispatches its iterations)."""
    free = [0.0] * max(1, slots)
    for cost in costs:
        heapq.heappush(free, heapq.heappop(free) + cost)
    return max(free)


def state_seconds(history: list[dict[str, Any]], name: str) -> float | None:
    """Entered -> exited of the (first) state of that name, from the execution history."""
    entered: datetime | None = None
    for event in history:
        if event["type"].endswith("StateEntered") and event["stateEnteredEventDetails"]["name"] == name:
            entered = event["timestamp"]
        elif entered and event["type"].endswith("StateExited") and event["stateExitedEventDetails"]["name"] == name:
            return (event["timestamp"] - entered).total_seconds()
    return None


def run(sizes: list[int], concurrencies: list[int], seconds_per_char: float) -> None:
    say(f"segment cost: {seconds_per_char * 1000:g} ms per character (16-29 characters per segment); "
        f"SegmentMaxChars={MAX_CHARS}")
    say(f"{'segments':>8} {'conc':>5} {'wall s':>8} {'map s':>7} {'slowest':>8} {'join s':>7} "
        f"{'ideal s':>8} {'wall/ideal':>10} {'wall/(slowest+join)':>20}")
    for conc in concurrencies:
        engines = {"primary": ToneEngine("primary", seconds_per_char=seconds_per_char)}
        parameters = {"SegmentMaxConcurrency": str(conc), "SegmentMaxChars": str(MAX_CHARS),
                      "PrimaryTimeoutSeconds": "120", "BreakerFailureThreshold": "1000000"}
        with LocalStack(parameters, engines=engines) as stack:
            # Warm every execution environment the runs will use (their cold starts are not the Map's).
            stack.wait(stack.submit(SynthesisRequest(text=long_text(max(2, conc)), cache=False)), 600)
            for n in sizes:
                request_id = stack.submit(SynthesisRequest(text=long_text(n), cache=False))
                result = stack.wait(request_id, 3600).result
                assert result is not None and result.engine_used == "primary", result
                history = stack.execution_history(request_id)
                wall = result.total_ms / 1000
                if result.segments is None:  # one segment: the single Primary task, no Map, no join
                    slowest, join_s, map_s = result.attempts[-1].duration_ms / 1000, 0.0, None
                    ideal = slowest
                else:
                    costs = [p.engine_ms / 1000 for p in result.segments]
                    slowest, join_s = max(costs), state_seconds(history, "JoinSegments") or 0.0
                    map_s = state_seconds(history, "PrimarySegments")
                    ideal = makespan(costs, conc or len(costs)) + join_s
                say(f"{n:>8} {conc:>5} {wall:>8.2f} {map_s if map_s is not None else float('nan'):>7.2f} "
                    f"{slowest:>8.2f} {join_s:>7.2f} {ideal:>8.2f} {wall / ideal:>10.2f} "
                    f"{wall / (slowest + join_s):>20.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,10,50,200", help="sentences per text, comma-separated")
    parser.add_argument("--concurrency", default="1,4,16", help="SegmentMaxConcurrency values (0 = unbounded)")
    parser.add_argument("--seconds-per-char", type=float, default=0.05, help="the double's cost per character")
    args = parser.parse_args()
    # The handlers log every task as JSON; this prints a table.
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    os.environ.pop("TTS_LOCAL_FAULTS", None)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - powertools' logger writes to stdout
    run([int(s) for s in args.sizes.split(",")], [int(c) for c in args.concurrency.split(",")],
        args.seconds_per_char)


if __name__ == "__main__":
    main()
