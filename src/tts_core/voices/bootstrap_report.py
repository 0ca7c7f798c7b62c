"""What the last voice bootstrap did per catalogue voice (`voices/_bootstrap.json`), written by
`tts_core.pipeline.voice_bootstrap` and read by the voice listings."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from tts_core.errors import NotFoundError
from tts_core.platform import storage
from tts_core.voices import registry
from tts_core.voices.registry import Preparation, Source


class VoiceOutcome(BaseModel):
    voice: str
    status: Literal["present", "registered", "failed"]  # failed: no reference
    source: Source | None = None
    code: str | None = None  # why there is no reference
    message: str | None = None
    preparation: Preparation | None = None


class BootstrapReport(BaseModel):
    at: str
    voices: list[VoiceOutcome]

    def outcome(self, voice_id: str) -> VoiceOutcome | None:
        return next((v for v in self.voices if v.voice == voice_id), None)


def read_report(bucket: str) -> BootstrapReport | None:
    try:
        return BootstrapReport.model_validate(storage.get_json(bucket, registry.BOOTSTRAP_REPORT_KEY))
    except NotFoundError:
        return None




def write_report(bucket: str, report: BootstrapReport) -> None:
    storage.put_json(bucket, registry.BOOTSTRAP_REPORT_KEY, report.model_dump(mode="json"))
