"""The primary engine: IndexTTS-2 on CPU, through its own inference code (`indextts.infer_v2.IndexTTS2`,
PyPI `indextts2-cli==1.0.2`, pinned in requirements-indextts.txt).

- Loaded on the first request, not at import (Lambda's init phase is 10 s), once per container, and
  reused. Importing this module imports no torch: the light dev venv and the local stack use it too
  (there, `synthesize` raises ModelUnavailableError).
- Offline by construction: HF_HUB_OFFLINE=1 and the hub cache (baked into the image next to the
  weights) are put in the environment before huggingface_hub/transformers are first imported, which
  is when they read them. Writable caches (numba, matplotlib) go under /tmp.
- Compute precision chosen at load from the CPU's flags (indextts_precision: bf16 / int8 weight-only /
  fp32, override INDEXTTS_PRECISION); torch threads = the vCPUs this process may use, denormals flushed
  (FACTS: s2mel 33 s instead of 101 s).
- Cold load: no random initialisation, checkpoints mmap'd, reduced-precision layers built straight from
  the files (never a view of them: it would keep the whole file resident), the heap trimmed after;
  w2v-bert (only needed to compute a new voice's conditioning, 2.3 GB in fp32) loads on first use, like
  the Qwen emotion model. The conditioning encoders' outputs are memoized per voice.
- Profiles: `quality` = the official defaults (3 beams, 25 diffusion steps, CFG 0.7). `fast` =
  1 beam (a generation kwarg) and fewer diffusion steps without CFG. infer_v2 hard-codes
  `diffusion_steps = 25` and `inference_cfg_rate = 0.7` inside `infer_generator`; the narrowest hook
  is the one call that receives them, `s2mel.models['cfm'].inference`, wrapped on this instance only.
- Deadline: checked before loading, before inference, at every GPT decoding step (a stopping criterion
  that raises; the longest stage) and before each s2mel call, so also between text segments (the
  generator form of `infer`, whose segments are joined exactly as `infer(output_path=None)` joins them).
- Errors: weights or inference code missing/corrupt -> ModelUnavailableError (non-retryable; the
  state machine goes to the fallback); text the tokenizer cannot take -> InvalidInputError; anything
  failing inside inference (incl. out of memory) -> EngineError; deadline -> EngineTimeoutError.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import shutil
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from tts_core.catalogue import is_catalogue_voice
from tts_core.deadline import Deadline
from tts_core.engines import EngineAudio, allocator
from tts_core.engines import indextts_precision as precision
from tts_core.engines.indextts_precision import patched_attr
from tts_core.errors import (
    EngineError,
    EngineTimeoutError,
    InvalidInputError,
    ModelUnavailableError,
    NotFoundError,
    TtsError,
    VoiceNotFoundError,
    quoted,
)
from tts_core.models import SynthesisRequest
from tts_core.platform import page_cache
from tts_core.platform.observability import logger

Profile = Literal["quality", "fast"]
SAMPLE_RATE = 22050  # BigVGAN's rate; infer returns int16 at this rate
OFFICIAL = {"num_beams": 3, "diffusion_steps": 25, "cfg_rate": 0.7}  # infer_v2 defaults (hard-coded s2mel ones)
_SPEAKER_CACHE = ("cache_spk_cond", "cache_s2mel_style", "cache_s2mel_prompt", "cache_mel")
_EMOTION_CACHE = ("cache_emo_cond",)


@dataclass(frozen=True)
class IndexTtsSettings:
    model_dir: Path
    profile: Profile = "fast"  # used when a request names no profile
    max_mel_tokens: int = 1500  # per segment; the official default (~17 s of audio). Tests cap it.
    fast_num_beams: int = 1
    fast_diffusion_steps: int = 10
    fast_cfg_rate: float = 0.0  # 0 skips the classifier-free-guidance pass: half the DiT batch
    max_text_tokens_per_segment: int = 120
    threads: int | None = None  # None: every vCPU this process may run on
    precision: str = "auto"  # auto (from the CPU's flags), fp32, bf16, int8: see indextts_precision
    lazy_semantic_model: bool = True  # load w2v-bert on the first voice whose conditioning is not stored
    hf_hub_cache: Path | None = None  # None: <model_dir>/../hf_cache (where the image bakes it)
    voice_bucket: str | None = None  # None: the function's BUCKET_NAME (EngineSettings requires it)
    prompt_root: Path = Path("/tmp/voices")
    lazy_emotion_model: bool = True  # load the Qwen emotion-from-text model (~1.2 GB) on first use only
    store_conditioning: bool = True  # persist each voice's speaker conditioning to S3 for later containers
    extra_generation_kwargs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> IndexTtsSettings:
        """INDEXTTS_MODEL_DIR (required), INDEXTTS_PROFILE, INDEXTTS_MAX_MEL_TOKENS, INDEXTTS_FAST_STEPS,
        INDEXTTS_PRECISION."""
        env = os.environ
        return cls(model_dir=Path(env["INDEXTTS_MODEL_DIR"]),
                   profile=env.get("INDEXTTS_PROFILE", "fast"),  # type: ignore[arg-type]
                   max_mel_tokens=int(env.get("INDEXTTS_MAX_MEL_TOKENS", "1500")),
                   fast_diffusion_steps=int(env.get("INDEXTTS_FAST_STEPS", "10")),
                   precision=env.get("INDEXTTS_PRECISION", "auto"))

    def generation(self, profile: Profile) -> dict[str, Any]:
        """What one request runs with: infer() kwargs plus the s2mel settings the hook applies."""
        if profile == "quality":
            beams, steps, cfg = OFFICIAL["num_beams"], OFFICIAL["diffusion_steps"], OFFICIAL["cfg_rate"]
        else:
            beams, steps, cfg = self.fast_num_beams, self.fast_diffusion_steps, self.fast_cfg_rate
        return {"num_beams": int(beams), "diffusion_steps": int(steps), "cfg_rate": float(cfg),
                "max_mel_tokens": self.max_mel_tokens}


class _DeadlineExceededError(Exception):
    """Raised inside the inference code by our hooks; surfaces as EngineTimeoutError."""


def vcpus() -> int:
    # sched_getaffinity honours cgroup/cpuset limits that os.cpu_count() ignores.
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def prepare_environment(settings: IndexTtsSettings) -> None:
    """Must run before huggingface_hub / transformers are imported: they read these once, at import."""
    hub = settings.hf_hub_cache or settings.model_dir.parent / "hf_cache"
    os.environ.setdefault("HF_HUB_CACHE", str(hub))
    os.environ["HF_HUB_OFFLINE"] = "1"  # never fetch at run time: every file is baked in
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HOME", "/tmp/hf_home")  # anything else HF wants to write
    os.environ.setdefault("MPLCONFIGDIR", "/tmp/matplotlib")  # BigVGAN and audiotools import matplotlib
    os.environ.setdefault("NUMBA_CACHE_DIR", "/tmp/numba_cache")  # librosa's numba cache=True
    # If something imported them earlier (a test runner, a warm-up script), force offline mode on
    # the constants they already read: a hub request from Lambda would hang until the deadline.
    if "huggingface_hub.constants" in sys.modules:
        sys.modules["huggingface_hub.constants"].HF_HUB_OFFLINE = True
    if "transformers.utils.hub" in sys.modules:
        sys.modules["transformers.utils.hub"]._is_offline_mode = True
    seed = os.environ.get("INDEXTTS_NUMBA_SEED")  # a cache filled at image build: 8 s instead of 25 s
    if seed and Path(seed).is_dir() and not Path(os.environ["NUMBA_CACHE_DIR"]).exists():
        shutil.copytree(seed, os.environ["NUMBA_CACHE_DIR"], dirs_exist_ok=True)


def _defer_unused_imports() -> None:
    """transformers' generation utilities import scikit-learn (0.7 s of every cold start, measured with
    `python -X importtime`) for a heuristic of assisted decoding, which inference never runs: declare it
    unavailable to transformers before the inference code imports them."""
    from transformers.utils import import_utils

    import_utils._sklearn_available = False


def model_fingerprint(model_dir: Path, hub_cache: Path) -> str:
    """Names stored conditioning: changes when any weight file changes (name, size, first 1 MB)."""
    h = hashlib.sha256()
    for root in (model_dir, hub_cache):
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            h.update(f"{path.relative_to(root)}:{path.stat().st_size}".encode())
            with path.open("rb") as f:
                h.update(f.read(1 << 20))
    return h.hexdigest()[:16]


class IndexTtsEngine:
    name = "primary"

    def __init__(self, settings: IndexTtsSettings) -> None:
        self.settings = settings
        self._model: Any = None
        self._load_error: ModelUnavailableError | None = None
        self._lock = threading.Lock()  # the model keeps per-prompt state: one inference at a time
        self._prompts: Any = None
        self._fingerprint = ""
        # s2mel settings and deadline of the request in progress, read by the hooks.
        self._s2mel: tuple[int, float] | None = None
        self._deadline: Deadline | None = None
        self._conditioning: OrderedDict[str, dict[str, Any]] = OrderedDict()  # by prompt sha256, LRU
        self.load_seconds: float | None = None
        self.precision_report: dict[str, Any] = {}
        self.last_stats: dict[str, Any] = {}

    # ---- loading -------------------------------------------------------------------------------
    def load(self) -> Any:
        """The IndexTTS2 object, built on first use. A failure is remembered: the weights of a
        container do not change, so later requests fail fast with the same non-retryable error."""
        if self._model is not None:
            return self._model
        if self._load_error is not None:
            raise self._load_error
        started = time.monotonic()
        try:
            self._model = self._build()
        except ModelUnavailableError as exc:
            self._load_error = exc
            raise
        self.load_seconds = round(time.monotonic() - started, 2)
        logger.info("IndexTTS-2 loaded", extra={"load_s": self.load_seconds, "threads": self._threads(),
                                                **self.precision_report})
        return self._model

    def _threads(self) -> int:
        return self.settings.threads or vcpus()

    def _build(self) -> Any:
        settings = self.settings
        config_path = settings.model_dir / "config.yaml"
        if not config_path.is_file():
            raise ModelUnavailableError(f"no IndexTTS-2 model at {settings.model_dir} (config.yaml missing)")
        prepare_environment(settings)
        # The kernel reads the largest libraries and the weights in the background while the imports below
        # run (~4 s): on a cold page cache (every Lambda cold start) the load waits for the disk far less.
        files = _native_libraries() + _weight_files(settings.model_dir, config_path, settings.lazy_semantic_model)
        threading.Thread(target=page_cache.advise, args=(files, os.POSIX_FADV_WILLNEED), name="prefetch",
                         daemon=True).start()
        try:
            import torch

            _defer_unused_imports()
            from indextts import infer_v2
        except ImportError as exc:
            raise ModelUnavailableError(f"IndexTTS-2 inference code is not installed: {exc}") from exc
        torch.set_num_threads(self._threads())
        torch.set_flush_denormal(True)
        flags = precision.cpu_flags()
        try:
            chosen = precision.choose_precision(flags, settings.precision)
        except ValueError as exc:
            raise ModelUnavailableError(f"IndexTTS-2 misconfigured: {exc}") from exc
        secondary = precision.secondary_precision(chosen, flags)
        report: dict[str, Any] = {"precision": chosen, "secondary_precision": secondary,
                                  "cpu_flags": sorted(flags & (precision.BF16_FLAGS | precision.VNNI_FLAGS))}
        self._fingerprint = model_fingerprint(settings.model_dir, Path(os.environ["HF_HUB_CACHE"]))
        semantic = _lazy_semantic_model(secondary) if settings.lazy_semantic_model else \
            _semantic_model(secondary, infer_v2.build_semantic_model)
        try:
            with precision.fast_construction(), \
                    patched_attr(infer_v2, "load_checkpoint", precision.gpt_loader(chosen, secondary, report)), \
                    patched_attr(infer_v2, "build_semantic_model", semantic), \
                    patched_attr(infer_v2, "load_checkpoint2", _checked_s2mel_loader(infer_v2.load_checkpoint2)), \
                    patched_attr(infer_v2, "QwenEmotion", _lazy(infer_v2.QwenEmotion)
                                 if settings.lazy_emotion_model else infer_v2.QwenEmotion):
                model = infer_v2.IndexTTS2(cfg_path=str(config_path), model_dir=str(settings.model_dir),
                                           use_fp16=False, device="cpu")
            # s2mel's DiT and length regulator: compute-bound GEMMs and convolutions.
            report["s2mel_packed_layers"] = len(precision.pack_linears(model.s2mel, secondary))
            report["s2mel_packed_convs"] = precision.pack_convs(model.s2mel, secondary)
            # BigVGAN: its dense convolutions (the anti-aliasing filters are depthwise and stay fp32).
            report["vocoder_packed_convs"] = precision.pack_convs(model.bigvgan, secondary)
        except MemoryError as exc:
            raise EngineError("out of memory while loading IndexTTS-2") from exc
        except ModelUnavailableError:
            raise
        except Exception as exc:
            # Missing hub files (offline), unreadable or mismatched checkpoints (strict loaders), a
            # broken install: none of them is cured by a retry on this container.
            raise ModelUnavailableError(f"IndexTTS-2 could not be loaded: {type(exc).__name__}: {exc}") from exc
        self._install_hooks(model)
        allocator.release_free_memory()
        self.precision_report = report
        return model

    def _install_hooks(self, model: Any) -> None:
        cfm = model.s2mel.models["cfm"]
        original = cfm.inference

        def inference(mu: Any, x_lens: Any, prompt: Any, style: Any, f0: Any, n_timesteps: int,
                      temperature: float = 1.0, inference_cfg_rate: float = 0.5) -> Any:
            self._check_deadline()
            if self._s2mel is not None:  # None: the code's own values (the official profile)
                n_timesteps, inference_cfg_rate = self._s2mel
            return original(mu, x_lens, prompt, style, f0, n_timesteps, temperature,
                            inference_cfg_rate=inference_cfg_rate)

        cfm.inference = inference  # instance attribute: the class and other instances are untouched
        # The conformer encoders (~0.4 G parameters) turn a voice's w2v features into its GPT conditioning
        # and emotion vector at every segment; the inputs are the model's cached tensors for the voice.
        for name in ("get_conditioning", "get_emovec"):
            setattr(model.gpt, name, _memoized(getattr(model.gpt, name)))

    def _check_deadline(self) -> None:
        if self._deadline is not None and self._deadline.expired():
            raise _DeadlineExceededError

    # ---- voices --------------------------------------------------------------------------------
    def _prompt_cache(self) -> Any:
        if self._prompts is None:
            from tts_core.voices.registry import PromptCache

            bucket = self.settings.voice_bucket or os.environ.get("BUCKET_NAME")
            if not bucket:
                raise ModelUnavailableError("no voice bucket configured (voice_bucket or BUCKET_NAME)")
            self._prompts = PromptCache(bucket, self.settings.prompt_root)
        return self._prompts

    def _prompt(self, voice_id: str) -> tuple[Any, Path]:
        try:
            return self._prompt_cache().local_prompt(voice_id)  # type: ignore[no-any-return]
        except NotFoundError as exc:
            if not is_catalogue_voice(voice_id):  # a custom voice deleted (or never made)
                raise VoiceNotFoundError(f"unknown voice '{quoted(voice_id)}'") from exc
            # A catalogue voice not bootstrapped yet: non-retryable, the fallback serves the voice.
            raise ModelUnavailableError(exc.message) from exc

    def _restore_conditioning(self, model: Any, voice_id: str, sha: str, path: str) -> bool:
        """Put a voice's precomputed speaker conditioning into the model's own cache, so infer()
        skips w2v-bert, the codec, CAMPPlus and the length regulator for this prompt."""
        if model.cache_spk_audio_prompt == path and model.cache_spk_cond is not None:
            return True
        entry = self._conditioning.get(sha)
        if entry is None and self.settings.store_conditioning:
            entry = self._fetch_conditioning(voice_id)
            if entry is not None:
                self._conditioning[sha] = entry
        if entry is None:
            return False
        self._conditioning.move_to_end(sha)
        for name in _SPEAKER_CACHE:
            setattr(model, name, entry[name])
        model.cache_spk_audio_prompt = path
        if entry.get("cache_emo_cond") is not None:
            model.cache_emo_cond = entry["cache_emo_cond"]
            model.cache_emo_audio_prompt = path
        return True

    def _remember_conditioning(self, model: Any, voice_id: str, sha: str, path: str, emo_is_speaker: bool) -> None:
        if sha in self._conditioning or model.cache_spk_audio_prompt != path:
            return
        entry = {name: getattr(model, name) for name in _SPEAKER_CACHE}
        entry["cache_emo_cond"] = model.cache_emo_cond if emo_is_speaker else None
        self._conditioning[sha] = entry
        while len(self._conditioning) > 16:  # a few MB each (mel + w2v features of <= 15 s)
            self._conditioning.popitem(last=False)
        if self.settings.store_conditioning:
            self._store_conditioning(voice_id, sha, entry)

    def _fetch_conditioning(self, voice_id: str) -> dict[str, Any] | None:
        import torch

        from tts_core.voices import registry as voice_registry

        try:
            blob = voice_registry.get_conditioning(self._prompt_cache().bucket, voice_id, self._fingerprint)
            if blob is None:
                return None
            # weights_only: a stored object can hold tensors, never code.
            return dict(torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True))
        except TtsError as exc:
            logger.warning("stored conditioning unreadable; recomputing", extra={"error": exc.message})
        except Exception as exc:
            logger.warning("stored conditioning unreadable; recomputing", extra={"error": repr(exc)})
        return None

    def _store_conditioning(self, voice_id: str, sha: str, entry: dict[str, Any]) -> None:
        import torch

        from tts_core.voices import registry as voice_registry

        buf = io.BytesIO()
        torch.save({k: v for k, v in entry.items() if v is not None}, buf)
        try:
            voice_registry.put_conditioning(self._prompt_cache().bucket, voice_id, self._fingerprint, buf.getvalue(),
                                            sha)
        except TtsError as exc:  # an optimisation: never fail a synthesis over it
            logger.warning("could not store conditioning", extra={"error": exc.message})

    def prepare_voice(self, voice_id: str, deadline: Deadline) -> None:
        """Compute and store a voice's speaker conditioning without synthesizing speech (a voice is
        prepared when it is made: tts_core.voices.prepare)."""
        with self._lock:
            model = self.load()
            record, prompt = self._prompt(voice_id)
            if self._restore_conditioning(model, voice_id, record.sha256, str(prompt)):
                return
            self._deadline = deadline
            try:
                _speaker_conditioning_only(model, str(prompt))
            except _DeadlineExceededError:
                raise EngineTimeoutError("IndexTTS-2 did not prepare the voice within the deadline",
                                         detail="Deadline") from None
            except Exception as exc:
                raise EngineError(f"IndexTTS-2 could not prepare voice '{quoted(voice_id)}': {type(exc).__name__}: "
                                  f"{exc}") from exc
            finally:
                self._deadline = None
            self._remember_conditioning(model, voice_id, record.sha256, str(prompt), True)

    # ---- synthesis -----------------------------------------------------------------------------
    def synthesize(self, request: SynthesisRequest, deadline: Deadline) -> EngineAudio:
        if deadline.expired():
            raise EngineTimeoutError("deadline passed before IndexTTS-2 started", detail="Deadline")
        with self._lock:
            model = self.load()
            if deadline.expired():
                raise EngineTimeoutError("deadline passed while loading IndexTTS-2", detail="Deadline")
            return self._synthesize(model, request, deadline)

    def _synthesize(self, model: Any, request: SynthesisRequest, deadline: Deadline) -> EngineAudio:
        import torch

        profile: Profile = request.profile or self.settings.profile
        gen = self.settings.generation(profile)
        try:
            tokens = model.tokenizer.tokenize(request.text)
        except Exception as exc:
            raise InvalidInputError(f"the primary engine cannot tokenize this text: {exc}") from exc
        if not tokens:
            raise InvalidInputError("the text is empty after the primary engine's normalisation")

        record, prompt = self._prompt(request.voice)
        kwargs: dict[str, Any] = {}
        emo_is_speaker = True
        emotion = request.emotion
        if emotion is not None:
            kwargs["emo_alpha"] = emotion.alpha
            if emotion.vector is not None:  # the vector wins over text, as its most explicit form
                kwargs["emo_vector"] = list(emotion.vector)
            elif emotion.text is not None:
                kwargs.update(use_emo_text=True, emo_text=emotion.text)
            elif emotion.reference_voice is not None:
                kwargs["emo_audio_prompt"] = str(self._prompt(emotion.reference_voice)[1])
                emo_is_speaker = False
        restored = self._restore_conditioning(model, request.voice, record.sha256, str(prompt))

        from transformers import StoppingCriteria, StoppingCriteriaList

        engine = self

        class _Deadline(StoppingCriteria):  # type: ignore[misc]
            def __call__(self, input_ids: Any, scores: Any, **_kw: Any) -> bool:
                engine._check_deadline()
                return False

        self._deadline = deadline
        self._s2mel = None if profile == "quality" else (gen["diffusion_steps"], gen["cfg_rate"])
        started = time.monotonic()
        pieces: list[Any] = []
        try:
            stream = model.infer(
                spk_audio_prompt=str(prompt), text=request.text, output_path=None, stream_return=True,
                max_text_tokens_per_segment=self.settings.max_text_tokens_per_segment,
                num_beams=gen["num_beams"], max_mel_tokens=gen["max_mel_tokens"],
                stopping_criteria=StoppingCriteriaList([_Deadline()]),
                **kwargs, **self.settings.extra_generation_kwargs)
            pieces = list(self._segments(stream))
        except (_DeadlineExceededError, EngineTimeoutError):
            raise EngineTimeoutError(f"IndexTTS-2 did not finish within the deadline ({profile} profile)",
                                     detail="Deadline") from None
        except MemoryError as exc:
            raise EngineError("IndexTTS-2 ran out of memory") from exc
        except TtsError:
            raise
        except Exception as exc:
            if "can't allocate memory" in str(exc) or "out of memory" in str(exc).lower():
                raise EngineError(f"IndexTTS-2 ran out of memory: {exc}") from exc
            raise EngineError(f"IndexTTS-2 failed: {type(exc).__name__}: {exc}") from exc
        finally:
            self._deadline = None
            self._s2mel = None
        if not pieces:
            raise EngineError("IndexTTS-2 returned no audio")
        self._remember_conditioning(model, request.voice, record.sha256, str(prompt), emo_is_speaker)
        wav = torch.cat(pieces, dim=1).type(torch.int16).numpy().reshape(-1)  # as infer() casts it
        self.last_stats = {"profile": profile, **gen, "conditioning_reused": restored,
                           "infer_s": round(time.monotonic() - started, 3), "segments": (len(pieces) + 1) // 2,
                           "audio_s": round(wav.size / SAMPLE_RATE, 3)}
        logger.info("IndexTTS-2 synthesized", extra=self.last_stats)
        return EngineAudio(samples=np.ascontiguousarray(wav), sample_rate=SAMPLE_RATE)

    def _segments(self, stream: Iterator[Any]) -> Iterator[Any]:
        """The generator form of infer() yields each segment's audio, then a silence; the last silence
        is dropped so the result equals infer()'s (silences between segments only)."""
        pending = None
        for piece in stream:
            if pending is not None:
                yield pending
            pending = piece
        # `pending` is the trailing silence (or None when nothing came). No deadline check here: the
        # next segment's first GPT step checks it, and a finished last segment is not thrown away.


