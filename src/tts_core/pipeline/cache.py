"""The synthesis cache: an identical request (text, voice, options) on the same engine is served
from S3 without synthesis.

It lives in the state machine, after the route has chosen the engine: a `CacheLookup` task runs
before the engine tasks, and the record step stores new audio. So every entry point (API, S3 upload,
CLI) shares it, a hit still ends in the usual result record (with `cache_hit: true`), and the engine
is part of the key: the fallback's audio is never served as the primary's.

Keys are content-addressed: SHA-256 of the normalised request (validated, every default filled in,
the sample rate resolved to the contract's, the delivery resolved: format, rate, bitrate, mastering)
with the engine and a format version. An entry is the delivered file (mastered and encoded) with its
captions, so a hit is served as it was recorded. A request with `"cache": false` is neither served from
the cache nor stored in it.
"""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel

from tts_core.delivery.formats import for_request
from tts_core.errors import NotFoundError
from tts_core.models import CaptionKeys, EngineName, EngineOutput, SynthesisRequest
from tts_core.platform import storage
from tts_core.platform.config import StorageSettings

CACHE_VERSION = 2  # 2: entries are delivered files (format, mastering, captions), no longer contract WAVs
# The engines a route can choose: the offline last resort only runs when both failed, and is never cached.
CACHEABLE_ENGINES = (EngineName.PRIMARY, EngineName.FALLBACK)


class CacheLookupTask(BaseModel):
    """What the state machine sends to the cache_lookup Lambda (no `engine` key: it is not an engine attempt)."""

    request_id: str
    correlation_id: str
    planned_engine: str
    request: SynthesisRequest


class CacheAnswer(BaseModel):
    hit: bool
    key: str | None = None  # the entry's metadata key, hit or miss (None when the request may not be cached)
    output: EngineOutput | None = None


def digest(request: SynthesisRequest, engine: str, contract_rate: int) -> str:
    # Neither flag changes the audio of a cacheable (single-engine) output, so neither is part of the key.
    normalised = request.model_dump(mode="json", exclude={"cache", "allow_mixed_engines"})
    normalised["sample_rate"] = request.sample_rate or contract_rate
    delivered = for_request(request, contract_rate)  # "format": null and "format": "wav" are one entry
    normalised |= {"format": delivered.format, "bitrate_kbps": delivered.bitrate_kbps,
                   "delivery_rate": delivered.sample_rate}
    canonical = json.dumps({"version": CACHE_VERSION, "engine": engine, "request": normalised},
                           sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _keys(request: SynthesisRequest, engine: str, settings: StorageSettings) -> tuple[str, str] | None:
    if not request.cache or engine not in CACHEABLE_ENGINES:
        return None
    extension = for_request(request, settings.audio_sample_rate).spec.extension
    return storage.cache_keys(engine, digest(request, engine, settings.audio_sample_rate), extension)


def lookup(task: CacheLookupTask, settings: StorageSettings) -> CacheAnswer:
    keys = _keys(task.request, task.planned_engine, settings)
    if keys is None:
        return CacheAnswer(hit=False)
    _, meta_key = keys
    try:
        output = EngineOutput.model_validate(storage.get_json(settings.bucket_name, meta_key))
    except NotFoundError:
        return CacheAnswer(hit=False, key=meta_key)
    if not storage.exists(output.bucket, output.audio_key):  # expired by the lifecycle rule before its metadata
        return CacheAnswer(hit=False, key=meta_key)
    return CacheAnswer(hit=True, key=meta_key, output=output.model_copy(update={"cached": True}))


def store(request: SynthesisRequest, output: EngineOutput, settings: StorageSettings) -> str | None:
    """Keep a fresh synthesis for the next identical request; the metadata is written last, so a
    lookup never finds an entry without its audio. Returns the metadata key, or None if not cached."""
    keys = None if output.cached else _keys(request, output.engine, settings)
    if keys is None:
        return None
    audio_key, meta_key = keys
    storage.copy(output.bucket, output.audio_key, audio_key)
    captions = None
    if output.captions is not None:
        captions = CaptionKeys(**storage.caption_keys(audio_key))
        for kind, key in output.captions.model_dump().items():
            storage.copy(output.bucket, key, getattr(captions, kind))
    # A hit runs no segments: their timings stay with the request that ran them.
    entry = output.model_copy(update={"audio_key": audio_key, "captions": captions, "segments": None})
    storage.put_json(output.bucket, meta_key, entry.model_dump(mode="json"))
    return meta_key
