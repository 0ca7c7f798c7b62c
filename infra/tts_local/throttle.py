"""API Gateway's throttles on the local front: the usage plan's per key and the stage's for every
request (template.yaml TtsApi: Auth.UsagePlan.Throttle and MethodSettings), as token buckets that
refill at RateLimit per second up to BurstLimit. Past them API Gateway answers 429 itself."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    rate: float  # tokens per second
    burst: float
    _tokens: float = -1.0
    _at: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if self._tokens < 0:
                self._tokens = self.burst
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


class Throttles:
    """One bucket for the stage and one per API key id."""

    def __init__(self, stage: tuple[float, float] | None, per_key: tuple[float, float] | None) -> None:
        self.stage = TokenBucket(*stage) if stage else None
        self.per_key = per_key
        self._keys: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def allow(self, key_id: str | None) -> bool:
        if key_id is not None and self.per_key is not None:
            with self._lock:
                bucket = self._keys.setdefault(key_id, TokenBucket(*self.per_key))
            if not bucket.take():
                return False
        return self.stage is None or self.stage.take()
