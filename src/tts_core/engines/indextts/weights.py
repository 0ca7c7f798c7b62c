"""IndexTTS-2 weights for the image: the published files in, the PACKED layout out. The primary
Dockerfile runs this in one RUN per part (each part a layer of its own), for both weight sources:

    python -m tts_core.engines.indextts.weights pack SRC DST [--part gpt|w2v-bert|emotion|rest ...]
        [--dtype bfloat16] [--emotion 1] [--source local|hub]

Defaults come from the Dockerfile's build arguments (a RUN sees them in its environment): WEIGHTS_DTYPE,
INCLUDE_EMOTION_MODEL, WEIGHTS_SOURCE; with `hub`, the part's published files are downloaded (at
INDEXTTS_REPO@INDEXTTS_REVISION and the *_REVISION of each hub repository, `main` when unset) into a
scratch directory that is deleted once packed, so they never reach a layer.

SRC and DST hold `checkpoints/` (the model_dir) and `hf_cache/` (a hub cache), the layout the engine
reads. Packing keeps only what inference reads, the list being the engine's own (`model_files`), and
stores the large weights as `--dtype`; the loaders copy them into the compute-dtype modules:
- gpt.pth: its state dict (loaded strict), cast.
- s2mel.pth: only `net` (the published file also carries Adam optimizer state: 1.2 GB instead of
  ~0.4), only the modules and keys the inference model has (what `load_checkpoint2` would load), cast.
- w2v-bert-2.0 model.safetensors, BigVGAN's generator, the Qwen emotion model (published in bf16):
  cast. w2v-bert's conformer_shaw.pt, READMEs and the like are not copied.
- The MaskGCT semantic codec and CAMPPlus (see _AS_PUBLISHED), the w2v-bert statistics, feat1/feat2,
  bpe.model, configs: copied as they are.
DST/manifest/<part>.json lists every file with its size and dtype, and what was left out
(`read_manifest` joins them). Everything is made world-readable: Lambda runs as a non-root user.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tts_core.engines.indextts.files import model_files

# Stored as published (fp32): the semantic codec maps w2v-bert features to discrete codes by nearest
# codebook entry (a rounding error can change a code) and CAMPPlus is 28 MB; together 0.1 GB of bf16
# savings. BigVGAN (0.22 GB saved) is packed: the image's size goal needs it.
_AS_PUBLISHED = {("amphion/MaskGCT", "semantic_codec/model.safetensors"), ("funasr/campplus", "campplus_cn_common.bin")}
# The emotion model's directory: everything but documentation is read by from_pretrained.
_DOC_SUFFIXES = (".md", ".txt", ".gitattributes", ".png", ".jpg")


def _cast(state: dict[str, Any], dtype: Any) -> dict[str, Any]:
    return {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in state.items()}


def _dtype_name(state: Iterable[Any]) -> str:
    names = sorted({str(v.dtype).removeprefix("torch.") for v in state if v.is_floating_point()})
    return "+".join(names) or "none"


def _tensors(path: Path) -> list[Any]:
    """The tensors of a weight file (safetensors or a torch state dict), for the manifest's dtype."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return list(load_file(str(path)).values())
    return [v for v in _load(path).values() if hasattr(v, "dtype")]


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


def _hub_file(cache: Path, repo: str, name: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, name, cache_dir=str(cache))
    return Path(found) if isinstance(found, str) else None


