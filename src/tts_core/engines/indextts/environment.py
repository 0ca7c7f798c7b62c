"""The process set-up a load needs before the inference code is imported: offline hub, writable caches
under /tmp, torch threads and denormals, and imports the inference never uses kept out."""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.util
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from tts_core.engines.indextts.settings import IndexTtsSettings


def vcpus() -> int:
    # sched_getaffinity honours cgroup/cpuset limits that os.cpu_count() ignores.
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def prepare_environment(settings: IndexTtsSettings) -> None:
    """Must run before huggingface_hub / transformers are imported: they read these once, at import."""
    os.environ.setdefault("HF_HUB_CACHE", str(settings.hub_cache))
    os.environ["HF_HUB_OFFLINE"] = "1"  # never fetch at run time: every file is baked in
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HOME", "/tmp/hf_home")  # anything else HF wants to write
    os.environ.setdefault("MPLCONFIGDIR", "/tmp/matplotlib")  # BigVGAN and audiotools import matplotlib
    os.environ.setdefault("NUMBA_CACHE_DIR", "/tmp/numba_cache")  # librosa's numba cache=True
    # If something imported them earlier (a test runner, a warm-up script), force offline mode on
    # the constants they already read: a hub request from Lambda would hang until the deadline.
    if "huggingface_hub.constants" in sys.modules:
        sys.modules["huggingface_hub.constants"].HF_HUB_OFFLINE = True
    if "transformers.utils.hub" in sys.modules:
        sys.modules["transformers.utils.hub"]._is_offline_mode = True
    seed = os.environ.get("INDEXTTS_NUMBA_SEED")  # a cache filled at image build: 8 s instead of 25 s
    if seed and Path(seed).is_dir() and not Path(os.environ["NUMBA_CACHE_DIR"]).exists():
        shutil.copytree(seed, os.environ["NUMBA_CACHE_DIR"], dirs_exist_ok=True)
    defer_unused_imports()


def defer_unused_imports() -> None:
    """Keep out of a cold start what the inference code imports but never runs (measured with
    `python -X importtime`; installed by prepare_environment, so before the inference code is imported):

    - scikit-learn (0.7-1.0 s): transformers' generation utilities import it for a heuristic of assisted
      decoding. Declared unavailable to transformers.
    - torch.distributed.tensor (~1 s): transformers imports it for tensor parallelism and DTensor
      checkpoints; a Lambda runs one process. torch.distributed is declared unavailable to the
      transformers modules that would import it (as on a torch built without it), the package is
      imported lazily (loaded if anything else touches it), and generate()'s FSDP check answers without
      importing FSDP where no process group exists.
    - flex attention (torch._dynamo, ~0.7 s): never selected (the GPT runs sdpa/eager). Declared
      unavailable, as on torch < 2.5.
    - matplotlib.pylab (~0.8 s): BigVGAN's utilities import it for plotting during training. Imported
      lazily: loaded on first use.
    - librosa's filters and utilities (numba, scipy.signal: ~1.5 s): only a new voice's conditioning uses
      them; the inference code's modules get functions that import them on their first call.
    - audiotools (~0.4 s, during construction): imported by the __init__ of the DAC package, of which
      s2mel uses one layer.
    """
    if "transformers.utils.import_utils" in sys.modules:  # imported already (a test runner): edit what still can be
        sys.modules["transformers.utils.import_utils"]._sklearn_available = False
    if not any(isinstance(finder, _ImportEdits) for finder in sys.meta_path):
        sys.meta_path.insert(0, _ImportEdits())


_LAZY = ("torch.distributed.tensor", "matplotlib.pylab")


def _edit_import_utils(module: ModuleType) -> None:
    module._sklearn_available = False
    module.is_torch_flex_attn_available = lambda: False


def _edit_modeling_utils(module: ModuleType) -> None:
    # save_pretrained() names DTensor unguarded: an isinstance check that loads it only if it is reached.
    if not hasattr(module, "DTensor"):
        module.DTensor = _LazyDTensor


class _LazyDTensorMeta(type):
    def __instancecheck__(cls, obj: Any) -> bool:
        from torch.distributed.tensor import DTensor

        return isinstance(obj, DTensor)


class _LazyDTensor(metaclass=_LazyDTensorMeta):
    """Stands for torch.distributed.tensor.DTensor in isinstance checks without importing it first."""


def _edit_fsdp(module: ModuleType) -> None:
    """generate() asks is_fsdp_managed_module(model) at every call, which imports torch.distributed.fsdp
    (and DTensor: ~1 s on the first request). A module is FSDP-managed only inside an initialised process
    group: without one the answer is False, as the real function's would be."""
    real = module.is_fsdp_managed_module

    @functools.wraps(real)
    def is_fsdp_managed_module(model: Any) -> bool:
        import torch.distributed

        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return False
        return bool(real(model))

    module.is_fsdp_managed_module = is_fsdp_managed_module


_AFTER: dict[str, Callable[[ModuleType], None]] = {"transformers.utils.import_utils": _edit_import_utils,
                                                   "transformers.modeling_utils": _edit_modeling_utils,
                                                   "transformers.integrations.fsdp": _edit_fsdp}


