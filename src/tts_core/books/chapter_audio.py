"""One chapter's audio: its segments' WAVs, in order with the pause between them, streamed through the
delivery package (mastering's two-pass streaming form, resampling, the streaming Encoder) into one file,
uploaded in parts, with captions (a cue per segment). Memory holds a few segments at a time, however
long the chapter; the file on disk is the only whole copy before S3.

Mastering `default` is the audio contract's own level (every segment is already at -20 dBFS gated RMS,
peaks under -1 dBFS): no pass is spent on it. Other profiles read the segments once more per pass."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from tts_core.audio import read_pcm16
from tts_core.books.models import BookPlan, ChapterPlan, Delivery
from tts_core.delivery import captions, formats, mastering
from tts_core.delivery import chapters as id3
from tts_core.delivery.encode import Encoder
from tts_core.delivery.render import resample_chunks
from tts_core.errors import EngineError, NotFoundError
from tts_core.platform import storage

_PREFETCH = 8  # segments read ahead from S3: the join is bound by GET latency, memory by this window


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
            if samples.ndim != 1:
                raise EngineError(f"segment {keys[i]} is not mono")
            yield samples


def encode_chapter(bucket: str, plan: BookPlan, chapter: ChapterPlan, engines: list[str], texts: list[str],
                   rate: int, pause_ms: int) -> dict[str, object]:
    """Write the chapter's files under outputs/<name>/ and return its summary (without `start_s`)."""
    keys = [storage.segment_key(plan.storage_id, i, e) for i, e in zip(chapter.segment_range, engines, strict=True)]
    pause = np.zeros(round(rate * pause_ms / 1000), dtype=np.int16)
    timed: list[captions.TimedSpan] = []

    def joined() -> Iterator[np.ndarray]:
        timed.clear()
        frames = 0
        for n, samples in enumerate(_segments(bucket, keys)):
            if n:
                yield pause
                frames += pause.size
            timed.append(captions.TimedSpan(n, n + 1, frames / rate, samples.size / rate))
            yield samples
            frames += samples.size

    delivery = plan.delivery
    spec = formats.spec(delivery.format)
    chunks, offset_s = _mastered(joined, rate, delivery, spec.encoder_gain_db)
    stem = chapter.file_stem
    files = {"audio": storage.book_output_key(plan.output_name, f"{stem}.{spec.extension}"),
             "srt": storage.book_output_key(plan.output_name, f"{stem}.srt"),
             "vtt": storage.book_output_key(plan.output_name, f"{stem}.vtt")}
    fd, path = tempfile.mkstemp(suffix=f".{spec.extension}")
    os.close(fd)
    try:
        with Encoder(path, delivery.format, delivery.sample_rate, delivery.bitrate_kbps) as encoder:
            for chunk in resample_chunks(chunks, rate, delivery.sample_rate):
                encoder.write(chunk)
        duration_s = encoder.frames / delivery.sample_rate
        if delivery.format == "mp3":
            id3.tag_mp3(path, id3.Tags(title=chapter.title, album=plan.title))
        storage.upload_file(bucket, files["audio"], path, spec.content_type)
    finally:
        os.unlink(path)
    cues = [captions.Cue(t.start_s + offset_s, t.start_s + offset_s + t.duration_s, t.start, t.end, texts[t.start])
            for t in timed]
    storage.put_bytes(bucket, files["srt"], captions.to_srt(cues).encode(), "application/x-subrip")
    storage.put_bytes(bucket, files["vtt"], captions.to_vtt(cues).encode(), "text/vtt")
    return {"index": chapter.index, "title": chapter.title, "characters": chapter.characters,
            "segments": chapter.segments, "duration_s": round(duration_s, 3), "files": files,
            "engines": sorted(set(engines), key=engines.index)}


def _mastered(source: Callable[[], Iterator[np.ndarray]], rate: int, delivery: Delivery,
              encoder_gain_db: float) -> tuple[Iterator[np.ndarray], float]:
    """The chapter's chunks as mastered (and the seconds of silence mastering put at the head). `source`
    gives the same chunks on every call: one read of the segments from S3 per pass."""
    if delivery.mastering == "default":
        return source(), 0.0
    profile = mastering.PROFILES[delivery.mastering]
    the_plan, frames = mastering.prepare(source, rate, profile, encoder_gain_db)
    chunks = mastering.apply(source(), profile, the_plan, rate, frames, encoder_gain_db)
    return chunks, (the_plan.head_pad - the_plan.head_cut) / rate
