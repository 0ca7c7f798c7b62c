"""How s2mel's mel converges with the number of diffusion steps, per solver and CFG rate, on random weights
of the FULL architecture; whether classifier-free guidance runs as one batch; what the bf16 convolutions pay.

    .venv-indextts/bin/python bench/s2mel_steps.py [--steps 1 2 3 4 6 8 10 15 25] [--cfg-rates 0 0.7]
        [--solvers euler heun midpoint euler-cos] [--vocoder-steps 4 10] [--max-mel-tokens 100] [--threads 1]

The engine loads as in bench/primary_indextts.py (random bf16-stored weights from
tts_local.tiny_indextts.ensure_model('full', 'bfloat16'), IndexTtsEngine over a moto S3 voice store,
precision auto). One `fast` synthesis of a fixed text and voice captures the arguments of
`s2mel.models['cfm'].inference` (mu = prompt + new condition frames, x_lens, the prompt mel, style); the CFM
is then re-run on them with the same starting noise (torch.manual_seed before each call: the only random
draw is `z = randn(B, 80, T) * temperature` in BASECFM.inference) for every step count N and CFG rate.

Solvers. `euler` is the inference code's own (BASECFM.inference -> solve_euler: fixed Euler over
linspace(0, 1, N + 1), the prompt's frames zeroed after every step). The others are written here over the
same estimator call (the same prompt handling and CFG combination): `euler-cos` is Euler over the schedule
the code has commented out (t = 1 - cos(pi t / 2): small steps near the noise), `heun` and `midpoint` are
second-order steps with 2 estimator evaluations each. `nfe` = estimator evaluations (a CFG evaluation
is one batch of two). SNR (dB) = 10 log10(sum(ref^2) / sum((x - ref)^2)) over the new frames only (the
prompt's frames are zero), against the code's Euler at 25 steps (the `quality` profile's count) with the
same CFG rate and noise, and against a converged solution (Heun at 2x25 evaluations, `SNR vs converged`):
Euler-25 itself is not the ODE's solution, so a better solver can be closer to the truth than to it.
Heun-25 evaluates on Euler-25's grid, so the two agree more closely (49 dB here) than Euler-25 agrees with
Euler-100 (40 dB, `--cfg-rates 0 --steps 25 50 100 --solvers euler --no-converged`): read either
reference as exact only up to ~40 dB.

RANDOM WEIGHTS ARE NOT THE REAL DISTRIBUTION: a trained flow model's velocity field is smoother along t
than a random DiT's (that is what it was trained for), so a trained model usually converges in fewer steps
than here; the timings (the architecture's) carry over, the SNR curves only show the shape and the
relative merit of the solvers on this architecture, not the audible quality. Re-run with the real weights
(--model-dir) before changing a profile.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_TEXT = "今天天气很好，我们一起去公园散步吧。"
REFERENCE_STEPS = 25
SOLVERS = ("euler", "euler-cos", "heun", "midpoint")


def snr_db(x: Any, ref: Any) -> float:
    err = float(((x.double() - ref.double()) ** 2).sum())
    return math.inf if err == 0 else 10 * math.log10(float((ref.double() ** 2).sum()) / err)


def load(args: argparse.Namespace, tmp: Path) -> tuple[Any, Any, Any]:
    """(torch, engine, loaded model), as bench/primary_indextts.py's worker loads it."""
    os.environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      HF_HUB_OFFLINE="1")
    from tts_core.engines.indextts.engine import IndexTtsEngine
    from tts_core.engines.indextts.environment import prepare_environment
    from tts_core.engines.indextts.settings import IndexTtsSettings
    from tts_core.platform import aws
    from tts_core.voices import registry as voice_registry
    from tts_local.tiny_indextts import ensure_model, write_prompt_wav

    model_dir = Path(args.model_dir) if args.model_dir else Path(ensure_model("full", "bfloat16")) / "checkpoints"
    settings = IndexTtsSettings(model_dir=model_dir, max_mel_tokens=args.max_mel_tokens, threads=args.threads,
                                precision="auto")
    aws.client("s3").create_bucket(Bucket="bench-voices")
    wav = tmp / "prompt.wav"
    write_prompt_wav(wav, seconds=args.prompt_seconds)
    voice_registry.register_voice("bench-voices", "zh-female", wav.read_bytes(), language="zh-en",
                                  gender="female", fallback="zh-female", source="operator")
    prepare_environment(settings)
    import torch

    torch.set_num_threads(args.threads)
    engine = IndexTtsEngine(settings, voice_registry.S3VoiceStore("bench-voices", tmp / "voices"))
    model = engine.load()
    torch.set_num_threads(args.threads)
    return torch, engine, model


