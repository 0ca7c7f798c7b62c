"""One Logger for the whole code base, and the metrics factory.

Service and namespace are set here rather than through POWERTOOLS_* variables: these objects are
built at import, and the local stack imports the code before it sets any function environment.
Metrics are EphemeralMetrics, one set per unit of work, flushed by the code that adds them: the
shared `Metrics` keeps its metric set at class level, which concurrent invocations in one process
(the local stack) would mix up and break."""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics

SERVICE = "tts"
METRICS_NAMESPACE = "TextToSpeech"

logger = Logger(service=SERVICE)


def new_metrics() -> EphemeralMetrics:
    """Metrics of one unit of work (dimension `service` set); call `flush_metrics()` when done."""
    return EphemeralMetrics(namespace=METRICS_NAMESPACE, service=SERVICE)
