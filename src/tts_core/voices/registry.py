"""Speaker references for the primary engine (IndexTTS-2 clones the voice of a short recording).

S3 layout, through `tts_core.platform.storage` only:
    voices/<id>.wav                     the reference: PCM16 mono at STORE_RATE, at most MAX_PROMPT_S
    voices/<id>.json                    VoiceRecord: language, gender, fallback voice, source, owner, sha256,
                                        and whether the primary has prepared it (its speaker conditioning)
    voices/<id>.cond/<model>.pt         the speaker conditioning the engine computed from it, per model
                                        fingerprint (written by the engine, reused by every later container)
    voices/by-owner/<owner>/<id>        an empty marker per custom voice: one listing finds a key's voices
    voices/by-name/<owner>/<digest>     the id of the owner's voice of that name (voices.names): written only
                                        if absent, so two voices of one key never share a name
    voices/_bootstrap.json              the last bootstrap's outcome per catalogue voice (voices.bootstrap_report)

A listing of each voice a caller may use (`inventory`) says which have a reference and a conditioning:
the API reads readiness from it; it never lists other tenants' voices.

The engine needs a local file (the inference code reads prompts with librosa): `S3VoiceStore`, the
engines' VoiceStore, downloads each prompt to /tmp once, named by its content hash. The upstream
speaker cache is keyed by the *path* string, so a path per content (never one reused temp file) also
keeps that cache honest.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import soxr
from pydantic import BaseModel

from tts_core.audio import AudioContract, gated_loudness_dbfs, read_wav, wav_info
from tts_core.catalogue import Gender, Language
from tts_core.errors import (
    AudioClippedError,
    AudioFormatUnsupportedError,
    AudioRateTooLowError,
    AudioSilentError,
    AudioTooLongError,
    AudioTooShortError,
    AudioUndecodableError,
    InvalidInputError,
    NotFoundError,
    StorageError,
    VoiceNameTakenError,
    quoted,
)
from tts_core.platform import storage
from tts_core.voices import recording
from tts_core.voices.names import clean_name, name_digest

VOICES_PREFIX = "voices/"
OWNERS_PREFIX = f"{VOICES_PREFIX}by-owner/"
NAMES_PREFIX = f"{VOICES_PREFIX}by-name/"
BOOTSTRAP_REPORT_KEY = f"{VOICES_PREFIX}_bootstrap.json"  # "_": never a voice id
PUBLIC_OWNER = "_public"  # custom voices made where no API key is in use
STORE_RATE = 22050  # IndexTTS-2's own rate: references are stored once, resampled, at this rate
MIN_PROMPT_S = 3.0  # shorter references clone poorly (counted on the sound, silence cut)
MAX_UPLOAD_S = 30.0  # longest recording accepted
MAX_CHANNELS = 2  # stereo is downmixed; more is refused from the header, before decoding
MIN_RATE, MAX_RATE = 8000, 96000  # Hz: below 8 kHz (telephone bandwidth) too little of a voice is left
MAX_PROMPT_S = 15.0  # the inference code reads the first 15 s only: the rest is not stored
SILENCE_DBFS = -50.0  # a reference quieter than this (gated level) carries no usable voice
CLIP_LEVEL = 0.99  # a sample at or above this magnitude is clipped
MAX_CLIPPED_SHARE = 0.01  # more than 1 % clipped samples: the voice is distorted
_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")  # fullmatch: `$` would accept a final newline

Source = Literal["fallback", "operator", "upload"]


class Preparation(BaseModel, frozen=True):
    """Whether the primary has computed the voice's speaker conditioning, or why not."""

    state: Literal["pending", "ready", "failed"]
    code: str | None = None
    message: str | None = None
    at: datetime | None = None  # when it was asked for (pending): a lost preparation shows as stale

    def stale(self) -> bool:
        """Pending for longer than a primary invocation can last: its answer was lost."""
        return (self.state == "pending" and self.at is not None
                and datetime.now(UTC) - self.at > timedelta(minutes=20))


class VoiceRecord(BaseModel, frozen=True):
    id: str
    language: Language
    gender: Gender
    fallback: str  # the catalogue voice the fallback and the last resort speak it with
    source: Source  # fallback: recorded by Sambert (bootstrap); operator: supplied file; upload: cloned via the API
    sha256: str  # of the stored WAV: names local copies and conditioning caches
    sample_rate: int
    duration_s: float
    name: str | None = None  # a custom voice's display name
    owner: str | None = None  # the API key id that created a custom voice (None: no key in use)
    preparation: Preparation = Preparation(state="pending")


