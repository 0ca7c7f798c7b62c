"""IndexTTS-2.5 (`INDEXTTS_MODEL=indextts2.5`) behind the engine's adapter contract, on its own inference
code (`indextts25.infer_v2_5.IndexTTS2`, PyPI `indextts25-inference==0.2.0`, pinned in
requirements-indextts.txt beside indextts2-cli).

What the engine reads of a loaded model, and what `Model25` maps it to:
- `tokenizer.tokenize(text)`: the tiktoken vocabulary; empty when the text has nothing to pronounce
  (the package's own API refuses such text too).
- `infer(spk_audio_prompt=, text=, output_path=None, stream_return=True, ...)`: the generator form
  `infer_generator`, with the language (which 2.0 does not take) read from the text's script unless
  the caller passes `lang` (the engine does: its voice's, lang_for); emotion from text is refused (2.5
  ships no Qwen emotion model here).
- The one-voice conditioning cache of 2.0 (`cache_spk_cond`, `cache_s2mel_style`, ...), which
  conditioning.py restores and stores: mapped onto 2.5's own per-file caches (`_spk_cache`,
  `_emo_cache`), so a stored voice skips w2v-bert, CAMPPlus and the length regulator as on 2.0.
- `s2mel`, `gpt`, `bigvgan`: the same modules as 2.0 (hooks.py wraps `s2mel.models['cfm'].inference`,
  which 2.5 calls with the same arguments, and memoizes `gpt.get_emovec`).

Precision, as for 2.0 (precision.py): `precision.gpt_loader` replaces 2.5's GPT loader (the layer names
match: `gpt.h.*` and `mel_head` are the decoder, everything else the secondary format); 2.5's checkpoint
also carries the training `text_head`, which it ignores and so do we. s2mel, BigVGAN, the codec decoder and
w2v-bert are packed after construction with pack_linears/pack_convs (2.5 folds weight norm at load, so its
convolutions are plain Conv1d). 2.5's own `use_bf16` is off on CPU; ours is separate and is what runs.
w2v-bert (17 of its 24 layers) loads on the first voice whose conditioning is not stored, as for 2.0.

Text normalisation: WeTextProcessing (zh, en) caches its compiled grammars under XDG_CACHE_HOME, default
<model_dir>/../text_cache (the image bakes it; an unwritable, empty cache silently disables zh/en
normalisation in the package). NeMo (es, ar) is not installed (requirements-indextts.txt): Spanish and Arabic
text reaches the model unnormalised (digits as written; the package only warns). Japanese is cut into words by
fugashi with unidic-lite (installed); an install without a segmenter refuses it with ENGINE_LANGUAGE_UNSUPPORTED
(the package would raise ImportError inside inference).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from tts_core.engines import allocator
from tts_core.engines.indextts import files, loaders
from tts_core.engines.indextts import precision as precision_
from tts_core.engines.indextts.conditioning import ConditioningMemo
from tts_core.engines.indextts.decode import StaticKvDecoder
from tts_core.engines.indextts.environment import configure_torch, defer_unused_imports, prepare_environment
from tts_core.engines.indextts.hooks import RequestControls, install_hooks
from tts_core.engines.indextts.precision import patched_attr
from tts_core.engines.indextts.settings import MODELS, IndexTtsSettings
from tts_core.errors import EngineError, EngineLanguageError, InvalidInputError, ModelUnavailableError

MODEL = "indextts2.5"
TOKENIZER = "multilingual_zh_ja_yue_char_del"
# What IndexTTS2.__init__ reads besides config.yaml's own files, relative to model_dir.
AUX_FILES = ("codec.pth", f"{TOKENIZER}.tiktoken", "hf_cache/w2v-bert-2.0/config.json",
             "hf_cache/w2v-bert-2.0/preprocessor_config.json", "hf_cache/campplus_cn_common.bin",
             "hf_cache/bigvgan/config.json", "hf_cache/bigvgan/bigvgan_generator.pt")
W2V_WEIGHTS = "hf_cache/w2v-bert-2.0/model.safetensors"
# The languages 2.5 speaks (its tokenizer knows ~100 language tags; these it was trained and is normalised for).
LANGUAGES = ("zh", "en", "ja", "es", "ar")
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff]")
_ARABIC = re.compile(r"[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


def check_model(name: str) -> None:
    if name not in MODELS:
        raise ModelUnavailableError(f"IndexTTS misconfigured: model must be one of {', '.join(MODELS)}, not {name!r}")


def language_of(text: str) -> str:
    """2.5's `lang` from the script of the text: kana -> ja, Arabic -> ar, Han -> zh, else en. Script
    cannot tell Spanish from English: a caller that knows passes `lang`."""
    if _KANA.search(text):
        return "ja"
    if _ARABIC.search(text):
        return "ar"
    return "zh" if _HAN.search(text) else "en"


def lang_for(model: str, language: str | None) -> str | None:
    """What the engine passes as `lang` for a voice of this catalogue language (SynthesisRequest.language): with
    2.5 a language it speaks alone; None with 2.0 (its infer takes none) and for a zh-en voice (the script of
    each text decides, as language_of does)."""
    return language if model == MODEL and language in LANGUAGES else None


def model_files(model_dir: Path, cfg: Any, lazy_semantic_model: bool) -> list[Path]:
    """Every file a load reads; a missing one is named up front."""
    names = [cfg.gpt_checkpoint, cfg.s2mel_checkpoint, cfg.w2v_stat, cfg.emo_matrix, cfg.spk_matrix, *AUX_FILES]
    if not lazy_semantic_model:
        names.append(W2V_WEIGHTS)
    paths = [model_dir / str(name) for name in names]
    missing = [str(p) for p in paths if not p.is_file()]
    if lazy_semantic_model and not (model_dir / W2V_WEIGHTS).is_file():
        missing.append(str(model_dir / W2V_WEIGHTS))
    if missing:
        raise ModelUnavailableError(f"IndexTTS-2.5 files missing: {', '.join(missing)}")
    return paths


def build(settings: IndexTtsSettings, threads: int, controls: RequestControls,
          conditioning: ConditioningMemo) -> tuple[Model25, dict[str, Any], StaticKvDecoder | None]:
    """The loaded model, its precision report and its decoder (decode="static"); every failure a
    ModelUnavailableError (or EngineError for memory), as IndexTtsEngine._build does for 2.0."""
    check_model(settings.model)
    model_dir = settings.model_dir
    config_path = model_dir / "config.yaml"
    if not config_path.is_file():
        raise ModelUnavailableError(f"no IndexTTS-2.5 model at {model_dir} (config.yaml missing)")
    prepare_environment(settings)
    os.environ.setdefault("XDG_CACHE_HOME", str(model_dir.parent / "text_cache"))
    try:
        from omegaconf import OmegaConf

        cfg = OmegaConf.load(config_path)
    except Exception as exc:
        raise ModelUnavailableError(f"unreadable IndexTTS-2.5 config {config_path}: {exc}") from exc
    files.prefetch(files.native_libraries() + model_files(model_dir, cfg, settings.lazy_semantic_model))
    try:
        import torch

        defer_unused_imports()
        from indextts25 import infer_v2_5
    except ImportError as exc:
        raise ModelUnavailableError(f"IndexTTS-2.5 inference code is not installed: {exc}") from exc
    configure_torch(torch, threads)
    chosen, secondary, report = precision_.formats(settings.precision, "IndexTTS-2.5")
    report = {"model": MODEL, **report}
    conditioning.fingerprint = files.model_fingerprint(model_dir, model_dir / "hf_cache")
    try:
        with ExitStack() as stack:
            stack.enter_context(precision_.fast_construction())
            stack.enter_context(patched_attr(infer_v2_5, "load_checkpoint", _gpt_loader(chosen, secondary, report)))
            if settings.lazy_semantic_model:
                stack.enter_context(patched_attr(infer_v2_5, "Wav2Vec2BertModel",
                                                 _deferred_w2v(model_dir / W2V_WEIGHTS, secondary)))
            tts = infer_v2_5.IndexTTS2(cfg_path=str(config_path), model_dir=str(model_dir), use_bf16=False,
                                       device="cpu")
        report["s2mel_packed_layers"] = len(precision_.pack_linears(tts.s2mel, secondary))
        report["s2mel_packed_convs"] = precision_.pack_convs(tts.s2mel, secondary)
        report["vocoder_packed_convs"] = precision_.pack_convs(tts.bigvgan, secondary)
        report["codec_packed_layers"] = len(precision_.pack_linears(tts.semantic_codec, secondary))
        report["codec_packed_convs"] = precision_.pack_convs(tts.semantic_codec, secondary)
        if not settings.lazy_semantic_model:
            report["w2v_packed_layers"] = len(precision_.pack_linears(tts.semantic_model, secondary))
    except MemoryError as exc:
        raise EngineError("out of memory while loading IndexTTS-2.5") from exc
    except ModelUnavailableError:
        raise
    except Exception as exc:
        raise ModelUnavailableError(f"IndexTTS-2.5 could not be loaded: {type(exc).__name__}: {exc}") from exc
    model = Model25(tts)
    decoder = install_hooks(model, controls, settings.decode)
    report["decode"] = settings.decode
    allocator.release_free_memory()
    return model, report, decoder


def _gpt_loader(chosen: precision_.Precision, secondary: precision_.Precision,
                report: dict[str, Any]) -> Any:
    """precision.gpt_loader on 2.5's checkpoint, without the keys 2.5's model does not build (the training
    text head): its own loader ignores them, ours would call them unexpected."""
    inner = precision_.gpt_loader(chosen, secondary, report)

    def load(model: Any, path: str) -> None:
        import torch

        wanted = set(model.state_dict())
        real_load = torch.load

        def filtered(*args: Any, **kwargs: Any) -> Any:
            state = real_load(*args, **kwargs)
            state = state.get("model", state)
            return {k: v for k, v in state.items() if k in wanted}

        with patched_attr(torch, "load", filtered):
            inner(model, path)

    return load


def _deferred_w2v(weights: Path, secondary: precision_.Precision) -> Any:
    """Stands for transformers' Wav2Vec2BertModel in infer_v2_5: the model it builds and fills reads
    nothing until first called; then the 17 layers it uses are built and loaded (strict) from the file,
    their linears packed."""

    class DeferredW2v(loaders.LazyModule):
        def state_dict(self) -> dict[str, Any]:
            return {}  # infer_v2_5 reads exactly these keys from the file: none

        def load_state_dict(self, state: dict[str, Any], *_a: Any, **_kw: Any) -> None:
            assert not state

    def factory(config: Any) -> Any:
        def load() -> Any:
            from safetensors import safe_open
            from transformers import Wav2Vec2BertModel

            with precision_.fast_construction():
                model = Wav2Vec2BertModel(config)
            wanted = model.state_dict().keys()
            with safe_open(str(weights), "pt") as f:
                model.load_state_dict({k: f.get_tensor(k) for k in f.keys() if k in wanted})  # noqa: SIM118
            precision_.pack_linears(model, secondary)
            allocator.release_free_memory()
            return model.eval()

        return DeferredW2v(load)

    return factory


class _Tokenizer:
    def __init__(self, encoding: Any) -> None:
        self._encoding = encoding

    def tokenize(self, text: str) -> list[int]:
        """[] when nothing is pronounceable (only punctuation or emoji), as 2.5's API refuses it."""
        if not any(c.isalnum() for c in text):
            return []
        return list(self._encoding.encode(text, allowed_special="all"))


