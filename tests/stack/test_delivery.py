"""Publishable audio through the real state machine on the local stack: formats, mastering profiles,
captions and sentence marks, as the record step delivers them, read back by other decoders and parsers."""

from __future__ import annotations

import io
import json

import av
import mutagen.mp3
import numpy as np
import pytest
import srt
import webvtt

from tts_core.delivery import render
from tts_core.models import SynthesisRequest
from tts_core.platform import aws, storage
from tts_core.segmentation import sentence_spans
from tts_local.doubles import ToneEngine

pytestmark = pytest.mark.stack

TEXT = "It was a bright cold day in April. The clocks were striking thirteen! 你好，世界。"
ACX = SynthesisRequest(text=TEXT, format="mp3", captions=True, mastering="acx")


def decoded(data: bytes) -> tuple[np.ndarray, int]:
    """ffmpeg's decode (PyAV), as float samples."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(stream)])
    return samples.astype(np.float64) / (32768.0 if samples.dtype == np.int16 else 1.0), int(stream.rate)


def captions_of(stack, result) -> tuple[list, list, list[dict]]:
    keys = result.captions
    subrip = list(srt.parse(storage.get_bytes(stack.bucket, keys.srt).decode()))
    vtt = list(webvtt.from_buffer(io.StringIO(storage.get_bytes(stack.bucket, keys.vtt).decode())))
    marks = [json.loads(line) for line in storage.get_bytes(stack.bucket, keys.marks).decode().splitlines()]
    return subrip, vtt, marks


def content_type(stack, key: str) -> str:
    return aws.client("s3").head_object(Bucket=stack.bucket, Key=key)["ContentType"]


def test_an_acx_mp3_with_captions_from_the_offline_engine(local_stack, monkeypatch) -> None:
    monkeypatch.setenv("TTS_LOCAL_FAULTS", "primary=error,fallback=error")  # the real eSpeak NG speaks
    with local_stack(engines={"primary": ToneEngine("primary"), "fallback": ToneEngine("fallback")}) as stack:
        job = stack.wait(stack.submit(ACX))
        result = job.result
        assert result.engine_used == "offline" and result.status == "succeeded"
        assert (result.format, result.content_type, result.sample_rate, result.bitrate_kbps) == (
            "mp3", "audio/mpeg", 44100, 192)
        assert result.audio_key == storage.audio_key(job.request_id, "offline", "mp3")
        assert content_type(stack, result.audio_key) == "audio/mpeg"

        data = storage.get_bytes(stack.bucket, result.audio_key)
        frames = mutagen.mp3.MP3(io.BytesIO(data)).info  # the MP3's own frame headers
        assert (frames.sample_rate, frames.channels, frames.bitrate_mode) == (44100, 1, mutagen.mp3.BitrateMode.CBR)
        assert round(frames.bitrate / 1000) == 192
        samples, rate = decoded(data)
        assert abs(samples.size / rate - result.duration_s) < 0.05

        loudness = result.loudness
        assert loudness.profile == "acx" and loudness.meets_profile and loudness.misses == []
        rms = 10 * np.log10(np.mean(np.square(samples)))  # ACX's numbers, measured here on ffmpeg's decode
        assert -23.0 <= rms <= -18.0 and rms == pytest.approx(loudness.rms_dbfs, abs=0.1)
        assert 20 * np.log10(np.max(np.abs(samples))) <= -3.0
        assert 0.5 <= loudness.head_silence_s <= 1.0 and 1.0 <= loudness.tail_silence_s <= 5.0

        subrip, vtt, marks = captions_of(stack, result)
        sentences = [TEXT[s.start:s.end] for s in sentence_spans(TEXT)]
        assert [c.content for c in subrip] == [c.text for c in vtt] == [m["value"] for m in marks] == sentences
        starts = [c.start.total_seconds() for c in subrip]
        ends = [c.end.total_seconds() for c in subrip]
        assert starts == sorted(starts) and all(e <= s for e, s in zip(ends, starts[1:], strict=False))
        # Speech starts after the head's room tone and ends before the tail's, within 50 ms.
        assert starts[0] == pytest.approx(loudness.head_silence_s, abs=0.05)
        assert ends[-1] == pytest.approx(result.duration_s - loudness.tail_silence_s, abs=0.05)
        assert [m["time"] for m in marks] == [round(s * 1000) for s in starts]
        assert content_type(stack, result.captions.vtt).startswith("text/vtt")

        record = storage.get_json(stack.bucket, storage.result_key(job.request_id))
        assert record["format"] == "mp3" and record["loudness"]["meets_profile"] is True
        assert record["captions"] == result.captions.model_dump()


def test_a_long_text_is_mastered_once_after_the_join_and_captioned_on_its_segments(local_stack) -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(1, 9))
    request = SynthesisRequest(text=text, format="opus", mastering="podcast", captions=True)
    with local_stack(engines={"primary": ToneEngine("primary")}, SegmentMaxChars="40") as stack:
        job = stack.wait(stack.submit(request))
        result = job.result
        assert len(result.segments) > 1 and all(s.offset_s is not None for s in result.segments)
        assert (result.format, result.content_type, result.sample_rate) == ("opus", "audio/ogg", 24000)
        assert result.loudness.meets_profile and -20.0 <= result.loudness.integrated_lufs <= -18.0
        samples, rate = decoded(storage.get_bytes(stack.bucket, result.audio_key))
        assert abs(samples.size / rate - result.duration_s) < 0.05

        subrip, _, _ = captions_of(stack, result)
        assert [c.content for c in subrip] == [text[s.start:s.end] for s in sentence_spans(text)]
        assert subrip[-1].end.total_seconds() == pytest.approx(result.duration_s, abs=0.05)
        # Each segment's first sentence starts where the join put the segment.
        starts = {round(c.start.total_seconds(), 2) for c in subrip}
        assert all(round(s.offset_s, 2) in starts for s in result.segments)


def test_a_file_that_misses_its_profile_is_recorded_as_missing_it(local_stack, monkeypatch) -> None:
    real_prepare = render.prepare

    def twelve_db_down(*args, **kwargs):
        planned, frames = real_prepare(*args, **kwargs)
        return type(planned)(planned.gain_db - 12.0, planned.head_pad, planned.head_cut, planned.tail_pad,
                             planned.tail_cut), frames

    monkeypatch.setattr(render, "prepare", twelve_db_down)
    with local_stack(engines={"primary": ToneEngine("primary")}) as stack:
        result = stack.wait(stack.submit(ACX)).result
        assert result.status == "succeeded" and result.loudness.meets_profile is False
        assert any(m.startswith("rms_dbfs") for m in result.loudness.misses), result.loudness
        assert result.loudness.rms_dbfs < -30


def test_a_cache_hit_serves_the_delivered_file_and_its_captions(local_stack) -> None:
    with local_stack(engines={"primary": ToneEngine("primary")}) as stack:
        first = stack.wait(stack.submit(ACX)).result
        second = stack.wait(stack.submit(ACX)).result
        assert second.cache_hit and second.audio_key.endswith(".mp3") and second.format == "mp3"
        assert storage.get_bytes(stack.bucket, second.audio_key) == storage.get_bytes(stack.bucket, first.audio_key)
        assert second.loudness == first.loudness
        assert (storage.get_bytes(stack.bucket, second.captions.srt)
                == storage.get_bytes(stack.bucket, first.captions.srt))
        third = stack.wait(stack.submit(ACX.model_copy(update={"mastering": "broadcast", "format": None}))).result
        assert not third.cache_hit and third.format == "wav" and third.loudness.profile == "broadcast"


def test_uploads_deliver_their_format_and_captions(local_stack) -> None:
    with local_stack(engines={"primary": ToneEngine("primary")}, UploadTextFormat="flac") as stack:
        body = json.dumps({"text": TEXT, "format": "mp3", "captions": True, "mastering": "acx"}).encode()
        aws.client("s3").put_object(Bucket=stack.bucket, Key="inbox/book.json", Body=body)
        aws.client("s3").put_object(Bucket=stack.bucket, Key="inbox/note.txt", Body=b"Hello there.")
        for delivery in stack.deliveries:
            stack.wait(delivery.answer["request_id"])

        record = storage.get_json(stack.bucket, "outputs/book.json.json")
        assert record["status"] == "succeeded" and record["audio_key"] == "outputs/book.json.mp3"
        assert record["format"] == "mp3" and record["loudness"]["meets_profile"] is True
        assert record["captions"] == {"srt": "outputs/book.json.srt", "vtt": "outputs/book.json.vtt",
                                      "marks": "outputs/book.json.marks.json"}
        assert content_type(stack, "outputs/book.json.mp3") == "audio/mpeg"
        assert [c.content for c in srt.parse(storage.get_bytes(stack.bucket, "outputs/book.json.srt").decode())]
        note = storage.get_json(stack.bucket, "outputs/note.txt.json")
        assert note["audio_key"] == "outputs/note.txt.flac" and note["format"] == "flac"
        samples, _ = decoded(storage.get_bytes(stack.bucket, "outputs/note.txt.flac"))
        assert samples.size > 0