def valid_id(voice_id: str) -> bool:
    return _ID.fullmatch(voice_id) is not None


def voice_keys(voice_id: str) -> tuple[str, str]:
    return f"{VOICES_PREFIX}{voice_id}.wav", f"{VOICES_PREFIX}{voice_id}.json"


def conditioning_key(voice_id: str, model_fingerprint: str) -> str:
    return f"{VOICES_PREFIX}{voice_id}.cond/{model_fingerprint}.pt"


def owner_key(owner: str | None, voice_id: str) -> str:
    return f"{OWNERS_PREFIX}{owner or PUBLIC_OWNER}/{voice_id}"


def name_key(owner: str | None, name: str) -> str:
    return f"{NAMES_PREFIX}{owner or PUBLIC_OWNER}/{name_digest(name)}"


def _claim_name(bucket: str, owner: str | None, name: str, voice_id: str) -> None:
    """Take the name for this voice, atomically; VoiceNameTakenError while another voice of the owner holds
    it. A claim left by a voice that no longer has it (a write that failed half-way) is taken over."""
    key = name_key(owner, name)
    for _ in range(2):
        try:
            storage.put_bytes(bucket, key, voice_id.encode(), "text/plain", if_absent=True)
            return
        except storage.WriteConflictError:
            holder = _name_holder(bucket, key)
        if holder is not None:
            raise VoiceNameTakenError(f"you already have a voice named '{quoted(holder.name)}' ({holder.id}); "
                                      "choose another name or delete that voice")
        storage.delete(bucket, key)
    raise VoiceNameTakenError(f"the name '{quoted(name)}' is being given to another voice; try again")


def _name_holder(bucket: str, key: str) -> VoiceRecord | None:
    try:
        record = get_record(bucket, storage.get_bytes(bucket, key).decode())
    except (NotFoundError, UnicodeDecodeError):
        return None
    return record if record.name is not None and name_key(record.owner, record.name) == key else None


def validate_prompt(data: bytes) -> np.ndarray:
    """A recording (WAV, FLAC, OGG, MP3) as a reference: float32 mono at STORE_RATE, the part that carries
    sound and at most MAX_PROMPT_S of it (voices.recording); or an InvalidInputError subclass whose code
    says why it cannot be one. Every check is made on what is kept."""
    undecodable = "the recording is not a WAV, FLAC, OGG or MP3 recording (or it is damaged)"
    # The header first: a few KB of FLAC can claim minutes of 8 channels at 655 kHz, hundreds of MB decoded.
    try:
        header = wav_info(data)
    except Exception:  # soundfile's own error types, whose text names Python objects: say it plainly
        raise AudioUndecodableError(undecodable) from None
    if header.sample_rate < MIN_RATE:
        raise AudioRateTooLowError(f"the recording is sampled at {header.sample_rate} Hz; at least {MIN_RATE} Hz "
                                   "is needed")
    if header.channels > MAX_CHANNELS or header.sample_rate > MAX_RATE:
        raise AudioFormatUnsupportedError(
            f"the recording has {header.channels} channels at {header.sample_rate} Hz; a voice needs mono or "
            f"stereo at {MIN_RATE // 1000}-{MAX_RATE // 1000} kHz")
    if header.frames > MAX_UPLOAD_S * header.sample_rate:
        raise AudioTooLongError(f"the recording lasts {header.duration_s:.2f} s; it must last at most "
                                f"{MAX_UPLOAD_S:g} s")
    try:  # one frame past the limit at most, should the header understate the length
        samples, rate = read_wav(data, max_frames=int(MAX_UPLOAD_S * header.sample_rate) + 1)
    except Exception:
        raise AudioUndecodableError(undecodable) from None
    if not np.isfinite(samples).all():
        raise AudioUndecodableError("the recording holds non-finite samples (NaN or infinity): it is damaged")
    if samples.size == 0:
        raise AudioTooShortError(f"the recording is empty; it must last {MIN_PROMPT_S:g} to {MAX_UPLOAD_S:g} s")
    channels = samples.reshape(samples.shape[0], -1)
    duration = channels.shape[0] / rate
    if duration < MIN_PROMPT_S:
        raise AudioTooShortError(f"the recording lasts {duration:.2f} s; it must last at least {MIN_PROMPT_S:g} s")
    if duration > MAX_UPLOAD_S:
        raise AudioTooLongError(f"the recording lasts {duration:.2f} s; it must last at most {MAX_UPLOAD_S:g} s")
    mono = channels.mean(axis=1, dtype=np.float32)  # stereo is downmixed, not rejected
    centred = recording.without_offset(mono, rate)
    span = recording.kept_span(centred, rate, MAX_PROMPT_S)
    if span is None:
        raise AudioSilentError("the recording carries no sound: it is silent, too quiet, or only a constant "
                               "offset (DC)")
    if span.seconds(rate) < MIN_PROMPT_S:
        raise AudioTooShortError(f"only {span.seconds(rate):.1f} s of the recording carry sound (the rest is "
                                 f"silence); at least {MIN_PROMPT_S:g} s of speech are needed")
    level = gated_loudness_dbfs(centred[span.start: span.end], rate)
    if level is None or level < SILENCE_DBFS:
        raise AudioSilentError("the recording is too quiet to carry a voice")
    clipped = float(np.mean(np.abs(channels[span.start: span.end]) >= CLIP_LEVEL))
    if clipped > MAX_CLIPPED_SHARE:
        raise AudioClippedError(f"{clipped:.1%} of the recording is clipped (at most {MAX_CLIPPED_SHARE:.0%}); "
                                "record it less loud")
    kept = mono[span.start: span.end]
    kept = kept - kept.mean(dtype=np.float32)  # a recorder's DC offset is not part of the voice
    if rate != STORE_RATE:
        kept = soxr.resample(kept, rate, STORE_RATE, quality="HQ")
    return np.asarray(kept, dtype=np.float32)


