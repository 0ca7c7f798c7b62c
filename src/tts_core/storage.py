"""The S3 key scheme and the only code that reads or writes the bucket."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tts_core import aws
from tts_core.errors import NotFoundError, StorageError

AUDIO_PREFIX = "audio/"
RESULTS_PREFIX = "results/"


def audio_key(request_id: str, engine: str) -> str:
    # One key per engine: a primary that finishes after its timeout cannot overwrite the fallback's audio.
    return f"{AUDIO_PREFIX}{request_id}/{engine}.wav"


def result_key(request_id: str) -> str:
    return f"{RESULTS_PREFIX}{request_id}.json"


def put_bytes(bucket: str, key: str, body: bytes, content_type: str) -> None:
    try:
        aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    except (ClientError, BotoCoreError) as exc:
        raise StorageError(f"could not write s3://{bucket}/{key}: {exc}") from exc


def put_json(bucket: str, key: str, document: dict[str, Any]) -> None:
    body = json.dumps(document, ensure_ascii=False, indent=1).encode()
    put_bytes(bucket, key, body, "application/json")


def get_bytes(bucket: str, key: str) -> bytes:
    try:
        return aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise NotFoundError(f"s3://{bucket}/{key} does not exist") from exc
        raise StorageError(f"could not read s3://{bucket}/{key}: {exc}") from exc
    except BotoCoreError as exc:
        raise StorageError(f"could not read s3://{bucket}/{key}: {exc}") from exc


def get_json(bucket: str, key: str) -> dict[str, Any]:
    return json.loads(get_bytes(bucket, key))


def presigned_url(bucket: str, key: str, expires_s: int) -> str:
    return aws.client("s3").generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_s)
