"""Step Functions task -> IndexTTS-2, the primary engine (container image)."""

from tts_core.engines.indextts import IndexTtsEngine, IndexTtsSettings
from tts_core.pipeline.engine_task import engine_handler

handler = engine_handler(lambda: IndexTtsEngine(IndexTtsSettings.from_env()))
