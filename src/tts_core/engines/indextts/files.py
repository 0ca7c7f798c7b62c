"""Which files a load of IndexTTS-2 reads: named up front (the library's own errors rarely say which one
is missing), read ahead while the imports run, and fingerprinted to name stored conditioning."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from pathlib import Path
from typing import Any

from tts_core.errors import ModelUnavailableError
from tts_core.platform import page_cache

# What IndexTTS2.__init__ fetches from the hub (a pre-filled cache, offline), besides config.yaml's files.
SEMANTIC_WEIGHTS = ("facebook/w2v-bert-2.0", "model.safetensors")
_HUB_FILES = (("facebook/w2v-bert-2.0", "config.json"), SEMANTIC_WEIGHTS,
              ("facebook/w2v-bert-2.0", "preprocessor_config.json"),
              ("amphion/MaskGCT", "semantic_codec/model.safetensors"), ("funasr/campplus", "campplus_cn_common.bin"))
# Where the imports map the largest shared objects (torch's 0.45 GB libtorch_cpu, numba's LLVM, OpenFst),
# relative to site-packages. Mapped libraries are read page by page on first touch: slow on a cold cache.
_NATIVE_LIBRARY_DIRS = ("torch/lib", "llvmlite/binding", "pynini.libs")


def model_files(cfg: Any) -> tuple[list[str], list[tuple[str, str]]]:
    """What IndexTTS2.__init__ reads for a config (an OmegaConf of config.yaml): file names in the
    model_dir, and (repository, file) pairs in the hub cache. The emotion model's directory
    (cfg.qwen_emo_path) is read on first use only. The packer (weights.py) keeps exactly these."""
    local = [cfg.gpt_checkpoint, cfg.s2mel_checkpoint, cfg.dataset.bpe_model, cfg.w2v_stat, cfg.emo_matrix,
             cfg.spk_matrix]
    vocoder = str(cfg.vocoder.name)
    hub = list(_HUB_FILES)
    if not Path(vocoder).is_dir():  # vocoder.name may be a local directory instead of a hub repository
        hub += [(vocoder, "config.json"), (vocoder, "bigvgan_generator.pt")]
    return [str(name) for name in local], hub


def weight_files(model_dir: Path, config_path: Path, lazy_semantic_model: bool) -> list[Path]:
    """The files a load reads (w2v-bert's weights only if it loads eagerly); a missing one is named up
    front, as the library's own errors rarely say which one it was."""
    try:
        from huggingface_hub import try_to_load_from_cache
        from omegaconf import OmegaConf
    except ImportError as exc:
        raise ModelUnavailableError(f"IndexTTS-2 inference code is not installed: {exc}") from exc

    try:
        local, hub = model_files(OmegaConf.load(config_path))
    except Exception as exc:
        raise ModelUnavailableError(f"unreadable IndexTTS-2 config {config_path}: {exc}") from exc
    missing = [str(model_dir / name) for name in local if not (model_dir / name).is_file()]
    found = [model_dir / name for name in local]
    for repo, name in hub:
        path = try_to_load_from_cache(repo, name)
        if not isinstance(path, str):
            missing.append(f"{repo}/{name} (hub cache)")
        elif not (lazy_semantic_model and (repo, name) == SEMANTIC_WEIGHTS):
            found.append(Path(path))
    if missing:
        raise ModelUnavailableError(f"IndexTTS-2 files missing: {', '.join(missing)}")
    return found


def native_libraries() -> list[Path]:
    """The largest shared objects the imports map, largest first."""
    spec = importlib.util.find_spec("torch")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return []
    site = Path(next(iter(spec.submodule_search_locations))).parent
    return sorted((path for folder in _NATIVE_LIBRARY_DIRS for path in (site / folder).glob("*.so*")),
                  key=lambda path: -path.stat().st_size)


def model_fingerprint(model_dir: Path, hub_cache: Path) -> str:
    """Names stored conditioning: changes when any weight file changes (name, size, first 1 MB)."""
    h = hashlib.sha256()
    for root in (model_dir, hub_cache):
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            h.update(f"{path.relative_to(root)}:{path.stat().st_size}".encode())
            with path.open("rb") as f:
                h.update(f.read(1 << 20))
    return h.hexdigest()[:16]


def prefetch(paths: list[Path]) -> None:
    """The kernel reads these (the largest libraries, the weights) in the background while the imports
    run (~4 s): on a cold page cache (every Lambda cold start) the load waits for the disk far less."""
    threading.Thread(target=page_cache.advise, args=(paths, os.POSIX_FADV_WILLNEED), name="prefetch",
                     daemon=True).start()
