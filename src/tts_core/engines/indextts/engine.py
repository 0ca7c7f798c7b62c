"""IndexTtsEngine: IndexTTS-2 loaded once per container and reused, one inference at a time.

- Loaded on the first request, not at import (Lambda's init phase is 10 s). Offline by construction
  (environment.py). Compute precision chosen at load from the CPU's flags (precision.py, override
  INDEXTTS_PRECISION); torch threads = the vCPUs this process may use, denormals flushed.
- Cold load: no random initialisation, checkpoints mmap'd, reduced-precision layers built straight from
  the files (never a view of them: it would keep the whole file resident), the heap trimmed after;
  w2v-bert (only needed to compute a new voice's conditioning, 2.3 GB in fp32) loads on first use, like
  the Qwen emotion model (loaders.py). The conditioning encoders' outputs are memoized per voice.
- Speaker references come from a VoiceStore (the composition root passes one); each voice's speaker
  conditioning is kept in memory and in that store (conditioning.py).
- Text is synthesized through the generator form of `infer`, whose segments are joined exactly as
  `infer(output_path=None)` joins them; the deadline is checked inside inference (hooks.py).
- Errors: weights or inference code missing/corrupt -> ModelUnavailableError (non-retryable; the
  state machine goes to the fallback); text the tokenizer cannot take -> InvalidInputError; anything
  failing inside inference (incl. out of memory) -> EngineError; deadline -> EngineTimeoutError.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tts_core.catalogue import is_catalogue_voice
from tts_core.deadline import Deadline
from tts_core.engines import EngineAudio, allocator
from tts_core.engines.indextts import files, loaders, v2_5
from tts_core.engines.indextts import precision as precision_
from tts_core.engines.indextts.conditioning import ConditioningMemo, compute_speaker_conditioning
from tts_core.engines.indextts.decode import DecodeStats, StaticKvDecoder
from tts_core.engines.indextts.environment import configure_torch, defer_unused_imports, prepare_environment, vcpus
from tts_core.engines.indextts.hooks import DeadlineExceededError, RequestControls, install_hooks
from tts_core.engines.indextts.precision import patched_attr
from tts_core.engines.indextts.settings import SAMPLE_RATE, IndexTtsSettings, Profile
from tts_core.engines.voice_store import VoiceStore
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
from tts_core.platform.observability import logger


class IndexTtsEngine:
    name = "primary"

    def __init__(self, settings: IndexTtsSettings, voices: VoiceStore) -> None:
        self.settings = settings
        self.voices = voices
        self.conditioning = ConditioningMemo(voices, persist=settings.store_conditioning)
        self._model: Any = None
        self._load_error: ModelUnavailableError | None = None
        self._lock = threading.Lock()  # the model keeps per-prompt state: one inference at a time
        self._controls = RequestControls()
        self.load_seconds: float | None = None
        self.precision_report: dict[str, Any] = {}
        self.last_stats: dict[str, Any] = {}
        self.decoder: StaticKvDecoder | None = None

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
        if settings.model != "indextts2":  # IndexTTS-2.5, or ModelUnavailableError for an unknown model
            model, self.precision_report, self.decoder = v2_5.build(settings, self._threads(), self._controls,
                                                                    self.conditioning)
            return model
        config_path = settings.model_dir / "config.yaml"
        if not config_path.is_file():
            raise ModelUnavailableError(f"no IndexTTS-2 model at {settings.model_dir} (config.yaml missing)")
        prepare_environment(settings)
        files.prefetch(files.native_libraries() + files.weight_files(settings.model_dir, config_path,
                                                                     settings.lazy_semantic_model))
        try:
            import torch

            defer_unused_imports()
            from indextts import infer_v2
        except ImportError as exc:
            raise ModelUnavailableError(f"IndexTTS-2 inference code is not installed: {exc}") from exc
        configure_torch(torch, self._threads())
        chosen, secondary, report = precision_.formats(settings.precision, "IndexTTS-2")
        self.conditioning.fingerprint = files.model_fingerprint(settings.model_dir, Path(os.environ["HF_HUB_CACHE"]))
        semantic = loaders.lazy_semantic_model(secondary) if settings.lazy_semantic_model else \
            loaders.semantic_model(secondary, infer_v2.build_semantic_model)
        emotion = loaders.lazy_emotion_model(infer_v2.QwenEmotion) if settings.lazy_emotion_model else \
            infer_v2.QwenEmotion
        s2mel_loader = loaders.checked_s2mel_loader(infer_v2.load_checkpoint2)
        try:
            with precision_.fast_construction(), loaders.deferred_weight_norm(), loaders.stored_fsts_as_written(), \
                    patched_attr(infer_v2, "load_checkpoint", precision_.gpt_loader(chosen, secondary, report)), \
                    patched_attr(infer_v2, "build_semantic_model", semantic), \
                    patched_attr(infer_v2, "load_checkpoint2", s2mel_loader), \
                    patched_attr(infer_v2, "QwenEmotion", emotion):
                model = infer_v2.IndexTTS2(cfg_path=str(config_path), model_dir=str(settings.model_dir),
                                           use_fp16=False, device="cpu")
            # s2mel's DiT and length regulator: compute-bound GEMMs and convolutions.
            report["s2mel_packed_layers"] = len(precision_.pack_linears(model.s2mel, secondary))
            report["s2mel_packed_convs"] = precision_.pack_convs(model.s2mel, secondary)
            # BigVGAN: its dense convolutions (the anti-aliasing filters are depthwise and stay fp32).
            report["vocoder_packed_convs"] = precision_.pack_convs(model.bigvgan, secondary)
        except MemoryError as exc:
            raise EngineError("out of memory while loading IndexTTS-2") from exc
        except ModelUnavailableError:
            raise
        except Exception as exc:
            # Missing hub files (offline), unreadable or mismatched checkpoints (strict loaders), a
            # broken install: none of them is cured by a retry on this container.
            raise ModelUnavailableError(f"IndexTTS-2 could not be loaded: {type(exc).__name__}: {exc}") from exc
        self.decoder = install_hooks(model, self._controls, settings.decode)
        report["decode"] = settings.decode
        allocator.release_free_memory()
        self.precision_report = report
        return model

    # ---- voices --------------------------------------------------------------------------------
    def _prompt(self, voice_id: str) -> tuple[str, Path]:
        """(sha256, local path) of the voice's reference."""
        try:
            return self.voices.local_prompt(voice_id)
        except NotFoundError as exc:
            if not is_catalogue_voice(voice_id):  # a custom voice deleted (or never made)
                raise VoiceNotFoundError(f"unknown voice '{quoted(voice_id)}'") from exc
            # A catalogue voice not bootstrapped yet: non-retryable, the fallback serves the voice.
            raise ModelUnavailableError(exc.message) from exc

    def prepare_voice(self, voice_id: str, deadline: Deadline) -> None:
        """Compute and store a voice's speaker conditioning without synthesizing speech (a voice is
        prepared when it is made: tts_core.voices.prepare)."""
        with self._lock:
            model = self.load()
            sha, prompt = self._prompt(voice_id)
            if self.conditioning.restore(model, voice_id, sha, str(prompt)):
                return
            try:
                with self._controls.request(deadline):
                    compute_speaker_conditioning(model, str(prompt))
            except DeadlineExceededError:
                raise EngineTimeoutError("IndexTTS-2 did not prepare the voice within the deadline",
                                         detail="Deadline") from None
            except Exception as exc:
                raise EngineError(f"IndexTTS-2 could not prepare voice '{quoted(voice_id)}': {type(exc).__name__}: "
                                  f"{exc}") from exc
            self.conditioning.remember(model, voice_id, sha, str(prompt), True)

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

        sha, prompt = self._prompt(request.voice)
        kwargs: dict[str, Any] = {}
        if (lang := v2_5.lang_for(self.settings.model, request.language)) is not None:
            kwargs["lang"] = lang  # the voice's: 2.5 cannot tell Spanish from English (nor kanji from hanzi) by script
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
        restored = self.conditioning.restore(model, request.voice, sha, str(prompt))

        s2mel = None if profile == "quality" else (gen["diffusion_steps"], gen["cfg_rate"])
        if self.decoder is not None:
            self.decoder.stats = DecodeStats()
        started = time.monotonic()
        pieces: list[Any] = []
        try:
            with self._controls.request(deadline, s2mel):
                stream = model.infer(
                    spk_audio_prompt=str(prompt), text=request.text, output_path=None, stream_return=True,
                    max_text_tokens_per_segment=self.settings.max_text_tokens_per_segment,
                    num_beams=gen["num_beams"], max_mel_tokens=gen["max_mel_tokens"],
                    stopping_criteria=self._controls.stopping_criteria(),
                    **kwargs, **self.settings.extra_generation_kwargs)
                pieces = list(_segments(stream))
        except (DeadlineExceededError, EngineTimeoutError):
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
        if not pieces:
            raise EngineError("IndexTTS-2 returned no audio")
        self.conditioning.remember(model, request.voice, sha, str(prompt), emo_is_speaker)
        wav = torch.cat(pieces, dim=1).type(torch.int16).numpy().reshape(-1)  # as infer() casts it
        self.last_stats = {"profile": profile, **gen, "conditioning_reused": restored,
                           "infer_s": round(time.monotonic() - started, 3), "segments": (len(pieces) + 1) // 2,
                           "audio_s": round(wav.size / SAMPLE_RATE, 3)}
        if self.decoder is not None:
            stats = self.decoder.stats
            self.last_stats.update(decode_steps=stats.steps, decode_s=round(stats.steps_s, 3),
                                   decode_cpu_s=round(stats.steps_cpu_s, 3),
                                   prefill_s=round(stats.prefill_s, 3), decode_fallback=stats.fallback or None)
        logger.info("IndexTTS-2 synthesized", extra=self.last_stats)
        return EngineAudio(samples=np.ascontiguousarray(wav), sample_rate=SAMPLE_RATE)


def _segments(stream: Iterator[Any]) -> Iterator[Any]:
    """The generator form of infer() yields each segment's audio, then a silence; the last silence
    is dropped so the result equals infer()'s (silences between segments only)."""
    pending = None
    for piece in stream:
        if pending is not None:
            yield pending
        pending = piece
    # `pending` is the trailing silence (or None when nothing came). No deadline check here: the
    # next segment's first GPT step checks it, and a finished last segment is not thrown away.
