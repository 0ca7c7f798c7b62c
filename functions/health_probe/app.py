"""EventBridge schedule -> one probe of the primary; operator commands (show, override) too."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tts_core.platform import config
from tts_core.platform.config import ProbeSettings
from tts_core.platform.observability import logger
from tts_core.routing import signals as routing
from tts_core.routing.route_store import RouteStore


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    command = routing.ProbeCommand.model_validate(event)
    settings = config.load(ProbeSettings)
    store = RouteStore(settings.route_parameter_name)
    return routing.handle(command, settings, store).model_dump(mode="json")
