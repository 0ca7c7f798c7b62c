"""Cold start of the fallback (Sambert) path, measured in fresh interpreters.

Each run is a new `python` process that times, in order: importing the Lambda handler module
(functions/synthesize_fallback/app.py: powertools, the engine-task runner, the audio contract, the
engine module), importing the dashscope SDK (the engine imports it on first use), constructing the
engine, and a first and a second synthesis against the local DashScope server (started here, on
127.0.0.1). Prints the median of each stage over the runs. Target: imports + construction under 1 s.

    .venv/bin/python bench/cold_start_fallback.py [--runs 7] [--importtime]
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time
from importlib.metadata import version

from tts_local.dashscope_server import DashScopeServer

TARGET_S = 1.0

# Runs in the child. Stages are timed with perf_counter inside the process; the interpreter's own
# start-up is the parent's wall time minus the sum of the stages.
CHILD = r"""
import json, sys, time
url = sys.argv[1]
t = {}
sys.path.insert(0, "functions/synthesize_fallback")
s = time.perf_counter()
import app
t["import handler (app.py)"] = time.perf_counter() - s
import tts_core.engines.sambert as sambert
s = time.perf_counter()
import dashscope.audio.tts
t["import dashscope.audio.tts"] = time.perf_counter() - s
from tts_core.deadline import Deadline
from tts_core.models import SynthesisRequest
s = time.perf_counter()
engine = sambert.SambertEngine(lambda refresh=False: "bench-key", url)
t["construct SambertEngine"] = time.perf_counter() - s
request = SynthesisRequest(text="你好，这是一次冷启动测试。Hello from the fallback.")
s = time.perf_counter()
engine.synthesize(request, Deadline.in_seconds(10))
t["first synthesize (local server)"] = time.perf_counter() - s
s = time.perf_counter()
engine.synthesize(request, Deadline.in_seconds(10))
t["second synthesize (local server)"] = time.perf_counter() - s
print(json.dumps(t))
"""

IMPORT_STAGES = ("import handler (app.py)", "import dashscope.audio.tts", "construct SambertEngine")


def run_once(url: str) -> dict[str, float]:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, url], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    stages: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    stages["interpreter start-up + exit"] = wall - sum(stages.values())
    stages["whole process (wall)"] = wall
    return stages


def importtime_top(n: int = 12) -> list[tuple[int, str]]:
    """The slowest cumulative imports from `python -X importtime` (one run)."""
    code = "import sys; sys.path.insert(0, 'functions/synthesize_fallback'); import app, dashscope.audio.tts"
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                         check=True)
    rows: list[tuple[int, str]] = []
    for line in out.stderr.splitlines():
        # "import time: self [us] | cumulative | imported package"
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|")
        rows.append((int(cumulative), name.rstrip()))
    return sorted(rows, reverse=True)[:n]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--importtime", action="store_true", help="also list the slowest imports")
    args = parser.parse_args()

    with DashScopeServer(seconds_per_char=0.02) as server:
        runs = [run_once(server.url) for _ in range(args.runs)]

    command = shlex.join([sys.executable, "bench/cold_start_fallback.py", "--runs", str(args.runs)])
    print(f"Fallback cold start: {args.runs} fresh processes, median "
          f"(dashscope {version('dashscope')}, Python {sys.version.split()[0]})")
    print(f"  command: {command}")
    print(f"  each run: {sys.executable} -c <CHILD in this file> {server.url}")
    print(f"{'stage':<36}{'median ms':>10}{'min ms':>10}{'max ms':>10}")
    for stage in runs[0]:
        values = [r[stage] * 1000 for r in runs]
        print(f"{stage:<36}{statistics.median(values):>10.0f}{min(values):>10.0f}{max(values):>10.0f}")
    cold = statistics.median(sum(r[s] for s in IMPORT_STAGES) for r in runs)
    verdict = "OK" if cold < TARGET_S else "OVER TARGET"
    print(f"{'imports + construction':<36}{cold * 1000:>10.0f}"
          f"   (target < {TARGET_S * 1000:.0f} ms: {verdict})")

    if args.importtime:
        print("\nslowest cumulative imports, one run of:")
        print(f"  {sys.executable} -X importtime -c 'import app, dashscope.audio.tts'  (app: the fallback handler)")
        for cumulative, name in importtime_top():
            print(f"  {cumulative / 1000:>8.0f} ms  {name}")
    return 0 if cold < TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
