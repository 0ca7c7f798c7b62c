"""The port through which an engine reads speaker references and keeps what it computed from them.

The engines may not import `tts_core.voices` (a sibling layer): the composition root (the primary
function's app.py, the tests, the benches) passes an implementation, `voices.registry.S3VoiceStore`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class VoiceStore(Protocol):
    def local_prompt(self, voice_id: str) -> tuple[str, Path]:
        """(sha256 of the voice's reference recording, a local file holding it); NotFoundError when no
        reference is registered for the voice."""
        ...

    def get_conditioning(self, voice_id: str, fingerprint: str) -> bytes | None:
        """What put_conditioning stored for this voice and model fingerprint, or None."""
        ...

    def put_conditioning(self, voice_id: str, fingerprint: str, blob: bytes, sha256: str) -> None:
        """Keep a voice's conditioning, computed from the reference whose hash is `sha256`, for later
        containers (and mark the voice prepared)."""
        ...
