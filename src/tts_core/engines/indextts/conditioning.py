"""Each voice's speaker conditioning (what w2v-bert, the codec, CAMPPlus and the length regulator compute
from its reference), kept so a request skips them: in memory per reference (LRU by its sha256) and in
the VoiceStore per model fingerprint, for every later container.

The inference code keeps one voice's conditioning in attributes of the model (its own one-entry cache,
keyed by the prompt's path); restoring an entry puts it back there."""

from __future__ import annotations

import io
from collections import OrderedDict
from typing import Any

from tts_core.engines.voice_store import VoiceStore
from tts_core.errors import EngineError, TtsError
from tts_core.platform.observability import logger

_SPEAKER_CACHE = ("cache_spk_cond", "cache_s2mel_style", "cache_s2mel_prompt", "cache_mel")
_MEMORY_ENTRIES = 16  # a few MB each (mel + w2v features of <= 15 s)


class ConditioningMemo:
    def __init__(self, store: VoiceStore, persist: bool) -> None:
        self.store = store
        self.persist = persist  # False: memory only (never read or written in the store)
        self.fingerprint = ""  # the model's (files.model_fingerprint), set when it loads
        self._entries: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def clear(self) -> None:
        self._entries.clear()

    def restore(self, model: Any, voice_id: str, sha: str, path: str) -> bool:
        """Put a voice's precomputed speaker conditioning into the model's own cache, so infer()
        skips w2v-bert, the codec, CAMPPlus and the length regulator for this prompt."""
        if model.cache_spk_audio_prompt == path and model.cache_spk_cond is not None:
            return True
        entry = self._entries.get(sha)
        if entry is None and self.persist:
            entry = self._fetch(voice_id)
            if entry is not None:
                self._entries[sha] = entry
        if entry is None:
            return False
        self._entries.move_to_end(sha)
        for name in _SPEAKER_CACHE:
            setattr(model, name, entry[name])
        model.cache_spk_audio_prompt = path
        if entry.get("cache_emo_cond") is not None:
            model.cache_emo_cond = entry["cache_emo_cond"]
            model.cache_emo_audio_prompt = path
        return True

    def remember(self, model: Any, voice_id: str, sha: str, path: str, emo_is_speaker: bool) -> None:
        """Keep what the model computed for this prompt (its emotion conditioning too, when the
        speaker's own voice was the emotion reference)."""
        if sha in self._entries or model.cache_spk_audio_prompt != path:
            return
        entry = {name: getattr(model, name) for name in _SPEAKER_CACHE}
        entry["cache_emo_cond"] = model.cache_emo_cond if emo_is_speaker else None
        self._entries[sha] = entry
        while len(self._entries) > _MEMORY_ENTRIES:
            self._entries.popitem(last=False)
        if self.persist:
            self._put(voice_id, sha, entry)

    def _fetch(self, voice_id: str) -> dict[str, Any] | None:
        import torch

        try:
            blob = self.store.get_conditioning(voice_id, self.fingerprint)
            if blob is None:
                return None
            # weights_only: a stored object can hold tensors, never code.
            return dict(torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True))
        except TtsError as exc:
            logger.warning("stored conditioning unreadable; recomputing", extra={"error": exc.message})
        except Exception as exc:
            logger.warning("stored conditioning unreadable; recomputing", extra={"error": repr(exc)})
        return None

    def _put(self, voice_id: str, sha: str, entry: dict[str, Any]) -> None:
        import torch

        buf = io.BytesIO()
        torch.save({k: v for k, v in entry.items() if v is not None}, buf)
        try:
            self.store.put_conditioning(voice_id, self.fingerprint, buf.getvalue(), sha)
        except TtsError as exc:  # an optimisation: never fail a synthesis over it
            logger.warning("could not store conditioning", extra={"error": exc.message})


class _ConditioningReadyError(Exception):
    """Stops infer() once the speaker conditioning is computed."""


def compute_speaker_conditioning(model: Any, prompt: str) -> None:
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
