"""The project's container images, built and run on this machine without a Docker engine.

    python -m tts_local.images base                 # the stand-in base image (debootstrap, once)
    python -m tts_local.images build primary|offline [--tag T] [--build-arg K=V ...]
    python -m tts_local.images size TAG              # uncompressed size per layer, last line the total
    python -m tts_local.images rm TAG ...

- store.py: Debian's `buildah` (root, chroot isolation, host network) on a store of its own
  (TTS_IMAGE_STORE, default /var/lib/tts-images) so cleaning up never touches anything else; the overlay
  driver is the default (TTS_IMAGE_DRIVER=vfs where overlay mounts are refused: vfs copies every layer).
- base.py: the public base images cannot be pulled here: a stand-in for python:3.11-slim-bookworm made
  from Debian packages (debootstrap, Python 3.11 as a venv at /usr/local so `python` and `pip` are on
  PATH as in the official image), passed as the BASE_IMAGE build argument: every step after FROM is the
  file users build.
- build.py: the project's own Dockerfiles, the files `sam build` uses; torch from the CPU wheel in this
  machine's pip find-links directory (mounted read-only) instead of the pytorch wheel index, the host's
  CA bundle mounted for PyPI.
- inspection.py: an image's config and its uncompressed size per layer.
- runtime_api.py + sandbox.py: an image run the way Lambda runs it (`LambdaContainer`): its own
  ENTRYPOINT/CMD/WORKDIR/ENV, as a non-root user, the root filesystem read-only with a writable tmpfs at
  /tmp, talking to a Runtime API served by `RuntimeApi` on 127.0.0.1 (AWS's runtime interface emulator is
  not available here; this is the HTTP protocol the image's own `awslambdaric` speaks).
- random_weights.py: random weights of the real architecture in the build context, and the primary
  image built with full-size ones (the size and cold-start benches).
- __main__.py: the command line above (the Makefile's image targets).
"""
