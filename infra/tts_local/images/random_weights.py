"""Random weights of the real architecture for the image builds, and the primary image with full-size ones."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tts_core.engines.indextts.settings import MODELS
from tts_local.images.build import build
from tts_local.images.store import REPO_ROOT, image_exists

DEFAULT_MODEL = MODELS[0]  # the Dockerfile's PRIMARY_MODEL default


@dataclass(frozen=True)
class RandomModel:
    """How one PRIMARY_MODEL's random weights are made: `published` writes them (in the IndexTTS virtualenv)
    in the layout the Dockerfile reads from WEIGHTS_DIR, as the hub publishes them (fp32, as 2.0's are);
    `packed`, if the image packs that model's weights, writes them packed by the image's own packer."""

    context_dir: str  # build/<context_dir>-random-<size>[-packed] in the build context
    published: str
    packed: str | None = None


RANDOM_MODELS = {
    "indextts2": RandomModel(
        "indextts", "from tts_local.tiny_indextts import ensure_model; print(ensure_model({size!r}, published=True))",
        "from tts_local.tiny_indextts import ensure_packed; print(ensure_packed({size!r}))"),
    "indextts2.5": RandomModel(
        "indextts2.5", "from tts_local.tiny_indextts25 import ensure_model; print(ensure_model({size!r}, 'float32'))"),
}
assert tuple(RANDOM_MODELS) == MODELS, "every PrimaryModel needs its random weights"


def random_weights(size: str, packed: bool = False, model: str = DEFAULT_MODEL) -> str:
    """Random weights of the real architecture of `model` (tts_local.tiny_indextts or tiny_indextts25, run in
    the IndexTTS virtualenv: TTS_INDEXTTS_PYTHON) in the published layout, or that packed by the image's
    packer, hard-linked into the build context; returns the directory relative to it (WEIGHTS_DIR)."""
    python = os.environ.get("TTS_INDEXTTS_PYTHON", str(REPO_ROOT / ".venv-indextts" / "bin" / "python"))
    spec = RANDOM_MODELS[model]
    if packed and spec.packed is None:
        raise ValueError(f"the image does not pack {model}'s weights: no packed random weights")
    code = (spec.packed if packed else spec.published).format(size=size)
    done = subprocess.run([python, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode != 0:
        raise RuntimeError(f"writing random {size} {model} weights failed: {done.stderr[-3000:]}")
    source = Path(done.stdout.strip().splitlines()[-1])
    relative = f"build/{spec.context_dir}-random-{size}{'-packed' if packed else ''}"
    target = REPO_ROOT / relative
    if (target / ".source").is_file() and (target / ".source").read_text() == str(source):
        return relative
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(exist_ok=True)
    shutil.copytree(source, target, copy_function=os.link)  # hard links: no second copy of the weights
    (target / ".source").write_text(str(source))
    return relative


FULL_RANDOM_TAG = "localhost/tts-synthesize-primary:full-random"


def full_random_tag(model: str = DEFAULT_MODEL) -> str:
    return FULL_RANDOM_TAG if model == DEFAULT_MODEL else f"{FULL_RANDOM_TAG}-{model}"


def ensure_full_random_image(log_dir: Path, model: str = DEFAULT_MODEL) -> str:
    """The primary image of `model` (its PRIMARY_MODEL build ARG) with full-size random weights (built once,
    kept for the cold-start bench). For a model the image packs, its input is the published layout already
    packed on the host by the same packer (which passes packed files through unchanged): building from the
    published fp32 files themselves needs ~9 GB more free disk, as buildah 1.28 keeps every step's container
    until the build ends. A model without a packer gets the published files, which the image copies."""
    tag = full_random_tag(model)
    if not image_exists(tag):
        log = log_dir / f"build-primary-full{'' if model == DEFAULT_MODEL else '-' + model}.log"
        weights = random_weights("full", packed=RANDOM_MODELS[model].packed is not None, model=model)
        seconds = build("primary", tag, {"WEIGHTS_DIR": weights, "PRIMARY_MODEL": model}, log=log)
        print(f"built {tag} in {seconds:.0f} s (log: {log})")
    return tag
