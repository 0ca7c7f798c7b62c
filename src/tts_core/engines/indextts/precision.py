"""Compute precision of IndexTTS-2 on CPU, chosen at load from the CPU's features.

- `bf16` where the CPU multiplies bf16 natively (avx512_bf16 or AMX): every plain linear layer of the
  GPT (the 24-layer decoder, its heads and the conditioning encoders), of s2mel's DiT and of w2v-bert
  holds its weight as bf16, pre-packed once for oneDNN. The decoder is memory-bound (one token reads
  every weight), so half the bytes is about half the time; the GEMMs of the prompt path and the
  diffusion steps are compute-bound and gain from the bf16 dot-product instructions.
- `int8` weight-only, on request only (INDEXTTS_PRECISION=int8): the decoder and the mel head hold int8
  weights with one fp32 scale per output channel (activations stay 16-bit floats), a quarter of the bytes;
  it pays where the CPU has VNNI. Not chosen by `auto`: on random weights its GPT top-1 agreement with fp32
  (93.2 % over 400 codes) is under the threshold a default must meet (README: >= 95 %); a user whose real
  weights meet it (bench/primary_fidelity.py) opts in.
- `int8-dynamic`, on request only: the same int8 weights through fbgemm's dynamic linear, which also
  quantizes each activation row to 8 bits at run time and multiplies int8 by int8 (VNNI): the int8 path
  that reads its weights fastest on the AMD EPYC here (bench/decoder_gemv.py), at more error than
  weight-only (bench/primary_fidelity.py).
- `fp32` otherwise: the inference code's own modules, untouched.
- Beside the decoder, the compute-bound layers use the secondary format (bf16 where the CPU has it):
  linears as above, and the dense Conv1d layers of s2mel and BigVGAN (PackedConv1d).

Activations, norms, attention, the KV cache and everything outside the replaced layers stay fp32:
each replaced layer takes and returns the caller's dtype. The env var INDEXTTS_PRECISION (or
IndexTtsSettings.precision) overrides the choice: `auto` (default), `fp32`, `bf16`, `int8`.

Weights may be stored as fp32 or bf16 (or fp16) files: a layer computed in bf16/int8 is built straight
from the file's tensor (mmap'd), never widened to fp32 first.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Literal

Precision = Literal["fp32", "bf16", "int8", "int8-dynamic"]
PRECISIONS: tuple[Precision, ...] = ("fp32", "bf16", "int8", "int8-dynamic")
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni"})
BYTES_PER_WEIGHT: dict[Precision, float] = {"fp32": 4.0, "bf16": 2.0, "int8": 1.0, "int8-dynamic": 1.0}


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The feature flags of the first CPU (Linux); empty where /proc/cpuinfo is absent."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def choose_precision(flags: Iterable[str], requested: str = "auto") -> Precision:
    """`requested` (an override) wins; `auto` picks bf16 where the CPU computes it natively (the one
    reduced format that meets the fidelity threshold), else fp32."""
    if requested != "auto":
        if requested not in PRECISIONS:
            raise ValueError(f"precision must be auto or one of {', '.join(PRECISIONS)}, not {requested!r}")
        return requested  # type: ignore[return-value]
    return "bf16" if frozenset(flags) & BF16_FLAGS else "fp32"


def secondary_precision(precision: Precision, flags: Iterable[str]) -> Precision:
    """What the compute-bound layers (prompt path, s2mel) use: int8 weight-only only pays on the
    memory-bound decoder, so beside it the other layers use bf16 where the CPU has it."""
    if precision.startswith("int8"):
        return "bf16" if frozenset(flags) & BF16_FLAGS else "fp32"
    return precision


def formats(requested: str, model_name: str) -> tuple[Precision, Precision, dict[str, Any]]:
    """(decoder format, secondary format, the start of the precision report) for this CPU; a bad
    `requested` is ModelUnavailableError (a misconfigured container: no retry cures it)."""
    from tts_core.errors import ModelUnavailableError

    flags = cpu_flags()
    try:
        chosen = choose_precision(flags, requested)
    except ValueError as exc:
        raise ModelUnavailableError(f"{model_name} misconfigured: {exc}") from exc
    secondary = secondary_precision(chosen, flags)
    return chosen, secondary, {"precision": chosen, "secondary_precision": secondary,
                               "cpu_flags": sorted(flags & (BF16_FLAGS | VNNI_FLAGS))}


def _torch() -> Any:
    import torch

    return torch


def packed_linear_class() -> type:
    """Defined on first use: importing this module must not import torch (the light venv uses it)."""
    global _PackedLinear
    if _PackedLinear is None:
        torch = _torch()

        class PackedLinear(torch.nn.Module):  # type: ignore[misc,name-defined]
            """y = x W^T + b with W in a compute format; x and y keep the caller's dtype."""

            def __init__(self, weight: Any, bias: Any, precision: Precision) -> None:
                super().__init__()
                self.out_features, self.in_features = int(weight.shape[0]), int(weight.shape[1])
                self.precision = precision
                bf16 = torch.bfloat16
                # A copy, never a view: a view of an mmap'd checkpoint keeps the whole file resident.
                self.bias = None if bias is None else bias.detach().to(bf16 if precision == "bf16" else torch.float32,
                                                                       copy=True)
                if precision == "bf16":
                    # Pre-packed for oneDNN's bf16 GEMM; M=1 (a decoding step) is the case that matters.
                    self.weight = torch.ops.mkldnn._reorder_linear_weight(weight.detach().to(bf16).contiguous(), 1)
                    self.scales = None
                elif precision == "int8":
                    self.weight, scales = _int8_per_channel(weight.detach())
                    self.scales = scales.to(bf16)
                elif precision == "int8-dynamic":
                    # fbgemm's dynamic linear: the row quantized to 8 bits at each call, int8 x int8 dot
                    # products (VNNI); 7-bit rows where the CPU lacks VNNI (its 16-bit sums would saturate).
                    q, scales = _int8_per_channel(weight.detach())
                    quantized = torch._make_per_channel_quantized_tensor(
                        q, scales.double(), torch.zeros(q.shape[0], dtype=torch.long), 0)
                    self.weight = torch.ops.quantized.linear_prepack(quantized, self.bias)
                    self.reduce_range = not cpu_flags() & VNNI_FLAGS
                    self.scales = scales
                    self.bias = None  # inside the packed weight
                else:
                    raise ValueError(f"PackedLinear computes in bf16 or int8, not {precision}")

            def forward(self, x: Any) -> Any:
                shape = x.shape
                y = self.project(x.reshape(-1, self.in_features))
                return y.to(x.dtype).reshape(*shape[:-1], self.out_features)

            def project(self, x2: Any, gelu: bool = False) -> Any:
                """x2 (rows, in) -> (rows, out) in the compute format (bf16, or fp32 where int8 adds a
                bias); `gelu` applies GPT-2's tanh GELU to the fp32 accumulators (oneDNN's post-op)."""
                if self.precision == "int8-dynamic":
                    y = torch.ops.quantized.linear_dynamic(x2.float(), self.weight, self.reduce_range)
                    return torch.nn.functional.gelu(y, approximate="tanh") if gelu else y
                x2 = x2.to(torch.bfloat16)
                if self.precision == "bf16":
                    return torch.ops.mkldnn._linear_pointwise(x2, self.weight, self.bias, "gelu" if gelu else "none",
                                                              [], "tanh" if gelu else "")
                y = torch._weight_int8pack_mm(x2, self.weight, self.scales)
                if self.bias is not None:
                    y = y.float() + self.bias
                return torch.nn.functional.gelu(y.float(), approximate="tanh") if gelu else y

            def nbytes(self) -> int:
                total = self.in_features * self.out_features if self.precision == "int8-dynamic" else \
                    self.weight.numel() * self.weight.element_size()
                for extra in (self.bias, self.scales):
                    if extra is not None:
                        total += extra.numel() * extra.element_size()
                return int(total)

            def extra_repr(self) -> str:
                return f"in={self.in_features}, out={self.out_features}, {self.precision}"

        _PackedLinear = PackedLinear
    return _PackedLinear


