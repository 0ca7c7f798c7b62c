"""The image command line: `python -m tts_local.images --help` (the Makefile's image targets)."""

from __future__ import annotations

import argparse
from pathlib import Path

import tts_local.images
from tts_local.images.base import ensure_base
from tts_local.images.build import DOCKERFILES, TAGS, build
from tts_local.images.inspection import print_sizes
from tts_local.images.random_weights import DEFAULT_MODEL, RANDOM_MODELS, ensure_full_random_image, random_weights
from tts_local.images.store import REPO_ROOT, buildah, remove_images


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(tts_local.images.__doc__ or "").split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("base", help="the stand-in base image")
    b = sub.add_parser("build", help="one image")
    b.add_argument("name", choices=sorted(DOCKERFILES))
    b.add_argument("--tag")
    b.add_argument("--build-arg", action="append", default=[], metavar="K=V")
    b.add_argument("--log", type=Path)
    i = sub.add_parser("image", help="both images (make image)")
    i.add_argument("--weights-dir", default="build/indextts",
                   help="the primary's weights in the build context; absent: tiny random weights")
    f = sub.add_parser("size-full", help="the primary image with full-size random weights, its size (make image-size)")
    for with_model in (i, f):
        with_model.add_argument("--model", choices=list(RANDOM_MODELS), default=DEFAULT_MODEL,
                       help="the primary's PRIMARY_MODEL build argument (and its random weights)")
    s = sub.add_parser("size", help="uncompressed size per layer of an image")
    s.add_argument("tag")
    s.add_argument("--label", default="image")
    r = sub.add_parser("rm", help="remove images")
    r.add_argument("tags", nargs="+")
    sub.add_parser("clean", help="remove every image and container of the store")
    args = parser.parse_args(argv)
    logs = REPO_ROOT / "build" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    if args.cmd == "base":
        print(ensure_base())
    elif args.cmd == "build":
        extra = dict(item.split("=", 1) for item in args.build_arg)
        seconds = build(args.name, args.tag, extra, args.log)
        print(f"built {args.tag or TAGS[args.name]} in {seconds:.0f} s")
    elif args.cmd == "image":
        weights = args.weights_dir
        if not (REPO_ROOT / weights / "checkpoints").is_dir():
            print(f"{weights}/checkpoints not found: the primary image gets tiny random weights")
            weights = random_weights("tiny", model=args.model)
        for name, extra in (("primary", {"WEIGHTS_DIR": weights, "PRIMARY_MODEL": args.model}), ("offline", {})):
            seconds = build(name, None, extra, log=logs / f"build-{name}.log")
            print(f"built {TAGS[name]} in {seconds:.0f} s (log: {logs / f'build-{name}.log'})")
            print_sizes(TAGS[name], f"{name} image")
    elif args.cmd == "size-full":
        print_sizes(ensure_full_random_image(logs, args.model), "primary image")
    elif args.cmd == "size":
        print_sizes(args.tag, args.label)
    elif args.cmd == "rm":
        remove_images(*args.tags)
    else:
        buildah("rm", "--all", check=False)
        buildah("rmi", "--all", "--force", check=False)


if __name__ == "__main__":
    main()
