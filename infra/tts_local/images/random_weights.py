"""Random weights of the real architecture for the image builds, and the primary image with full-size ones."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tts_local.images.build import build
from tts_local.images.store import REPO_ROOT, image_exists


def random_weights(size: str, packed: bool = False) -> str:
    """Random weights of the real architecture (tts_local.tiny_indextts, run in the IndexTTS-2
    virtualenv: TTS_INDEXTTS_PYTHON) in the published layout, or that packed by the image's packer,
    hard-linked into the build context; returns the directory relative to it (WEIGHTS_DIR)."""
    python = os.environ.get("TTS_INDEXTTS_PYTHON", str(REPO_ROOT / ".venv-indextts" / "bin" / "python"))
    code = (f"from tts_local.tiny_indextts import ensure_packed; print(ensure_packed({size!r}))" if packed else
            f"from tts_local.tiny_indextts import ensure_model; print(ensure_model({size!r}, published=True))")
    done = subprocess.run([python, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode != 0:
        raise RuntimeError(f"writing random {size} weights failed: {done.stderr[-3000:]}")
    source = Path(done.stdout.strip().splitlines()[-1])
    relative = f"build/indextts-random-{size}{'-packed' if packed else ''}"
    target = REPO_ROOT / relative
    if (target / ".source").is_file() and (target / ".source").read_text() == str(source):
        return relative
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(exist_ok=True)
    shutil.copytree(source, target, copy_function=os.link)  # hard links: no second copy of the weights
    (target / ".source").write_text(str(source))
    return relative


FULL_RANDOM_TAG = "localhost/tts-synthesize-primary:full-random"


def ensure_full_random_image(log_dir: Path) -> str:
    """The primary image with full-size random weights (built once, kept for the cold-start bench).
    Its input is the published layout already packed on the host by the same packer (which passes
    packed files through unchanged): building from the published fp32 files themselves needs ~9 GB
    more free disk, as buildah 1.28 keeps every step's container until the build ends."""
    if not image_exists(FULL_RANDOM_TAG):
        seconds = build("primary", FULL_RANDOM_TAG, {"WEIGHTS_DIR": random_weights("full", packed=True)},
                        log=log_dir / "build-primary-full.log")
        print(f"built {FULL_RANDOM_TAG} in {seconds:.0f} s (log: {log_dir / 'build-primary-full.log'})")
    return FULL_RANDOM_TAG
