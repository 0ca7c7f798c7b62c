"""Captions and sentence marks, read back by maintained parsers (srt, webvtt-py); ID3 chapters read
back by mutagen, the tagged MP3 still decoded by ffmpeg."""

from __future__ import annotations

import io
import json

import av
import numpy as np
import pytest
import srt
import webvtt
from mutagen.id3 import ID3

from tts_core.delivery.captions import TimedSpan, cues, to_marks, to_srt, to_vtt
from tts_core.delivery.chapters import Chapter, Tags, tag_mp3
from tts_core.delivery.encode import encode
from tts_core.segmentation import segment_spans, sentence_spans

TEXT = ("Hello, world. This is the first segment, with two sentences! 你好，世界。今天天气很好。"
        "A last one: e.g. this & <that> --> there?")


def timed(text: str, max_chars: int, pause_s: float, seconds_per_char: float = 0.07) -> tuple[list[TimedSpan], float]:
    """The segments as the pipeline joins them: each its own duration, a pause between two."""
    spans, start = [], 0.0
    for s in segment_spans(text, max_chars):
        duration = (s.end - s.start) * seconds_per_char
        spans.append(TimedSpan(s.start, s.end, start, duration))
        start += duration + pause_s
    return spans, start - pause_s


@pytest.mark.parametrize("max_chars", [30, 70, 1000])  # sentences split across segments, several per segment, one
def test_captions_parse_in_order_without_overlap_and_end_with_the_audio(max_chars) -> None:
    spans, total_s = timed(TEXT, max_chars, pause_s=0.3)
    sentences = sentence_spans(TEXT)
    got = cues(TEXT, sentences, spans)
    expected_text = [TEXT[s.start:s.end] for s in sentences]

    parsed_srt = list(srt.parse(to_srt(got)))
    assert [c.content for c in parsed_srt] == expected_text
    parsed_vtt = webvtt.from_buffer(io.StringIO(to_vtt(got)))
    assert [c.text for c in parsed_vtt] == [t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                                            for t in expected_text]
    starts = [c.start.total_seconds() for c in parsed_srt]
    ends = [c.end.total_seconds() for c in parsed_srt]
    assert starts == sorted(starts) and all(a < b for a, b in zip(starts, ends, strict=True))
    assert all(end <= nxt for end, nxt in zip(ends, starts[1:], strict=False))  # no overlap
    assert starts[0] == 0.0 and abs(ends[-1] - total_s) < 0.05
    assert [c.start_time.in_milliseconds() / 1000 for c in parsed_vtt] == pytest.approx(starts, abs=0.001)


def test_sentences_in_one_segment_are_apportioned_by_characters() -> None:
    text = "One two three. Four five six seven eight nine ten."
    got = cues(text, sentence_spans(text), [TimedSpan(0, len(text), 1.0, 5.0)], offset_s=0.75)
    split = 1.0 + 5.0 * len("One two three.") / len(text) + 0.75
    assert [(c.start_s, c.end_s) for c in got] == [(1.75, round(split, 3)),
                                                   (round(1.0 + 5.0 * 15 / len(text) + 0.75, 3), 6.75)]


def test_marks_are_polly_sentence_marks_with_byte_offsets() -> None:
    spans, _ = timed(TEXT, 70, pause_s=0.3)
    got = cues(TEXT, sentence_spans(TEXT), spans)
    lines = to_marks(TEXT, got).splitlines()
    marks = [json.loads(line) for line in lines]
    encoded = TEXT.encode()
    assert [m["type"] for m in marks] == ["sentence"] * len(got)
    assert [m["time"] for m in marks] == [round(c.start_s * 1000) for c in got]
    assert all(encoded[m["start"]:m["end"]].decode() == m["value"] for m in marks)
    assert [m["value"] for m in marks] == [c.text for c in got]


def test_an_mp3_carries_its_chapters_and_tags_and_still_decodes(tmp_path) -> None:
    rate = 44100
    pcm = np.round(0.2 * np.sin(2 * np.pi * 220 * np.arange(rate * 6) / rate) * 32767).astype(np.int16)
    path = tmp_path / "book.mp3"
    path.write_bytes(encode(pcm, rate, "mp3", 192))
    chapters = [Chapter("Chapter 1: Loomings", 0.0, 2.5), Chapter("第二章", 2.5, 6.0)]
    tag_mp3(path, Tags(title="Moby-Dick", artist="Herman Melville", album="Moby-Dick", narrator="A. Reader"), chapters)

    id3 = ID3(path)
    assert (str(id3["TIT2"]), str(id3["TPE1"]), str(id3["TALB"])) == ("Moby-Dick", "Herman Melville", "Moby-Dick")
    assert str(id3["TXXX:NARRATOR"]) == "A. Reader"
    toc = id3.getall("CTOC")[0]
    assert toc.child_element_ids == ["chp0", "chp1"]
    read = [id3[f"CHAP:{i}"] for i in toc.child_element_ids]
    assert [(str(c.sub_frames["TIT2"]), c.start_time, c.end_time) for c in read] == [
        ("Chapter 1: Loomings", 0, 2500), ("第二章", 2500, 6000)]
    with av.open(str(path)) as container:
        # ffmpeg lists CHAP frames in file order (mutagen orders frames by size): the CTOC holds the order.
        by_start = sorted(container.chapters(), key=lambda c: c["start"])
        assert [c["metadata"].get("title") for c in by_start] == ["Chapter 1: Loomings", "第二章"]
        decoded = sum(frame.samples for frame in container.decode(audio=0))
    assert abs(decoded - pcm.size) / rate < 0.05
