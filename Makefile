# Two commands do all the set-up on a fresh machine with Python 3.11 and pip:
#   make demo   one synthesis through the whole pipeline on the local stack -> demo.wav
#   make test   linters and the test suite (what CI runs)
PYTHON ?= python3.11
VENV := .venv
SAM_VENV := .venv-sam
STAMP := $(VENV)/.installed
SAM_STAMP := $(SAM_VENV)/.installed
SAM_CLI_VERSION := 1.170.0
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
IDX_VENV := .venv-indextts
IDX_STAMP := $(IDX_VENV)/.installed
TORCH_PIP_ARGS ?=
DEMO_TEXT ?= 你好，欢迎使用语音合成服务。Hello, this is the text-to-speech demo.

# The browser test drives Debian's Chromium; install it (as root, or through sudo) when it is missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test test-fast test-heavy lint serve bench bench-long bench-book bench-primary constraints openapi browser clean \
        image-tools image image-size test-image bench-image clean-images

$(STAMP): requirements-dev.txt constraints-dev.txt src/requirements.txt functions/*/requirements.txt infra/layers/*/requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is needed"'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt -c constraints-dev.txt
	$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

# The SAM CLI lives in a virtualenv of its own: its pins clash with moto's.
$(SAM_STAMP):
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q --disable-pip-version-check aws-sam-cli==$(SAM_CLI_VERSION)
	@touch $@

# checkov too: it pins boto3 1.35.x, which clashes with moto's.
$(CHECKOV_STAMP): requirements-checkov.txt constraints-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q --disable-pip-version-check -r requirements-checkov.txt -c constraints-checkov.txt
	@touch $@

demo: $(STAMP)
	$(VENV)/bin/tts-local synthesize "$(DEMO_TEXT)" --out demo.wav

browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium chromium-driver; }

test: $(STAMP) $(SAM_STAMP) $(CHECKOV_STAMP) browser $(IDX_STAMP) image-tools
	$(VENV)/bin/ruff check .
	PATH="$(CURDIR)/$(SAM_VENV)/bin:$$PATH" SAM_CLI_TELEMETRY=0 $(VENV)/bin/pytest
	$(IDX_VENV)/bin/pytest --timeout 1200 -m heavy tests/heavy
	$(MAKE) --no-print-directory test-image

# The quick loop while changing code: ruff, the unit tests and the static checks but the external
# linters of the template (those run in make test).
test-fast: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q -m "not linter" tests/unit tests/static

# IndexTTS-2's real inference code on tiny random weights, in a virtualenv of its own (torch and ~80
# pinned packages, ~2.5 GB). torch comes first and alone: unpinned, a dependency would pull a CUDA build.