def _without_distributed(module: ModuleType) -> Callable[[], None]:
    """While `module` executes, torch.distributed.is_available() answers False to its top-level code (read
    once, at import, to decide whether to import DTensor); every other caller gets the real answer.
    Returns the undo."""
    import torch.distributed

    real = torch.distributed.is_available
    name = module.__name__

    def is_available() -> bool:
        caller = sys._getframe(1)
        return False if caller.f_code.co_name == "<module>" and caller.f_globals.get("__name__") == name else real()

    torch.distributed.is_available = is_available

    def undo() -> None:
        torch.distributed.is_available = real

    return undo


def _compiler_disable_deferred(module: ModuleType) -> Callable[[], None]:
    """While `module` executes, torch.compiler.disable (which imports torch._dynamo, ~0.7 s) decorates
    lazily: the real decorator is applied on the function's first call. transformers' flex attention
    wrappers, never called here, are what it decorates. Returns the undo."""
    import torch.compiler

    real = torch.compiler.disable

    def disable(fn: Any = None, recursive: bool = True, *, reason: str | None = None) -> Any:
        if fn is None:
            return lambda f: disable(f, recursive, reason=reason)
        disabled: list[Any] = []

        @functools.wraps(fn)
        def deferred(*args: Any, **kwargs: Any) -> Any:
            if not disabled:
                disabled.append(real(fn, recursive, reason=reason))
            return disabled[0](*args, **kwargs)

        return deferred

    torch.compiler.disable = disable

    def undo() -> None:
        torch.compiler.disable = real

    return undo


# What the inference code's modules take from librosa when they are imported; librosa.filters and
# librosa.util import numba (and load its cache), scipy.signal and joblib: ~1.5 s.
_LIBROSA_NAMES = {"librosa.filters": ("mel",), "librosa.util": ("normalize",)}


def _librosa_deferred(module: ModuleType) -> Callable[[], None]:
    """While `module` executes, `from librosa.filters import mel` (and librosa.util's normalize) bind a
    function that imports the real one on its first call: librosa computes a new voice's mel filter bank
    and reads its reference (infer_v2's librosa.load, librosa's own lazy import), never a cached voice's
    request. The stand-ins leave sys.modules when `module` has run. Returns the undo."""
    placed = []
    for name, attrs in _LIBROSA_NAMES.items():
        if name not in sys.modules:
            stand_in = ModuleType(name, f"{name}: the names {module.__name__} imports, loaded on first call")
            for attr in attrs:
                setattr(stand_in, attr, _imported_on_call(name, attr))
            sys.modules[name] = stand_in
            placed.append((name, stand_in))

    def undo() -> None:
        for name, stand_in in placed:
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]

    return undo


def _imported_on_call(module_name: str, attr: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module_name), attr)(*args, **kwargs)

    call.__name__ = call.__qualname__ = attr
    call.__doc__ = f"{module_name}.{attr}, imported on the first call"
    return call


# Packages whose __init__ runs on the first use of one of its own names, not when a submodule is
# imported: s2mel's length regulator imports dac.nn.quantize, and dac's and dac.nn's __init__ import
# audiotools (AudioSignal, losses, training utilities: ~0.4 s, during construction).
_DEFERRED_INIT = ("indextts.s2mel.dac", "indextts.s2mel.dac.nn")


def _deferred_init(real_exec: Callable[[ModuleType], None]) -> Callable[[ModuleType], None]:
    def exec_module(module: ModuleType) -> None:
        def first_use(name: str) -> Any:  # PEP 562: called for a name the module does not have yet
            if module.__dict__.pop("__getattr__", None) is not None:
                real_exec(module)
                return getattr(module, name)
            raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}")

        module.__getattr__ = first_use  # type: ignore[attr-defined]

    return exec_module


_DURING: dict[str, Callable[[ModuleType], Callable[[], None]]] = {
    "transformers.modeling_utils": _without_distributed, "transformers.pytorch_utils": _without_distributed,
    "transformers.integrations.tensor_parallel": _without_distributed,
    "transformers.integrations.flex_attention": _compiler_disable_deferred,
    "indextts.s2mel.modules.audio": _librosa_deferred, "indextts.s2mel.modules.bigvgan.meldataset": _librosa_deferred}


class _ImportEdits(importlib.abc.MetaPathFinder):
    """Finds the modules named above with the other finders and changes how they load: lazily, or edited
    while or right after they execute (before the module that imported them reads their names)."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in _AFTER and name not in _LAZY and name not in _DURING and name not in _DEFERRED_INIT:
            return None
        spec = None
        for finder in sys.meta_path:
            if finder is not self and hasattr(finder, "find_spec"):
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    break
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        if name in _LAZY:
            spec.loader = importlib.util.LazyLoader(spec.loader)
            return spec
        if name in _DEFERRED_INIT:
            spec.loader.exec_module = _deferred_init(spec.loader.exec_module)  # type: ignore[method-assign]
            return spec
        real_exec, during, after = spec.loader.exec_module, _DURING.get(name), _AFTER.get(name)

        def exec_module(module: ModuleType) -> None:
            undo = during(module) if during is not None else None
            try:
                real_exec(module)
            finally:
                if undo is not None:
                    undo()
            if after is not None:
                after(module)

        spec.loader.exec_module = exec_module  # this module's loader instance only
        return spec


def configure_torch(torch: Any, threads: int) -> None:
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)  # FACTS: s2mel 33 s instead of 101 s
