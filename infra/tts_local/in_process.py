"""What running many Lambda invocations at once in ONE process needs, installed by the local stack when it
starts and removed when it stops. In AWS each invocation has a process of its own, so production code
uses powertools as it is; here three things would be shared between concurrent invocations:

- the Logger's keys (function_name, correlation_id, ...) live on its formatter, one dict per process:
  here they live in a ContextVar (the stack runs each invocation in a context of its own);
- `Metrics` keeps its metric set at class level: here each unit of work gets `EphemeralMetrics`;
- powertools keeps the event being resolved on a class attribute (`BaseRouter.current_event`): here the
  API resolver's `resolve` runs under a lock (the synchronous wait for the audio runs after it, unlocked).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import EphemeralMetrics

from tts_core.api.app import app as api_resolver
from tts_core.platform import observability


class PerContextFormatter(LambdaPowertoolsFormatter):
    """The formatter's keys in a ContextVar; every change makes a new dict, so an invocation never sees, nor
    changes, another's keys. A context that never set any (a new thread) sees the keys it started with."""

    def __init__(self, initial: dict[str, Any], **kwargs: Any) -> None:
        self._keys: ContextVar[dict[str, Any]] = ContextVar("log_keys")
        super().__init__(**kwargs)
        self._initial = dict(initial)
        self.log_format = dict(initial)

    @property  # type: ignore[override]
    def log_format(self) -> dict[str, Any]:
        try:
            return self._keys.get()
        except LookupError:
            return dict(getattr(self, "_initial", {}))

    @log_format.setter
    def log_format(self, value: dict[str, Any]) -> None:
        self._keys.set(value)

    def append_keys(self, **additional_keys: Any) -> None:
        self.log_format = {**self.log_format, **additional_keys}

    def remove_keys(self, keys: Iterable[str]) -> None:
        gone = set(keys)
        self.log_format = {k: v for k, v in self.log_format.items() if k not in gone}


@dataclass
class _Saved:
    formatter: Any
    metrics_class: type[Any]
    resolve: Callable[..., Any]


_saved: _Saved | None = None
_resolving = threading.Lock()


def install() -> None:
    global _saved
    if _saved is not None:
        return
    handler = observability.logger.registered_handler
    old = handler.formatter
    keys = dict(getattr(old, "log_format", {}))
    formatter = PerContextFormatter(keys)
    original_resolve = api_resolver.resolve

    def locked_resolve(*args: Any, **kwargs: Any) -> Any:
        with _resolving:
            return original_resolve(*args, **kwargs)

    _saved = _Saved(formatter=old, metrics_class=observability.Metrics, resolve=original_resolve)
    handler.setFormatter(formatter)
    observability.Metrics = EphemeralMetrics  # type: ignore[misc]  # what new_metrics() builds
    api_resolver.resolve = locked_resolve  # type: ignore[method-assign]


def uninstall() -> None:
    global _saved
    if _saved is None:
        return
    observability.logger.registered_handler.setFormatter(_saved.formatter)
    observability.Metrics = _saved.metrics_class  # type: ignore[misc]
    del api_resolver.resolve  # the instance attribute: the class's method shows through again
    _saved = None
