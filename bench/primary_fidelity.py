"""How far each compute precision of the primary engine (IndexTTS-2) moves its outputs from fp32.

    .venv-indextts/bin/python bench/primary_fidelity.py [--model-dir DIR --hf-cache DIR] [--tokens 100]
        [--prompt prompt.wav] [--text "..."] [--variants fp32-stored-bf16 bf16 int8] [--json out.json]
        [--keep-bf16 REGEX ...]

Without --model-dir it uses random weights of the full architecture, stored as fp32 files (built into
.cache/ on first use, ~7 GB). RANDOM WEIGHTS ARE NOT THE REAL DISTRIBUTION: their logits are flatter
and their activations differently scaled than a trained model's, so these figures show that each path is
implemented correctly and how much error each format adds to this architecture, not the audible quality
of the real model. Run it with the real weights (`--model-dir checkpoints/ --hf-cache hf_cache/`, fp32
files as published) to get the figures that decide; the thresholds are in the README.

One model is in memory at a time: each variant runs in its own interpreter, which loads the model through
IndexTtsEngine exactly as the Lambda does, with that variant's precision. The fp32 run comes first and
records the reference: the GPT's codes (sampled, seed 0), its teacher-forced logits, the mel from s2mel
with fixed noise (seed 1) and the waveform. Each other variant then
  - GPT: runs its own conditioning path, then one teacher-forced pass over the reference codes (through
    the steps the engine decodes with, decode.py's, unless INDEXTTS_DECODE=generate): cosine of
    its logits with the reference per position (mean and minimum) and top-1 agreement;
  - s2mel: its own GPT latent + the reference codes + the same noise -> mel SNR (dB) against the reference;
  - vocoder: its waveform from its own mel (end to end), SNR against the reference waveform.
`fp32-stored-bf16` is fp32 compute on weights rounded to bf16 (GPT, s2mel, w2v-bert, codec and BigVGAN, as
the image's packer stores them): the storage question of the image issue, apart from the compute format.
`--keep-bf16 REGEX` adds, for each int8 variant, a row with the decoder layers whose names match REGEX
(`gpt.h.N.attn.c_attn`, `gpt.h.N.mlp.c_proj`, `mel_head`, ...) kept in bf16: which layers an int8 format
would have to leave in bf16 to pass the threshold.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_TEXT = "今天天气很好，我们一起去公园散步吧。"
VARIANTS = ("fp32-stored-bf16", "bf16", "int8", "int8-dynamic")

WORKER = r"""
import json, os, sys, time
from pathlib import Path
args = json.loads(sys.argv[1])
from tts_core.engines.indextts.engine import IndexTtsEngine
from tts_core.engines.indextts.environment import prepare_environment
from tts_core.engines.indextts.settings import IndexTtsSettings
from tts_core.voices.registry import S3VoiceStore
variant = args["variant"]
if args.get("keep_bf16"):  # these decoder layers in the secondary format (bf16), the rest in the variant's
    import re
    from tts_core.engines.indextts import precision as _precision
    _keep, _decoder = re.compile(args["keep_bf16"]), _precision.is_decoder_layer
    _precision.is_decoder_layer = lambda name: _decoder(name) and not _keep.search(name)
compute = "fp32" if variant.startswith("fp32") else variant
settings = IndexTtsSettings(model_dir=Path(args["model_dir"]), hf_hub_cache=Path(args["hf_cache"]),
                            threads=args["threads"],
                            precision=compute, lazy_semantic_model=False, max_mel_tokens=args["tokens"])
prepare_environment(settings)
import torch
engine = IndexTtsEngine(settings, S3VoiceStore("unused"))  # model.infer is called directly: no voice is read
model = engine.load()
if variant == "fp32-stored-bf16":  # what the image stores as bf16 files (indextts.weights), computed in fp32
    with torch.no_grad():
        for module in (model.gpt, model.s2mel, model.semantic_model, model.semantic_codec, model.bigvgan):
            for p in module.parameters():
                p.copy_(p.to(torch.bfloat16).float())
ref = torch.load(args["ref"]) if args["ref_exists"] else None
got = {}
gpt = model.gpt
real_speech = gpt.inference_speech

def teacher_forced(codes):
    im = gpt.inference_model
    mel_len = im.cached_mel_emb.shape[1]
    prompt = torch.cat([torch.ones(1, mel_len, dtype=torch.long), torch.tensor([[gpt.start_mel_token]])], 1)
    if engine.decoder is not None:  # the path that decodes: decode.py's steps, generate()'s positions
        return engine.decoder.score(prompt, codes.long()).float()
    ids = torch.cat([prompt, codes.long()], 1)
    out = im(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False, return_dict=True)
    return out.logits[0, mel_len:mel_len + codes.shape[1]].float()

def speech(*a, **kw):
    if ref is None:
        torch.manual_seed(0)
        codes, latent = real_speech(*a, **kw)
    else:  # this variant's conditioning path fills the cached prefix; the codes are the reference's
        _, latent = real_speech(*a, **{**kw, "max_generate_length": 1})
        codes = ref["codes"]
    got["codes"] = codes
    got["logits"] = teacher_forced(codes)
    return codes, latent

cfm = model.s2mel.models["cfm"]
real_cfm = cfm.inference
def inference(*a, **kw):
    torch.manual_seed(1)
    mel = real_cfm(*a, **kw)
    got["mel"] = mel.float()
    return mel
