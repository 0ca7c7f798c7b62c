"""The whole book as one file, where the format carries chapters: MP3 with ID3 CHAP/CTOC frames.

The chapter files are MP3 at one rate and one constant bitrate, so the book is their frames end to end
behind one ID3 tag naming each chapter's start and end: streamed from S3 into a multipart upload, a part
in memory at a time, never decoded or encoded again. Each chapter file's own ID3 tag and its encoder's
Info frame (LAME's frame count, which a player would take for the whole book's) are left out; that Info
frame's count gives each chapter's exact length in the book, its encoder delay and padding included, so
the chapter marks (and the manifest's `start_s`) fall where each chapter's frames begin. Other formats
have no chapter marks here: their chapters are delivered as separate files only."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import Any

from tts_core.books.models import BookPlan
from tts_core.delivery import chapters as id3
from tts_core.platform import storage

BOOK_FILE = "book.mp3"
_HEAD_BYTES = 64 << 10  # a chapter file's ID3 tag (title, album) and its first frame fit in this
# MPEG audio Layer III (ISO 11172-3, 13818-3): kbps by bitrate index, Hz by rate index, per version bits.
_KBPS = {3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
         2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)}
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


@dataclass(frozen=True)
class _Head:
    skip: int  # bytes of the file before its first audio frame (its ID3 tag and Info frame)
    duration_s: float | None  # from the Info frame's frame count; None: no Info frame


def _head(data: bytes) -> _Head:
    start = 0
    if len(data) >= 10 and data[:3] == b"ID3":  # ID3v2: a syncsafe size after the 10-byte header
        start = 10 + ((data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9])
    frame = data[start: start + 200]
    if len(frame) < 4 or frame[0] != 0xFF or frame[1] & 0xE0 != 0xE0 or (frame[1] >> 1) & 3 != 1:
        return _Head(start, None)  # no Layer III frame here
    version, rate_index = (frame[1] >> 3) & 3, (frame[2] >> 2) & 3
    bitrate = _KBPS[3 if version == 3 else 2][frame[2] >> 4] * 1000
    rate = _RATES[version][rate_index] if version in _RATES and rate_index < 3 else 0
    if not bitrate or not rate:
        return _Head(start, None)
    mono = frame[3] >> 6 == 3
    side = 4 + ((17 if mono else 32) if version == 3 else (9 if mono else 17))
    if frame[side: side + 4] not in (b"Xing", b"Info") or not frame[side + 7] & 1:
        return _Head(start, None)
    frames = int.from_bytes(frame[side + 8: side + 12], "big")
    samples_per_frame = 1152 if version == 3 else 576
    length = (144 if version == 3 else 72) * bitrate // rate + ((frame[2] >> 1) & 1)
    return _Head(start + length, frames * samples_per_frame / rate)


def id3_tag(title: str, marks: list[id3.Chapter]) -> bytes:
    """The tag alone: tag_mp3 writes it to an empty file, whose bytes are then the tag."""
    fd, path = tempfile.mkstemp(suffix=".mp3")
    os.close(fd)
    try:
        id3.tag_mp3(path, id3.Tags(title=title, album=title), marks)
        with open(path, "rb") as tagged:
            return tagged.read()
    finally:
        os.unlink(path)


def write(bucket: str, plan: BookPlan, chapters: list[dict[str, Any]]) -> tuple[str, list[float]] | None:
    """`chapters`: the manifest's, in order. The key written and each chapter's start in it, or None
    (not an MP3 book)."""
    if plan.delivery.format != "mp3" or not chapters:
        return None
    heads = [_head(storage.get_range(bucket, c["files"]["audio"], _HEAD_BYTES)) for c in chapters]
    starts, marks, at = [], [], 0.0
    for chapter, head in zip(chapters, heads, strict=True):
        length = head.duration_s if head.duration_s is not None else float(chapter["duration_s"])
        starts.append(round(at, 3))
        marks.append(id3.Chapter(chapter["title"], at, at + length))
        at += length
    key = storage.book_output_key(plan.output_name, BOOK_FILE)
    with storage.MultipartWriter(bucket, key, "audio/mpeg") as out:
        out.write(id3_tag(plan.title, marks))
        for chapter, head in zip(chapters, heads, strict=True):
            skip = head.skip
            for chunk in storage.iter_object(bucket, chapter["files"]["audio"]):
                out.write(chunk[skip:])
                skip = max(0, skip - len(chunk))
    return key, starts
