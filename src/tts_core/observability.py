"""One Logger and one Metrics for the whole code base.

Service and namespace are set here rather than through POWERTOOLS_* variables: the objects are
built at import, and the local stack imports the code before it sets any function environment."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

SERVICE = "tts"
METRICS_NAMESPACE = "TextToSpeech"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)
