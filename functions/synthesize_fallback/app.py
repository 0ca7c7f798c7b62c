"""Step Functions task -> Sambert through DashScope, the fallback engine."""

from tts_core.engines.sambert import SambertEngine
from tts_core.pipeline.engine_task import engine_handler
from tts_core.platform import config
from tts_core.platform.config import FallbackSettings
from tts_core.platform.secrets import SecretKeyProvider, no_key
from tts_core.voices.directory import fallback_voice


def _engine() -> SambertEngine:
    settings = config.load(FallbackSettings)
    key = SecretKeyProvider(settings.dashscope_secret_arn) if settings.dashscope_secret_arn else no_key
    return SambertEngine(api_key=key, base_url=settings.dashscope_websocket_url,
                         voices=fallback_voice(settings.bucket_name))


handler = engine_handler(_engine)