class _ConditioningReadyError(Exception):
    """Stops infer() once the speaker conditioning is computed (tts_core.voices.prepare)."""


def _speaker_conditioning_only(model: Any, prompt: str) -> None:
    """Run infer() up to its first progress report after the speaker and emotion conditioning (0.1,
    "text processing"), which fills the model's conditioning cache; no text is synthesized."""

    def progress(value: float, desc: str | None = None) -> None:
        if value >= 0.1:
            raise _ConditioningReadyError

    model.gr_progress = progress
    try:
        for _ in model.infer(spk_audio_prompt=prompt, text="。", output_path=None, stream_return=True):
            break
    except _ConditioningReadyError:
        return
    finally:
        model.gr_progress = None
    raise EngineError("IndexTTS-2 gave no progress report after the speaker conditioning")


# What IndexTTS2.__init__ fetches from the hub (a pre-filled cache, offline), besides config.yaml's files.
SEMANTIC_WEIGHTS = ("facebook/w2v-bert-2.0", "model.safetensors")
_HUB_FILES = (("facebook/w2v-bert-2.0", "config.json"), SEMANTIC_WEIGHTS,
              ("facebook/w2v-bert-2.0", "preprocessor_config.json"),
              ("amphion/MaskGCT", "semantic_codec/model.safetensors"), ("funasr/campplus", "campplus_cn_common.bin"))


