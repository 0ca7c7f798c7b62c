"""The S3 key scheme and the only code that reads or writes the bucket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from tts_core.errors import NotFoundError, StorageError
from tts_core.platform import aws

AUDIO_PREFIX = "audio/"
RESULTS_PREFIX = "results/"
CACHE_PREFIX = "cache/"
INBOX_PREFIX = "inbox/"  # uploads: the only prefix that starts a synthesis (the EventBridge rule's filter)
OUTPUTS_PREFIX = "outputs/"
FAILED_PREFIX = "failed/"
SUPERSEDED_PREFIX = "superseded/"
BOOKS_PREFIX = "books/"  # a book job's working files: its plan, the Map's items, chapter summaries, errors
_MULTIPART = TransferConfig(multipart_threshold=16 << 20, multipart_chunksize=16 << 20, max_concurrency=4)
_MISSING = ("NoSuchKey", "NoSuchVersion", "404", "NotFound")
_CONFLICT = ("PreconditionFailed", "412", "ConditionalRequestConflict", "409")


class WriteConflictError(Exception):
    """A conditional write lost: the object changed since it was read (read it again and retry). Internal:
    callers that give up raise StorageError, which the state machine retries."""


@dataclass(frozen=True)
class ObjectHead:
    etag: str
    version_id: str | None
    metadata: dict[str, str]


def audio_key(request_id: str, engine: str, extension: str = "wav") -> str:
    """An engine's contract WAV, and the delivered file (the WAV replaced in place when wav is delivered).
    One key per engine: a primary that finishes after its timeout cannot overwrite the fallback's audio."""
    return f"{AUDIO_PREFIX}{request_id}/{engine}.{extension}"


# kind -> (extension, content type); the marks are JSON lines, as Polly's speech marks
CAPTION_KINDS = {"srt": ("srt", "application/x-subrip; charset=utf-8"), "vtt": ("vtt", "text/vtt; charset=utf-8"),
                 "marks": ("marks.json", "application/x-ndjson; charset=utf-8")}


def caption_keys(audio: str) -> dict[str, str]:
    """The captions and sentence marks beside an audio key (its extension replaced), by kind."""
    base = audio.rsplit(".", 1)[0]
    return {kind: f"{base}.{extension}" for kind, (extension, _) in CAPTION_KINDS.items()}


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


def segment_of(key: str) -> tuple[int, str] | None:
    """(index, engine) of a segment_key, or None for any other key under the prefix."""
    parts = key.rsplit("/", 1)[-1].split(".")
    return (int(parts[0]), parts[1]) if len(parts) == 3 and parts[0].isdigit() and parts[2] == "wav" else None


def plan_key(request_id: str) -> str:
    """How many segments a long text was cut into (written by the plan step, read for progress)."""
    return f"{segments_prefix(request_id)}plan.json"


def book_key(request_id: str, name: str) -> str:
    """One working file of a book job (`plan.json`, `passes/0.json`, `chapters/007.json` ...)."""
    return f"{BOOKS_PREFIX}{request_id}/{name}"


def book_output_key(name: str, file_name: str) -> str:
    """A finished book's file: `outputs/<name>/<file>` (chapters, captions, manifest.json)."""
    return f"{OUTPUTS_PREFIX}{name}/{file_name}"


def result_key(request_id: str) -> str:
    return f"{RESULTS_PREFIX}{request_id}.json"


def cache_keys(engine: str, digest: str, extension: str = "wav") -> tuple[str, str]:
    """(audio, metadata) of one cache entry: content-addressed by the request's digest, per engine."""
    base = f"{CACHE_PREFIX}{engine}/{digest}"
    return f"{base}.{extension}", f"{base}.json"


def output_keys(name: str, extension: str = "wav") -> tuple[str, str]:
    """(audio, record) of an upload that was synthesized; `name` is already sanitised."""
    return f"{OUTPUTS_PREFIX}{name}.{extension}", f"{OUTPUTS_PREFIX}{name}.json"


def failed_key(name: str) -> str:
    return f"{FAILED_PREFIX}{name}.json"


def superseded_key(name: str, version: str) -> str:
    """The record of one version of an upload that a newer version of its key replaced."""
    return f"{SUPERSEDED_PREFIX}{name}/{version}.json"


