"""The primary engine (IndexTTS-2 on CPU) per compute precision and thread count, on random weights of the
FULL architecture, plus the fidelity of each precision against fp32 (bench/primary_fidelity.py).

    .venv-indextts/bin/python bench/primary_indextts.py [--precisions fp32 bf16 int8] [--threads 2 1]
        [--max-mel-tokens 100] [--no-fidelity] [--fidelity-tokens 400] [--size full|tiny] [--no-baseline]

Every run has a `baseline` worker first: the code path and settings before issue 26 (bf16, transformers'
generate(), 10 fast diffusion steps), so each goal is a ratio measured in the same run on the same
machine; then one worker per precision with the engine's defaults (decode.py's static decode).

Random weights never emit the GPT stop token, so every run decodes exactly --max-mel-tokens codes
(100 codes = 172 mel frames = 2.0 s of audio) and runs are comparable. Speed is the architecture's, not
the weights'; quality cannot be judged on random weights (fidelity against fp32 can).

Each (precision, threads) runs in a fresh interpreter through IndexTtsEngine exactly as the Lambda does
(moto S3 holds the voice prompt): read bandwidth of this machine at that thread count (a 512 MB sum),
cold load (import + construct), then `fast` for a new voice (conditioning computed, w2v-bert loaded on
first use), `fast` again (the usual request: conditioning cached), and `quality` at the first thread count
only. Stage times come from wrappers around the inference code's own calls; `decode` is the GPT's
one-token steps (generate()'s forward passes; decode.py's whole steps, sampler included, by its own clock),
the rest of the GPT stage is the prompt's pass, sampling and generate()'s Python.

The machine is shared: `uptime` is printed beside every worker; compare precisions as ratios. Each row
also has the process's CPU time (`cpu_s`, `*_cpu_*`): at 1 thread it is what the wall time would be on
an idle core, the better estimate when other processes take the CPU (waiting is not counted; memory
contention still is). At 2 threads it also counts the OpenMP threads' spinning.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_TEXT = "今天天气很好，我们一起去公园散步吧。"
LAMBDA_USD_PER_GB_S = 0.0000166667  # x86, first 6 billion GB-s a month (us-east-1 list price)
MB_PER_VCPU = 1769  # Lambda allocates CPU in proportion to memory: 1,769 MB = 1 vCPU; 10,240 MB = 6 vCPU
SAMBERT_CNY_PER_10K_CHARS = 1.0  # DashScope list price for Sambert models
CHARS_PER_AUDIO_MINUTE = 250  # Mandarin read at ~4.2 characters/s (an assumption, stated in the output)
USD_PER_CNY = 0.14  # assumption, stated in the output
# The code path and settings before issue 26 (bf16, transformers' generate(), 10 fast diffusion steps),
# measured in the same run: the figure every speed goal is a ratio of.
BASELINE = "baseline"
BASELINE_JOB = {"precision": "bf16", "decode": "generate", "fast_steps": 10}
V25 = "indextts2.5"

WORKER = r"""
import functools, json, os, resource, sys, time
from pathlib import Path
args = json.loads(sys.argv[1])
os.environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
from moto import mock_aws
from tts_core.platform import aws
from tts_core.voices import registry as voice_registry
from tts_core.deadline import Deadline
from tts_core.engines.indextts.engine import IndexTtsEngine
from tts_core.engines.indextts.environment import prepare_environment
from tts_core.engines.indextts.settings import IndexTtsSettings
from tts_core.models import SynthesisRequest
from tts_local.tiny_indextts import write_prompt_wav

def rss_mb():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

def read_gb_s(torch):
    x = torch.ones(128 * 2**20)  # 512 MB: far beyond the caches
    best = min(_timed(lambda: x.sum()) for _ in range(5))
    del x
    return round(512 * 2**20 / best / 1e9, 1)

def _timed(fn):
    t = time.perf_counter(); fn(); return time.perf_counter() - t

settings = IndexTtsSettings(model_dir=Path(args["model"]) / "checkpoints", max_mel_tokens=args["max_mel_tokens"],
                            threads=args["threads"], precision=args["precision"], decode=args["decode"],
                            model=args["model_name"],
                            **({"fast_diffusion_steps": args["fast_steps"]} if args["fast_steps"] else {}))
