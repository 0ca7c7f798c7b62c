"""The S3 key scheme and the only code that reads or writes the bucket."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tts_core.errors import NotFoundError, StorageError
from tts_core.platform import aws

AUDIO_PREFIX = "audio/"
RESULTS_PREFIX = "results/"
CACHE_PREFIX = "cache/"
INBOX_PREFIX = "inbox/"  # uploads: the only prefix that starts a synthesis (the EventBridge rule's filter)
OUTPUTS_PREFIX = "outputs/"
FAILED_PREFIX = "failed/"


def audio_key(request_id: str, engine: str) -> str:
    # One key per engine: a primary that finishes after its timeout cannot overwrite the fallback's audio.
    return f"{AUDIO_PREFIX}{request_id}/{engine}.wav"


def segments_prefix(request_id: str) -> str:
    return f"{AUDIO_PREFIX}{request_id}/segments/"


def segment_key(request_id: str, index: int, engine: str) -> str:
    """One segment's WAV: per engine (as audio_key), and sortable by index."""
    return f"{segments_prefix(request_id)}{index:05d}.{engine}.wav"


def segment_index(key: str) -> int | None:
    """The index in a segment_key, or None for any other key under the prefix."""
    name = key.rsplit("/", 1)[-1]
    index, _, rest = name.partition(".")
    return int(index) if index.isdigit() and rest.endswith(".wav") else None


def plan_key(request_id: str) -> str:
    """How many segments a long text was cut into (written by the plan step, read for progress)."""
    return f"{segments_prefix(request_id)}plan.json"


def result_key(request_id: str) -> str:
    return f"{RESULTS_PREFIX}{request_id}.json"


def cache_keys(engine: str, digest: str) -> tuple[str, str]:
    """(WAV, metadata) of one cache entry: content-addressed by the request's digest, per engine."""
    base = f"{CACHE_PREFIX}{engine}/{digest}"
    return f"{base}.wav", f"{base}.json"


def output_keys(name: str) -> tuple[str, str]:
    """(WAV, record) of an upload that was synthesized; `name` is already sanitised."""
    return f"{OUTPUTS_PREFIX}{name}.wav", f"{OUTPUTS_PREFIX}{name}.json"


def failed_key(name: str) -> str:
    return f"{FAILED_PREFIX}{name}.json"


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


def get_object(bucket: str, key: str, *, etag: str | None = None) -> bytes:
    """The object's bytes; with `etag`, only that version of it (NotFoundError if it changed or went)."""
    if etag is None:
        return get_bytes(bucket, key)
    try:
        return aws.client("s3").get_object(Bucket=bucket, Key=key, IfMatch=etag)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "PreconditionFailed", "412"):
            raise NotFoundError(f"s3://{bucket}/{key} with ETag {etag} does not exist") from exc
        raise StorageError(f"could not read s3://{bucket}/{key}: {exc}") from exc
    except BotoCoreError as exc:
        raise StorageError(f"could not read s3://{bucket}/{key}: {exc}") from exc


def exists(bucket: str, key: str) -> bool:
    try:
        aws.client("s3").head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            return False
        raise StorageError(f"could not read s3://{bucket}/{key}: {exc}") from exc
    except BotoCoreError as exc:
        raise StorageError(f"could not read s3://{bucket}/{key}: {exc}") from exc


def copy(bucket: str, source_key: str, key: str) -> None:
    """A server-side copy: audio never passes through the Lambda."""
    try:
        aws.client("s3").copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": source_key})
    except (ClientError, BotoCoreError) as exc:
        raise StorageError(f"could not copy s3://{bucket}/{source_key} to {key}: {exc}") from exc


def delete(bucket: str, key: str) -> None:
    try:
        aws.client("s3").delete_object(Bucket=bucket, Key=key)
    except (ClientError, BotoCoreError) as exc:
        raise StorageError(f"could not delete s3://{bucket}/{key}: {exc}") from exc


def list_keys(bucket: str, prefix: str) -> list[str]:
    try:
        pages = aws.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]
    except (ClientError, BotoCoreError) as exc:
        raise StorageError(f"could not list s3://{bucket}/{prefix}: {exc}") from exc


def presigned_url(bucket: str, key: str, expires_s: int) -> str:
    return aws.client("s3").generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_s)
