"""One Logger for the whole code base, and the metrics of one unit of work.

Service and namespace are set here rather than through POWERTOOLS_* variables: these objects are
built at import, and the local stack imports the code before it sets any function environment."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

SERVICE = "tts"
METRICS_NAMESPACE = "TextToSpeech"

logger = Logger(service=SERVICE)


def new_metrics() -> Metrics:
    """Metrics of one unit of work (dimension `service` set); call `flush_metrics()` when done: each unit
    has dimensions of its own (the breaker's metrics are dimensioned by service only)."""
    return Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)
