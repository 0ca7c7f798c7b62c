"""EventBridge (S3 "Object Created" under inbox/) -> one synthesis, named after the object."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tts_core.pipeline import uploads
from tts_core.platform import config
from tts_core.platform.config import IngestSettings
from tts_core.platform.observability import logger


@logger.inject_lambda_context(correlation_id_path="id", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = uploads.ingest(uploads.ObjectCreatedEvent.model_validate(event), config.load(IngestSettings))
    return outcome.model_dump(mode="json", exclude_none=True)