out = {"threads": args["threads"], "uptime": os.popen("uptime").read().strip()}
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
    if args["model_name"] == "indextts2.5":
        from indextts25 import infer_v2_5  # noqa: F401
    else:
        from indextts import infer_v2  # noqa: F401
    out["import_s"] = round(time.perf_counter() - t0, 2)
    torch.set_num_threads(args["threads"])
    gb_s = [read_gb_s(torch)]
    engine = IndexTtsEngine(settings, voice_registry.S3VoiceStore("bench-voices", Path(args["tmp"]) / "voices"))
    t0 = time.perf_counter()
    model = engine.load()
    out["construct_s"] = round(time.perf_counter() - t0, 2)
    out["rss_after_load_mb"] = rss_mb()
    out["precision"] = engine.precision_report

    # The decoder's linear layers alone, one token through each: what a decoding step costs in weight
    # reads, to set against the whole step (the rest is attention, KV cache, norms and generate()'s Python).
    from tts_core.engines.indextts.precision import is_decoder_layer
    layers = [(m, getattr(m, "in_features", None) or m.weight.shape[0]) for n, m in model.gpt.named_modules()
              if is_decoder_layer(n) and (hasattr(m, "in_features") or type(m).__name__ == "Conv1D")]
    xs = {n: torch.randn(1, 1, n) for _, n in layers}
    def sweep():
        for m, n in layers:
            m(xs[n])
    with torch.inference_mode():
        sweep()
        out["decoder_kernel_ms"] = round(1000 * min(_timed(sweep) for _ in range(5)), 2)
    out["decoder_layers"] = len(layers)

    stages = {}
    def timed(obj, attr, key, when=None):
        real = getattr(obj, attr)
        @functools.wraps(real)  # generate() inspects forward's signature
        def wrapper(*a, **kw):
            t, c = time.perf_counter(), time.process_time()
            result = real(*a, **kw)
            if when is None or when(*a, **kw):
                stages[key] = stages.get(key, 0.0) + time.perf_counter() - t
                stages[key + "_cpu"] = stages.get(key + "_cpu", 0.0) + time.process_time() - c
                stages[key + "_n"] = stages.get(key + "_n", 0) + 1
                stages.setdefault(key + "_at", t)
            return result
        setattr(obj, attr, wrapper)
    timed(model.gpt, "inference_speech", "gpt_s")
    timed(model.gpt.inference_model, "forward", "decode_s",
          when=lambda *a, **kw: kw.get("input_ids", a[0] if a else None).shape[1] == 1)
    timed(model.gpt, "forward", "latent_s")
    timed(model.s2mel.models["cfm"], "inference", "s2mel_s")
    timed(model.bigvgan, "forward", "vocoder_s")

    def run(label, profile):
        stages.clear()
        t, c = time.perf_counter(), time.process_time()
        audio = engine.synthesize(SynthesisRequest(text=args["text"], profile=profile), Deadline.in_seconds(3600))
        total, cpu = time.perf_counter() - t, time.process_time() - c
        seconds = audio.samples.size / audio.sample_rate
        tokens = engine.last_stats["max_mel_tokens"]
        if "decode_steps" in engine.last_stats and not engine.last_stats["decode_fallback"]:
            # decode.py's steps (generate()'s forward hook above never fires): its own clock
            stages.update(decode_s=engine.last_stats["decode_s"], decode_s_n=engine.last_stats["decode_steps"],
                          decode_s_cpu=engine.last_stats["decode_cpu_s"])
        row = {"run": label, "profile": profile, "diffusion_steps": engine.last_stats["diffusion_steps"],
               "total_s": round(total, 2), "audio_s": round(seconds, 2),
               "rtf": round(total / seconds, 2), "prompt_s": round(stages["gpt_s_at"] - t, 2),
               "gpt_s": round(stages["gpt_s"], 2), "decode_s": round(stages["decode_s"], 2),
               "decode_steps": stages["decode_s_n"], "latent_s": round(stages.get("latent_s", 0.0), 2),
               "s2mel_s": round(stages["s2mel_s"], 2), "vocoder_s": round(stages["vocoder_s"], 2),
               "gpt_tok_per_s": round(tokens / stages["gpt_s"], 2),
               "decode_ms_per_step": round(1000 * stages["decode_s"] / stages["decode_s_n"], 1),
               "peak_rss_mb": rss_mb(), "cpu_s": round(cpu, 2), "rtf_cpu": round(cpu / seconds, 2),
               "gpt_cpu_s": round(stages["gpt_s_cpu"], 2), "s2mel_cpu_s": round(stages["s2mel_s_cpu"], 2),
               "vocoder_cpu_s": round(stages["vocoder_s_cpu"], 2),
               "decode_cpu_ms_per_step": round(1000 * stages["decode_s_cpu"] / stages["decode_s_n"], 1)}
        row["other_s"] = round(total - sum(row[k] for k in ("prompt_s", "gpt_s", "latent_s", "s2mel_s",
                                                             "vocoder_s")), 2)
        print("ROW " + json.dumps(row), flush=True)
        return row

    rows = [run("fast, new voice", "fast"), run("fast", "fast")]
    if args["quality"]:
        rows.append(run("quality", "quality"))
    gb_s.append(read_gb_s(torch))
    out["read_gb_s"] = max(gb_s)
    out["rows"] = rows
    out["peak_rss_mb"] = rss_mb()
