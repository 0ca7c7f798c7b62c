"""Step Functions task -> eSpeak NG, the offline last resort."""

from tts_core.engines.espeak import EspeakEngine
from tts_core.pipeline.engine_task import engine_handler

handler = engine_handler(EspeakEngine)
