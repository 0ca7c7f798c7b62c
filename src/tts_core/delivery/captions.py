"""Captions (SubRip .srt, WebVTT .vtt) and sentence marks (.marks.json, Amazon Polly's speech-marks
shape) from the text's sentences and where each piece of the text sits in the audio.

Timing: each `TimedSpan` is a piece of the text (a segment) with the seconds it occupies in the joined
audio (its start is the sum of the durations and pauses before it). A sentence starts at the time of its
first character and ends at the time of its last: within a span, time is apportioned by characters (no
engine reports per-sentence times today), so a span holding several sentences gives one cue each and
a sentence cut across spans is one cue spanning both. Cues are in order, never overlap, and the last
ends where its span's audio ends."""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from dataclasses import dataclass

from tts_core.segmentation import Span


@dataclass(frozen=True)
class TimedSpan:
    start: int  # characters [start, end) of the text
    end: int
    start_s: float  # where they are heard
    duration_s: float


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    start: int  # the sentence's characters in the text
    end: int
    text: str


def cues(text: str, sentences: Sequence[Span], timed: Sequence[TimedSpan], *, offset_s: float = 0.0) -> list[Cue]:
    """One cue per sentence; `offset_s` shifts them all (silence put at the head by mastering)."""
    spans = sorted(timed, key=lambda t: t.start)
    starts = [t.start for t in spans]

    def time_at(char: int, *, closing: bool) -> float:
        # The span holding the character (for an end, the one holding the character before it).
        i = bisect.bisect_right(starts, char - 1 if closing else char) - 1
        if i < 0:
            return spans[0].start_s
        span = spans[i]
        if not closing and char >= span.end:  # between spans: the next one starts it
            span = spans[min(i + 1, len(spans) - 1)]
        length = max(1, span.end - span.start)
        fraction = min(1.0, max(0.0, (char - span.start) / length))
        return span.start_s + span.duration_s * fraction

    out = []
    for s in sentences:
        start, end = time_at(s.start, closing=False), time_at(s.end, closing=True)
        out.append(Cue(round(start + offset_s, 3), round(max(start, end) + offset_s, 3), s.start, s.end,
                       text[s.start:s.end]))
    return out


def _clock(seconds: float, separator: str) -> str:
    ms = round(seconds * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def _one_line(text: str) -> str:
    return " ".join(text.split())  # a blank line would end the cue


def to_srt(items: Sequence[Cue]) -> str:
    return "".join(f"{i}\n{_clock(c.start_s, ',')} --> {_clock(c.end_s, ',')}\n{_one_line(c.text)}\n\n"
                   for i, c in enumerate(items, start=1))


def to_vtt(items: Sequence[Cue]) -> str:
    def escaped(text: str) -> str:  # WebVTT cue text: & < > are markup
        return _one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    return "WEBVTT\n\n" + "".join(f"{_clock(c.start_s, '.')} --> {_clock(c.end_s, '.')}\n{escaped(c.text)}\n\n"
                                  for c in items)


def to_marks(text: str, items: Sequence[Cue]) -> str:
    """Polly's sentence speech marks: one JSON object a line, `time` in ms from the start of the audio,
    `start`/`end` as byte offsets into the UTF-8 text (as Polly counts them), `value` the sentence."""
    lines = []
    for c in items:
        start = len(text[:c.start].encode())
        lines.append(json.dumps({"time": round(c.start_s * 1000), "type": "sentence", "start": start,
                                 "end": start + len(c.text.encode()), "value": c.text}, ensure_ascii=False))
    return "".join(line + "\n" for line in lines)
