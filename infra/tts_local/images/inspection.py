"""What a built image is: its OCI config and its uncompressed size per layer."""

from __future__ import annotations

import json
import re
from typing import Any

from tts_local.images.store import DRIVER, STORE, buildah


def image_config(tag: str) -> dict[str, Any]:
    """The OCI image config (Entrypoint, Cmd, Env, WorkingDir, User) and its history."""
    info = json.loads(buildah("inspect", "--type", "image", tag))
    return {"config": info["OCIv1"].get("config", {}), "history": info["OCIv1"].get("history", []),
            "id": info["FromImageID"]}


def layer_sizes(tag: str) -> list[tuple[str, int]]:
    """(what made the layer, uncompressed bytes) per layer, base first, from the store's own records."""
    store = STORE / "storage"
    images = json.loads((store / f"{DRIVER}-images" / "images.json").read_text())
    layers = {rec["id"]: rec for rec in json.loads((store / f"{DRIVER}-layers" / "layers.json").read_text())}
    image_id = image_config(tag)["id"]
    top = next(rec["layer"] for rec in images if rec["id"] == image_id)
    chain = []
    while top:
        chain.append(layers[top])
        top = layers[top].get("parent")
    chain.reverse()
    made_by = [_describe(h.get("created_by", "")) for h in image_config(tag)["history"] if not h.get("empty_layer")]
    if len(made_by) != len(chain):  # a history that does not line up: name layers by position
        made_by = [f"layer {i}" for i in range(len(chain))]
    made_by[0] = "base image"
    return [(what, int(rec.get("diff-size", 0))) for what, rec in zip(made_by, chain, strict=True)]


def _describe(created_by: str) -> str:
    """A Dockerfile-like line for a history entry: `COPY <dest>` or `RUN <command>`, shortened."""
    text = re.sub(r"\s+", " ", created_by)
    copy = re.match(r"/bin/sh -c #\(nop\) (COPY|ADD) \S+ in (\S+)", text)
    if copy:
        return f"{copy.group(1)} {copy.group(2)}"
    run = text.split("/bin/sh -c ", 1)[-1]  # buildah puts the build args before the shell
    return ("RUN " + run)[:100]


def print_sizes(tag: str, label: str) -> int:
    total = 0
    for what, size in layer_sizes(tag):
        total += size
        print(f"{size / 1e9:8.3f} GB  {what}")
    print(f"{label}: {total / 1e9:.2f} GB")
    return total
