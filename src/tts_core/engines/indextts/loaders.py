"""Replacements for the inference code's own loaders, patched in while IndexTTS2 is constructed:
s2mel's checkpoint checked key by key, w2v-bert in the compute format, weight norm set up without
computing anything from weights about to be overwritten, and the two models a cold start does not need
(w2v-bert, the Qwen emotion model) deferred to their first use."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tts_core.engines.indextts import precision
from tts_core.errors import ModelUnavailableError


def checked_s2mel_loader(load: Callable[..., Any]) -> Callable[..., Any]:
    """infer_v2 loads s2mel with strict=False and drops keys whose shape differs: a wrong or truncated
    checkpoint would give noise, not an error. Require every parameter to come from the file."""

    def loader(model: Any, optimizer: Any, path: str, **kwargs: Any) -> Any:
        import torch

        state = torch.load(path, map_location="cpu")["net"]
        missing: list[str] = []
        for key, module in model.models.items():
            got = {k.removeprefix("module."): v for k, v in state.get(key, {}).items()}
            missing += [f"{key}.{k}" for k, p in module.named_parameters()
                        if k not in got or tuple(got[k].shape) != tuple(p.shape)]
        if missing:
            raise ModelUnavailableError(f"s2mel checkpoint {path} lacks {len(missing)} parameters "
                                        f"(first: {missing[:3]})")
        del state
        return load(model, optimizer, path, **kwargs)

    return loader


def semantic_model(secondary: precision.Precision, build: Callable[[str], Any]) -> Callable[[str], Any]:
    """w2v-bert in the compute format: loaded as bf16 (no fp32 copy of a bf16 file), its linear layers
    packed, the few other parameters (norms, convolutions) back to fp32."""

    def load(stats_path: str) -> Any:
        if secondary == "fp32":
            return build(stats_path)
        import torch
        from transformers import Wav2Vec2BertModel

        model = Wav2Vec2BertModel.from_pretrained("facebook/w2v-bert-2.0", torch_dtype=torch.bfloat16).eval()
        precision.pack_linears(model, secondary)
        model.float()
        stats = torch.load(stats_path, map_location="cpu")
        return model, stats["mean"], torch.sqrt(stats["var"])

    return load


def lazy_semantic_model(secondary: precision.Precision) -> Callable[[str], Any]:
    """w2v-bert (580 M parameters) only computes a voice's conditioning, which is stored per voice:
    load it on the first voice that needs it, not at every cold start."""
    from indextts.utils import maskgct_utils

    def build(stats_path: str) -> Any:
        import torch

        stats = torch.load(stats_path, map_location="cpu")
        return (LazyModule(lambda: semantic_model(secondary, maskgct_utils.build_semantic_model)(stats_path)[0]),
                stats["mean"], torch.sqrt(stats["var"]))

    return build


class LazyModule:
    """Stands for a torch module until it is first called; .to()/.eval() before that are no-ops (the
    inference code calls them at init, on CPU)."""

    def __init__(self, load: Callable[[], Any]) -> None:
        self._load = load
        self._real: Any = None

    def _module(self) -> Any:
        if self._real is None:
            try:
                self._real = self._load()
            except Exception as exc:
                raise ModelUnavailableError(f"w2v-bert could not be loaded: {type(exc).__name__}: {exc}") from exc
        return self._real

    def to(self, *_a: Any, **_kw: Any) -> LazyModule:
        return self

    def eval(self) -> LazyModule:
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._module()(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module(), name)


def lazy_emotion_model(cls: type) -> Callable[[str], Any]:
    """QwenEmotion loads a ~1.2 GB model at init even when emotion-from-text is never asked for:
    defer it to the first use."""

    class LazyEmotionModel:
        def __init__(self, model_dir: str) -> None:
            self._model_dir = model_dir
            self._real: Any = None

        def __getattr__(self, name: str) -> Any:
            if self._real is None:
                try:
                    self._real = cls(self._model_dir)
                except Exception as exc:
                    raise ModelUnavailableError(f"the emotion model at {self._model_dir} could not be "
                                                f"loaded: {exc}") from exc
            return getattr(self._real, name)

    return LazyEmotionModel


@contextmanager
def deferred_weight_norm() -> Iterator[None]:
    """While the inference code builds its modules, weight_norm() registers its parameters (weight_g,
    weight_v) and forward hook as usual but computes nothing: the real one computes the norm of the
    freshly built (uninitialised) weight and the weight from it, both overwritten by the checkpoint
    that is loaded next. BigVGAN, s2mel and the codec weight-norm ~270 convolutions: 2-3 s of a cold
    load. The weight is computed from the loaded g and v as before: by the hook before every forward,
    or once by remove_weight_norm (BigVGAN's, at init; pack_convs's for s2mel)."""
    import torch
    from torch.nn.utils.weight_norm import WeightNorm

    real = WeightNorm.__dict__["apply"]

    def apply(module: Any, name: str, dim: int | None) -> Any:
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two weight_norm hooks on the same parameter {name}")
        dim = -1 if dim is None else dim
        fn = WeightNorm(name, dim)
        weight = getattr(module, name)
        if isinstance(weight, torch.nn.parameter.UninitializedParameter):
            return real.__func__(module, name, dim)  # the real one's error
        del module._parameters[name]
        # norm_except_dim's shape: a scalar for the whole tensor (-1), else 1 everywhere but `dim`.
        shape = [] if dim == -1 else [n if i == dim % weight.dim() else 1 for i, n in enumerate(weight.shape)]
        module.register_parameter(name + "_g", torch.nn.Parameter(torch.empty(shape, dtype=weight.dtype)))
        module.register_parameter(name + "_v", torch.nn.Parameter(weight.data))
        setattr(module, name, weight.data)  # a placeholder: the hook computes it before every forward
        module.register_forward_pre_hook(fn)
        return fn

    WeightNorm.apply = staticmethod(apply)  # type: ignore[method-assign]
    try:
        yield
    finally:
        WeightNorm.apply = real  # type: ignore[method-assign]


@contextmanager
def stored_fsts_as_written() -> Iterator[None]:
    """The text normalizer (WeTextProcessing) reads its cached tagger and verbalizer FSTs with
    `Fst.read(path).optimize()`; the files are what `optimize()` wrote (tn.processor.build_fst), so the
    second optimize (1.5 s of a cold load, the English tagger most of it) finds nothing to change: skip it
    while the model is constructed. Outputs compared identical on mixed zh/en text with numbers, dates,
    currencies, e-mails (tests/heavy)."""
    try:
        from tn import processor
    except ImportError:  # another normalizer (not Linux): nothing to skip
        yield
        return
    real = processor.Fst

    class _AsWritten:
        def __init__(self, fst: Any) -> None:
            self._fst = fst

        def optimize(self) -> Any:
            return self._fst

    class _Fst(real):  # type: ignore[misc,valid-type]
        @staticmethod
        def read(*args: Any, **kwargs: Any) -> Any:
            return _AsWritten(real.read(*args, **kwargs))

    processor.Fst = _Fst
    try:
        yield
    finally:
        processor.Fst = real
