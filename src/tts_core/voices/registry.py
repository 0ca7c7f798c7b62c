"""Speaker prompts for the primary engine (IndexTTS-2 clones the voice of a short recording).

S3 layout, through `tts_core.platform.storage` only:
    voices/<id>.wav                     the prompt, normalised to PCM16 mono (validated on registration)
    voices/<id>.json                    VoiceRecord: language, gender, the Sambert voice for the fallback, sha256
    voices/<id>.cond/<model>.pt         the speaker conditioning the engine computed from it, per model
                                        fingerprint (written by the engine, reused by every later container)

The engine needs a local file (the inference code reads prompts with librosa): `PromptCache` downloads
each prompt to /tmp once, named by its content hash. The upstream speaker cache is keyed by the *path*
string, so a path per content (never one reused temp file) also keeps that cache honest.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from tts_core.audio import AudioContract, gated_loudness_dbfs, read_wav, to_float_mono
from tts_core.errors import InvalidInputError, NotFoundError, StorageError
from tts_core.platform import storage
from tts_core.voices.catalogue import Gender, Language

VOICES_PREFIX = "voices/"
MIN_PROMPT_S = 3.0  # shorter prompts clone poorly
MAX_PROMPT_S = 15.0  # the inference code cuts prompts at 15 s anyway
SILENCE_DBFS = -50.0  # a prompt quieter than this (gated level) carries no usable voice
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class VoiceRecord(BaseModel, frozen=True):
    id: str
    language: Language
    gender: Gender
    sambert: str  # the Sambert voice that best matches it (the fallback engine's voice)
    sha256: str  # of the stored WAV: names local copies and conditioning caches
    sample_rate: int
    duration_s: float


def voice_keys(voice_id: str) -> tuple[str, str]:
    return f"{VOICES_PREFIX}{voice_id}.wav", f"{VOICES_PREFIX}{voice_id}.json"


def conditioning_key(voice_id: str, model_fingerprint: str) -> str:
    return f"{VOICES_PREFIX}{voice_id}.cond/{model_fingerprint}.pt"


def validate_prompt(data: bytes) -> tuple[np.ndarray, int]:
    """A registrable prompt as float32 mono samples and its rate, or InvalidInputError saying why."""
    try:
        samples, rate = read_wav(data)
    except Exception as exc:  # soundfile raises its own error types for unreadable data
        raise InvalidInputError(f"the voice prompt is not a readable audio file: {exc}") from None
    mono = to_float_mono(samples)  # stereo is downmixed, not rejected
    duration = mono.size / rate if rate else 0.0
    if not MIN_PROMPT_S <= duration <= MAX_PROMPT_S:
        raise InvalidInputError(f"the voice prompt lasts {duration:.2f} s; it must last {MIN_PROMPT_S:g} to "
                                f"{MAX_PROMPT_S:g} s")
    level = gated_loudness_dbfs(mono, rate)
    if level is None or level < SILENCE_DBFS:
        raise InvalidInputError("the voice prompt is silent or too quiet")
    return mono, rate


def register_voice(bucket: str, voice_id: str, data: bytes, *, language: Language, gender: Gender,
                   sambert: str) -> VoiceRecord:
    """Validate a prompt and store it (normalised to PCM16 mono at its own rate) with its metadata."""
    if not _ID.match(voice_id):
        raise InvalidInputError(f"invalid voice id '{voice_id}' (lower-case letters, digits, '-', '_')")
    mono, rate = validate_prompt(data)
    # Only the format is normalised: loudness and rate are left to the engine's own front end.
    pcm = np.clip(np.round(mono * 32767.0), -32768, 32767).astype(np.int16)
    wav = AudioContract(rate).encode(pcm, rate)
    record = VoiceRecord(id=voice_id, language=language, gender=gender, sambert=sambert,
                         sha256=hashlib.sha256(wav).hexdigest(), sample_rate=rate,
                         duration_s=round(pcm.size / rate, 3))
    wav_key, json_key = voice_keys(voice_id)
    storage.put_bytes(bucket, wav_key, wav, "audio/wav")
    storage.put_json(bucket, json_key, record.model_dump())  # written last: a record implies its WAV
    return record


def get_record(bucket: str, voice_id: str) -> VoiceRecord:
    """The voice's record; NotFoundError when no prompt is registered for it."""
    try:
        return VoiceRecord.model_validate(storage.get_json(bucket, voice_keys(voice_id)[1]))
    except NotFoundError:
        raise NotFoundError(f"no speaker prompt is registered for voice '{voice_id}'") from None


def put_conditioning(bucket: str, voice_id: str, model_fingerprint: str, blob: bytes) -> None:
    storage.put_bytes(bucket, conditioning_key(voice_id, model_fingerprint), blob, "application/octet-stream")


def get_conditioning(bucket: str, voice_id: str, model_fingerprint: str) -> bytes | None:
    try:
        return storage.get_bytes(bucket, conditioning_key(voice_id, model_fingerprint))
    except NotFoundError:
        return None


class PromptCache:
    """Local copies of registered prompts under `root` (Lambda: /tmp), one file per content hash."""

    def __init__(self, bucket: str, root: Path = Path("/tmp/voices")) -> None:
        self.bucket = bucket
        self.root = root
        self._lock = threading.Lock()

    def local_prompt(self, voice_id: str) -> tuple[VoiceRecord, Path]:
        record = get_record(self.bucket, voice_id)  # small GET per request: a re-registration takes effect
        path = self.root / f"{record.sha256}.wav"
        with self._lock:
            if not path.is_file():
                data = storage.get_bytes(self.bucket, voice_keys(voice_id)[0])
                if hashlib.sha256(data).hexdigest() != record.sha256:
                    # The WAV was replaced after its record was read: refuse rather than mix voices.
                    raise StorageError(f"voice '{voice_id}' changed while being read; try again")
                self.root.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.part")
                tmp.write_bytes(data)
                tmp.replace(path)  # atomic: a reader never sees half a prompt
        return record, path


def main(argv: list[str] | None = None) -> None:
    """`python -m tts_core.voices.registry BUCKET VOICE_ID PROMPT.wav`: register the prompt of a catalogue
    voice (language, gender and Sambert voice come from tts_core.voices.catalogue)."""
    import argparse

    from tts_core.voices.catalogue import get_voice

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("bucket")
    parser.add_argument("voice_id")
    parser.add_argument("wav", type=Path)
    args = parser.parse_args(argv)
    voice = get_voice(args.voice_id)
    record = register_voice(args.bucket, voice.id, args.wav.read_bytes(), language=voice.language,
                            gender=voice.gender, sambert=voice.sambert)
    print(record.model_dump_json())


if __name__ == "__main__":
    main()
