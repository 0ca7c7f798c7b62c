"""The voices routes: list, clone, delete (a key sees the catalogue and its own voices only)."""

from __future__ import annotations

import secrets
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from tts_core.api.base64_audio import decode_audio_base64
from tts_core.api.http import API_KEY, VOICES_PATH, check_raw_body, documented, json_answer, owner, settings
from tts_core.api.schemas import CreateVoice, VoiceBody, VoicesBody
from tts_core.catalogue import Voice, catalogue_voice_for
from tts_core.errors import InvalidInputError, QuotaExceededError, quoted
from tts_core.platform.observability import logger
from tts_core.voices import directory, registry
from tts_core.voices.prepare import remote_prepare

router = Router()
VOICE_LIMIT_RETRY_AFTER_S = 3600  # a voice stays until its owner deletes one: no clock frees the slot


def voice_body(entry: directory.VoiceEntry) -> VoiceBody:
    return VoiceBody(id=entry.id, name=entry.name, language=entry.language, gender=entry.gender,
                     description=entry.description, custom=entry.custom, engines=list(entry.engines),
                     fallback_voice=entry.fallback, reference=entry.reference, primary_ready=entry.primary_ready,
                     primary_reason=entry.primary_reason)


@router.get(VOICES_PATH, security=API_KEY, summary="The voices: the catalogue's and your own",
            description="Each voice says which engines serve it and whether the primary is ready for it (if not, "
                        "why).",
            responses=documented({200: ("the voices", VoicesBody)}))
def voices() -> Response[str]:  # the name is the OpenAPI operationId's stem
    entries = directory.list_for(settings().bucket_name, owner(router.current_event))
    return json_answer(200, VoicesBody(voices=[voice_body(e) for e in entries]))


@router.post(VOICES_PATH, enable_validation=True, security=API_KEY, summary="Clone a voice",
             description="3-30 s of someone speaking (WAV, FLAC, OGG or MP3, base64) becomes a voice of your API "
                         "key. The primary computes its speaker conditioning right away (primary_ready turns true "
                         "when it is done); the fallback engines speak it with the catalogue voice of its language "
                         "and gender. Nothing is stored when the recording is refused.",
             responses=documented({201: ("the new voice", VoiceBody)}, (400, 413, 415, 422, 429)))
def create_voice(body: Annotated[CreateVoice, Body(description="the recording and what to call it")]) -> Response[str]:
    event = router.current_event
    check_raw_body(event)
    fallback = catalogue_voice_for(body.language, body.gender)  # UNSUPPORTED_LANGUAGE: no voice of ours speaks it
    conf = settings()
    audio = decode_audio_base64(body.audio_base64)
    caller = owner(event)
    if len(registry.owned_voices(conf.bucket_name, caller)) >= conf.key_max_voices:
        raise QuotaExceededError(f"this API key has {conf.key_max_voices} voices (KeyMaxVoices); delete one to "
                                 "make another", retry_after_s=VOICE_LIMIT_RETRY_AFTER_S)
    voice_id = f"v-{secrets.token_hex(6)}"
    record = registry.register_voice(conf.bucket_name, voice_id, audio, language=body.language,
                                     gender=body.gender, fallback=fallback.id, source="upload", name=body.name,
                                     owner=caller)
    preparation = remote_prepare(conf.primary_function_name, voice_id, wait=False)
    if preparation.state == "failed":
        registry.set_preparation(conf.bucket_name, voice_id, record.sha256, preparation)
    record = registry.get_record(conf.bucket_name, voice_id)  # the primary may have prepared it already
    ready = record.preparation.state == "ready"
    entry = directory.custom_entry(record, ready, None if ready else directory.preparation_reason(record))
    logger.info("voice created", extra={"voice": voice_id, "fallback": fallback.id, "seconds": record.duration_s})
    return json_answer(201, voice_body(entry))


@router.delete(f"{VOICES_PATH}/<voice_id>", security=API_KEY, summary="Delete one of your voices",
               description="Removes its recording, its speaker conditioning and its record.",
               responses=documented({200: ("deleted", VoiceBody)}, (400, 404)))
def delete_voice(voice_id: str) -> Response[str]:
    conf = settings()
    found = directory.lookup(conf.bucket_name, voice_id, owner(router.current_event))
    if isinstance(found, Voice):
        raise InvalidInputError(f"'{quoted(voice_id)}' is a built-in voice; only custom voices can be deleted")
    registry.delete_voice(conf.bucket_name, found)
    logger.info("voice deleted", extra={"voice": voice_id})
    return json_answer(200, voice_body(directory.custom_entry(found, False, "deleted")))
