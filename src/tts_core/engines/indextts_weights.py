"""IndexTTS-2 weights for the image: fetched from the hub, then PACKED (a build stage of the primary
Dockerfile runs this for both weight sources):

    python -m tts_core.engines.indextts_weights pack SRC DST [--dtype bfloat16] [--emotion 1]
        [--source local|hub] [--revision REPO@REV ...]

`--source hub` first downloads the published files into SRC (the first --revision names the IndexTTS-2
repository; the others pin the hub repositories the inference code reads).

SRC and DST hold `checkpoints/` (the model_dir) and `hf_cache/` (a hub cache), the layout the engine
reads. Packing keeps only what inference reads, the list being the engine's own (`model_files`), and
stores the large weights as `--dtype`; the loaders copy them into the compute-dtype modules:
- gpt.pth: its state dict (loaded strict), cast.
- s2mel.pth: only `net` (the published file also carries Adam optimizer state: 1.2 GB instead of
  ~0.4), only the modules and keys the inference model has (what `load_checkpoint2` would load), cast.
- w2v-bert-2.0 model.safetensors, the MaskGCT semantic codec, BigVGAN's generator, the Qwen emotion
  model (published in bf16): cast. w2v-bert's conformer_shaw.pt, READMEs and the like are not copied.
- CAMPPlus (28 MB), the w2v-bert statistics, feat1/feat2, bpe.model, configs: copied as they are.
`manifest.json` in DST lists every file with its size and dtype, and what was left out.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tts_core.engines.indextts import model_files

# The emotion model's directory: everything but documentation is read by from_pretrained.
_DOC_SUFFIXES = (".md", ".txt", ".gitattributes", ".png", ".jpg")


def _cast(state: dict[str, Any], dtype: Any) -> dict[str, Any]:
    return {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in state.items()}


def _dtype_name(state: Iterable[Any]) -> str:
    names = sorted({str(v.dtype).removeprefix("torch.") for v in state if v.is_floating_point()})
    return "+".join(names) or "none"


def _load(path: Path) -> Any:
    import torch

    try:  # mmap: a 3.5 GB fp32 file is read as it is cast, never held whole in memory
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # a legacy (non-zip) torch file cannot be mapped
        return torch.load(path, map_location="cpu", weights_only=True)


def _s2mel_inference_keys(cfg: Any) -> dict[str, dict[str, tuple[int, ...]]]:
    """Module -> key -> shape of the s2mel model inference builds (on the meta device: no memory)."""
    import torch
    from indextts.s2mel.modules.commons import MyModel

    with torch.device("meta"):
        model = MyModel(cfg.s2mel, use_gpt_latent=True)
    return {name: {k: tuple(v.shape) for k, v in module.state_dict().items()} for name, module in model.models.items()}


def _pack_torch(src: Path, dst: Path, kind: str, dtype: Any, cfg: Any) -> tuple[str, int]:
    """Returns (stored dtype, keys dropped)."""
    import torch

    obj = _load(src)
    dropped = 0
    if kind == "s2mel":
        wanted = _s2mel_inference_keys(cfg)
        net: dict[str, Any] = {}
        for module, state in obj["net"].items():
            keep = {k.removeprefix("module."): v for k, v in state.items()}
            shapes = wanted.get(module, {})
            kept = {k: v for k, v in keep.items() if k in shapes and tuple(v.shape) == shapes[k]}
            dropped += len(state) - len(kept)
            if kept:
                net[module] = _cast(kept, dtype)
        dropped += sum(1 for k in obj if k != "net")
        out: Any = {"net": net}
        tensors = [v for state in net.values() for v in state.values()]
    elif kind == "bigvgan":
        out = {"generator": _cast(obj["generator"], dtype)}
        dropped = sum(1 for k in obj if k != "generator")
        tensors = list(out["generator"].values())
    else:  # a plain state dict, possibly wrapped as {"model": ...} (load_checkpoint accepts both)
        state = obj.get("model", obj)
        out = _cast(state, dtype)
        tensors = list(out.values())
    torch.save(out, dst)
    return _dtype_name(tensors), dropped


def _pack_safetensors(src: Path, dst: Path, dtype: Any) -> str:
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(src), framework="pt") as f:
        metadata = f.metadata() or {}
        state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
    out = _cast(state, dtype)
    save_file(out, str(dst), metadata={**metadata, "format": metadata.get("format", "pt")})
    return _dtype_name(out.values())


def _hub_file(cache: Path, repo: str, name: str) -> Path:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, name, cache_dir=str(cache))
    if not isinstance(found, str):
        raise FileNotFoundError(f"{repo}/{name} is not in the hub cache {cache}")
    return Path(found)


def snapshot_dir(cache: Path, repo: str, revision: str) -> Path:
    """A snapshot directory in the hub cache layout hf_hub_download reads offline
    (models--org--name/snapshots/<revision>), with refs/main naming it: the code asks for "main"."""
    repo_dir = cache / ("models--" + repo.replace("/", "--"))
    (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs" / "main").write_text(revision)
    snapshot = repo_dir / "snapshots" / revision
    snapshot.mkdir(parents=True, exist_ok=True)
    return snapshot


def pack(src: Path, dst: Path, dtype: str = "bfloat16", emotion: bool = True) -> dict[str, Any]:
    import torch
    from omegaconf import OmegaConf

    started = time.monotonic()
    target = getattr(torch, dtype)
    src_dir, src_cache = src / "checkpoints", src / "hf_cache"
    dst_dir, dst_cache = dst / "checkpoints", dst / "hf_cache"
    dst_dir.mkdir(parents=True, exist_ok=True)
    cfg = OmegaConf.load(src_dir / "config.yaml")
    local, hub = model_files(cfg)
    weights = {cfg.gpt_checkpoint: "state_dict", cfg.s2mel_checkpoint: "s2mel", "bigvgan_generator.pt": "bigvgan"}
    files: dict[str, dict[str, Any]] = {}

    def record(path: Path, stored: str, dropped: int = 0) -> None:
        files[str(path.relative_to(dst))] = {"bytes": path.stat().st_size, "dtype": stored, "keys_dropped": dropped}

    def put(source: Path, out: Path, name: str) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".safetensors"):
            record(out, _pack_safetensors(source, out, target))
        elif name in weights:
            record(out, *_pack_torch(source, out, weights[name], target, cfg))
        else:
            shutil.copyfile(source, out)
            record(out, "as published")

    shutil.copyfile(src_dir / "config.yaml", dst_dir / "config.yaml")
    record(dst_dir / "config.yaml", "as published")
    for name in local:
        put(src_dir / name, dst_dir / name, name)
    if emotion:
        qwen = src_dir / cfg.qwen_emo_path
        for path in sorted(p for p in qwen.rglob("*") if p.is_file() and not p.name.endswith(_DOC_SUFFIXES)):
            put(path, dst_dir / path.relative_to(src_dir), path.name)
    for repo, name in hub:
        found = _hub_file(src_cache, repo, name)
        revision = found.parents[len(Path(name).parts) - 1].name  # .../snapshots/<rev>/<name>
        put(found, snapshot_dir(dst_cache, repo, revision) / name, name)
    kept = {str(p.relative_to(dst)) for p in dst.rglob("*") if p.is_file()}
    left_out = sorted(str(p.relative_to(src)) for p in src.rglob("*") if p.is_file() and not p.is_symlink()
                      and str(p.relative_to(src)) not in kept and "/blobs/" not in str(p) and "/refs/" not in str(p))
    manifest = {"dtype": dtype, "emotion_model": emotion, "seconds": round(time.monotonic() - started, 1),
                "total_bytes": sum(f["bytes"] for f in files.values()), "files": files, "left_out": left_out}
    (dst / "manifest.json").write_text(json.dumps(manifest, indent=1))
    # Lambda runs the function as a non-root user: everything readable (safetensors writes 0600 files).
    for path in [dst, *dst.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return manifest


def fetch(dst: Path, revisions: dict[str, str], indextts_repo: str, emotion: bool = True) -> None:
    """Download what `pack` reads, at pinned revisions, into DST's checkpoints/ and hf_cache/."""
    from huggingface_hub import hf_hub_download, snapshot_download
    from omegaconf import OmegaConf

    model_dir, cache = dst / "checkpoints", dst / "hf_cache"
    config = hf_hub_download(indextts_repo, "config.yaml", revision=revisions.get(indextts_repo, "main"),
                             local_dir=str(model_dir))
    cfg = OmegaConf.load(config)
    local, hub = model_files(cfg)
    patterns = [*local, *([f"{cfg.qwen_emo_path.rstrip('/')}/*"] if emotion else [])]
    snapshot_download(indextts_repo, revision=revisions.get(indextts_repo, "main"), allow_patterns=patterns,
                      local_dir=str(model_dir))
    for repo, name in hub:
        path = Path(hf_hub_download(repo, name, revision=revisions.get(repo, "main"), cache_dir=str(cache)))
        snapshot_dir(cache, repo, path.parents[len(Path(name).parts) - 1].name)  # refs/main -> the pinned one


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Pack IndexTTS-2 weights for the image (see the module doc).")
    parser.add_argument("command", choices=["pack"])
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    parser.add_argument("--emotion", type=int, choices=[0, 1], default=1, help="include the Qwen emotion model")
    parser.add_argument("--source", choices=["local", "hub"], default="local")
    parser.add_argument("--revision", action="append", default=[], metavar="REPO@REV")
    args = parser.parse_args(argv)
    if args.source == "hub":
        pinned = dict(item.rsplit("@", 1) for item in args.revision)
        repo = args.revision[0].rsplit("@", 1)[0] if args.revision else "IndexTeam/IndexTTS-2"
        fetch(args.src, pinned, repo, bool(args.emotion))
    elif not (args.src / "checkpoints" / "config.yaml").is_file():
        raise SystemExit(f"no weights in {args.src} (checkpoints/config.yaml missing): put them in the "
                         "build context's WEIGHTS_DIR, or build with WEIGHTS_SOURCE=hub")
    manifest = pack(args.src, args.dst, args.dtype, bool(args.emotion))
    for name, info in manifest["files"].items():
        print(f"{info['bytes'] / 1e9:7.3f} GB  {info['dtype']:<14} {name}")
    print(f"packed {manifest['total_bytes'] / 1e9:.2f} GB in {manifest['seconds']} s; "
          f"left out: {', '.join(manifest['left_out']) or 'nothing'}")


if __name__ == "__main__":
    main()
