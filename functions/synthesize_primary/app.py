"""Step Functions task -> IndexTTS-2, the primary engine (container image)."""

import os
from pathlib import Path

from tts_core.engine_task import engine_handler
from tts_core.engines.indextts import IndexTtsEngine, IndexTtsSettings


def _engine() -> IndexTtsEngine:
    return IndexTtsEngine(IndexTtsSettings(model_dir=Path(os.environ["INDEXTTS_MODEL_DIR"]),
                                           profile=os.environ.get("INDEXTTS_PROFILE", "fast")))  # type: ignore[arg-type]


handler = engine_handler(_engine)
