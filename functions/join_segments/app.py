"""Step Functions task -> a long text's segment WAVs joined, in order, into one output."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tts_core.pipeline import long_text
from tts_core.platform import config
from tts_core.platform.config import JoinSettings
from tts_core.platform.observability import logger


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = long_text.JoinTask.model_validate(event)
    logger.set_correlation_id(task.correlation_id)
    logger.append_keys(request_id=task.request_id)
    output = long_text.join(task, config.load(JoinSettings))
    logger.info("segments joined", extra={"segments": len(task.segments), "engine": output.engine,
                                         "duration_s": output.duration_s, "join_ms": output.engine_ms})
    return output.model_dump(mode="json", exclude_none=True)
