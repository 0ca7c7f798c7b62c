"""CloudFormation custom resource (on deploy) or a direct invocation -> the voice bootstrap: every
catalogue voice gets a primary reference recorded by the fallback engine (tts_core.pipeline.voice_bootstrap)."""

from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from tts_core.deadline import Deadline
from tts_core.engines.sambert import SambertEngine
from tts_core.pipeline.voice_bootstrap import BootstrapReport, bootstrap
from tts_core.platform import config, custom_resource
from tts_core.platform.config import BootstrapSettings
from tts_core.platform.observability import logger
from tts_core.platform.secrets import SecretKeyProvider, no_key
from tts_core.voices.prepare import remote_prepare

ANSWER_MARGIN_MS = 60_000  # kept to answer CloudFormation before the function's own timeout


def _run(force: bool, context: LambdaContext) -> BootstrapReport:
    settings = config.load(BootstrapSettings)
    key = SecretKeyProvider(settings.dashscope_secret_arn) if settings.dashscope_secret_arn else no_key
    engine = SambertEngine(api_key=key, base_url=settings.dashscope_websocket_url)
    return bootstrap(settings.bucket_name, engine, force=force,
                     prepare=lambda voice: remote_prepare(settings.primary_function_name, voice, wait=True),
                     reference_dir=Path(settings.voice_reference_dir) if settings.voice_reference_dir else None,
                     stop=Deadline.in_seconds((context.get_remaining_time_in_millis() - ANSWER_MARGIN_MS) / 1000))


def _summary(report: BootstrapReport) -> str:
    return "; ".join(f"{v.voice}: {v.status}" + (f" ({v.code}: {v.message})" if v.code else "") for v in report.voices)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if custom_resource.is_request(event):
        return custom_resource.answer(event, lambda: _summary(_run(False, context)))
    return _run(bool(event.get("force")), context).model_dump(mode="json")
