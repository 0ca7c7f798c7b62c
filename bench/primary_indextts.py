"""The primary engine (IndexTTS-2, CPU, fp32) stage by stage, on random weights of the FULL architecture.

Random weights never emit the GPT stop token, so every run decodes exactly --max-mel-tokens codes and
runs are comparable (100 codes = 172 mel frames = 2.0 s of audio). Speed is the architecture's, not
the weights': the figures hold for the real model at the same token count; quality cannot be judged.

    /work/idx-venv/bin/python bench/primary_indextts.py [--size full|tiny] [--threads 1 2]
        [--max-mel-tokens 100] [--text "..."] [--prompt-seconds 5]

The model is built on demand into .cache/indextts-<size>/ (full: ~3.4 GB as fp16 files, ~1 min) and
never committed. Each thread count runs in a fresh interpreter (clean peak RSS, cold load) through
IndexTtsEngine exactly as the Lambda does (moto S3 holds the voice prompt). Per interpreter: load; `fast`
with the speaker conditioning computed; `fast` again (conditioning in the model's cache); `quality`;
then (first thread count only) `fast` after evicting the model's cache, once recomputed (no stored
conditioning) and once restored from the engine's per-voice store: the difference in prompt_s is what
precomputed conditioning saves per request that switches voice. Stage times come from wrappers
around the inference code's own calls.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_TEXT = "今天天气很好，我们一起去公园散步吧。"

WORKER = r"""
import json, os, resource, sys, time
from dataclasses import replace
from pathlib import Path
args = json.loads(sys.argv[1])
os.environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
from moto import mock_aws
from tts_core.platform import aws
from tts_core.voices import registry as voice_registry
from tts_core.engines import Deadline
from tts_core.engines.indextts import IndexTtsEngine, IndexTtsSettings, prepare_environment
from tts_core.models import SynthesisRequest
from tts_local.tiny_indextts import write_prompt_wav

def rss_mb():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

model_dir = Path(args["model"]) / "checkpoints"
settings = IndexTtsSettings(model_dir=model_dir, max_mel_tokens=args["max_mel_tokens"], threads=args["threads"],
                            voice_bucket="bench-voices", prompt_root=Path(args["tmp"]) / "voices")
out = {"threads": args["threads"], "rss_before_load_mb": rss_mb()}
with mock_aws():
    aws.client("s3").create_bucket(Bucket="bench-voices")
    Path(args["tmp"]).mkdir(parents=True, exist_ok=True)
    wav = Path(args["tmp"]) / "prompt.wav"
    write_prompt_wav(wav, seconds=args["prompt_seconds"])
    voice_registry.register_voice("bench-voices", "zh-female", wav.read_bytes(), language="zh-en",
                                  gender="female", fallback="zh-female", source="operator")
    prepare_environment(settings)
    t0 = time.perf_counter()
    import torch
    from indextts import infer_v2  # noqa: F401
    out["import_s"] = round(time.perf_counter() - t0, 2)
    engine = IndexTtsEngine(settings)
    t0 = time.perf_counter()
    model = engine.load()
    out["construct_s"] = round(time.perf_counter() - t0, 2)
    out["rss_after_load_mb"] = rss_mb()
    params = {name: sum(p.numel() for p in mod.parameters()) for name, mod in (
        ("gpt", model.gpt), ("w2v_bert", model.semantic_model), ("codec", model.semantic_codec),
        ("s2mel", model.s2mel), ("campplus", model.campplus_model), ("bigvgan", model.bigvgan))}
    out["params_m"] = {k: round(v / 1e6, 1) for k, v in params.items()}

    stages = {}
    def timed(obj, attr, key, count=None):
        real = getattr(obj, attr)
        def wrapper(*a, **kw):
            t = time.perf_counter()
            result = real(*a, **kw)
            stages[key] = stages.get(key, 0.0) + time.perf_counter() - t
            if count:
                stages[count] = stages.get(count, 0) + count_tokens(result)
            if key == "gpt_s" and "first_gpt_at" not in stages:
                stages["first_gpt_at"] = t
            return result
        setattr(obj, attr, wrapper)
    def count_tokens(result):
        codes = result[0]
        return int(codes.shape[-1])
    timed(model.gpt, "inference_speech", "gpt_s", "gpt_tokens")
    timed(model.s2mel.models["cfm"], "inference", "s2mel_s")
    timed(model.bigvgan, "forward", "vocoder_s")

    def run(label, profile):
        stages.clear()
        t = time.perf_counter()
        audio = engine.synthesize(SynthesisRequest(text=args["text"], profile=profile), Deadline.in_seconds(3600))
        total = time.perf_counter() - t
        seconds = audio.samples.size / audio.sample_rate
        row = {"run": label, "profile": profile, "total_s": round(total, 2), "audio_s": round(seconds, 2),
               "rtf": round(total / seconds, 2),
               "prompt_s": round(stages["first_gpt_at"] - t, 2),  # speaker/emotion conditioning + text
               "gpt_s": round(stages["gpt_s"], 2), "gpt_tokens": stages["gpt_tokens"],
               "gpt_tok_per_s": round(stages["gpt_tokens"] / stages["gpt_s"], 2),
               "s2mel_s": round(stages["s2mel_s"], 2), "vocoder_s": round(stages["vocoder_s"], 2),
               "reused": engine.last_stats["conditioning_reused"], "peak_rss_mb": rss_mb()}
        print("ROW " + json.dumps(row), flush=True)
        return row

    rows = [run("fast, conditioning computed", "fast"), run("fast", "fast"), run("quality", "quality")]
    if args["restore"]:
        entry = next(iter(engine._conditioning.values()))
        out["conditioning_kb"] = round(sum(t.numel() * t.element_size() for t in entry.values()
                                           if t is not None) / 1024)
        def evict():  # as if another voice had been used in between
            model.cache_spk_audio_prompt = None
            model.cache_emo_audio_prompt = None
        evict()
        saved = dict(engine._conditioning)
        engine._conditioning.clear()
        settings = engine.settings
        engine.settings = replace(settings, store_conditioning=False)  # no stored copy: a true recompute
        rows.append(run("fast, conditioning recomputed", "fast"))
        engine.settings = settings
        engine._conditioning.update(saved)
        evict()
        rows.append(run("fast, conditioning restored", "fast"))
    out["rows"] = rows
    out["peak_rss_mb"] = rss_mb()
