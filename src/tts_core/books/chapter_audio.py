"""One chapter's audio: its segments' WAVs, in order with the pause between them, streamed into one file
and uploaded in parts, with captions (a cue per segment). Memory holds a few segments at a time, however
long the chapter; the file on disk is the only whole copy before S3.

The writer is the seam to the delivery package (issue 22): WAV through soundfile today; its streaming
Encoder (int16 chunks in, a file out, mastering and MP3/Opus/FLAC) replaces `_open_writer`."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import numpy as np
import soundfile as sf
import srt
import webvtt

from tts_core.audio import read_pcm16
from tts_core.books.models import BookPlan, ChapterPlan
from tts_core.errors import EngineError, NotFoundError
from tts_core.platform import storage

_PREFETCH = 8  # segments read ahead from S3: the join is bound by GET latency, memory by this window
CONTENT_TYPES = {"wav": "audio/wav", "srt": "application/x-subrip", "vtt": "text/vtt"}


def _segments(bucket: str, keys: list[str]) -> Iterator[np.ndarray]:
    with ThreadPoolExecutor(_PREFETCH) as pool:
        window = [pool.submit(storage.get_bytes, bucket, key) for key in keys[:_PREFETCH]]
        for i in range(len(keys)):
            try:
                data = window[i].result()
            except NotFoundError as exc:  # voiced by the pass, gone now: retrying will not bring it back
                raise EngineError(str(exc)) from exc
            if i + _PREFETCH < len(keys):
                window.append(pool.submit(storage.get_bytes, bucket, keys[i + _PREFETCH]))
            window[i] = None  # type: ignore[call-overload]  # drop the bytes once read
            samples, _rate = read_pcm16(data)
            yield samples


def encode_chapter(bucket: str, plan: BookPlan, chapter: ChapterPlan, engines: list[str], texts: list[str],
                   rate: int, pause_ms: int) -> dict[str, object]:
    """Write the chapter's files under outputs/<name>/ and return its summary (without `start_s`)."""
    keys = [storage.segment_key(plan.storage_id, i, e) for i, e in zip(chapter.segment_range, engines, strict=True)]
    pause = np.zeros(round(rate * pause_ms / 1000), dtype=np.int16)
    cues: list[tuple[float, float, str]] = []
    frames = 0
    fd, path = tempfile.mkstemp(suffix=".wav")
    os.close(fd)
    try:
        with sf.SoundFile(path, "w", samplerate=rate, channels=1, subtype="PCM_16", format="WAV") as out:
            for n, samples in enumerate(_segments(bucket, keys)):
                if samples.ndim != 1:
                    raise EngineError(f"segment {keys[n]} is not mono")
                if n:
                    out.write(pause)
                    frames += pause.size
                cues.append((frames / rate, (frames + samples.size) / rate, texts[n]))
                out.write(samples)
                frames += samples.size
        files = {"audio": storage.book_output_key(plan.output_name, f"{chapter.file_stem}.wav"),
                 "srt": storage.book_output_key(plan.output_name, f"{chapter.file_stem}.srt"),
                 "vtt": storage.book_output_key(plan.output_name, f"{chapter.file_stem}.vtt")}
        storage.upload_file(bucket, files["audio"], path, CONTENT_TYPES["wav"])
    finally:
        os.unlink(path)
    storage.put_bytes(bucket, files["srt"], captions_srt(cues).encode(), CONTENT_TYPES["srt"])
    storage.put_bytes(bucket, files["vtt"], captions_vtt(cues).encode(), CONTENT_TYPES["vtt"])
    return {"index": chapter.index, "title": chapter.title, "characters": chapter.characters,
            "segments": chapter.segments, "duration_s": round(frames / rate, 3), "files": files,
            "engines": sorted(set(engines), key=engines.index)}


def captions_srt(cues: list[tuple[float, float, str]]) -> str:
    return srt.compose([srt.Subtitle(i + 1, timedelta(seconds=s), timedelta(seconds=e), text)
                        for i, (s, e, text) in enumerate(cues)])


def captions_vtt(cues: list[tuple[float, float, str]]) -> str:
    document = webvtt.WebVTT()
    for start, end, text in cues:
        document.captions.append(webvtt.Caption(_vtt_time(start), _vtt_time(end), text))
    return document.content


def _vtt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"
