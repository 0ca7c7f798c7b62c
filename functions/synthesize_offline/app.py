"""Step Functions task -> eSpeak NG, the offline last resort."""

from tts_core.engine_task import engine_handler
from tts_core.engines.espeak import EspeakEngine

handler = engine_handler(EspeakEngine)
