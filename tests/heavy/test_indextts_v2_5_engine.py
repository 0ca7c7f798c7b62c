"""The primary engine with INDEXTTS_MODEL=indextts2.5: the REAL IndexTTS-2.5 inference code (PyPI
indextts25-inference, pinned) on tiny random weights of its architecture in its published file layout
(tts_local.tiny_indextts25), loaded as production loads it (IndexTtsEngine), offline.

Run in the IndexTTS venv (`make test-heavy`). The weights are built once per builder/package version into
.cache/ (a subprocess, as for 2.0: huggingface_hub and transformers read their environment at import).
This module's name sorts after test_indextts_engine.py on purpose: the 2.0 engine must be the first in the
process to import huggingface_hub (it reads HF_HUB_CACHE then); 2.5 reads no hub cache.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tts_core.deadline import Deadline
from tts_core.engines.indextts.engine import IndexTtsEngine
from tts_core.engines.indextts.settings import IndexTtsSettings
from tts_core.errors import InvalidInputError, ModelUnavailableError, NotFoundError
from tts_core.models import SynthesisRequest

pytestmark = pytest.mark.heavy

MAX_MEL_TOKENS = 20  # a random GPT never emits its stop token: 20 codes at 25/s = 40 frames at 50 Hz
# infer_v2_5: the codec doubles the codes to 50 Hz, target_lengths = frames * 1.72 mel frames; hop 256.
SEGMENT_SAMPLES = int(2 * MAX_MEL_TOKENS * 1.72) * 256
TEXT = "你好, hello world"


class _Voices:
    """A VoiceStore in memory: one registered prompt, conditioning kept per fingerprint."""

    def __init__(self, prompt: Path) -> None:
        self.prompt = prompt
        self.conditioning: dict[tuple[str, str], bytes] = {}

    def local_prompt(self, voice_id: str) -> tuple[str, Path]:
        if voice_id != "zh-female":
            raise NotFoundError(f"no voice {voice_id}")
        return "sha-zh-female", self.prompt

    def get_conditioning(self, voice_id: str, fingerprint: str) -> bytes | None:
        return self.conditioning.get((voice_id, fingerprint))

    def put_conditioning(self, voice_id: str, fingerprint: str, blob: bytes, sha256: str) -> None:
        self.conditioning[(voice_id, fingerprint)] = blob


@pytest.fixture(scope="module")
def tiny25() -> Path:
    pytest.importorskip("torch")
    if importlib.util.find_spec("indextts25") is None:
        pytest.skip("the IndexTTS-2.5 inference code (indextts25-inference) is not installed")
    code = "from tts_local.tiny_indextts25 import ensure_model; print(ensure_model())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def engine25(tiny25: Path) -> Iterator[IndexTtsEngine]:
    settings = IndexTtsSettings(model_dir=tiny25 / "checkpoints", model="indextts2.5",
                                max_mel_tokens=MAX_MEL_TOKENS, fast_diffusion_steps=3)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("XDG_CACHE_HOME", str(tiny25 / "text_cache"))  # where the builder compiled the normalisers
        yield IndexTtsEngine(settings, _Voices(tiny25 / "prompt.wav"))


def test_indextts25_synthesizes_real_audio(engine25: IndexTtsEngine) -> None:
    audio = engine25.synthesize(SynthesisRequest(text=TEXT, voice="zh-female"), Deadline.in_seconds(300))
    assert audio.sample_rate == 22050
    assert audio.samples.dtype == np.int16
    assert audio.samples.size == SEGMENT_SAMPLES  # one segment of MAX_MEL_TOKENS codes
    assert np.abs(audio.samples.astype(np.float64)).mean() > 10  # not silence
    # 2.5's GPT is 2.0's GPT2InferenceModel: decode.py decodes it (no fallback to generate())
    assert engine25.last_stats["decode_fallback"] is None and engine25.last_stats["decode_steps"] > 0
    report = engine25.precision_report
    assert report["model"] == "indextts2.5"
    assert report["gpt_decoder_bytes"] > 0
    if report["precision"] != "fp32":  # the decoder and the other linears in the reduced formats
        assert report["gpt_packed_layers"] > 0 and report["s2mel_packed_layers"] > 0
    # The voice's conditioning was computed (w2v-bert loaded on first use) and stored for later containers.
    assert engine25.voices.conditioning, "speaker conditioning not stored"


def test_indextts25_restores_stored_conditioning(engine25: IndexTtsEngine) -> None:
    """A new container (empty in-memory caches) restores the voice from the store (filled by the test
    above): no w2v-bert run."""
    model = engine25.load()
    model.tts._spk_cache.clear()
    model.tts._emo_cache.clear()
    engine25.conditioning.clear()
    calls: list[int] = []
    real = model.tts.get_emb
    model.tts.get_emb = lambda *a, **kw: calls.append(1) or real(*a, **kw)
    try:
        audio = engine25.synthesize(SynthesisRequest(text="hello", voice="zh-female"), Deadline.in_seconds(300))
    finally:
        model.tts.get_emb = real
    assert engine25.last_stats["conditioning_reused"] is True
    assert calls == []
    assert audio.samples.size == SEGMENT_SAMPLES


def test_indextts25_refuses_text_with_nothing_to_say_and_emotion_text(engine25: IndexTtsEngine) -> None:
    with pytest.raises(InvalidInputError):
        engine25.synthesize(SynthesisRequest(text="……!!", voice="zh-female"), Deadline.in_seconds(60))
    with pytest.raises(InvalidInputError, match="emotion from text"):
        engine25.synthesize(SynthesisRequest(text="hello", voice="zh-female", emotion={"text": "happy"}),
                            Deadline.in_seconds(60))


def test_unknown_model_is_model_unavailable(tiny25: Path) -> None:
    engine = IndexTtsEngine(IndexTtsSettings(model_dir=tiny25 / "checkpoints", model="indextts3"),
                            _Voices(tiny25 / "prompt.wav"))
    with pytest.raises(ModelUnavailableError, match=re.escape("indextts2, indextts2.5")):
        engine.load()
    with pytest.raises(ModelUnavailableError):  # remembered: fails fast the second time
        engine.load()


def test_indextts25_missing_file_is_named(tiny25: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "checkpoints"
    model_dir.mkdir()
    for entry in (tiny25 / "checkpoints").iterdir():
        if entry.name != "codec.pth":
            os.symlink(entry, model_dir / entry.name)
    engine = IndexTtsEngine(IndexTtsSettings(model_dir=model_dir, model="indextts2.5"), _Voices(tiny25 / "prompt.wav"))
    with pytest.raises(ModelUnavailableError, match=re.escape("codec.pth")):
        engine.load()
