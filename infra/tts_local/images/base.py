"""A stand-in for python:3.11-slim-bookworm made from Debian packages: the public base images cannot be
pulled here."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from tts_local.images.store import STORE, buildah, image_exists

BASE_TAG = "localhost/tts-standin-python:3.11-bookworm"


def debian_mirror() -> str:
    """The machine's own Debian mirror (deb822 .sources or one-line .list), for debootstrap."""
    sources = [*sorted(Path("/etc/apt/sources.list.d").glob("*.sources")), Path("/etc/apt/sources.list")]
    for path in sources:
        text = path.read_text() if path.is_file() else ""
        for block in text.split("\n\n"):
            uris = re.search(r"^URIs:\s*(\S+)", block, re.M)
            if uris and re.search(r"^Suites:.*\bbookworm\b(?!-)", block, re.M):
                return uris.group(1)
        one_line = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+bookworm\s", text, re.M)
        if one_line:
            return one_line.group(1)
    return "http://deb.debian.org/debian"


def ensure_base(tag: str = BASE_TAG) -> str:
    """Debian bookworm minbase + python3.11 + ca-certificates, with a venv at /usr/local (~40 s)."""
    if image_exists(tag):
        return tag
    STORE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=STORE, prefix="debootstrap-") as tmp:
        root = Path(tmp) / "root"
        subprocess.run(["debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates",
                        "bookworm", str(root), debian_mirror()], check=True, capture_output=True)
        # As python:3.11-slim: `python`/`pip` on PATH, writable site-packages (Debian's python3 is
        # externally managed), no package caches or docs.
        subprocess.run(["chroot", str(root), "python3", "-m", "venv", "/usr/local"], check=True)
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
                     "usr/share/locale", "usr/share/info"):
            shutil.rmtree(root / junk, ignore_errors=True)
        (root / "var/cache/apt/archives/partial").mkdir(parents=True)
        (root / "var/lib/apt/lists/partial").mkdir(parents=True)
        ctr = buildah("from", "scratch")
        try:
            mount = Path(buildah("mount", ctr))
            subprocess.run(f"tar -C {shlex.quote(str(root))} -cf - . | tar -C {shlex.quote(str(mount))} -xpf -",
                           shell=True, check=True)
            buildah("umount", ctr)
            buildah("config", "--env", "LANG=C.UTF-8", "--cmd", "python3", ctr)
            buildah("commit", "--rm", ctr, tag)
        except BaseException:
            buildah("rm", ctr, check=False)
            raise
    return tag