def model_files(cfg: Any) -> tuple[list[str], list[tuple[str, str]]]:
    """What IndexTTS2.__init__ reads for a config (an OmegaConf of config.yaml): file names in the
    model_dir, and (repository, file) pairs in the hub cache. The emotion model's directory
    (cfg.qwen_emo_path) is read on first use only. The packer (indextts_weights) keeps exactly these."""
    local = [cfg.gpt_checkpoint, cfg.s2mel_checkpoint, cfg.dataset.bpe_model, cfg.w2v_stat, cfg.emo_matrix,
             cfg.spk_matrix]
    vocoder = str(cfg.vocoder.name)
    hub = list(_HUB_FILES)
    if not Path(vocoder).is_dir():  # vocoder.name may be a local directory instead of a hub repository
        hub += [(vocoder, "config.json"), (vocoder, "bigvgan_generator.pt")]
    return [str(name) for name in local], hub


def _weight_files(model_dir: Path, config_path: Path, lazy_semantic_model: bool) -> list[Path]:
    """The files a load reads (w2v-bert's weights only if it loads eagerly); a missing one is named up
    front, as the library's own errors rarely say which one it was."""
    try:
        from huggingface_hub import try_to_load_from_cache
        from omegaconf import OmegaConf
    except ImportError as exc:
        raise ModelUnavailableError(f"IndexTTS-2 inference code is not installed: {exc}") from exc

    try:
        local, hub = model_files(OmegaConf.load(config_path))
    except Exception as exc:
        raise ModelUnavailableError(f"unreadable IndexTTS-2 config {config_path}: {exc}") from exc
    missing = [str(model_dir / name) for name in local if not (model_dir / name).is_file()]
    found = [model_dir / name for name in local]
    for repo, name in hub:
        path = try_to_load_from_cache(repo, name)
        if not isinstance(path, str):
            missing.append(f"{repo}/{name} (hub cache)")
        elif not (lazy_semantic_model and (repo, name) == SEMANTIC_WEIGHTS):
            found.append(Path(path))
    if missing:
        raise ModelUnavailableError(f"IndexTTS-2 files missing: {', '.join(missing)}")
    return found


