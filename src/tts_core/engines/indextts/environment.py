"""The process set-up a load needs before the inference code is imported: offline hub, writable caches
under /tmp, torch threads and denormals, and imports the inference never uses kept out."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
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


def defer_unused_imports() -> None:
    """transformers' generation utilities import scikit-learn (0.7 s of every cold start, measured with
    `python -X importtime`) for a heuristic of assisted decoding, which inference never runs: declare it
    unavailable to transformers before the inference code imports them."""
    from transformers.utils import import_utils

    import_utils._sklearn_available = False


def configure_torch(torch: Any, threads: int) -> None:
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)  # FACTS: s2mel 33 s instead of 101 s