def put_bytes(bucket: str, key: str, body: bytes, content_type: str, *, metadata: dict[str, str] | None = None,
              if_match: str | None = None, if_absent: bool = False) -> None:
    """With `if_match` (an ETag) or `if_absent`, a conditional write: WriteConflictError if it lost."""
    conditions = {"IfMatch": if_match} if if_match else {"IfNoneMatch": "*"} if if_absent else {}
    try:
        aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type,
                                    Metadata=metadata or {}, **conditions)
    except ClientError as exc:
        if conditions and _error_code(exc) in _CONFLICT + _MISSING:
            raise WriteConflictError(f"s3://{bucket}/{key} changed while it was being written") from exc
        raise StorageError(f"could not write s3://{bucket}/{key}: {exc}") from exc
    except BotoCoreError as exc:
        raise StorageError(f"could not write s3://{bucket}/{key}: {exc}") from exc


def put_json(bucket: str, key: str, document: dict[str, Any], **conditions: Any) -> None:
    body = json.dumps(document, ensure_ascii=False, indent=1).encode()
    put_bytes(bucket, key, body, "application/json", **conditions)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def _reading(bucket: str, key: str, *, missing: tuple[str, ...] = _MISSING, which: str | None = None) -> Iterator[None]:
    """S3's errors of a read as ours: NotFoundError for `missing` codes, StorageError for the rest."""
    try:
        yield
    except ClientError as exc:
        if _error_code(exc) in missing:
            where = f"s3://{bucket}/{key}" + (f" ({which})" if which else "")
            raise NotFoundError(f"{where} does not exist") from exc
        raise StorageError(f"could not read s3://{bucket}/{key}: {exc}") from exc
    except BotoCoreError as exc:
        raise StorageError(f"could not read s3://{bucket}/{key}: {exc}") from exc


def head(bucket: str, key: str) -> ObjectHead | None:
    """The current version of an object (None if there is none)."""
    try:
        with _reading(bucket, key):
            answer = aws.client("s3").head_object(Bucket=bucket, Key=key)
    except NotFoundError:
        return None
    version = answer.get("VersionId")
    return ObjectHead(etag=answer["ETag"].strip('"'), version_id=None if version in (None, "null") else version,
                      metadata=answer.get("Metadata", {}))


def get_bytes(bucket: str, key: str) -> bytes:
    with _reading(bucket, key):
        return aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


def upload_file(bucket: str, key: str, path: str, content_type: str) -> None:
    """A file on disk to S3, in parts above 16 MB (a chapter's audio never passes through memory whole)."""
    try:
        aws.client("s3").upload_file(path, bucket, key, ExtraArgs={"ContentType": content_type}, Config=_MULTIPART)
    except (ClientError, BotoCoreError, S3UploadFailedError) as exc:
        raise StorageError(f"could not upload s3://{bucket}/{key}: {exc}") from exc


def get_range(bucket: str, key: str, length: int) -> bytes:
    """The first `length` bytes of an object (fewer if it is shorter)."""
    with _reading(bucket, key):
        return aws.client("s3").get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{length - 1}")["Body"].read()


def iter_object(bucket: str, key: str, chunk_bytes: int = 8 << 20) -> Iterator[bytes]:
    """An object's bytes a chunk at a time (never the whole object in memory)."""
    with _reading(bucket, key):
        body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
        yield from body.iter_chunks(chunk_bytes)


class MultipartWriter:
    """Bytes written in order -> one S3 object by multipart upload, one part (`part_bytes`, at least S3's
    5 MiB) in memory at a time. A context manager: completed on success, aborted on an exception."""

    def __init__(self, bucket: str, key: str, content_type: str, part_bytes: int = 16 << 20) -> None:
        self.bucket, self.key, self.part_bytes = bucket, key, max(part_bytes, 5 << 20)
        self._buffer = bytearray()
        self._parts: list[dict[str, Any]] = []
        self._upload_id = self._call("create_multipart_upload", ContentType=content_type)["UploadId"]

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(aws.client("s3"), operation)(Bucket=self.bucket, Key=self.key, **kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"could not upload s3://{self.bucket}/{self.key} ({operation}): {exc}") from exc

    def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= self.part_bytes:
            self._flush(bytes(self._buffer[: self.part_bytes]))
            del self._buffer[: self.part_bytes]

    def _flush(self, body: bytes) -> None:
        number = len(self._parts) + 1
        answer = self._call("upload_part", UploadId=self._upload_id, PartNumber=number, Body=body)
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def __enter__(self) -> MultipartWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None:
            self._call("abort_multipart_upload", UploadId=self._upload_id)
            return
        if self._buffer or not self._parts:
            self._flush(bytes(self._buffer))
        self._call("complete_multipart_upload", UploadId=self._upload_id, MultipartUpload={"Parts": self._parts})


def get_json(bucket: str, key: str) -> dict[str, Any]:
    return json.loads(get_bytes(bucket, key))