real_voc = model.bigvgan.forward
def vocode(mel):
    wav = real_voc(mel)
    got["wav"] = wav.float()
    return wav
gpt.inference_speech, cfm.inference, model.bigvgan.forward = speech, inference, vocode
t = time.perf_counter()
with torch.no_grad():
    model.infer(spk_audio_prompt=args["prompt"], text=args["text"], output_path=None, num_beams=1,
                max_mel_tokens=args["tokens"], max_text_tokens_per_segment=400)
label = variant + (f", bf16 {args['keep_bf16']}" if args.get("keep_bf16") else "")
out = {"variant": label, "precision": engine.precision_report, "seconds": round(time.perf_counter() - t, 1)}
if ref is None:
    torch.save(got, args["ref"])
else:
    def snr(r, x):
        n = min(r.numel(), x.numel())
        r, x = r.flatten()[:n], x.flatten()[:n]
        return round(10 * float(torch.log10(r.pow(2).sum() / (r - x).pow(2).sum().clamp(min=1e-30))), 1)
    cos = torch.nn.functional.cosine_similarity(got["logits"], ref["logits"], dim=-1)
    top1 = (got["logits"].argmax(-1) == ref["logits"].argmax(-1)).float().mean()
    out.update(logit_cos_mean=round(float(cos.mean()), 5), logit_cos_min=round(float(cos.min()), 5),
               top1=round(float(top1), 4), mel_snr_db=snr(ref["mel"], got["mel"]),
               wav_snr_db=snr(ref["wav"], got["wav"]))
print("RESULT " + json.dumps(out), flush=True)
"""


def run_variant(variant: str, job: dict[str, Any], keep_bf16: str = "") -> dict[str, Any]:
    job = {**job, "variant": variant, "ref_exists": variant != "fp32", "keep_bf16": keep_bf16}
    done = subprocess.run([sys.executable, "-c", WORKER, json.dumps(job)], capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        sys.exit(f"{variant} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return dict(json.loads(lines[-1][len("RESULT "):]))


def fidelity(model_dir: Path, hf_cache: Path, *, prompt: Path, text: str = DEFAULT_TEXT, tokens: int = 100,
             variants: tuple[str, ...] = VARIANTS, threads: int = 2,
             keep_bf16: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="fidelity-") as tmp:
        job = {"model_dir": str(model_dir), "hf_cache": str(hf_cache), "prompt": str(prompt), "text": text,
               "tokens": tokens, "threads": threads, "ref": str(Path(tmp) / "ref.pt")}
        rows = [run_variant(v, job) for v in ("fp32", *variants)]
        return rows + [run_variant(v, job, keep) for keep in keep_bf16 for v in variants if v.startswith("int8")]


def table(rows: list[dict[str, Any]]) -> str:
    head = "| variant | logits cosine mean (min) | top-1 agreement | mel SNR | waveform SNR |\n|---|---|---|---|---|"
    lines = [head]
    for r in rows:
        if r["variant"] == "fp32":
            continue
        lines.append(f"| {r['variant']} | {r['logit_cos_mean']:.5f} ({r['logit_cos_min']:.5f}) | "
                     f"{100 * r['top1']:.1f} % | {r['mel_snr_db']:.1f} dB | {r['wav_snr_db']:.1f} dB |")
    return "\n".join(lines)


def default_model() -> tuple[Path, Path, Path]:
    built = subprocess.run([sys.executable, "-c", "from tts_local.tiny_indextts import ensure_model; "
                            "print(ensure_model('full', 'float32'))"], capture_output=True, text=True, check=True,
                           env={**os.environ, "HF_HUB_OFFLINE": "1"})
    root = Path(built.stdout.strip().splitlines()[-1])
    return root / "checkpoints", root / "hf_cache", root / "prompt.wav"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, help="IndexTTS-2 checkpoints/ (config.yaml, gpt.pth, ...)")
    parser.add_argument("--hf-cache", type=Path, help="hub cache with w2v-bert, MaskGCT, campplus, BigVGAN")
    parser.add_argument("--prompt", type=Path, help="speaker prompt WAV (default: the synthetic one)")
    parser.add_argument("--text", default=DEFAULT_TEXT)
    parser.add_argument("--tokens", type=int, default=100, help="GPT codes generated (50 per second of audio)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep-bf16", nargs="+", default=[], metavar="REGEX",
                        help="extra int8 rows with the decoder layers matching REGEX kept in bf16")
    args = parser.parse_args(argv)
    if args.model_dir is None:
        model_dir, hf_cache, prompt = default_model()
        print(f"random weights of the full architecture (fp32 files): {model_dir.parent}; NOT the real "
              "distribution, see the docstring", flush=True)
    else:
        model_dir, hf_cache = args.model_dir, args.hf_cache or args.model_dir.parent / "hf_cache"
        prompt = args.prompt
        if prompt is None:
            sys.exit("--prompt is required with --model-dir (a 3-15 s speaker WAV)")
    started = time.perf_counter()
    rows = fidelity(model_dir, hf_cache, prompt=args.prompt or prompt, text=args.text, tokens=args.tokens,
                    variants=tuple(args.variants), threads=args.threads, keep_bf16=tuple(args.keep_bf16))
    print(f"\nfidelity against fp32 ({args.tokens} GPT codes, {time.perf_counter() - started:.0f} s):")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    worst = min((r["top1"] for r in rows if "top1" in r), default=math.nan)
    print(f"lowest top-1 agreement: {100 * worst:.1f} %")


if __name__ == "__main__":
    main()