def snapshot_dir(cache: Path, repo: str, revision: str) -> Path:
    """A snapshot directory in the hub cache layout hf_hub_download reads offline
    (models--org--name/snapshots/<revision>), with refs/main naming it: the code asks for "main"."""
    repo_dir = cache / ("models--" + repo.replace("/", "--"))
    (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs" / "main").write_text(revision)
    snapshot = repo_dir / "snapshots" / revision
    snapshot.mkdir(parents=True, exist_ok=True)
    return snapshot


# The image stores each part as a layer of its own (one RUN each): the largest commit stays small enough
# for the builders' disk, and a changed part leaves the others' layers cached.
PARTS = ("gpt", "w2v-bert", "emotion", "rest")


@dataclass(frozen=True)
class _Entry:
    source: Path | None  # None: not in SRC (a hub fetch brings one part at a time)
    relative: str  # under DST
    keep: bool = False  # stored as published (_AS_PUBLISHED)
    hub: tuple[str, str] | None = None  # (repository, revision) of a hub cache file


def _plan(src: Path, cfg: Any, emotion: bool) -> dict[str, list[_Entry]]:
    """Part -> every file inference reads from SRC, with where it goes in DST."""
    src_dir, src_cache = src / "checkpoints", src / "hf_cache"
    local, hub = model_files(cfg)
    plan: dict[str, list[_Entry]] = {part: [] for part in PARTS}
    for name in ["config.yaml", *local]:
        plan["gpt" if name == cfg.gpt_checkpoint else "rest"].append(_Entry(src_dir / name, f"checkpoints/{name}"))
    if emotion:
        qwen = src_dir / cfg.qwen_emo_path
        plan["emotion"] += [_Entry(path, f"checkpoints/{path.relative_to(src_dir)}") for path in sorted(qwen.rglob("*"))
                            if path.is_file() and not path.name.endswith(_DOC_SUFFIXES)]
    for repo, name in hub:
        found = _hub_file(src_cache, repo, name)
        revision = found.parents[len(Path(name).parts) - 1].name if found else "missing"  # snapshots/<rev>/<name>
        out = f"hf_cache/models--{repo.replace('/', '--')}/snapshots/{revision}/{name}"
        plan[_hub_part(repo)].append(_Entry(found, out, keep=(repo, name) in _AS_PUBLISHED, hub=(repo, revision)))
    return plan


def pack(src: Path, dst: Path, dtype: str = "bfloat16", emotion: bool = True,
         parts: tuple[str, ...] = PARTS) -> dict[str, Any]:
    """Pack `parts` of SRC into DST; writes DST/manifest/<part>.json for each (`read_manifest` joins them)."""
    import torch
    from omegaconf import OmegaConf

    target = getattr(torch, dtype)
    cfg = OmegaConf.load(src / "checkpoints" / "config.yaml")
    weights = {cfg.gpt_checkpoint: "state_dict", cfg.s2mel_checkpoint: "s2mel", "bigvgan_generator.pt": "bigvgan"}
    plan = _plan(src, cfg, emotion)
    taken = {entry.source.resolve() for entries in plan.values() for entry in entries if entry.source}
    (dst / "manifest").mkdir(parents=True, exist_ok=True)
    for part in parts:
        started = time.monotonic()
        files: dict[str, dict[str, Any]] = {}
        for entry in plan[part]:
            source, out = entry.source, dst / entry.relative
            if source is None:
                raise FileNotFoundError(f"{entry.relative}: not in the hub cache under {src}")
            if entry.hub:  # refs/main names the snapshot (the code asks for "main")
                snapshot_dir(dst / "hf_cache", *entry.hub)
            out.parent.mkdir(parents=True, exist_ok=True)
            dropped = 0
            if entry.keep or not (source.name.endswith(".safetensors") or source.name in weights):
                shutil.copyfile(source, out)
                stored = _dtype_name(_tensors(out)) if entry.keep else "as published"
            elif source.name.endswith(".safetensors"):
                stored = _pack_safetensors(source, out, target)
            else:
                stored, dropped = _pack_torch(source, out, weights[source.name], target, cfg)
            files[entry.relative] = {"bytes": out.stat().st_size, "dtype": stored, "keys_dropped": dropped}
        manifest = {"part": part, "dtype": dtype, "emotion_model": emotion,
                    "seconds": round(time.monotonic() - started, 1), "files": files}
        if part == "rest":  # what the published layout holds that no part reads
            manifest["left_out"] = sorted(str(p.relative_to(src)) for p in src.rglob("*") if p.is_file()
                                          and p.resolve() not in taken and "/blobs/" not in str(p)
                                          and "/refs/" not in str(p))
        (dst / "manifest" / f"{part}.json").write_text(json.dumps(manifest, indent=1))
        written = [dst / entry.relative for entry in plan[part]] + [dst / "manifest" / f"{part}.json"]
        _make_readable(dst, written)
    return read_manifest(dst)


def _make_readable(dst: Path, written: list[Path]) -> None:
    """Lambda runs the function as a non-root user: what this part wrote must be world-readable
    (safetensors writes 0600 files). Only those files: touching another part's files would copy them
    into this part's image layer."""
    dirs = {parent for path in written for parent in path.parents if parent == dst or dst in parent.parents}
    for path in [*sorted(dirs), *written]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def read_manifest(dst: Path) -> dict[str, Any]:
    """The packed directory's parts joined: every file with its size and dtype, and what was left out."""
    parts = [json.loads(path.read_text()) for path in sorted((dst / "manifest").glob("*.json"))]
    files = {name: info for part in parts for name, info in part["files"].items()}
    return {"parts": [part["part"] for part in parts], "files": files,
            "total_bytes": sum(info["bytes"] for info in files.values()),
            "left_out": [name for part in parts for name in part.get("left_out", [])]}


def _hub_part(repo: str) -> str:
    return "w2v-bert" if repo == "facebook/w2v-bert-2.0" else "rest"


# Build arguments of the primary Dockerfile, read from the environment (RUN sees its ARGs there).
_REVISION_ENV = {"facebook/w2v-bert-2.0": "W2V_REVISION", "amphion/MaskGCT": "MASKGCT_REVISION",
                 "funasr/campplus": "CAMPPLUS_REVISION", "nvidia/bigvgan_v2_22khz_80band_256x": "BIGVGAN_REVISION"}


def fetch(dst: Path, part: str, emotion: bool = True) -> None:
    """Download the published files of one part into DST's checkpoints/ and hf_cache/, at the revisions
    INDEXTTS_REPO@INDEXTTS_REVISION and *_REVISION (_REVISION_ENV) name; `main` when unset."""
    from huggingface_hub import hf_hub_download
    from omegaconf import OmegaConf

    env = os.environ
    repo = env.get("INDEXTTS_REPO") or "IndexTeam/IndexTTS-2"
    revision = env.get("INDEXTTS_REVISION") or "main"
    model_dir, cache = dst / "checkpoints", dst / "hf_cache"
    cfg = OmegaConf.load(hf_hub_download(repo, "config.yaml", revision=revision, local_dir=str(model_dir)))
    local, hub = model_files(cfg)
    names = {"gpt": [cfg.gpt_checkpoint], "rest": [n for n in local if n != cfg.gpt_checkpoint]}.get(part, [])
    if part == "emotion" and emotion:
        from huggingface_hub import snapshot_download

        snapshot_download(repo, revision=revision, allow_patterns=[f"{cfg.qwen_emo_path.rstrip('/')}/*"],
                          local_dir=str(model_dir))
    for name in names:
        hf_hub_download(repo, name, revision=revision, local_dir=str(model_dir))
    for hub_repo, name in hub:
        if _hub_part(hub_repo) == part:
            path = Path(hf_hub_download(hub_repo, name, revision=env.get(_REVISION_ENV.get(hub_repo, ""), "main"),
                                        cache_dir=str(cache)))
            snapshot_dir(cache, hub_repo, path.parents[len(Path(name).parts) - 1].name)  # refs/main: pinned


def main(argv: list[str] | None = None) -> None:
    env = os.environ
    parser = argparse.ArgumentParser(description="Pack IndexTTS-2 weights for the image (see the module doc).")
    parser.add_argument("command", choices=["pack"])
    parser.add_argument("src", type=Path, help="the published files (ignored with --source hub)")
    parser.add_argument("dst", type=Path)
    parser.add_argument("--part", choices=PARTS, action="append", help="default: all")
    parser.add_argument("--dtype", default=env.get("WEIGHTS_DTYPE") or "bfloat16",
                        choices=["bfloat16", "float16", "float32"])
    parser.add_argument("--emotion", type=int, choices=[0, 1], default=int(env.get("INCLUDE_EMOTION_MODEL") or 1),
                        help="include the Qwen emotion model")
    parser.add_argument("--source", choices=["local", "hub"], default=env.get("WEIGHTS_SOURCE") or "local")
    args = parser.parse_args(argv)
    parts = tuple(args.part or PARTS)
    if args.source == "hub":
        args.src = Path(tempfile.mkdtemp(prefix="indextts-published-"))
        for part in parts:
            fetch(args.src, part, bool(args.emotion))
    elif not (args.src / "checkpoints" / "config.yaml").is_file():
        raise SystemExit(f"no weights in {args.src} (checkpoints/config.yaml missing): put them in the "
                         "build context's WEIGHTS_DIR, or build with WEIGHTS_SOURCE=hub")
    started = time.monotonic()
    pack(args.src, args.dst, args.dtype, bool(args.emotion), parts)
    for part in parts:
        manifest = json.loads((args.dst / "manifest" / f"{part}.json").read_text())
        for name, info in manifest["files"].items():
            print(f"{info['bytes'] / 1e9:7.3f} GB  {info['dtype']:<14} {name}")
        if manifest.get("left_out"):
            print(f"left out: {', '.join(manifest['left_out'])}")
    print(f"packed {', '.join(parts)} in {time.monotonic() - started:.0f} s")
    if args.source == "hub":
        shutil.rmtree(args.src)  # the published files never reach a layer


if __name__ == "__main__":
    main()