def capture(engine: Any, model: Any, text: str) -> dict[str, Any]:
    """One `fast` synthesis; the first call of cfm.inference (through the engine's hook) recorded."""
    from tts_core.deadline import Deadline
    from tts_core.models import SynthesisRequest

    cfm = model.s2mel.models["cfm"]
    hooked = cfm.inference
    seen: dict[str, Any] = {}

    def recording(mu: Any, x_lens: Any, prompt: Any, style: Any, f0: Any, n_timesteps: int,
                  temperature: float = 1.0, inference_cfg_rate: float = 0.5) -> Any:
        if not seen:
            seen.update(mu=mu.clone(), x_lens=x_lens.clone(), prompt=prompt.clone(), style=style.clone(), f0=f0,
                        temperature=temperature)
        return hooked(mu, x_lens, prompt, style, f0, n_timesteps, temperature, inference_cfg_rate)

    cfm.inference = recording
    try:
        engine.synthesize(SynthesisRequest(text=text, profile="fast"), Deadline.in_seconds(3600))
    finally:
        cfm.inference = hooked
    return seen


class Cfm:
    """The captured call re-run: the code's own solver, or a solver of ours over the same estimator call."""

    def __init__(self, torch: Any, cfm: Any, captured: dict[str, Any], seed: int) -> None:
        self.torch, self.cfm, self.c, self.seed = torch, cfm, captured, seed
        self.prompt_len = captured["prompt"].size(-1)
        self.nfe = 0

    def noise(self) -> Any:
        mu = self.c["mu"]
        self.torch.manual_seed(self.seed)
        return self.torch.randn([mu.size(0), self.cfm.in_channels, mu.size(1)]) * self.c["temperature"]

    def code(self, steps: int, cfg: float) -> Any:
        """BASECFM.inference itself (its noise drawn after the same seed)."""
        c = self.c
        self.torch.manual_seed(self.seed)
        self.nfe += steps
        out = type(self.cfm).inference(self.cfm, c["mu"].clone(), c["x_lens"], c["prompt"], c["style"], c["f0"],
                                       steps, c["temperature"], inference_cfg_rate=cfg)
        return out[:, :, self.prompt_len:]

    def velocity_fn(self, cfg: float, batched: bool = True) -> Callable[[Any, Any], Any]:
        """v(x, t) as solve_euler computes it: prompt mel beside x, CFG as (1 + r) v_cond - r v_uncond."""
        torch, c, est = self.torch, self.c, self.cfm.estimator
        prompt_x = torch.zeros([c["mu"].size(0), self.cfm.in_channels, c["mu"].size(1)])
        prompt_x[..., :self.prompt_len] = c["prompt"][..., :self.prompt_len]
        mu = c["mu"].clone()
        if self.cfm.zero_prompt_speech_token:
            mu[..., :self.prompt_len] = 0
        style, x_lens = c["style"], c["x_lens"]
        null = (torch.zeros_like(prompt_x), torch.zeros_like(style), torch.zeros_like(mu))
        stacked = (torch.cat([prompt_x, null[0]]), torch.cat([style, null[1]]), torch.cat([mu, null[2]]))

        def v(x: Any, t: Any) -> Any:
            self.nfe += 1
            t1 = t.reshape(1)
            if cfg <= 0:
                return est(x, prompt_x, x_lens, t1, style, mu)
            if batched:
                both = est(torch.cat([x, x]), stacked[0], x_lens, torch.cat([t1, t1]), stacked[1], stacked[2])
                cond, uncond = both.chunk(2, dim=0)
            else:
                cond = est(x, prompt_x, x_lens, t1, style, mu)
                uncond = est(x, null[0], x_lens, t1, null[1], null[2])
            return (1.0 + cfg) * cond - cfg * uncond

        return v

    def ours(self, solver: str, steps: int, cfg: float) -> Any:
        torch = self.torch
        with torch.inference_mode():
            v = self.velocity_fn(cfg)
            x = self.noise()
            p = self.prompt_len
            u = torch.linspace(0, 1, steps + 1)
            ts = 1 - torch.cos(torch.pi / 2 * u) if solver == "euler-cos" else u
            x[..., :p] = 0
            for i in range(steps):
                t, dt = ts[i], ts[i + 1] - ts[i]
                k1 = v(x, t)
                if solver in ("euler", "euler-cos"):
                    x = x + dt * k1
                elif solver == "heun":
                    x1 = x + dt * k1
                    x1[..., :p] = 0
                    x = x + dt / 2 * (k1 + v(x1, t + dt))
                elif solver == "midpoint":
                    xm = x + dt / 2 * k1
                    xm[..., :p] = 0
                    x = x + dt * v(xm, t + dt / 2)
                else:
                    raise ValueError(solver)
                x[..., :p] = 0
            return x[:, :, p:]


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall s, CPU s of this process: at 1 thread the time on an idle core, waiting not counted)."""
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t, time.process_time() - c


def cfg_batching(torch: Any, run: Cfm, cfg: float, repeats: int) -> dict[str, float]:
    """One estimator evaluation: cfg 0 (batch 1), CFG as the code runs it (one batch of two), CFG as two passes."""
    x = run.noise()
    t = torch.tensor(0.5)
    fns = {"cfg0_b1": run.velocity_fn(0.0), "cfg_batch2": run.velocity_fn(cfg, batched=True),
           "cfg_two_passes": run.velocity_fn(cfg, batched=False)}
    out = dict.fromkeys(fns, math.inf)
    with torch.inference_mode():
        for fn in fns.values():
            fn(x, t)  # warm-up
        for _ in range(repeats):  # interleaved: a slow moment of the shared machine hits every variant alike
            for name, fn in fns.items():
                out[name] = min(out[name], timed(lambda fn=fn: fn(x, t))[2])
    return out


def conv_check(torch: Any, model: Any, run: Cfm, mel: Any, repeats: int) -> list[str]:
    """The bf16 convolutions (PackedConv1d) against the same layers computed in fp32, in the same run."""
    from tts_core.engines.indextts.precision import packed_conv1d_class

    cls = packed_conv1d_class()
    packed = [m for m in list(model.s2mel.modules()) + list(model.bigvgan.modules()) if isinstance(m, cls)]
    if not packed:
        return ["bf16 convolutions: none packed (precision is not bf16 here)"]
    bf16_forward = cls.forward
    for m in packed:
        m._w32 = m.weight.float()
        m._b32 = None if m.bias is None else m.bias.float()

    def fp32_forward(self: Any, x: Any) -> Any:
        return torch.nn.functional.conv1d(x.float(), self._w32, self._b32, self.stride, self.padding, self.dilation,
                                          self.groups).to(x.dtype)

    v, x, t = run.velocity_fn(0.0), run.noise(), torch.tensor(0.5)
    stages = {"DiT evaluation (cfg 0)": lambda: v(x, t), "BigVGAN": lambda: model.bigvgan(mel.float())}
    lines = [f"bf16 convolutions ({len(packed)} PackedConv1d in s2mel + BigVGAN) vs the same layers in fp32:"]
    try:
        with torch.inference_mode():
            for name, fn in stages.items():
                times = {}
                for label, forward in (("bf16", bf16_forward), ("fp32", fp32_forward)):
                    cls.forward = forward
                    fn()
                    times[label] = min(timed(fn)[2] for _ in range(repeats))
                lines.append(f"  {name}: bf16 convs {times['bf16'] * 1000:.0f} ms, fp32 convs "
                             f"{times['fp32'] * 1000:.0f} ms -> bf16 {times['fp32'] / times['bf16']:.2f}x faster")
    finally:
        cls.forward = bf16_forward
        for m in packed:
            del m._w32, m._b32
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 2, 3, 4, 6, 8, 10, 15, 25])
    parser.add_argument("--cfg-rates", type=float, nargs="+", default=[0.0, 0.7])
    parser.add_argument("--solvers", nargs="+", default=list(SOLVERS), choices=SOLVERS)
    parser.add_argument("--max-nfe", type=int, default=20, help="skip our solvers' runs above this many evaluations")
    parser.add_argument("--vocoder-steps", type=int, nargs="*", default=[2, 4, 10],
                        help="Euler step counts whose waveform (BigVGAN) is compared with Euler-25's")
    parser.add_argument("--no-converged", dest="converged", action="store_false",
                        help="skip the converged reference (Heun, 2x25 evaluations per CFG rate)")
    parser.add_argument("--no-conv-check", dest="conv_check", action="store_false")
    parser.add_argument("--max-mel-tokens", type=int, default=100)
    parser.add_argument("--prompt-seconds", type=float, default=5.0)
    parser.add_argument("--text", default=DEFAULT_TEXT)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--model-dir", help="real checkpoints/ (default: random weights of the full architecture)")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    os.environ.setdefault("TQDM_DISABLE", "1")  # solve_euler's progress bar
    from moto import mock_aws

    with tempfile.TemporaryDirectory() as tmp, mock_aws():
        torch, engine, model = load(args, Path(tmp))
        captured = capture(engine, model, args.text)
        cfm = model.s2mel.models["cfm"]
        run = Cfm(torch, cfm, captured, args.seed)
        frames, prompt_frames = captured["mu"].size(1), run.prompt_len
        print(f"$ {' '.join([Path(sys.executable).name, *sys.argv])}")
        uptime = os.popen("uptime").read().strip()
        print(f"cpu: {os.cpu_count()} cores, torch threads {torch.get_num_threads()}; {uptime}")
        report = engine.precision_report
        print(f"precision: {report['precision']} (rest {report['secondary_precision']}); CFM over {frames} frames "
              f"= {prompt_frames} prompt + {frames - prompt_frames} new "
              f"({args.max_mel_tokens} codes); text {args.text!r}")
        print("RANDOM WEIGHTS" if not args.model_dir else "REAL WEIGHTS", f"({args.model_dir or 'full architecture'})")

        def check(x: Any) -> Any:
            if not torch.isfinite(x).all():
                sys.exit("non-finite mel")
            return x

        rows: list[dict[str, Any]] = []
        ref: Any = None
        for cfg in args.cfg_rates:
            code: dict[int, Any] = {}
            for n in sorted(set(args.steps) | {REFERENCE_STEPS}):
                code[n], wall, cpu = timed(lambda n=n, cfg=cfg: check(run.code(n, cfg)))
                rows.append({"cfg": cfg, "solver": "euler (code)", "steps": n, "nfe": n, "wall": wall, "cpu": cpu,
                             "mel": code[n]})
            ref = code[REFERENCE_STEPS]
            check_n = min(args.steps)
            mine = run.ours("euler", check_n, cfg)
            print(f"cfg {cfg}: our Euler vs the code's at {check_n} steps: SNR {snr_db(mine, code[check_n]):.1f} dB "
                  "(the same computation: inf expected)")
            converged = None
            if args.converged:
                converged, wall, cpu = timed(lambda cfg=cfg: check(run.ours("heun", REFERENCE_STEPS, cfg)))
                rows.append({"cfg": cfg, "solver": "heun", "steps": REFERENCE_STEPS, "nfe": 2 * REFERENCE_STEPS,
                             "wall": wall, "cpu": cpu, "mel": converged})
            for solver in args.solvers:
                if solver == "euler":
                    continue
                per = 2 if solver in ("heun", "midpoint") else 1
                for n in args.steps:
                    if n * per > args.max_nfe or (solver == "heun" and n == REFERENCE_STEPS and converged is not None):
                        continue
                    mel, wall, cpu = timed(lambda n=n, s=solver, cfg=cfg: check(run.ours(s, n, cfg)))
                    rows.append({"cfg": cfg, "solver": solver, "steps": n, "nfe": n * per, "wall": wall, "cpu": cpu,
                                 "mel": mel})
            for row in rows:
                if row["cfg"] == cfg:
                    row["snr"] = snr_db(row["mel"], ref)
                    row["snr_conv"] = None if converged is None else snr_db(row["mel"], converged)
            if args.vocoder_steps:
                with torch.inference_mode():
                    wave_ref = model.bigvgan(ref.float())
                    for n in args.vocoder_steps:
                        if n in code:
                            wave = model.bigvgan(code[n].float())
                            print(f"cfg {cfg}: waveform (BigVGAN) of Euler-{n} vs Euler-{REFERENCE_STEPS}: SNR "
                                  f"{snr_db(wave, wave_ref):.1f} dB (its mel: {snr_db(code[n], ref):.1f} dB)")

        print(f"\nSNR against the code's Euler at {REFERENCE_STEPS} steps (same CFG rate, same noise) and against the "
              "converged solution (Heun 2x25 evaluations); nfe = estimator evaluations (CFG: one batch of two each):\n")
        print("| cfg | solver | steps | nfe | wall s | cpu s | cpu ms per nfe | SNR vs Euler-25 dB "
              "| SNR vs converged dB |")
        print("|---|---|---|---|---|---|---|---|---|")
        for row in sorted(rows, key=lambda r: (r["cfg"], SOLVERS.index(r["solver"].split()[0]), r["steps"])):
            conv = "" if row["snr_conv"] is None else f"{row['snr_conv']:.1f}"
            print(f"| {row['cfg']:g} | {row['solver']} | {row['steps']} | {row['nfe']} | {row['wall']:.2f} | "
                  f"{row['cpu']:.2f} | {1000 * row['cpu'] / row['nfe']:.0f} | {row['snr']:.1f} | {conv} |")
        per_nfe = {c: sum(r["cpu"] for r in rows if r["cfg"] == c) / sum(r["nfe"] for r in rows if r["cfg"] == c)
                   for c in args.cfg_rates}
        print("\nCPU time per estimator evaluation over the whole sweep: "
              + ", ".join(f"cfg {c:g} {1000 * v:.0f} ms" for c, v in per_nfe.items()))

        positive = [c for c in args.cfg_rates if c > 0]
        if positive:
            b = cfg_batching(torch, run, positive[0], repeats=5)
            print("\nCFG batching (one estimator evaluation, CPU time, best of 5): "
                  f"cfg 0 batch 1 {b['cfg0_b1'] * 1000:.0f} ms; "
                  f"cfg {positive[0]} as the code runs it (one batch of two) {b['cfg_batch2'] * 1000:.0f} ms "
                  f"= {b['cfg_batch2'] / b['cfg0_b1']:.2f}x; as two passes {b['cfg_two_passes'] * 1000:.0f} ms "
                  f"= {b['cfg_two_passes'] / b['cfg0_b1']:.2f}x. On a compute-bound CPU a batch of two costs "
                  "~2x too: the batch saves only per-call overhead, the doubled work stays.")
        if args.conv_check:
            print("\n" + "\n".join(conv_check(torch, model, run, ref, repeats=3)))
    print(f"\n({(time.perf_counter() - started) / 60:.1f} min)")


if __name__ == "__main__":
    main()