# Where the imports map the largest shared objects (torch's 0.45 GB libtorch_cpu, numba's LLVM, OpenFst),
# relative to site-packages. Mapped libraries are read page by page on first touch: slow on a cold cache.
_NATIVE_LIBRARY_DIRS = ("torch/lib", "llvmlite/binding", "pynini.libs")


def _native_libraries() -> list[Path]:
    spec = importlib.util.find_spec("torch")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return []
    site = Path(next(iter(spec.submodule_search_locations))).parent
    return sorted((path for folder in _NATIVE_LIBRARY_DIRS for path in (site / folder).glob("*.so*")),
                  key=lambda path: -path.stat().st_size)


def _checked_s2mel_loader(load: Callable[..., Any]) -> Callable[..., Any]:
    """infer_v2 loads s2mel with strict=False and drops keys whose shape differs: a wrong or truncated
    checkpoint would give noise, not an error. Require every parameter to come from the file."""

    def loader(model: Any, optimizer: Any, path: str, **kwargs: Any) -> Any:
        import torch

        state = torch.load(path, map_location="cpu")["net"]
        missing: list[str] = []
        for key, module in model.models.items():
            got = {k.removeprefix("module."): v for k, v in state.get(key, {}).items()}
            missing += [f"{key}.{k}" for k, p in module.named_parameters()
                        if k not in got or tuple(got[k].shape) != tuple(p.shape)]
        if missing:
            raise ModelUnavailableError(f"s2mel checkpoint {path} lacks {len(missing)} parameters "
                                        f"(first: {missing[:3]})")
        del state
        return load(model, optimizer, path, **kwargs)

    return loader


