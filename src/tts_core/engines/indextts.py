"""The primary engine: IndexTTS-2 on CPU, through its own inference code (`indextts.infer_v2`).

The model is loaded on the first request, not at import (Lambda's init phase is 10 s), and kept
for the life of the container."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tts_core.engines import Deadline, EngineAudio
from tts_core.errors import ModelUnavailableError
from tts_core.models import SynthesisRequest

Profile = Literal["quality", "fast"]


@dataclass(frozen=True)
class IndexTtsSettings:
    model_dir: Path
    profile: Profile = "fast"


class IndexTtsEngine:
    name = "primary"

    def __init__(self, settings: IndexTtsSettings) -> None:
        self.settings = settings
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                config_path = self.settings.model_dir / "config.yaml"
                if not config_path.is_file():
                    raise ModelUnavailableError(f"no IndexTTS-2 model at {self.settings.model_dir}")
                try:
                    from indextts.infer_v2 import IndexTTS2
                except ImportError as exc:
                    raise ModelUnavailableError(f"IndexTTS-2 inference code is not installed: {exc}") from exc
                self._model = IndexTTS2(cfg_path=str(config_path), model_dir=str(self.settings.model_dir),
                                        use_fp16=False, device="cpu")
            return self._model

    def synthesize(self, request: SynthesisRequest, deadline: Deadline) -> EngineAudio:
        self._load()
        raise ModelUnavailableError("IndexTTS-2 inference is not wired yet")
