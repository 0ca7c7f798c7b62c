"""S3's conditional CopyObject (IfMatch / IfNoneMatch on the destination), which moto ignores: a botocore
`before-parameter-build.s3.CopyObject` handler that refuses the copy as S3 does (412 PreconditionFailed)
when the destination does not match. Installed by the local stack."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import ClientError


def check_copy_conditions(params: dict[str, Any], **_: Any) -> None:
    if_match, if_none_match = params.get("IfMatch"), params.get("IfNoneMatch")
    if not if_match and if_none_match != "*":
        return
    try:
        etag: str | None = boto3.client("s3").head_object(Bucket=params["Bucket"], Key=params["Key"])["ETag"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
        etag = None
    if (if_none_match == "*" and etag is not None) or (if_match and (etag or "").strip('"') != if_match.strip('"')):
        raise ClientError({"Error": {"Code": "PreconditionFailed", "Message": "At least one of the pre-conditions "
                                     "you specified did not hold"}}, "CopyObject")
