"""Step Functions task -> is this request's audio already in the cache for the planned engine?"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tts_core.pipeline import cache
from tts_core.platform import config
from tts_core.platform.config import StorageSettings
from tts_core.platform.observability import logger


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = cache.CacheLookupTask.model_validate(event)
    logger.set_correlation_id(task.correlation_id)
    logger.append_keys(request_id=task.request_id)
    answer = cache.lookup(task, config.load(StorageSettings))
    logger.info("cache lookup", extra={"hit": answer.hit, "planned_engine": task.planned_engine})
    return answer.model_dump(mode="json")
