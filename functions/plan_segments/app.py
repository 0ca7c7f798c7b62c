"""Step Functions task -> a long text's segments (the PrimarySegments Map's items)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tts_core.pipeline import long_text
from tts_core.platform import config
from tts_core.platform.config import PlanSettings
from tts_core.platform.observability import logger


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = long_text.PlanTask.model_validate(event)
    logger.set_correlation_id(task.correlation_id)
    logger.append_keys(request_id=task.request_id)
    plan = long_text.plan(task, config.load(PlanSettings))
    logger.info("text planned", extra={"segments": plan.count, "chars": len(task.request.text)})
    return plan.model_dump(mode="json")
