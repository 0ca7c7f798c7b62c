"""Preparing a voice on the primary: computing its speaker conditioning once, when the voice is made,
not on its first synthesis.

Only the primary's container can run it (torch, the weights), so other functions invoke the primary
Lambda with `{"prepare_voice": "<id>"}`: the API asynchronously (a cold primary loads its model for
~30 s, beyond API Gateway's 29 s; the voice says `pending` meanwhile and Lambda retries a failed
asynchronous invocation twice), the bootstrap synchronously (it has 15 minutes). The primary records
the outcome in the voice's record either way, so the listing can say why a voice is not ready.
"""

from __future__ import annotations

import json
from typing import Any, Protocol, runtime_checkable

from tts_core.deadline import Deadline
from tts_core.errors import NotFoundError, TtsError, code_for_error_name
from tts_core.platform import aws
from tts_core.platform.observability import logger
from tts_core.voices import registry
from tts_core.voices.registry import Preparation

PREPARE_KEY = "prepare_voice"  # the event field that makes a primary invocation a preparation


@runtime_checkable
class Preparer(Protocol):
    """An engine that can prepare voices (the primary)."""

    def prepare_voice(self, voice_id: str, deadline: Deadline) -> None:
        """Compute and store the voice's speaker conditioning, or raise a TtsError."""
        ...


def run_prepare(engine: object, bucket: str, voice_id: str, deadline: Deadline) -> Preparation:
    """The primary's side: prepare the voice and record the outcome in its record."""
    try:
        record = registry.get_record(bucket, voice_id)
    except NotFoundError as exc:
        return Preparation(state="failed", code="VOICE_NOT_FOUND", message=exc.message)
    if not isinstance(engine, Preparer):
        preparation = Preparation(state="failed", code="ENGINE_ERROR",
                                  message=f"the {type(engine).__name__} engine cannot prepare voices")
    else:
        try:
            engine.prepare_voice(voice_id, deadline)
            preparation = Preparation(state="ready")
        except TtsError as exc:
            preparation = Preparation(state="failed", code=exc.code, message=exc.message)
    logger.info("voice prepared",
                extra={"voice": voice_id, "preparation": preparation.model_dump(mode="json", exclude_none=True)})
    registry.set_preparation(bucket, voice_id, record.sha256, preparation)
    return preparation


def remote_prepare(function_name: str, voice_id: str, *, wait: bool) -> Preparation:
    """Ask the primary Lambda to prepare a voice: wait for the outcome, or only start it (pending)."""
    payload = json.dumps({PREPARE_KEY: voice_id}).encode()
    try:
        answer: dict[str, Any] = aws.client("lambda").invoke(
            FunctionName=function_name, InvocationType="RequestResponse" if wait else "Event", Payload=payload)
    except Exception as exc:  # botocore's many error types: the voice stays usable, only unprepared
        logger.warning("could not invoke the primary to prepare a voice", extra={"voice": voice_id, "error": repr(exc)})
        return Preparation(state="failed", code="LAMBDA_SERVICE_ERROR", message=f"could not invoke the primary: {exc}")
    if not wait:
        return Preparation(state="pending")
    body = json.loads(answer["Payload"].read() or b"null")
    if answer.get("FunctionError"):
        name = str((body or {}).get("errorType", "Lambda.Unknown"))
        return Preparation(state="failed", code=code_for_error_name(name),
                           message=str((body or {}).get("errorMessage", name)))
    return Preparation.model_validate(body)