_SPEAKER = ("cache_spk_cond", "cache_s2mel_style", "cache_s2mel_prompt", "cache_mel")  # 2.5's _spk_cache tuple order


class Model25:
    """An IndexTTS-2.5 model (indextts25.infer_v2_5.IndexTTS2) as the engine uses a 2.0 one."""

    def __init__(self, tts: Any) -> None:
        object.__setattr__(self, "tts", tts)
        object.__setattr__(self, "tokenizer", _Tokenizer(tts.tokenizer))
        object.__setattr__(self, "gr_progress", None)
        object.__setattr__(self, "_spk_path", None)
        object.__setattr__(self, "_emo_path", None)
        object.__setattr__(self, "_staged", {})
        # hooks.install_hooks memoizes 2.0's two conditioning encoders by name. 2.5 has only the emotion
        # one (get_emovec); its speaker conditioning is CAMPPlus's style through spk_emb_proj, one small
        # linear called directly by inference_speech: the name stands for it and memoizing it is harmless.
        gpt = tts.gpt
        if not hasattr(gpt, "get_conditioning"):
            gpt.get_conditioning = lambda style: gpt.spk_emb_proj(style)

    def __getattr__(self, name: str) -> Any:  # s2mel, gpt, bigvgan, semantic_codec, ...
        return getattr(self.tts, name)

    # ---- 2.0's one-voice conditioning cache, on 2.5's per-file caches --------------------------
    def _key(self, path: str | None) -> Any:
        from indextts25.infer_v2_5 import _audio_key

        if path is None:
            return None
        try:
            return _audio_key(path)
        except OSError:
            return None

    @property
    def cache_spk_audio_prompt(self) -> str | None:
        key = self._key(self._spk_path)
        return self._spk_path if key is not None and key in self.tts._spk_cache else None

    @property
    def cache_emo_audio_prompt(self) -> str | None:
        key = self._key(self._emo_path)
        return self._emo_path if key is not None and key in self.tts._emo_cache else None

    @property
    def cache_emo_cond(self) -> Any:
        return self.tts._emo_cache.get(self._key(self._emo_path))

    def __setattr__(self, name: str, value: Any) -> None:
        """conditioning.restore sets the four speaker tensors, then the prompt's path (which files them
        in 2.5's cache), then the emotion tensor and its path."""
        from indextts25.infer_v2_5 import _cache_put

        if name in _SPEAKER or name == "cache_emo_cond":
            self._staged[name] = value
        elif name == "cache_spk_audio_prompt":
            if all(n in self._staged for n in _SPEAKER):
                _cache_put(self.tts._spk_cache, self._key(value), tuple(self._staged.pop(n) for n in _SPEAKER))
            object.__setattr__(self, "_spk_path", value)
        elif name == "cache_emo_audio_prompt":
            if "cache_emo_cond" in self._staged:
                _cache_put(self.tts._emo_cache, self._key(value), self._staged.pop("cache_emo_cond"))
            object.__setattr__(self, "_emo_path", value)
        else:
            object.__setattr__(self, name, value)

    def __getattribute__(self, name: str) -> Any:
        if name in _SPEAKER:
            tts = object.__getattribute__(self, "tts")
            entry = tts._spk_cache.get(object.__getattribute__(self, "_key")(
                object.__getattribute__(self, "_spk_path")))
            return None if entry is None else entry[_SPEAKER.index(name)]
        return object.__getattribute__(self, name)

    # ---- synthesis --------------------------------------------------------------------------------
    def infer(self, spk_audio_prompt: str, text: str, output_path: str | None = None, stream_return: bool = True,
              **kwargs: Any) -> Iterator[Any]:
        """2.0's `infer(..., stream_return=True)` on 2.5: each segment's audio, then a silence, as int16-range
        float tensors (1, n) at 22,050 Hz (2.5 yields no silence after the last segment: an empty one stands
        for it). With gr_progress set (conditioning.compute_speaker_conditioning),
        computes the voice's conditioning and reports 0.1 as 2.0 does, before any text."""
        if output_path is not None or not stream_return:
            raise ValueError("Model25.infer streams only (output_path=None, stream_return=True)")
        if kwargs.pop("use_emo_text", False) or kwargs.pop("emo_text", None):
            raise InvalidInputError("emotion from text is not available with IndexTTS-2.5 (it has no emotion-text "
                                    "model here): give an emotion vector or a reference voice")
        lang = kwargs.pop("lang", None) or language_of(text)
        if lang == "ja":
            self._check_japanese()
        emo_prompt = kwargs.get("emo_audio_prompt") or spk_audio_prompt
        object.__setattr__(self, "_spk_path", spk_audio_prompt)
        object.__setattr__(self, "_emo_path", emo_prompt)
        return self._stream(spk_audio_prompt, text, lang, emo_prompt, kwargs)

    def _check_japanese(self) -> None:
        """2.5 cuts Japanese into words with fugashi (or MeCab) before its tokenizer, every time; without one its
        inference raises ImportError mid-request. Refused here with a stable code instead, for an install without
        them (requirements-indextts.txt and the image hold fugashi); the package keeps the segmenter once it loads."""
        try:
            self.tts.ja_text_process  # noqa: B018 - the property loads it
        except (ImportError, RuntimeError) as exc:
            raise EngineLanguageError("IndexTTS-2.5 speaks Japanese only with a Japanese word segmenter (fugashi "
                                      "and unidic-lite, or MeCab), which this install does not hold",
                                      detail=type(exc).__name__) from exc

    def _stream(self, prompt: str, text: str, lang: str, emo_prompt: str, kwargs: dict[str, Any]) -> Iterator[Any]:
        tts = self.tts
        if self.gr_progress is not None:
            import torch

            with torch.no_grad():
                tts._speaker_conditioning(prompt, self._key(prompt))
                tts._emotion_conditioning(emo_prompt, self._key(emo_prompt))
            self.gr_progress(0.1, "text processing")
        last = None
        for last in tts.infer_generator(prompt, text, None, lang, stream_return=True, **kwargs):
            yield last
        if last is not None:  # 2.0 yields a silence after every segment, the last too (the engine drops it)
            yield last.new_zeros(1, 0)
