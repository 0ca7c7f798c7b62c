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
from typing import Any

import numpy as np
import pytest

from tts_core.deadline import Deadline
from tts_core.engines.indextts.engine import IndexTtsEngine
from tts_core.engines.indextts.settings import IndexTtsSettings
from tts_core.errors import EngineLanguageError, InvalidInputError, ModelUnavailableError, NotFoundError
from tts_core.models import SynthesisRequest

pytestmark = pytest.mark.heavy

MAX_MEL_TOKENS = 20  # a random GPT never emits its stop token: 20 codes at 25/s = 40 frames at 50 Hz
# infer_v2_5: the codec doubles the codes to 50 Hz, target_lengths = frames * 1.72 mel frames; hop 256.
SEGMENT_SAMPLES = int(2 * MAX_MEL_TOKENS * 1.72) * 256
TEXT = "你好, hello world"


class _Voices:
    """A VoiceStore in memory: one prompt registered for `voices`, conditioning kept per fingerprint."""

    def __init__(self, prompt: Path, voices: tuple[str, ...] = ("zh-female",)) -> None:
        self.prompt = prompt
        self.voices = voices
        self.conditioning: dict[tuple[str, str], bytes] = {}

    def local_prompt(self, voice_id: str) -> tuple[str, Path]:
        if voice_id not in self.voices:
            raise NotFoundError(f"no voice {voice_id}")
        return f"sha-{voice_id}", self.prompt

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
        yield IndexTtsEngine(settings, _Voices(tiny25 / "prompt.wav", ("zh-female", "ar-female", "ja-female")))


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


def test_indextts25_speaks_arabic_for_an_arabic_voice(engine25: IndexTtsEngine) -> None:
    """Arabic reaches 2.5 as written (its package normalises no Arabic; NeMo is not installed anyway)."""
    request = SynthesisRequest(text="مرحبا بالعالم", voice="ar-female", language="ar")
    audio = engine25.synthesize(request, Deadline.in_seconds(300))
    assert audio.samples.size == SEGMENT_SAMPLES and np.abs(audio.samples.astype(np.float64)).mean() > 10


def test_indextts25_speaks_japanese_with_kanji_for_a_japanese_voice(engine25: IndexTtsEngine) -> None:
    """Kana and kanji through 2.5's own Japanese path: fugashi + unidic-lite (requirements-indextts.txt) cut
    the words before its tokenizer (without them the adapter refuses: the double below)."""
    request = SynthesisRequest(text="今日は東京へ行きます", voice="ja-female", language="ja")
    audio = engine25.synthesize(request, Deadline.in_seconds(300))
    assert audio.samples.size == SEGMENT_SAMPLES and np.abs(audio.samples.astype(np.float64)).mean() > 10


# ---- the adapter contract on a double of 2.5's IndexTTS2 object (no weights): what `lang` it is given ----

class _Fake25:
    """What Model25 and the engine read of indextts25.infer_v2_5.IndexTTS2; records each inference's lang."""

    def __init__(self, segmenter: bool = True) -> None:
        import torch

        self.tokenizer = type("Enc", (), {"encode": lambda _s, text, allowed_special="all": [1] * len(text)})()
        self.gpt = type("Gpt", (), {"spk_emb_proj": staticmethod(lambda style: style)})()
        self._spk_cache: dict[Any, Any] = {}
        self._emo_cache: dict[Any, Any] = {}
        self.segmenter = segmenter
        self.langs: list[str] = []
        self._torch = torch

    @property
    def ja_text_process(self) -> Any:
        if not self.segmenter:
            raise ImportError("Please install fugashi")
        return object()

    def infer_generator(self, prompt: str, text: str, output_path: None, lang: str, **_kw: Any) -> Iterator[Any]:
        self.langs.append(lang)
        yield self._torch.full((1, 100), 1000.0)


@pytest.fixture
def fake25(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[IndexTtsEngine, _Fake25]]:
    pytest.importorskip("torch")
    if importlib.util.find_spec("indextts25") is None:
        pytest.skip("the IndexTTS-2.5 inference code (indextts25-inference) is not installed")
    from tts_core.engines.indextts import v2_5

    tts = _Fake25()
    monkeypatch.setattr(v2_5, "build", lambda *_a: (v2_5.Model25(tts), {}, None))
    prompt = tmp_path / "prompt.wav"
    prompt.write_bytes(b"RIFF")
    settings = IndexTtsSettings(model_dir=tmp_path, model="indextts2.5", store_conditioning=False)
    yield IndexTtsEngine(settings, _Voices(prompt, ("es-male", "zh-female", "ja-female"))), tts


@pytest.mark.parametrize(("text", "voice", "language", "lang"), [
    ("Hola, tengo tres gatos.", "es-male", "es", "es"),  # Latin: the voice, not the script, says Spanish
    ("東京", "ja-female", "ja", "ja"),  # kanji alone: Japanese for a ja voice, not Chinese
    ("你好 hello", "zh-female", "zh-en", "zh"),  # a mixed voice: the script decides (language_of)
    ("hello", "zh-female", None, "en"),  # no language known (a probe): the script decides
])
def test_the_engine_gives_25_its_voices_language(fake25: tuple[IndexTtsEngine, _Fake25], text: str, voice: str,
                                                 language: str | None, lang: str) -> None:
    engine, tts = fake25
    engine.synthesize(SynthesisRequest(text=text, voice=voice, language=language), Deadline.in_seconds(30))
    assert tts.langs == [lang]


def test_japanese_without_a_segmenter_is_refused_before_inference(fake25: tuple[IndexTtsEngine, _Fake25]) -> None:
    engine, tts = fake25
    tts.segmenter = False
    with pytest.raises(EngineLanguageError):
        engine.synthesize(SynthesisRequest(text="とうきょう", voice="ja-female", language="ja"),
                          Deadline.in_seconds(30))
    assert tts.langs == []


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
