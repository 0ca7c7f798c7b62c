"""Step Functions tasks of a book job: plan it, decide its next pass, record its end."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tts_core.books import steps
from tts_core.platform import config
from tts_core.platform.config import BookPlanSettings
from tts_core.platform.observability import logger


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(request_id=event.get("request_id"), step=event.get("step"))
    if event.get("correlation_id"):
        logger.set_correlation_id(event["correlation_id"])
    answer = steps.run(event, config.load(BookPlanSettings))
    logger.info("book step done", extra={"answer": answer})
    return answer
