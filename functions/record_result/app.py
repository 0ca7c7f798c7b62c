"""Step Functions task -> the request's result record in S3 (and its metrics); or EventBridge (an execution
that ended FAILED, TIMED_OUT or ABORTED) -> its failure record, if it has none."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tts_core.pipeline import ended_executions
from tts_core.pipeline.results import RecordTask, record_result
from tts_core.platform import config
from tts_core.platform.config import ResultSettings
from tts_core.platform.observability import logger


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any] | None:
    settings = config.load(ResultSettings)
    if ended_executions.is_event(event):
        ended = ended_executions.record_ended(ended_executions.ExecutionEnded.model_validate(event), settings)
        return ended.model_dump(mode="json") if ended else None
    task = RecordTask.model_validate(event)
    logger.set_correlation_id(task.correlation_id)
    logger.append_keys(request_id=task.request_id)
    return record_result(task, settings).model_dump(mode="json")