def get_object(bucket: str, key: str, *, etag: str | None = None, version_id: str | None = None) -> bytes:
    """The object's bytes; with `version_id` that version (still there when a newer one replaced it),
    with `etag` only if it is still the current content (NotFoundError if it changed or went)."""
    if etag is None and version_id is None:
        return get_bytes(bucket, key)
    which = {"VersionId": version_id} if version_id else {"IfMatch": etag}
    with _reading(bucket, key, missing=(*_MISSING, "PreconditionFailed", "412", "InvalidArgument"),
                  which=version_id or etag):
        return aws.client("s3").get_object(Bucket=bucket, Key=key, **which)["Body"].read()


def exists(bucket: str, key: str) -> bool:
    return head(bucket, key) is not None


def copy(bucket: str, source_key: str, key: str, *, metadata: dict[str, str] | None = None,
         content_type: str = "audio/wav", if_match: str | None = None, if_absent: bool = False) -> None:
    """A server-side copy (its Content-Type too): audio never passes through the Lambda. With `metadata`,
    the copy carries it (and `content_type`) instead of the source's; with `if_match` or `if_absent`,
    conditional as put_bytes is."""
    conditions = {"IfMatch": if_match} if if_match else {"IfNoneMatch": "*"} if if_absent else {}
    replace = ({"Metadata": metadata, "MetadataDirective": "REPLACE", "ContentType": content_type}
               if metadata is not None else {})
    try:
        aws.client("s3").copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": source_key},
                                     **replace, **conditions)
    except ClientError as exc:
        if conditions and _error_code(exc) in _CONFLICT + _MISSING:
            raise WriteConflictError(f"s3://{bucket}/{key} changed while it was being written") from exc
        raise StorageError(f"could not copy s3://{bucket}/{source_key} to {key}: {exc}") from exc
    except BotoCoreError as exc:
        raise StorageError(f"could not copy s3://{bucket}/{source_key} to {key}: {exc}") from exc


def delete(bucket: str, key: str, *, if_match: str | None = None) -> None:
    """With `if_match`, only if the object is still that one (WriteConflictError otherwise)."""
    try:
        aws.client("s3").delete_object(Bucket=bucket, Key=key, **({"IfMatch": if_match} if if_match else {}))
    except ClientError as exc:
        if if_match and _error_code(exc) in _CONFLICT + _MISSING:
            raise WriteConflictError(f"s3://{bucket}/{key} changed before it could be deleted") from exc
        raise StorageError(f"could not delete s3://{bucket}/{key}: {exc}") from exc
    except BotoCoreError as exc:
        raise StorageError(f"could not delete s3://{bucket}/{key}: {exc}") from exc


def delete_versions(bucket: str, prefix: str) -> int:
    """Every version and delete marker under `prefix`, deleted for good (versioning keeps a deleted
    object's data otherwise); returns how many went."""
    try:
        pages = aws.client("s3").get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
        versions = [(v["Key"], v["VersionId"]) for page in pages
                    for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]]
        for key, version in versions:
            aws.client("s3").delete_object(Bucket=bucket, Key=key, VersionId=version)
    except (ClientError, BotoCoreError) as exc:
        raise StorageError(f"could not delete the versions under s3://{bucket}/{prefix}: {exc}") from exc
    return len(versions)


def list_keys(bucket: str, prefix: str) -> list[str]:
    return list(list_sizes(bucket, prefix))


def list_sizes(bucket: str, prefix: str) -> dict[str, int]:
    """Every key under the prefix and its size in bytes (one LIST per 1,000 keys, no GET)."""
    try:
        pages = aws.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return {item["Key"]: int(item["Size"]) for page in pages for item in page.get("Contents", [])}
    except (ClientError, BotoCoreError) as exc:
        raise StorageError(f"could not list s3://{bucket}/{prefix}: {exc}") from exc


def presigned_put_url(bucket: str, key: str, expires_s: int) -> str:
    """Where a client PUTs an object itself (a manuscript too big for an API body: up to 5 GB)."""
    return aws.client("s3").generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_s)


def presigned_origin(bucket: str) -> str:
    """Where the bucket's presigned URLs point (scheme, host and port): what a page must be allowed to reach."""
    parts = urlsplit(presigned_url(bucket, f"{AUDIO_PREFIX}origin", 60))  # a key the API may read: no other
    return f"{parts.scheme}://{parts.netloc}"


def presigned_url(bucket: str, key: str, expires_s: int, content_type: str | None = None) -> str:
    """A GET URL; with `content_type`, S3 answers with that Content-Type whatever the object was stored with."""
    params = {"Bucket": bucket, "Key": key} | ({"ResponseContentType": content_type} if content_type else {})
    return aws.client("s3").generate_presigned_url("get_object", Params=params, ExpiresIn=expires_s)