$(IDX_STAMP): requirements-indextts.txt constraints-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is needed"'
	$(PYTHON) -m venv $(IDX_VENV)
	$(IDX_VENV)/bin/pip install -q --disable-pip-version-check --no-deps torch==2.13.0 $(TORCH_PIP_ARGS)
	$(IDX_VENV)/bin/pip install -q --disable-pip-version-check --no-deps -r requirements-indextts.txt
	# PyPI's torchaudio ships CUDA-linked libraries; inference needs only its pure-Python parts.
	rm -f "$$($(IDX_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"/torchaudio/lib/*.so
	$(IDX_VENV)/bin/python -c "from indextts.utils.front import TextNormalizer as T; T().load()"
	$(IDX_VENV)/bin/pip install -q --disable-pip-version-check -c constraints-dev.txt \
	    pydantic pydantic-settings aws-lambda-powertools soundfile soxr numpy boto3 'moto[server]' pytest pytest-timeout \
	    pyloudnorm defusedxml unicodedataplus markdown-it-py ebooklib  # delivery, the text front end, books
	$(IDX_VENV)/bin/pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

test-heavy: $(IDX_STAMP)
	$(IDX_VENV)/bin/pytest --timeout 1200 -m heavy tests/heavy

bench-primary: $(IDX_STAMP)
	$(IDX_VENV)/bin/python bench/primary_indextts.py

# ---- container images, built here without a Docker engine (infra/tts_local/images/) ----------------
# Debian's buildah builds the project's own Dockerfiles as root; debootstrap makes the stand-in base.
# Storage: TTS_IMAGE_STORE (default /var/lib/tts-images); `make clean-images` empties it.
# PRIMARY_MODEL (indextts2.5, or empty: the Dockerfile's default, indextts2) is the primary's build ARG
# for image, image-size, test-image and bench-image, with that model's random weights.
WEIGHTS_DIR ?= build/indextts
PRIMARY_MODEL ?=
MODEL_ARG = $(if $(PRIMARY_MODEL),--model $(PRIMARY_MODEL))
IMAGES = $(SUDO) env TTS_INDEXTTS_PYTHON="$(CURDIR)/$(IDX_VENV)/bin/python" $(VENV)/bin/python -m tts_local.images

image-tools:
	@command -v buildah >/dev/null && command -v debootstrap >/dev/null || { \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends buildah debootstrap; }

# Both images. The primary takes its weights from WEIGHTS_DIR (published or packed layout; see its
# Dockerfile); without one it gets tiny random weights of the real architecture.
image: $(STAMP) image-tools $(if $(wildcard $(WEIGHTS_DIR)/checkpoints),,$(IDX_STAMP))
	$(IMAGES) image --weights-dir $(WEIGHTS_DIR) $(MODEL_ARG)

# The primary image with full-size random weights at the published file sizes, packed (.cache/, ~14 GB;
# IndexTTS-2.5's fp32, copied as published, 6.6 GB): uncompressed size per layer, last line `primary image: N.NN GB`.
# Needs ~30 GB of free disk (buildah 1.28 keeps every step's container until the build ends). Keeps the
# image for bench-image.
image-size: $(STAMP) $(IDX_STAMP) image-tools
	$(IMAGES) size-full $(MODEL_ARG)

# Smoke test: both images built and their handlers run inside them (also part of `make test`, with the
# default model; `make test-image PRIMARY_MODEL=indextts2.5` runs it on a tiny IndexTTS-2.5 image).
test-image: $(STAMP) $(IDX_STAMP) image-tools
	$(SUDO) env TTS_INDEXTTS_PYTHON="$(CURDIR)/$(IDX_VENV)/bin/python" $(if $(PRIMARY_MODEL),TTS_PRIMARY_MODEL=$(PRIMARY_MODEL)) \
	    $(VENV)/bin/pytest --timeout 1800 -m image tests/image

# Cold start of the built primary image with full-size random weights: process start to first WAV.
bench-image: $(STAMP) $(IDX_STAMP) image-tools
	$(SUDO) env TTS_INDEXTTS_PYTHON="$(CURDIR)/$(IDX_VENV)/bin/python" $(VENV)/bin/python bench/cold_start_primary_image.py $(MODEL_ARG)

clean-images:
	-$(IMAGES) clean

lint: $(STAMP)
	$(VENV)/bin/ruff check .

serve: $(STAMP)
	$(VENV)/bin/tts-local serve

bench: $(STAMP)
	$(VENV)/bin/python bench/cold_start_fallback.py

# Long texts: wall time against text length and the Map's concurrency (~10 minutes).
bench-long: $(STAMP)
	$(VENV)/bin/python bench/long_text.py

# Books: a generated 100-chapter zh/en manuscript of 100,000 then 1,000,000 characters through the book
# state machine (history, state, encode memory, wall time against the ideal schedule; the 1M run takes an hour here).
bench-book: $(STAMP)
	$(VENV)/bin/python bench/book.py

# docs/openapi.json is generated from the code (a test fails when it is stale).
openapi: $(STAMP)
	$(VENV)/bin/python -m tts_core.api docs/openapi.json

constraints: $(STAMP) $(CHECKOV_STAMP)
	$(VENV)/bin/pip freeze --exclude-editable | sed '1i # Full pins of the dev virtualenv (pip freeze). Regenerate with `make constraints` after changing requirements.' > constraints-dev.txt
	$(CHECKOV_VENV)/bin/pip freeze | sed '1i # Full pins of .venv-checkov (pip freeze). Regenerate with `make constraints` after changing requirements-checkov.txt.' > constraints-checkov.txt

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) $(IDX_VENV) .pytest_cache .ruff_cache demo.wav
