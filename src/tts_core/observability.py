"""One Logger and one Metrics for the whole code base (powertools reads service and namespace
from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()
