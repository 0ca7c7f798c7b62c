"""Deadlines: the point in time a piece of work must give up by, and a call bounded by one."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tts_core.errors import EngineTimeoutError

T = TypeVar("T")


@dataclass(frozen=True)
class Deadline:
    """An absolute point in time (time.monotonic()) an engine must give up by."""

    at: float

    @classmethod
    def in_seconds(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.at



def run_with_deadline(fn: Callable[[], T], deadline: Deadline, *, what: str) -> T:
    """Run `fn` in a daemon thread and wait for it at most until the deadline (EngineTimeoutError).

    On expiry the thread is abandoned, not stopped: the calls this guards (the dashscope SDK's
    WebSocket, a Lambda invoke) offer no way to cancel them from outside. A daemon thread never
    keeps the process alive; it ends when its call returns or the process exits.
    """
    remaining = deadline.remaining()
    if remaining <= 0:
        raise EngineTimeoutError(f"{what}: deadline passed before the call", detail="Deadline")
    box: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # handed to the waiting thread
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name=f"deadline-{what}", daemon=True).start()
    if not done.wait(remaining):
        raise EngineTimeoutError(f"{what}: no answer within {remaining:.1f} s", detail="Deadline")
    if "error" in box:
        raise box["error"]
    return box["result"]  # type: ignore[no-any-return]
