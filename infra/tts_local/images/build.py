"""The project's Dockerfiles built with buildah, with what builds on this machine add: the stand-in base,
torch from the wheel on disk, the host's CA bundle."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tts_local.images.base import ensure_base
from tts_local.images.store import REPO_ROOT, buildah, buildah_command

DOCKERFILES = {"primary": "functions/synthesize_primary/Dockerfile",
               "offline": "functions/synthesize_offline/Dockerfile"}
TAGS = {"primary": "localhost/tts-synthesize-primary:local", "offline": "localhost/tts-synthesize-offline:local"}


def find_links_dir() -> Path | None:
    """The host pip's find-links directory (this machine kind keeps the CPU torch wheel there)."""
    done = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.find-links"],
                          capture_output=True, text=True)
    path = Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None
    return path if path and path.is_dir() else None


def local_build_args() -> dict[str, str]:
    """What builds here pass on top of the users' defaults: the stand-in base and torch from disk."""
    args = {"BASE_IMAGE": ensure_base()}
    links = find_links_dir()
    if links is not None and any(links.glob("torch-*+cpu-*.whl")):
        args["TORCH_PIP_ARGS"] = f"--no-index --find-links {links}"
    return args


def build(name: str, tag: str | None = None, build_args: dict[str, str] | None = None,
          log: Path | None = None) -> float:
    """Build one of the project's Dockerfiles; returns the wall time in seconds."""
    tag = tag or TAGS[name]
    args = local_build_args() | (build_args or {})
    volumes = ["/etc/ssl/certs:/etc/ssl/certs:ro"]  # this machine reaches PyPI through its own CA
    links = find_links_dir()
    if links is not None:
        volumes.append(f"{links}:{links}:ro")
    cmd = ["bud", "--isolation", "chroot", "--network", "host", "--layers", "-f", DOCKERFILES[name],
           "-t", tag]
    for volume in volumes:
        cmd += ["-v", volume]
    for key, value in args.items():
        cmd += ["--build-arg", f"{key}={value}"]
    started = time.monotonic()
    with (log.open("w") if log else open(os.devnull, "w")) as out:
        done = subprocess.run(buildah_command(*cmd, str(REPO_ROOT)), stdout=out, stderr=subprocess.STDOUT,
                              cwd=REPO_ROOT)
    if done.returncode != 0:
        tail = log.read_text()[-4000:] if log else ""
        raise RuntimeError(f"building {name} failed ({done.returncode}); {log or ''}\n{tail}")
    buildah("rmi", "--prune", check=False)
    return time.monotonic() - started
