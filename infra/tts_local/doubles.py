"""Engine test doubles: they stand at the engine interface only, so the engine-task runner, the
audio contract, S3 and the state machine around them all run for real."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from tts_core.deadline import Deadline
from tts_core.engines import EngineAudio
from tts_core.errors import TtsError
from tts_core.models import SynthesisRequest
from tts_core.voices import registry


class ToneEngine:
    """Speaks a tone whose length (and, with `seconds_per_char`, cost) grows with the text.

    `failures` are raised one per call, in order, before it starts to succeed; `fail_on` maps a marker
    to an error raised by every call whose text contains it (one failing segment of a long text);
    `silent_on` maps a marker to the level of the white noise it answers instead of speech (0: silence)."""

    def __init__(self, name: str, *, rate: int = 24000, seconds_per_char: float = 0.0,
                 failures: Iterable[TtsError] = (), fail_on: Mapping[str, TtsError] | None = None,
                 silent_on: Mapping[str, float] | None = None) -> None:
        self.name = name
        self.rate = rate
        self.seconds_per_char = seconds_per_char
        self._failures = list(failures)
        self.fail_on = dict(fail_on or {})
        self.silent_on = dict(silent_on or {})
        self._lock = threading.Lock()
        self.calls: list[SynthesisRequest] = []

    def synthesize(self, request: SynthesisRequest, deadline: Deadline) -> EngineAudio:
        with self._lock:
            self.calls.append(request)
            failure = self._failures.pop(0) if self._failures else None
        failure = failure or next((e for marker, e in self.fail_on.items() if marker in request.text), None)
        if failure is not None:
            raise failure
        if self.seconds_per_char:
            time.sleep(min(self.seconds_per_char * len(request.text), deadline.remaining()))
        seconds = 0.25 + 0.06 * len(request.text)
        level = next((v for marker, v in self.silent_on.items() if marker in request.text), None)
        if level is not None:
            noise = np.random.default_rng(7).standard_normal(int(self.rate * seconds)).astype(np.float32)
            return EngineAudio(samples=noise * np.float32(level), sample_rate=self.rate)
        t = np.arange(int(self.rate * seconds)) / self.rate
        # A quiet two-tone signal: the contract's loudness matching must bring it up to level.
        samples = 0.05 * np.sin(2 * np.pi * 220 * t) + 0.02 * np.sin(2 * np.pi * 330 * t)
        return EngineAudio(samples=samples.astype(np.float32), sample_rate=self.rate)


class PreparingToneEngine(ToneEngine):
    """A ToneEngine that also prepares voices as the primary does (tts_core.voices.prepare): it stores a
    stand-in speaker conditioning for the voice's reference, so the voice becomes primary-ready."""

    MODEL = "tone-double"

    def __init__(self, name: str = "primary", **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.prepared: list[str] = []

    def prepare_voice(self, voice_id: str, deadline: Deadline) -> None:
        bucket = os.environ["BUCKET_NAME"]
        record = registry.get_record(bucket, voice_id)
        registry.put_conditioning(bucket, voice_id, self.MODEL, record.sha256.encode(), record.sha256)
        self.prepared.append(voice_id)
