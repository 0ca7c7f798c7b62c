"""Step Functions task -> IndexTTS-2, the primary engine (container image). The composition root: the
engine gets its voice store here (the engines never import tts_core.voices)."""

from tts_core.engines.indextts.engine import IndexTtsEngine
from tts_core.engines.indextts.settings import IndexTtsSettings
from tts_core.pipeline.engine_task import engine_handler
from tts_core.platform import config
from tts_core.platform.config import EngineSettings
from tts_core.voices.registry import S3VoiceStore


def _engine() -> IndexTtsEngine:
    return IndexTtsEngine(IndexTtsSettings.from_env(), S3VoiceStore(config.load(EngineSettings).bucket_name))


handler = engine_handler(_engine)
