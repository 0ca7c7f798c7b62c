"""The streaming S3 pieces books rely on, on moto: a multipart upload fed a chunk at a time (parts of
S3's minimum, the last one short, aborted on an error), ranged and chunked reads, segment keys."""

from __future__ import annotations

from typing import Any

import pytest

from tts_core.platform import storage

BUCKET = "books-unit-bucket"


def test_a_multipart_writer_uploads_what_it_was_fed_in_parts(s3: Any) -> None:
    data = bytes(range(256)) * (48 * 1024)  # 12 MiB: two 5 MiB parts and a short last one
    with storage.MultipartWriter(BUCKET, "books/x/big.bin", "application/octet-stream", part_bytes=1) as out:
        for start in range(0, len(data), 700_001):  # chunks that straddle the parts' edges
            out.write(data[start: start + 700_001])
    assert s3.head_object(Bucket=BUCKET, Key="books/x/big.bin", PartNumber=1)["PartsCount"] == 3
    assert storage.get_bytes(BUCKET, "books/x/big.bin") == data
    assert storage.get_range(BUCKET, "books/x/big.bin", 10) == data[:10]
    assert b"".join(storage.iter_object(BUCKET, "books/x/big.bin", chunk_bytes=1 << 20)) == data


def test_a_failed_multipart_upload_is_aborted_and_leaves_no_object(s3: Any) -> None:
    with pytest.raises(RuntimeError), storage.MultipartWriter(BUCKET, "books/x/broken.bin", "text/plain") as out:
        out.write(b"a" * (6 << 20))
        raise RuntimeError("the source failed")
    assert not storage.exists(BUCKET, "books/x/broken.bin")
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_an_empty_multipart_writer_writes_an_empty_object(s3: Any) -> None:
    with storage.MultipartWriter(BUCKET, "books/x/empty.bin", "text/plain"):
        pass
    assert storage.get_bytes(BUCKET, "books/x/empty.bin") == b""


def test_segment_keys_say_their_index_and_engine() -> None:
    key = storage.segment_key("book-abc", 12, "fallback")
    assert storage.segment_of(key) == (12, "fallback")
    assert storage.segment_of("audio/book-abc/segments/plan.json") is None
