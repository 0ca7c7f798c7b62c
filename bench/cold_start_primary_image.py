"""Cold start of the BUILT primary image with full-size random weights: process start to first WAV.

    make bench-image        # = sudo .venv/bin/python bench/cold_start_primary_image.py [--max-mel-tokens 50]
    make bench-image PRIMARY_MODEL=indextts2.5                                   # ... --model indextts2.5

The image is the one `make image-size` builds for the same model (full-size random weights of the real
architecture at the published file sizes, packed by the image's own build stage for IndexTTS-2, copied as
published for 2.5); it is built here if absent. Each run
starts a fresh execution environment through the image's own entry point, exactly as the smoke test
does (tts_local.images: read-only root, Lambda's sandbox user, /tmp on tmpfs, a Runtime API and a
moto S3 on 127.0.0.1) and sends one request. Times, from the process start:
- init: until the runtime client's first poll (interpreter, awslambdaric, the handler module: Lambda's
  init phase, 10 s at most);
- first WAV: until the response, the WAV being in S3 by then (the model loads on the first request;
  `load_s` and `infer_s` are the engine's own figures from its log).
Runs: `prepare`, the deploy-time bootstrap's `{"prepare_voice": ...}` invocation in a fresh container
(w2v-bert loads, the voice's conditioning is computed and stored in S3: what a cold container finds for
every catalogue voice); then `cold`, a synthesis with the image's files evicted from the page cache first
(posix_fadvise on every file of the image: no other process's cache is touched), then `warm`. Lambda
reads an image from its own storage, so neither is its exact figure. Random weights never emit the GPT
stop token: every request decodes exactly --max-mel-tokens codes (50 = 1.0 s of audio with IndexTTS-2,
2.0 s with 2.5, whose codes are 25 per second), so runs of one model compare.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tts_core.platform import aws, page_cache
from tts_core.voices import registry as voice_registry
from tts_local.images.inspection import layer_sizes
from tts_local.images.random_weights import DEFAULT_MODEL, RANDOM_MODELS, ensure_full_random_image
from tts_local.images.runtime_api import RuntimeApi
from tts_local.images.sandbox import LambdaContainer
from tts_local.template import function_environment
from tts_local.tiny_indextts import write_prompt_wav

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "bench-image-audio"


def evict(root: Path) -> int:
    """Drop the page cache of every file under root (clean pages only; nothing else is touched)."""
    return page_cache.advise((path for path in root.rglob("*") if path.is_file() and not path.is_symlink()),
                             os.POSIX_FADV_DONTNEED)


def engine_figures(log: Path) -> dict[str, Any]:
    """load_s / infer_s / audio_s from the engine's JSON log lines."""
    out: dict[str, Any] = {}
    for line in log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            for key in ("load_s", "threads", "infer_s", "audio_s", "profile"):
                if key in record:
                    out[key] = record[key]
    return out


def one_run(tag: str, env: dict[str, str], event: dict[str, Any], log: Path, run: str) -> dict[str, Any]:
    with RuntimeApi() as api, LambdaContainer(tag, env) as container:
        if run == "cold":
            evict(container.root)
        started = time.monotonic()
        with container.serving(api, log) as proc:
            invocation = api.invoke(event, 900)
            if not invocation.done.wait(900):
                raise RuntimeError(f"no response (exit code {proc.poll()}): {log.read_text()[-3000:]}")
        if invocation.error is not None:
            raise RuntimeError(f"{invocation.error}\n{log.read_text()[-3000:]}")
        return {"run": run, "init_s": round((api.first_poll or started) - started, 2),
                "first_answer_s": round(invocation.finished_at - started, 2), **engine_figures(log),
                "answer": invocation.result}


def wait_for_memory(gb: float) -> None:
    for _ in range(30):
        available = int(next(line for line in Path("/proc/meminfo").read_text().splitlines()
                             if line.startswith("MemAvailable")).split()[1]) / 1e6
        if available >= gb:
            return
        print(f"waiting: {available:.1f} GB of memory available, {gb} wanted", flush=True)
        time.sleep(60)
    raise SystemExit("not enough memory for a full-size model")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-mel-tokens", type=int, default=50)
    parser.add_argument("--text", default="今天天气很好。")
    parser.add_argument("--repeat", type=int, default=3, help="cold and warm runs, alternately")
    parser.add_argument("--model", choices=list(RANDOM_MODELS), default=DEFAULT_MODEL,
                        help="the image's PRIMARY_MODEL (the function's PrimaryModel)")
    args = parser.parse_args()
    from moto.server import ThreadedMotoServer

    logs = ROOT / "build" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    tag = ensure_full_random_image(logs, args.model)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_DEFAULT_REGION="us-east-1")
    aws.reset_clients()
    try:
        aws.client("s3").create_bucket(Bucket=BUCKET)
        with tempfile.TemporaryDirectory() as tmp:
            prompt = Path(tmp) / "prompt.wav"
            write_prompt_wav(prompt, seconds=5.0)
            voice_registry.register_voice(BUCKET, "zh-female", prompt.read_bytes(), language="zh-en",
                                          gender="female", fallback="zh-female", source="operator")
        event = json.loads((ROOT / "events" / "engine_task_primary.json").read_text())
        event["request"]["text"] = args.text
        env = function_environment("SynthesizePrimaryFunction", refs={"AudioBucket": BUCKET},
                                   parameters={"PrimaryModel": args.model}) | {
            "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
            "INDEXTTS_MAX_MEL_TOKENS": str(args.max_mel_tokens)}
        sizes = layer_sizes(tag)
        print(f"image {tag}: {sum(s for _, s in sizes) / 1e9:.2f} GB; load: {os.getloadavg()}; "
              f"flags: {cpu_flags()}", flush=True)
        prepare = {"prepare_voice": event["request"]["voice"]}
        results = []
        for run, body in [("prepare", prepare)] + [("cold", event), ("warm", event)] * args.repeat:
            wait_for_memory(10)
            result = one_run(tag, env, body, logs / f"bench-image-{run}.log", run)
            results.append(result)
            print(json.dumps(result | {"loadavg": [round(x, 2) for x in os.getloadavg()]}), flush=True)
        print("\n| run | init | model load | inference | process start to first answer |\n|---|---:|---:|---:|---:|")
        for r in results:
            print(f"| {r['run']} | {r['init_s']} s | {r['load_s']} s | {r.get('infer_s', '-')} s | "
                  f"{r['first_answer_s']} s |")
        for run in ("cold", "warm"):
            times = sorted(r["first_answer_s"] for r in results if r["run"] == run)
            print(f"{run}: median {times[len(times) // 2]} s of {len(times)} (min {times[0]} s, max {times[-1]} s)")
    finally:
        aws.reset_clients()
        server.stop()


def cpu_flags() -> str:
    flags = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    wanted = ("avx512_bf16", "amx_bf16", "avx512_vnni", "avx2")
    return " ".join(f for f in wanted if f" {f}" in flags) or "none of avx2/avx512"


if __name__ == "__main__":
    main()
