"""One Logger for the whole code base, and the metrics factory.

Service and namespace are set here rather than through POWERTOOLS_* variables: these objects are
built at import, and the local stack imports the code before it sets any function environment.
Metrics are EphemeralMetrics, one set per unit of work, flushed by the code that adds them: the
shared `Metrics` keeps its metric set at class level, which concurrent invocations in one process
(the local stack) would mix up and break. The Logger's keys are per context for the same reason."""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import EphemeralMetrics

SERVICE = "tts"
METRICS_NAMESPACE = "TextToSpeech"


class PerContextFormatter(LambdaPowertoolsFormatter):
    """powertools keeps a log line's keys (function_name, correlation_id, request_id...) on its formatter,
    one dict for the process. Lambda runs one invocation per process at a time; the local stack runs
    concurrent invocations in one process, each in a context of its own (`contextvars`). Here the keys
    live in a ContextVar and every change makes a new dict, so an invocation never sees, nor changes,
    another's keys. A context that never set any (a new thread) sees the keys the Logger started with."""

    def __init__(self, **kwargs: Any) -> None:
        self._keys: ContextVar[dict[str, Any]] = ContextVar("log_keys")
        self._initial: dict[str, Any] = {}
        super().__init__(**kwargs)

    @property  # type: ignore[override]
    def log_format(self) -> dict[str, Any]:
        try:
            return self._keys.get()
        except LookupError:
            return dict(self._initial)

    @log_format.setter
    def log_format(self, value: dict[str, Any]) -> None:
        self._keys.set(value)

    def append_keys(self, **additional_keys: Any) -> None:
        self.log_format = {**self.log_format, **additional_keys}

    def remove_keys(self, keys: Iterable[str]) -> None:
        gone = set(keys)
        self.log_format = {k: v for k, v in self.log_format.items() if k not in gone}

    def keep_as_initial(self) -> None:
        """The current keys become what contexts without keys of their own see."""
        self._initial = dict(self.log_format)


_formatter = PerContextFormatter()
logger = Logger(service=SERVICE, logger_formatter=_formatter)
_formatter.keep_as_initial()


def new_metrics() -> EphemeralMetrics:
    """Metrics of one unit of work (dimension `service` set); call `flush_metrics()` when done."""
    return EphemeralMetrics(namespace=METRICS_NAMESPACE, service=SERVICE)