def _memoized(fn: Callable[..., Any], size: int = 8) -> Callable[..., Any]:
    """fn(tensors...) memoized on each tensor's storage, layout, version (and values when small, e.g.
    lengths). The entry holds the inputs, so their storage (the key) cannot be freed and reused."""
    cache: OrderedDict[tuple[Any, ...], tuple[Any, Any]] = OrderedDict()

    def key_of(x: Any) -> Any:
        if not hasattr(x, "untyped_storage"):
            return repr(x)
        if x.numel() <= 16:
            return ("values", tuple(x.flatten().tolist()), x.dtype)
        return (x.untyped_storage().data_ptr(), x.storage_offset(), tuple(x.shape), x.stride(), x.dtype, x._version)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = (tuple(key_of(a) for a in args), tuple((k, key_of(v)) for k, v in sorted(kwargs.items())))
        hit = cache.get(key)
        if hit is not None:
            cache.move_to_end(key)
            return hit[1]
        result = fn(*args, **kwargs)
        cache[key] = ((args, kwargs), result)
        while len(cache) > size:
            cache.popitem(last=False)
        return result

    return wrapper


def _semantic_model(secondary: precision.Precision, build: Callable[[str], Any]) -> Callable[[str], Any]:
    """w2v-bert in the compute format: loaded as bf16 (no fp32 copy of a bf16 file), its linear layers
    packed, the few other parameters (norms, convolutions) back to fp32."""

    def load(stats_path: str) -> Any:
        if secondary == "fp32":
            return build(stats_path)
        import torch
        from transformers import Wav2Vec2BertModel

        model = Wav2Vec2BertModel.from_pretrained("facebook/w2v-bert-2.0", torch_dtype=torch.bfloat16).eval()
        precision.pack_linears(model, secondary)
        model.float()
        stats = torch.load(stats_path, map_location="cpu")
        return model, stats["mean"], torch.sqrt(stats["var"])

    return load


