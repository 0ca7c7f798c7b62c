"""What every engine Lambda does around its engine: parse the task, give the engine a deadline,
bring its audio to the contract, write the WAV to S3, and return keys and metadata only."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from tts_core.audio import AudioContract, apply_gain, is_silent, join_pcm
from tts_core.deadline import Deadline
from tts_core.engines import Engine
from tts_core.errors import EngineError, InvalidInputError, SilentOutputError, TtsError
from tts_core.models import EngineOutput, EngineTask, Mark, Speech, SynthesisRequest
from tts_core.pipeline.long_text import marks_in_join, starts_in_join, utterances_of
from tts_core.platform import config, storage
from tts_core.platform.config import EngineSettings
from tts_core.platform.observability import logger
from tts_core.text.render import calls_for_one_engine, text_for
from tts_core.voices.prepare import PREPARE_KEY, run_prepare

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def run_engine_task(engine: Engine, event: dict[str, Any], context: LambdaContext,
                    settings: EngineSettings) -> EngineOutput:
    try:
        task = EngineTask.model_validate(event)
    except ValidationError as exc:
        raise InvalidInputError(f"malformed engine task: {exc.errors()[0]['msg']}") from None
    logger.set_correlation_id(task.correlation_id)
    segment = task.segment.index if task.segment else None
    logger.append_keys(request_id=task.request_id, engine=engine.name, retry_count=task.retry_count,
                       segment=segment)

    deadline = _deadline(context, settings, task.timeout_s)
    contract = AudioContract(settings.audio_sample_rate)
    rate = task.request.sample_rate or contract.sample_rate
    # A segment is one engine call; a whole request is one call per run of its utterances (text.render).
    calls: list[Speech] = [task.segment] if task.segment else calls_for_one_engine(utterances_of(task.request))
    started = time.monotonic()

    def say(call: Speech) -> np.ndarray:
        request = task.request.speaking(call, text_for(call, engine.name))
        pcm = contract.conform(*_synthesize(engine, request, deadline), out_rate=rate)
        return apply_gain(pcm, call.prosody.volume)  # after the contract's level, the same on every engine

    parts = [say(call) for call in calls]
    engine_ms = int((time.monotonic() - started) * 1000)
    if any(part.size == 0 for part in parts):
        raise EngineError("the engine returned no audio")
    pauses = [(settings.segment_pause_ms if c.pause_after_ms is None else c.pause_after_ms) / 1000 for c in calls]
    pcm = join_pcm(parts, rate, pauses)
    marks = marks_in_join([[Mark(name=n, time_s=0.0) for n in c.marks] for c in calls],
                          starts_in_join([p.size for p in parts], pauses, rate))
    if is_silent(pcm, rate):
        raise SilentOutputError(f"the engine returned {pcm.size / rate:.2f} s of silence")
    key = (storage.audio_key(task.request_id, engine.name) if segment is None
           else storage.segment_key(task.request_id, segment, engine.name))
    storage.put_bytes(settings.bucket_name, key, contract.encode(pcm, rate), "audio/wav")
    output = EngineOutput(engine=engine.name, bucket=settings.bucket_name, audio_key=key,
                          sample_rate=rate, duration_s=round(pcm.size / rate, 3), engine_ms=engine_ms,
                          segment=segment, marks=marks,
                          pause_after_ms=task.segment.pause_after_ms if task.segment else None)
    logger.info("engine succeeded", extra=output.model_dump(exclude_none=True))
    return output


def _synthesize(engine: Engine, request: SynthesisRequest, deadline: Deadline) -> tuple[Any, int]:
    try:
        audio = engine.synthesize(request, deadline)
    except TtsError as exc:
        logger.warning("engine failed", extra={"code": exc.code, "retryable": exc.retryable,
                                               "error": exc.message, "detail": exc.detail})
        raise
    except MemoryError as exc:
        raise EngineError("the engine ran out of memory") from exc
    except Exception as exc:
        # Anything unexpected is an engine fault with a stable code, never a bare traceback type.
        logger.exception("engine crashed")
        raise EngineError(f"{type(exc).__name__}: {exc}") from exc
    return audio.samples, audio.sample_rate


def _deadline(context: LambdaContext, settings: EngineSettings, state_timeout_s: float | None = None) -> Deadline:
    """The engine's time: the Lambda's remaining time or the state's timeout, whichever ends first, less a
    margin to write the audio."""
    remaining_ms = context.get_remaining_time_in_millis()
    if state_timeout_s is not None:
        remaining_ms = min(remaining_ms, int(state_timeout_s * 1000))
    return Deadline.in_seconds(max((remaining_ms - settings.engine_deadline_margin_ms) / 1000, 1.0))


def engine_handler(make_engine: Callable[[], Engine]) -> Handler:
    """A Lambda handler for one engine. The engine is built on the first invocation, not at
    import (model loading must stay out of Lambda's 10 s init phase), and reused after."""
    engine_cache: list[Engine] = []

    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        if not engine_cache:
            engine_cache.append(make_engine())
        settings = config.load(EngineSettings)
        if isinstance(event, dict) and PREPARE_KEY in event:  # a voice to prepare, not a synthesis
            return run_prepare(engine_cache[0], settings.bucket_name, str(event[PREPARE_KEY]),
                               _deadline(context, settings)).model_dump(mode="json")
        return run_engine_task(engine_cache[0], event, context, settings).model_dump()

    return handler