print("RESULT " + json.dumps(out), flush=True)
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["full", "tiny"], default="full")
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    parser.add_argument("--max-mel-tokens", type=int, default=100)
    parser.add_argument("--text", default=DEFAULT_TEXT)
    parser.add_argument("--prompt-seconds", type=float, default=5.0)
    args = parser.parse_args(argv)

    python = sys.executable
    t0 = time.perf_counter()
    built = subprocess.run([python, "-c", f"from tts_local.tiny_indextts import ensure_model; "
                            f"print(ensure_model({args.size!r}))"], capture_output=True, text=True, check=True,
                           env={**os.environ, "HF_HUB_OFFLINE": "1"})
    model = built.stdout.strip().splitlines()[-1]
    print(f"model: {model} (ready in {time.perf_counter() - t0:.0f} s)", flush=True)

    results = []
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-primary-{os.getpid()}"
    for i, threads in enumerate(args.threads):
        job = {"model": model, "threads": threads, "max_mel_tokens": args.max_mel_tokens, "text": args.text,
               "prompt_seconds": args.prompt_seconds, "restore": i == 0, "tmp": str(tmp / str(threads))}
        t0 = time.perf_counter()
        # Rows are printed as they come: a full-size run takes many minutes per thread count.
        tmp.mkdir(parents=True, exist_ok=True)
        log = tmp / f"worker-{threads}.log"  # the inference code's own prints and progress bars
        with log.open("w") as err:
            worker = subprocess.Popen([python, "-c", WORKER, json.dumps(job)], stdout=subprocess.PIPE, stderr=err,
                                      text=True)
        assert worker.stdout is not None
        result = None
        for line in worker.stdout:
            if line.startswith("ROW "):
                print(f"  threads={threads} {line[4:].strip()}", flush=True)
            elif line.startswith("RESULT "):
                result = json.loads(line[len("RESULT "):])
        if worker.wait() or result is None:
            sys.exit(f"worker failed ({worker.returncode}); see {log}")
        result["wall_s"] = round(time.perf_counter() - t0, 1)
        results.append(result)
        report(args, model, [result])
    print("peak RSS of this driver:", round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), "MB")


def report(args: argparse.Namespace, model: str, results: list[dict[str, Any]]) -> None:
    print(f"\n$ {shlex.join([sys.executable, *sys.argv])}", flush=True)
    print(f"size={args.size} max_mel_tokens={args.max_mel_tokens} text={args.text!r} "
          f"prompt={args.prompt_seconds:g} s; cpu={os.cpu_count()} cores")
    for r in results:
        print(f"\nthreads={r['threads']}: import {r['import_s']} s + construct {r['construct_s']} s "
              f"(cold load {r['import_s'] + r['construct_s']:.1f} s), RSS after load {r['rss_after_load_mb']} MB, "
              f"peak {r['peak_rss_mb']} MB; params (M) {r['params_m']}")
        head = ("run", "total_s", "audio_s", "rtf", "prompt_s", "gpt_s", "gpt_tok_per_s", "s2mel_s", "vocoder_s",
                "peak_rss_mb")
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for row in r["rows"]:
            print("| " + " | ".join(str(row[h]) for h in head) + " |")
        if "conditioning_kb" in r:
            print(f"stored conditioning per voice: {r['conditioning_kb']} KB")
        rows = {row["run"]: row for row in r["rows"]}
        if "fast" in rows and "quality" in rows:
            print(f"quality / fast total time: {rows['quality']['total_s'] / rows['fast']['total_s']:.2f}x")


if __name__ == "__main__":
    main()
