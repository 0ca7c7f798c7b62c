"""buildah on the project's own image store."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
STORE = Path(os.environ.get("TTS_IMAGE_STORE", "/var/lib/tts-images"))
DRIVER = os.environ.get("TTS_IMAGE_DRIVER", "overlay")


def buildah_command(*args: str) -> list[str]:
    return ["buildah", "--root", str(STORE / "storage"), "--runroot", str(STORE / "run"),
            "--storage-driver", DRIVER, *args]


def buildah(*args: str, capture: bool = True, check: bool = True, timeout: float | None = None) -> str:
    cmd = buildah_command(*args)
    done = subprocess.run(cmd, capture_output=capture, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({done.returncode}): {(done.stderr or '')[-3000:]}")
    return (done.stdout or "").strip()


def image_exists(tag: str) -> bool:
    return bool(buildah("images", "-q", tag, check=False))


def remove_images(*tags: str) -> None:
    for tag in tags:
        if image_exists(tag):
            buildah("rmi", "-f", tag)
    buildah("rmi", "--prune", check=False)  # the intermediate stages' images
