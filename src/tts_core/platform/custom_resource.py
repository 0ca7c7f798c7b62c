"""CloudFormation custom resources backed by a Lambda: the answer CloudFormation waits for.

CloudFormation sends Create/Update/Delete with a pre-signed `ResponseURL`; the function must PUT its
outcome there, or the stack waits an hour. `answer` always sends one, and only SUCCESS: the work these
resources do is best-effort and must never fail (or roll back) a deploy; its outcome is recorded
elsewhere (the voice bootstrap's report)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

from tts_core.platform.observability import logger

PHYSICAL_ID = "voice-bootstrap"


def is_request(event: Any) -> bool:
    return isinstance(event, dict) and "RequestType" in event and "ResponseURL" in event


def answer(event: dict[str, Any], work: Callable[[], str]) -> dict[str, Any]:
    """Run `work` on Create and Update (not on Delete), then report SUCCESS with its summary, or with
    why it failed."""
    reason = "nothing to do on delete"
    if event["RequestType"] in ("Create", "Update"):
        try:
            reason = work()
        except Exception as exc:  # recorded, never raised: a deploy must not fail on best-effort work
            logger.exception("custom resource work failed")
            reason = f"failed, deploy continues: {type(exc).__name__}: {exc}"
    response = {"Status": "SUCCESS", "Reason": reason[:2000], "PhysicalResourceId": PHYSICAL_ID,
                "StackId": event["StackId"], "RequestId": event["RequestId"],
                "LogicalResourceId": event["LogicalResourceId"], "Data": {"Summary": reason[:2000]}}
    body = json.dumps(response).encode()
    # The pre-signed S3 URL takes a PUT with an empty content type (the signature covers it).
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT",
                                     headers={"Content-Type": "", "Content-Length": str(len(body))})
    with urllib.request.urlopen(request, timeout=30) as reply:
        logger.info("custom resource answered", extra={"status": reply.status, "reason": reason})
    return response