def register_voice(bucket: str, voice_id: str, data: bytes, *, language: Language, gender: Gender,
                   fallback: str, source: Source, name: str | None = None, owner: str | None = None,
                   preparation: Preparation | None = None) -> VoiceRecord:
    """Validate a recording and store it as the voice's reference, with its record (and, for a custom
    voice, its owner's marker). Nothing is written when the recording is refused."""
    if not valid_id(voice_id):
        raise InvalidInputError(f"invalid voice id '{quoted(voice_id)}' (lower-case letters, digits, '-', '_')")
    mono = validate_prompt(data)
    if name is not None:
        try:
            name = clean_name(name)
        except ValueError as exc:
            raise InvalidInputError(f"name: {exc}") from None
        _claim_name(bucket, owner, name, voice_id)
    # Format, rate and the DC offset are normalised: loudness is left to the engine's own front end.
    pcm = np.clip(np.round(mono * 32767.0), -32768, 32767).astype(np.int16)
    wav = AudioContract(STORE_RATE).encode(pcm, STORE_RATE)
    record = VoiceRecord(id=voice_id, language=language, gender=gender, fallback=fallback, source=source,
                         sha256=hashlib.sha256(wav).hexdigest(), sample_rate=STORE_RATE,
                         duration_s=round(pcm.size / STORE_RATE, 3), name=name, owner=owner,
                         preparation=preparation or Preparation(state="pending", at=datetime.now(UTC)))
    wav_key, json_key = voice_keys(voice_id)
    storage.put_bytes(bucket, wav_key, wav, "audio/wav")
    if source == "upload":
        storage.put_bytes(bucket, owner_key(owner, voice_id), b"", "application/octet-stream")
    storage.put_json(bucket, json_key, record.model_dump(mode="json"))  # written last: a record implies its WAV
    return record


def get_record(bucket: str, voice_id: str) -> VoiceRecord:
    """The voice's record; NotFoundError when no reference is registered for it."""
    try:
        return VoiceRecord.model_validate(storage.get_json(bucket, voice_keys(voice_id)[1]))
    except NotFoundError:
        raise NotFoundError(f"no speaker reference is registered for voice '{quoted(voice_id)}'") from None


def set_preparation(bucket: str, voice_id: str, sha256: str, preparation: Preparation) -> None:
    """Record the primary's preparation of a reference, unless the voice was deleted or replaced since."""
    try:
        record = get_record(bucket, voice_id)
    except NotFoundError:
        return
    if record.sha256 == sha256 and record.preparation != preparation:
        storage.put_json(bucket, voice_keys(voice_id)[1],
                         record.model_copy(update={"preparation": preparation}).model_dump(mode="json"))