print("RESULT " + json.dumps(out), flush=True)
"""


def worker(job: dict[str, Any], log: Path) -> dict[str, Any]:
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(job)], stdout=subprocess.PIPE,
                                stderr=err, text=True)
    assert proc.stdout is not None
    result = None
    for line in proc.stdout:
        if line.startswith("ROW "):
            print(f"  {job['label']} threads={job['threads']} {line[4:].strip()}", flush=True)
        elif line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
    if proc.wait() or result is None:
        sys.exit(f"worker failed ({proc.returncode}); see {log}")
    return dict(result)


def stage_table(results: dict[tuple[str, int], dict[str, Any]]) -> list[str]:
    head = ("precision", "threads", "run", "total_s", "rtf", "prompt_s", "gpt_s", "gpt_tok_per_s",
            "decode_ms_per_step", "latent_s", "s2mel_s", "vocoder_s", "other_s", "peak_rss_mb", "cpu_s", "rtf_cpu",
            "gpt_cpu_s", "decode_cpu_ms_per_step", "s2mel_cpu_s", "vocoder_cpu_s")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (precision, threads), r in results.items():
        for row in r["rows"]:
            cells = [precision, str(threads)] + [str(row[h]) for h in head[2:]]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def amdahl(t1: float, t2: float, n: int) -> float:
    """T(n) = serial + parallel / n fitted through T(1) and T(2) (parallel part clamped to >= 0)."""
    parallel = max(0.0, 2 * (t1 - t2))
    return max(t1 - parallel, 0.0) + parallel / n


def lambda_cost(rtf: float, memory_mb: int) -> float:
    """USD per minute of audio: 60 s x RTF of billed duration at memory_mb."""
    return 60 * rtf * memory_mb / 1024 * LAMBDA_USD_PER_GB_S


def report(args: argparse.Namespace, results: dict[tuple[str, int], dict[str, Any]],
           fidelity_rows: list[dict[str, Any]] | None, wall_s: float) -> None:
    print(f"\n$ {' '.join([Path(sys.executable).name, *sys.argv])}  ({wall_s / 60:.1f} min)")
    print(f"size={args.size} max_mel_tokens={args.max_mel_tokens} text={args.text!r} prompt={args.prompt_seconds:g} s")
    first = next(iter(results.values()))
    print(f"cpu: {os.cpu_count()} cores; flags that matter: {first['precision']['cpu_flags']}; "
          f"auto precision here: {auto_precision()}")
    for (precision, threads), r in results.items():
        p = r["precision"]
        print(f"{precision} threads={threads}: {r['uptime']}")
        print(f"   cold load {r['import_s'] + r['construct_s']:.1f} s (import {r['import_s']} + construct "
              f"{r['construct_s']}), RSS after load {r['rss_after_load_mb']} MB, peak {r['peak_rss_mb']} MB; "
              f"GPT decoder {p['gpt_decoder_bytes'] / 1e9:.2f} GB/token ({p['precision']}, "
              f"rest {p['secondary_precision']}; decode {p['decode']})")
    print()
    print("\n".join(stage_table(results)))

    fast = {key: next(row for row in r["rows"] if row["run"] == "fast") for key, r in results.items()}
    print("\nroofline (warm fast run; decode = one-token steps; bound = bytes per token of the format / read GB/s):")
    efficiency: dict[tuple[str, int], float] = {}
    for key, r in results.items():
        row, p = fast[key], r["precision"]
        per_token = p["gpt_decoder_bytes"]
        bound_ms = per_token / (r["read_gb_s"] * 1e9) * 1000
        efficiency[key] = bound_ms / row["decode_ms_per_step"]
        print(f"  {key[0]} threads={key[1]}: {1000 / row['decode_ms_per_step']:.1f} decode steps/s "
              f"({row['decode_ms_per_step']} ms) x {per_token / 1e9:.2f} GB/token = "
              f"{per_token / row['decode_ms_per_step'] / 1e6:.1f} GB/s of {r['read_gb_s']} GB/s read bandwidth "
              f"measured -> bound {bound_ms:.1f} ms, {100 * efficiency[key]:.0f} % of it; whole GPT stage "
              f"{row['gpt_tok_per_s']} tok/s")
        kernel = r["decoder_kernel_ms"]
        print(f"      the {r['decoder_layers']} decoder linears alone: {kernel} ms = "
              f"{per_token / kernel / 1e6:.1f} GB/s ({100 * bound_ms / kernel:.0f} % of the bound); the rest of "
              f"the step {row['decode_ms_per_step'] - kernel:.1f} ms (attention, KV cache, norms, Python)")

    threads = sorted({t for _, t in results})
    projections: dict[str, float] = {}
    if 1 in threads and 2 in threads:
        print("\nscaling 1 -> 2 threads (T1/T2) and Amdahl projection to Lambda's 6 vCPU (fitted per stage; "
              "memory-bound decode may scale less if 6 vCPU do not bring more bandwidth):")
        for precision in [BASELINE, *args.precisions]:
            one, two = fast.get((precision, 1)), fast.get((precision, 2))
            if not one or not two:
                continue
            parts = ("prompt_s", "gpt_s", "latent_s", "s2mel_s", "vocoder_s", "other_s")
            scale = {k: one[k] / two[k] for k in parts if two[k] > 0}
            six = sum(amdahl(one[k], two[k], 6) for k in parts)
            projections[precision] = six / two["audio_s"]
            print(f"  {precision}: total {one['total_s'] / two['total_s']:.2f}x ("
                  + ", ".join(f"{k[:-2]} {v:.2f}x" for k, v in scale.items())
                  + f"); 6 vCPU projection {six:.1f} s = RTF {projections[precision]:.2f}")

    sambert = SAMBERT_CNY_PER_10K_CHARS * CHARS_PER_AUDIO_MINUTE / 10000 * USD_PER_CNY
    print(f"\ncost per audio minute (Lambda x86 ${LAMBDA_USD_PER_GB_S}/GB-s; memory = max(peak RSS + 15 %, "
          f"{MB_PER_VCPU} MB per vCPU)) vs Sambert list price {SAMBERT_CNY_PER_10K_CHARS} CNY/10k characters = "
          f"${sambert:.4f}/min (assuming {CHARS_PER_AUDIO_MINUTE} characters per minute, {USD_PER_CNY} USD/CNY):")
    for key, row in fast.items():
        if key[1] != 2:
            continue
        memory = max(int(results[key]["peak_rss_mb"] * 1.15), MB_PER_VCPU * 2)
        line = f"  {key[0]}: 2 vCPU at {memory} MB, RTF {row['rtf']}: ${lambda_cost(row['rtf'], memory):.4f}/min"
        if key[0] in projections:
            line += (f"; 6 vCPU (10,240 MB) at projected RTF {projections[key[0]]:.2f}: "
                     f"${lambda_cost(projections[key[0]], 10240):.4f}/min")
        print(line + f" = {lambda_cost(row['rtf'], memory) / sambert:.0f}x Sambert")

    if fidelity_rows:
        from primary_fidelity import table

        print(f"\nfidelity against fp32 (bench/primary_fidelity.py, {args.fidelity_tokens} GPT codes, random weights "
              "of the full architecture: NOT the real distribution):")
        print(table(fidelity_rows))

    goals(args, results, fast, efficiency, projections, sambert)


def auto_precision() -> str:
    from tts_core.engines.indextts import precision

    return precision.choose_precision(precision.cpu_flags())


def goals(args: argparse.Namespace, results: dict[tuple[str, int], dict[str, Any]],
          fast: dict[tuple[str, int], dict[str, Any]], efficiency: dict[tuple[str, int], float],
          projections: dict[str, float], sambert: float) -> None:
    default = auto_precision()
    key, base_key = (default, 2), (BASELINE, 2)
    if key not in results or base_key not in results:
        print(f"\n(no 2-thread runs of the defaults ({default}) and the baseline: no goal lines)")
        return
    r, row, base = results[key], fast[key], fast[base_key]
    load = r["import_s"] + r["construct_s"]

    def line(name: str, ok: bool, text: str, why: str = "") -> None:
        print(f"  {'MET   ' if ok else 'MISSED'} {name}: {text}" + ("" if ok or not why else f"\n         why: {why}"))

    print(f"\ngoals (the defaults: {default}, the precision this CPU's flags select, {r['precision']['decode']} "
          "decode, "
          f"{row['diffusion_steps']} diffusion steps; against the baseline: bf16, generate(), "
          f"{base['diffusion_steps']} steps; 2 threads, this run):")
    kernel, step = r["decoder_kernel_ms"], row["decode_ms_per_step"]
    ratio = row["rtf"] / base["rtf"]
    line("fast RTF <= 0.5x the baseline", ratio <= 0.5, f"{row['rtf']} vs {base['rtf']} = {ratio:.2f}x (GPT "
         f"{row['gpt_s']} s vs {base['gpt_s']} s, s2mel {row['s2mel_s']} vs {base['s2mel_s']} s, vocoder "
         f"{row['vocoder_s']} vs {base['vocoder_s']} s)",
         f"{row['total_s'] - 0.5 * base['total_s']:.2f} s over half the baseline; of what is left the vocoder "
         f"({row['vocoder_s']} s) and s2mel ({row['s2mel_s']} s) are compute-bound convolutions and GEMMs, the "
         f"decoder's linears ({row['decode_steps']} x {kernel} ms = {row['decode_steps'] * kernel / 1000:.2f} s) "
         f"read their weights at the kernels' speed")
    line("GPT decode >= 80 % of its format's bandwidth bound", efficiency[key] >= 0.8,
         f"{100 * efficiency[key]:.0f} % ({step} ms per step)",
         f"the decoder's linears alone read at {r['precision']['gpt_decoder_bytes'] / kernel / 1e6:.1f} GB/s "
         f"({kernel} ms, {100 * efficiency[key] * step / kernel:.0f} % of the bound: the kernels' own limit)")
    outside = step - kernel
    line("<= 4 ms per step outside the linears", outside <= 4, f"{outside:.1f} ms (baseline "
         f"{base['decode_ms_per_step'] - results[base_key]['decoder_kernel_ms']:.1f} ms)",
         "attention over the cache, norms, the sampler and the Python of 24 blocks")
    line("cold load <= 8 s", load <= 8, f"{load:.1f} s (import {r['import_s']} s, construct {r['construct_s']} s)",
         f"importing torch, transformers and the inference code takes {r['import_s']} s before any weight is read")
    line("peak RSS <= 6 GB", r["peak_rss_mb"] <= 6144, f"{r['peak_rss_mb']} MB",
         f"{r['rss_after_load_mb']} MB after load; the peak is the new-voice run's, which loads w2v-bert")
    if default in projections:
        six = projections[default]
        price = lambda_cost(six, 10240)
        line("Lambda 6 vCPU: RTF <= 1.0", six <= 1.0, f"projected {six:.2f}",
             "the projection fits serial + parallel / n per stage through the 1- and 2-thread runs; the "
             "memory-bound decode scales with bandwidth, which 6 vCPU may not triple")
        line("Lambda 6 vCPU: <= 3x Sambert's price per audio minute", price <= 3 * sambert,
             f"${price:.4f}/min = {price / sambert:.1f}x", "billed 10,240 MB for RTF x 60 s per audio minute")
    else:
        print("  (no 1-thread run of the defaults: no Lambda projection)")
    if (V25, 2) in fast:
        v25 = fast[(V25, 2)]
        line("IndexTTS-2.5: fast RTF <= 0.4x the baseline", v25["rtf"] <= 0.4 * base["rtf"],
             f"{v25['rtf']} = {v25['rtf'] / base['rtf']:.2f}x ({v25['audio_s']} s of audio from "
             f"{v25['decode_steps'] + 1} codes: 25 codes per second of audio instead of 50)",
             "s2mel and the vocoder cost per second of audio what 2.0's do; only the GPT's share halves")
    else:
        print("  (IndexTTS-2.5 not run: --indextts25)")
    print(f"baseline fast RTF (2 threads): {base['rtf']:.2f}")
    print(f"fast RTF (2 threads): {row['rtf']:.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["full", "tiny"], default="full")
    parser.add_argument("--precisions", nargs="+", default=["bf16", "int8", "int8-dynamic"],
                        choices=["fp32", "bf16", "int8", "int8-dynamic"])
    parser.add_argument("--indextts25", action="store_true",
                        help="also IndexTTS-2.5 (random weights of its full architecture; ~4 GB built once)")
    parser.add_argument("--no-baseline", dest="baseline", action="store_false",
                        help="skip the baseline runs (bf16, generate(), 10 diffusion steps): no goal lines then")
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    parser.add_argument("--max-mel-tokens", type=int, default=100)
    parser.add_argument("--text", default=DEFAULT_TEXT)
    parser.add_argument("--prompt-seconds", type=float, default=5.0)
    parser.add_argument("--no-quality", dest="quality_runs", action="store_false",
                        help="skip the quality-profile runs (they take longest)")
    parser.add_argument("--no-fidelity", dest="fidelity", action="store_false")
    parser.add_argument("--fidelity-tokens", type=int, default=400,
                        help="GPT codes of the fidelity comparison (top-1 agreement over 100 moves by 2-3 points)")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    python = sys.executable
    # bf16 files: what the image stores (tts_core.engines.indextts.weights), so the cold load is the image's.
    built = subprocess.run([python, "-c", f"from tts_local.tiny_indextts import ensure_model; "
                            f"print(ensure_model({args.size!r}, 'bfloat16'))"], capture_output=True, text=True,
                           check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    model = built.stdout.strip().splitlines()[-1]
    print(f"model: {model} (ready in {time.perf_counter() - started:.0f} s)", flush=True)
    model25 = ""
    if args.indextts25:
        built = subprocess.run([python, "-c", f"from tts_local.tiny_indextts25 import ensure_model; "
                                f"print(ensure_model({args.size!r}, 'bfloat16'))"], capture_output=True, text=True,
                               check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        model25 = built.stdout.strip().splitlines()[-1]
        print(f"IndexTTS-2.5 model: {model25}", flush=True)

    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-primary-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    results: dict[tuple[str, int], dict[str, Any]] = {}
    for i, threads in enumerate(args.threads):
        runs = [(BASELINE, BASELINE_JOB)] if args.baseline else []
        runs += [(precision, {"precision": precision, "decode": "static", "fast_steps": None})
                 for precision in args.precisions]
        if args.indextts25:
            runs.append((V25, {"precision": "auto", "decode": "static", "fast_steps": None, "model_name": "indextts2.5",
                               "model": model25}))
        for label, run in runs:
            job = {"model": model, "model_name": "indextts2", "threads": threads, "max_mel_tokens": args.max_mel_tokens,
                   "text": args.text,
                   "prompt_seconds": args.prompt_seconds, "quality": args.quality_runs and i == 0,
                   "tmp": str(tmp / f"{label}-{threads}"), **run}
            results[(label, threads)] = worker({**job, "label": label}, tmp / f"worker-{label}-{threads}.log")
    fidelity_rows = None
    if args.fidelity:
        sys.path.insert(0, str(Path(__file__).parent))
        from primary_fidelity import default_model, fidelity

        model_dir, hf_cache, prompt = default_model()
        fidelity_rows = fidelity(model_dir, hf_cache, prompt=prompt, tokens=args.fidelity_tokens,
                                 threads=max(args.threads))
    report(args, results, fidelity_rows, time.perf_counter() - started)


if __name__ == "__main__":
    main()