def _lazy_semantic_model(secondary: precision.Precision) -> Callable[[str], Any]:
    """w2v-bert (580 M parameters) only computes a voice's conditioning, which is stored per voice:
    load it on the first voice that needs it, not at every cold start."""
    from indextts.utils import maskgct_utils

    def build(stats_path: str) -> Any:
        import torch

        stats = torch.load(stats_path, map_location="cpu")
        return (_LazyModule(lambda: _semantic_model(secondary, maskgct_utils.build_semantic_model)(stats_path)[0]),
                stats["mean"], torch.sqrt(stats["var"]))

    return build


class _LazyModule:
    """Stands for a torch module until it is first called; .to()/.eval() before that are no-ops (the
    inference code calls them at init, on CPU)."""

    def __init__(self, load: Callable[[], Any]) -> None:
        self._load = load
        self._real: Any = None

    def _module(self) -> Any:
        if self._real is None:
            try:
                self._real = self._load()
            except Exception as exc:
                raise ModelUnavailableError(f"w2v-bert could not be loaded: {type(exc).__name__}: {exc}") from exc
        return self._real

    def to(self, *_a: Any, **_kw: Any) -> _LazyModule:
        return self

    def eval(self) -> _LazyModule:
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._module()(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module(), name)


def _lazy(cls: type) -> Callable[[str], Any]:
    """QwenEmotion loads a ~1.2 GB model at init even when emotion-from-text is never asked for:
    defer it to the first use."""

    class LazyEmotionModel:
        def __init__(self, model_dir: str) -> None:
            self._model_dir = model_dir
            self._real: Any = None

        def __getattr__(self, name: str) -> Any:
            if self._real is None:
                try:
                    self._real = cls(self._model_dir)
                except Exception as exc:
                    raise ModelUnavailableError(f"the emotion model at {self._model_dir} could not be "
                                                f"loaded: {exc}") from exc
            return getattr(self._real, name)

    return LazyEmotionModel
