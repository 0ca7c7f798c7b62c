"""ID3v2 chapters (CHAP frames under one ordered, top-level CTOC, ID3v2 Chapter Frame Addendum 1.0)
and title/artist/album tags on an MP3 file, with mutagen."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mutagen.id3 import CHAP, CTOC, ID3, TALB, TIT2, TPE1, TXXX, CTOCFlags, ID3NoHeaderError


@dataclass(frozen=True)
class Chapter:
    title: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Tags:
    title: str | None = None
    artist: str | None = None  # a book's author
    album: str | None = None
    narrator: str | None = None  # no standard ID3 frame: TXXX:NARRATOR


def tag_mp3(path: str | Path, tags: Tags, chapters: Sequence[Chapter] = ()) -> None:
    try:
        id3 = ID3(str(path))
    except ID3NoHeaderError:
        id3 = ID3()
    for frame, value in ((TIT2, tags.title), (TPE1, tags.artist), (TALB, tags.album)):
        if value:
            id3.add(frame(encoding=3, text=[value]))
    if tags.narrator:
        id3.add(TXXX(encoding=3, desc="NARRATOR", text=[tags.narrator]))
    ids = [f"chp{i}" for i in range(len(chapters))]
    if chapters:
        id3.add(CTOC(element_id="toc", flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED, child_element_ids=ids,
                     sub_frames=[TIT2(encoding=3, text=[tags.title or "Chapters"])]))
    for element_id, chapter in zip(ids, chapters, strict=True):
        id3.add(CHAP(element_id=element_id, start_time=round(chapter.start_s * 1000),
                     end_time=round(chapter.end_s * 1000), sub_frames=[TIT2(encoding=3, text=[chapter.title])]))
    id3.save(str(path), v2_version=4)