_PackedLinear: type | None = None


def _int8_per_channel(weight: Any) -> tuple[Any, Any]:
    """(int8 weight, fp32 scale per output row), symmetric; row blocks, never a full fp32 copy."""
    torch = _torch()
    rows, scales = [], []
    for block in torch.split(weight, 1024):
        block = block.float()
        scale = block.abs().amax(dim=1).clamp(min=1e-12) / 127.0
        rows.append(torch.round(block / scale[:, None]).clamp(-127, 127).to(torch.int8))
        scales.append(scale)
    return torch.cat(rows).contiguous(), torch.cat(scales)
_PackedConv1d: type | None = None


def packed_conv1d_class() -> type:
    """Defined on first use, like PackedLinear."""
    global _PackedConv1d
    if _PackedConv1d is None:
        torch = _torch()

        class PackedConv1d(torch.nn.Module):  # type: ignore[misc,name-defined]
            """A Conv1d computed in bf16 (oneDNN); input and output keep the caller's dtype."""

            def __init__(self, conv: Any) -> None:
                super().__init__()
                bf16 = torch.bfloat16
                self.weight = conv.weight.detach().to(bf16, copy=True)
                self.bias = None if conv.bias is None else conv.bias.detach().to(bf16, copy=True)
                # What the callers read besides calling it (s2mel's SConv1d pads from kernel_size, stride...).
                for attr in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups"):
                    setattr(self, attr, getattr(conv, attr))

            def forward(self, x: Any) -> Any:
                y = torch.nn.functional.conv1d(x.to(torch.bfloat16), self.weight, self.bias, self.stride,
                                               self.padding, self.dilation, self.groups)
                return y.to(x.dtype)

            def extra_repr(self) -> str:
                return f"{tuple(self.weight.shape)}, bf16"

        _PackedConv1d = PackedConv1d
    return _PackedConv1d