def delete_voice(bucket: str, record: VoiceRecord) -> None:
    """Remove everything stored for a voice: record first (new requests stop finding it), then the rest."""
    wav_key, json_key = voice_keys(record.id)
    names = [name_key(record.owner, record.name)] if record.name is not None else []
    held = [key for key in names if getattr(_name_holder(bucket, key), "id", None) == record.id]  # while it exists
    storage.delete(bucket, json_key)
    for key in storage.list_keys(bucket, f"{VOICES_PREFIX}{record.id}.cond/"):
        storage.delete(bucket, key)
    storage.delete(bucket, wav_key)
    storage.delete(bucket, owner_key(record.owner, record.id))
    for key in held:
        storage.delete(bucket, key)
    # Versioning would keep the recording of a person who asked for it to go: its versions go too.
    storage.delete_versions(bucket, f"{VOICES_PREFIX}{record.id}.")
    storage.delete_versions(bucket, owner_key(record.owner, record.id))
    for key in held:
        storage.delete_versions(bucket, key)


def put_conditioning(bucket: str, voice_id: str, model_fingerprint: str, blob: bytes, sha256: str) -> None:
    storage.put_bytes(bucket, conditioning_key(voice_id, model_fingerprint), blob, "application/octet-stream")
    set_preparation(bucket, voice_id, sha256, Preparation(state="ready"))


def get_conditioning(bucket: str, voice_id: str, model_fingerprint: str) -> bytes | None:
    try:
        return storage.get_bytes(bucket, conditioning_key(voice_id, model_fingerprint))
    except NotFoundError:
        return None


@dataclass(frozen=True)
class Inventory:
    """What the listings of one caller's voices say: which have a reference and a conditioning, and which
    custom voices are the caller's."""

    referenced: frozenset[str]
    conditioned: frozenset[str]
    owned: tuple[str, ...] = ()  # the caller's custom voice ids

    def custom_voices(self) -> list[str]:
        return [v for v in self.owned if v in self.referenced]


def owned_voices(bucket: str, owner: str | None) -> list[str]:
    """The custom voice ids of one key: one listing of its own marker prefix, never of other tenants'."""
    prefix = f"{OWNERS_PREFIX}{owner or PUBLIC_OWNER}/"
    return [key.removeprefix(prefix) for key in storage.list_keys(bucket, prefix)]


def inventory(bucket: str, owner: str | None, catalogue_ids: list[str]) -> Inventory:
    """One listing per voice the caller may use (the catalogue's and its own, at most KeyMaxVoices), so a
    listing costs the same whatever the number of tenants."""
    owned = owned_voices(bucket, owner)
    referenced: set[str] = set()
    conditioned: set[str] = set()
    for voice_id in [*catalogue_ids, *owned]:
        for key in storage.list_keys(bucket, f"{VOICES_PREFIX}{voice_id}."):  # ids hold no '.'
            rest = key.removeprefix(f"{VOICES_PREFIX}{voice_id}.")
            if rest == "json":
                referenced.add(voice_id)
            elif rest.startswith("cond/"):
                conditioned.add(voice_id)
    return Inventory(frozenset(referenced), frozenset(conditioned), tuple(owned))


class S3VoiceStore:
    """The engines' VoiceStore (tts_core.engines.voice_store) on this bucket: references copied under
    `root` (Lambda: /tmp) once, one file per content hash; conditioning under voices/<id>.cond/."""

    def __init__(self, bucket: str, root: Path = Path("/tmp/voices")) -> None:
        self.bucket = bucket
        self.root = root
        self._lock = threading.Lock()

    def local_prompt(self, voice_id: str) -> tuple[str, Path]:
        record = get_record(self.bucket, voice_id)  # small GET per request: a re-registration takes effect
        path = self.root / f"{record.sha256}.wav"
        with self._lock:
            if not path.is_file():
                data = storage.get_bytes(self.bucket, voice_keys(voice_id)[0])
                if hashlib.sha256(data).hexdigest() != record.sha256:
                    # The WAV was replaced after its record was read: refuse rather than mix voices.
                    raise StorageError(f"voice '{quoted(voice_id)}' changed while being read; try again")
                self.root.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.part")
                tmp.write_bytes(data)
                tmp.replace(path)  # atomic: a reader never sees half a prompt
        return record.sha256, path

    def get_conditioning(self, voice_id: str, fingerprint: str) -> bytes | None:
        return get_conditioning(self.bucket, voice_id, fingerprint)

    def put_conditioning(self, voice_id: str, fingerprint: str, blob: bytes, sha256: str) -> None:
        put_conditioning(self.bucket, voice_id, fingerprint, blob, sha256)
