"""Step Functions task -> one chapter of a book joined, encoded and uploaded by streaming."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tts_core.books import steps
from tts_core.platform import config
from tts_core.platform.config import JoinSettings
from tts_core.platform.observability import logger


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = steps.EncodeTask.model_validate(event)
    logger.append_keys(request_id=task.request_id, chapter=task.chapter)
    answer = steps.encode(task, config.load(JoinSettings))
    logger.info("chapter encoded", extra=answer)
    return answer