def pack_convs(root: Any, precision: Precision) -> int:
    """Replace the dense zero-padded Conv1d layers under `root` by bf16 ones (weight norm folded first:
    recomputing it at every call is wasted work at inference). Compute-bound convolutions run 2-3x
    faster in bf16 on a CPU with bf16 instructions; fp32 and int8 leave them alone. Returns how many."""
    if precision != "bf16":
        return 0
    torch = _torch()
    packed_cls = packed_conv1d_class()
    count = 0
    for name, module in list(root.named_modules()):
        if type(module) is not torch.nn.Conv1d or not name or module.padding_mode != "zeros" or module.groups != 1:
            continue
        if any(type(hook).__name__ == "WeightNorm" for hook in module._forward_pre_hooks.values()):
            torch.nn.utils.remove_weight_norm(module)
        if module._forward_pre_hooks or getattr(module, "parametrizations", None):
            continue  # some other reparametrisation: leave it computing its own weight
        _replace_submodule(root, name, packed_cls(module))
        count += 1
    return count


def _replace_submodule(root: Any, name: str, module: Any) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(root.get_submodule(parent_name) if parent_name else root, child, module)


def _linear_weight(module: Any) -> tuple[str, bool] | None:
    """('weight', transposed) for a plain linear layer we may replace; None for anything else
    (weight-normed or parametrized layers compute their weight in a hook: left alone)."""
    torch = _torch()
    from transformers.pytorch_utils import Conv1D

    if getattr(module, "_forward_pre_hooks", None) or getattr(module, "parametrizations", None):
        return None
    if type(module) is torch.nn.Linear:
        return "weight", False
    if type(module) is Conv1D:  # GPT-2's linear: weight is (in, out)
        return "weight", True
    return None


