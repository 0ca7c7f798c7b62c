"""EventBridge (S3 "Object Created" under inbox/) -> one synthesis, or one book job for an upload that is a
book (tts_core.books.uploads.is_book), named after the object."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tts_core.books import uploads as book_uploads
from tts_core.pipeline import uploads
from tts_core.platform import config
from tts_core.platform.config import BookIngestSettings
from tts_core.platform.observability import logger


@logger.inject_lambda_context(correlation_id_path="id", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = uploads.ObjectCreatedEvent.model_validate(event)
    settings = config.load(BookIngestSettings)
    if book_uploads.is_book(parsed.detail.object.key):
        outcome = book_uploads.ingest(parsed, settings)
    else:
        outcome = uploads.ingest(parsed, settings)
    return outcome.model_dump(mode="json", exclude_none=True)
