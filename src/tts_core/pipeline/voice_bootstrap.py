"""Catalogue voices out of the box: each one's primary reference is recorded by the fallback engine in
that voice's own Sambert voice, so a failover keeps the timbre.

For every catalogue voice, in order of precedence:
1. an operator-supplied recording (`voice-references/<id>.<wav|flac|ogg|mp3>` in the bucket, or
   `<id>.<ext>` in a folder of the image, VOICE_REFERENCE_DIR) becomes its reference;
2. a voice that already has a reference keeps it (idempotent: a re-run costs one GET per voice);
3. otherwise the fallback engine speaks BOOTSTRAP_TEXTS[language] (8-15 s of phonetically rich text)
   in the voice's Sambert voice, retried on transient errors; the registry's checks validate it. A voice
   Sambert has no voice for (IndexTTS-2.5's Japanese, Arabic, male Spanish: tts_core.catalogue) is recorded
   as its `reference_from` voice is, in that voice's language: IndexTTS takes the timbre from a reference
   in any language, and the primary, the only engine that speaks it in that timbre, has a reference out of
   the box (else every request for it would fail on the primary, and count against it).
Then the primary prepares every voice whose speaker conditioning is not ready (when it can load).
Failures never raise: each voice's outcome, with a stable code and why, goes to the report
(`voices/_bootstrap.json`), which GET /api/voices and /api/health read.

Runs as a CloudFormation custom resource on deploy (functions/voice_bootstrap), from the operator route
POST /api/voices/bootstrap, and locally from `tts-local voices bootstrap` and at local stack start.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tts_core.audio import AudioContract
from tts_core.catalogue import Language, Voice, get_voice, list_voices
from tts_core.deadline import Deadline
from tts_core.engines import Engine
from tts_core.errors import NotFoundError, TtsError
from tts_core.models import SynthesisRequest
from tts_core.platform import storage
from tts_core.platform.observability import logger
from tts_core.voices import registry
from tts_core.voices.bootstrap_report import BootstrapReport, VoiceOutcome, write_report
from tts_core.voices.registry import Preparation, Source, VoiceRecord

# ~10-12 s of speech each at Sambert's normal rate; every vowel and most consonant classes (pangrams).
BOOTSTRAP_TEXTS: dict[Language, str] = {
    "zh-en": "今天天气晴朗，我们一起去公园散步，看看湖边的花草和飞鸟。"
             "Reading aloud, the quick brown fox jumps over the lazy dog.",
    "zh": "今天天气晴朗，我们一起去公园散步，看看湖边的花草和飞鸟。春风吹过绿色的柳树，孩子们在草地上快乐地唱歌。",
    "en": "The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore, "
          "while a few jovial zebras quietly watch the big, bright yellow moon.",
    "es": "El veloz murciélago hindú comía feliz cardillo y kiwi. La cigüeña tocaba el saxofón detrás del "
          "palenque de paja, mientras el viejo señor Gómez miraba el cielo azul de la mañana.",
}
REFERENCE_PREFIX = "voice-references/"  # operator-supplied references in the bucket
REFERENCE_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
ATTEMPTS = 3
Prepare = Callable[[str], Preparation]  # voice id -> what the primary made of it


def bootstrap(bucket: str, engine: Engine, *, prepare: Prepare | None = None, reference_dir: Path | None = None,
              force: bool = False, attempts: int = ATTEMPTS, backoff_s: float = 1.0,
              deadline_s: float = 60.0, stop: Deadline | None = None) -> BootstrapReport:
    """Give every catalogue voice a reference (see the module's docstring) and write the report.
    `stop`: when to leave the remaining voices alone (a Lambda must answer CloudFormation before it ends)."""
    outcomes = []
    for voice in list_voices():
        if stop is not None and stop.expired():
            outcomes.append(VoiceOutcome(voice=voice.id, status="failed", code="ENGINE_TIMEOUT",
                                         message="the bootstrap ran out of time before this voice; run it again"))
            continue
        outcome = _reference(bucket, voice, engine, reference_dir, force, attempts, backoff_s, deadline_s)
        if outcome.status != "failed" and prepare is not None:
            outcome = outcome.model_copy(update={"preparation": _prepare(bucket, voice.id, prepare)})
        logger.info("voice bootstrap", extra={"outcome": outcome.model_dump(mode="json", exclude_none=True)})
        outcomes.append(outcome)
    report = BootstrapReport(at=datetime.now(UTC).isoformat(timespec="seconds"), voices=outcomes)
    write_report(bucket, report)
    return report


def _existing(bucket: str, voice_id: str) -> VoiceRecord | None:
    try:
        return registry.get_record(bucket, voice_id)
    except NotFoundError:
        return None


def _reference(bucket: str, voice: Voice, engine: Engine, reference_dir: Path | None, force: bool,
               attempts: int, backoff_s: float, deadline_s: float) -> VoiceOutcome:
    existing = _existing(bucket, voice.id)
    try:
        supplied = _operator_reference(bucket, voice.id, reference_dir)
        if supplied is not None and (force or existing is None or existing.source != "operator"):
            _register(bucket, voice, supplied, "operator")
            return VoiceOutcome(voice=voice.id, status="registered", source="operator")
        if existing is not None and not force:
            return VoiceOutcome(voice=voice.id, status="present", source=existing.source)
        _register(bucket, voice, _speak(voice, engine, attempts, backoff_s, deadline_s), "fallback")
        return VoiceOutcome(voice=voice.id, status="registered", source="fallback")
    except TtsError as exc:
        return VoiceOutcome(voice=voice.id, status="failed", code=exc.code, message=exc.message,
                            source=existing.source if existing else None)


def _register(bucket: str, voice: Voice, data: bytes, source: Source) -> None:
    registry.register_voice(bucket, voice.id, data, language=voice.language, gender=voice.gender,
                            fallback=voice.id, source=source)


def _operator_reference(bucket: str, voice_id: str, reference_dir: Path | None) -> bytes | None:
    for ext in REFERENCE_EXTENSIONS:
        try:
            return storage.get_bytes(bucket, f"{REFERENCE_PREFIX}{voice_id}{ext}")
        except NotFoundError:
            pass
        if reference_dir is not None and (reference_dir / f"{voice_id}{ext}").is_file():
            return (reference_dir / f"{voice_id}{ext}").read_bytes()
    return None


def _speak(voice: Voice, engine: Engine, attempts: int, backoff_s: float, deadline_s: float) -> bytes:
    """The fallback engine's recording of the voice's text (or of its reference_from voice's), retried (with
    backoff) on transient errors."""
    recorder = get_voice(voice.reference_from) if voice.reference_from else voice
    request = SynthesisRequest(text=BOOTSTRAP_TEXTS[recorder.language], voice=recorder.id)
    for attempt in range(1, attempts + 1):
        try:
            audio = engine.synthesize(request, Deadline.in_seconds(deadline_s))
            contract = AudioContract(audio.sample_rate)  # loudness-matched, at the engine's own rate
            return contract.encode(contract.conform(audio.samples, audio.sample_rate))
        except TtsError as exc:
            if not exc.retryable or attempt == attempts:
                raise
            logger.info("voice bootstrap: retrying", extra={"voice": voice.id, "code": exc.code, "attempt": attempt})
            time.sleep(backoff_s * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # the loop returns or raises


def _prepare(bucket: str, voice_id: str, prepare: Prepare) -> Preparation:
    record = registry.get_record(bucket, voice_id)
    if record.preparation.state == "ready":
        return record.preparation
    preparation = prepare(voice_id)
    registry.set_preparation(bucket, voice_id, record.sha256, preparation)
    return preparation