def pack_linears(root: Any, precision: Precision, *, only: Callable[[str], bool] = lambda _n: True,
                 state: dict[str, Any] | None = None, prefix: str = "") -> dict[str, int]:
    """Replace the plain linear layers under `root` whose qualified name passes `only` by PackedLinear.
    Weights come from `state` (a checkpoint's tensors, any float dtype, consumed) when given, else from
    the module itself. Returns {qualified name: bytes held}."""
    if precision == "fp32":
        return {}
    packed_cls = packed_linear_class()
    done: dict[str, int] = {}
    for name, module in list(root.named_modules()):
        kind = _linear_weight(module)
        if kind is None or not name or not only(name):
            continue
        key = f"{prefix}{name}"
        if state is not None:
            weight, bias = state.pop(f"{key}.weight"), state.pop(f"{key}.bias", None)
        else:
            weight, bias = module.weight, module.bias
        if kind[1]:
            weight = weight.t()
        packed = packed_cls(weight, bias, precision)
        _replace_submodule(root, name, packed)
        done[key] = packed.nbytes()
    return done


def is_decoder_layer(name: str) -> bool:
    """The GPT's memory-bound part: the decoder stack and the mel head read at every token."""
    return name.startswith("gpt.h.") or name == "mel_head"


def gpt_loader(precision: Precision, secondary: Precision,
               report: dict[str, Any]) -> Callable[[Any, str], dict[str, Any]]:
    """A replacement for indextts.utils.checkpoint.load_checkpoint (the GPT's loader): mmap'd file,
    the layers computed in a reduced format built straight from the file's tensors, the rest copied
    into the fp32 modules; every module key must come from the file."""

    def load(model: Any, path: str) -> dict[str, Any]:
        torch = _torch()
        state = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
        state = dict(state.get("model", state))
        packed: dict[str, int] = {}
        if precision != "fp32":
            packed.update(pack_linears(model, precision, only=is_decoder_layer, state=state))
        if secondary != "fp32":
            packed.update(pack_linears(model, secondary, only=lambda n: not is_decoder_layer(n), state=state))
        result = model.load_state_dict(state, strict=False)
        if result.missing_keys or result.unexpected_keys:
            raise ValueError(f"GPT checkpoint {path}: missing {result.missing_keys[:5]}, "
                             f"unexpected {result.unexpected_keys[:5]}")
        decoder = [n for n in packed if is_decoder_layer(n)]
        report["gpt_decoder_bytes"] = sum(packed[n] for n in decoder) if decoder else sum(
            p.numel() * p.element_size() for n, p in model.named_parameters() if is_decoder_layer(n))
        report["gpt_packed_layers"] = len(packed)
        return {}

    return load


@contextmanager
def fast_construction() -> Iterator[None]:
    """While the inference code builds its modules: no random initialisation (every weight is then
    loaded from a file; the loaders' key checks prove it) and torch.load maps files instead of reading
    them. Random init of ~1.7 G parameters and reading copies of the files were most of a cold load."""
    torch = _torch()

    def skip(tensor: Any, *_a: Any, **_kw: Any) -> Any:
        return tensor

    real_load = torch.load

    def mapped_load(f: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(f, (str, Path)) and "mmap" not in kwargs and zipfile.is_zipfile(f):
            kwargs["mmap"] = True
        return real_load(f, *args, **kwargs)

    with ExitStack() as stack:
        # The private helpers too: some modules import the public functions by name before we patch.
        for owner, names in ((torch.nn.init, ("uniform_", "normal_", "trunc_normal_", "kaiming_uniform_",
                                               "kaiming_normal_", "xavier_uniform_", "xavier_normal_",
                                               "orthogonal_", "_no_grad_uniform_", "_no_grad_normal_",
                                               "_no_grad_trunc_normal_")),
                             (torch.Tensor, ("normal_", "uniform_"))):
            for name in names:
                stack.enter_context(patched_attr(owner, name, skip))
        stack.enter_context(patched_attr(torch, "load", mapped_load))
        yield


@contextmanager
def patched_attr(owner: Any, name: str, value: Any) -> Iterator[None]:
    """owner.name = value inside the block only (a module global, a class attribute)."""
    original = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)
