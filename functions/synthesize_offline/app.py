"""Step Functions task -> eSpeak NG, the offline last resort."""

from tts_core.engines.espeak import EspeakEngine
from tts_core.pipeline.engine_task import engine_handler
from tts_core.platform import config
from tts_core.platform.config import EngineSettings
from tts_core.voices.directory import fallback_voice

handler = engine_handler(lambda: EspeakEngine(voices=fallback_voice(config.load(EngineSettings).bucket_name)))
