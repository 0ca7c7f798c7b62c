"""The GPT decoder's matrix-vector products alone, per weight format and kernel, against this machine's
read bandwidth: which format reads its weights fastest here (the choice issue 26 asks to make from
measurement, not from CPU flags alone).

    .venv-indextts/bin/python bench/decoder_gemv.py [--threads 2] [--layers 24] [--repeats 7]

One decoding step of IndexTTS-2's GPT (width 1280, 24 blocks) multiplies one row by each block's four
matrices (1280x3840 attention in, 1280x1280 attention out, 1280x5120 and 5120x1280 MLP) and the mel head
(1280x8194). The sweep runs them in that order over distinct weights (--layers copies: more than any cache
holds), so every product reads its weight from memory, as in a real step. Formats:
  - bf16 oneDNN: the engine's PackedLinear (weight pre-packed for M=1);
  - int8 weight-only: torch._weight_int8pack_mm (the engine's int8, one scale per output channel);
  - int8 dynamic (fbgemm): the engine's int8-dynamic, quantized::linear_dynamic, the row quantized to 8 bits
    at run time (int8 x int8 VNNI dot products; more error than weight-only: bench/primary_fidelity.py);
  - fp32 F.linear, for the reference.
Random weights: speed depends only on shapes and formats. Interleaved repeats, best of each: compare formats
as ratios from one run.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

WIDTH, VOCAB = 1280, 8194
SHAPES = ((WIDTH, 3 * WIDTH), (WIDTH, WIDTH), (WIDTH, 4 * WIDTH), (4 * WIDTH, WIDTH))  # (in, out) per block


def read_gb_s(torch: Any) -> float:
    x = torch.ones(128 * 2**20)  # 512 MB
    best = min(_timed(lambda: x.sum()) for _ in range(5))
    return 512 * 2**20 / best / 1e9


def _timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def formats(torch: Any, layers: int) -> dict[str, tuple[Callable[[], Any], int]]:
    """name -> (one decoder step's products, bytes of weights they read)."""
    from tts_core.engines.indextts.precision import packed_linear_class

    packed = packed_linear_class()
    shapes = [s for _ in range(layers) for s in SHAPES] + [(WIDTH, VOCAB)]
    weights = [torch.randn(out, inp) * 0.02 for inp, out in shapes]
    built: dict[str, tuple[Callable[[], Any], int]] = {}

    def sweep(mods: list[Any], x_of: Callable[[int], Any]) -> Callable[[], Any]:
        xs = {inp: x_of(inp) for inp, _ in shapes}
        return lambda: [m(xs[inp]) for m, (inp, _) in zip(mods, shapes, strict=True)]

    for name, precision in (("bf16 oneDNN", "bf16"), ("int8 weight-only", "int8"),
                            ("int8 dynamic (fbgemm)", "int8-dynamic")):
        mods = [packed(w, None, precision) for w in weights]
        built[name] = (sweep(mods, lambda n: torch.randn(1, n)), sum(m.nbytes() for m in mods))
    fp32 = [lambda x, w=w: torch.nn.functional.linear(x, w) for w in weights]
    built["fp32 F.linear"] = (sweep(fp32, lambda n: torch.randn(1, n)), sum(4 * w.numel() for w in weights))
    return built


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    with torch.inference_mode():
        built = formats(torch, args.layers)
        best = {name: float("inf") for name in built}
        bandwidth = 0.0
        for _ in range(args.repeats):  # interleaved: the machine's other load falls on every format alike
            bandwidth = max(bandwidth, read_gb_s(torch))
            for name, (step, _) in built.items():
                best[name] = min(best[name], _timed(step))
    print(f"threads={args.threads} layers={args.layers}: read bandwidth {bandwidth:.1f} GB/s (a 512 MB sum)")
    for name, (_, nbytes) in built.items():
        ms = 1000 * best[name]
        bound = nbytes / (bandwidth * 1e9) * 1000
        print(f"  {name:22s} {nbytes / 1e9:5.2f} GB/step  {ms:6.2f} ms  = {nbytes / best[name] / 1e9:5.1f} GB/s  "
              f"({100 * bound / ms:3.0f} % of the bound {bound:.2f} ms)")
    fastest = min(best, key=best.get)  # type: ignore[arg-type]
    print(f"fastest decoder step here: {fastest}")


if __name__ == "__main__":
    main()
