"""The engine interface. Engines turn a request into raw samples; everything around them
(audio contract, S3, errors for the state machine) is shared in `tts_core.pipeline.engine_task`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tts_core.deadline import Deadline
from tts_core.models import SynthesisRequest


@dataclass(frozen=True)
class EngineAudio:
    samples: np.ndarray  # int16 or float32, mono (1-D) or (frames, channels)
    sample_rate: int


class Engine(Protocol):
    name: str

    def synthesize(self, request: SynthesisRequest, deadline: Deadline) -> EngineAudio:
        """Return speech for the request, or raise a `tts_core.errors.TtsError` subclass."""
        ...
