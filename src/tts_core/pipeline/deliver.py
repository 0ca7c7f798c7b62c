"""Delivery in the pipeline: after the engines (and the join), once per request, in the record step.

Every path ends there (one engine, a joined long text, any engine of the failover order), so every
output is mastered once, over the whole of it, and the record reports what the delivered file itself
measured (decoded: codec included). A cache hit is already delivered. The engine's contract WAV is
read, resampled to the format's rate, mastered to the profile, encoded to `audio/<id>/<engine>.<ext>`
(a wav output replaces the contract WAV in place: mastering a mastered file again changes nothing, so a
retried record step gives the same file) and, with `captions`, described beside it."""

from __future__ import annotations

from tts_core.audio import read_pcm16
from tts_core.delivery.captions import TimedSpan, cues, to_marks, to_srt, to_vtt
from tts_core.delivery.formats import for_request
from tts_core.delivery.render import render
from tts_core.models import CaptionKeys, EngineOutput, LoudnessReport, SynthesisRequest
from tts_core.platform import storage
from tts_core.platform.config import ResultSettings
from tts_core.segmentation import segment_spans, sentence_spans


def deliver(request_id: str, request: SynthesisRequest, output: EngineOutput,
            settings: ResultSettings) -> EngineOutput:
    if output.cached:
        return output
    options = for_request(request, settings.audio_sample_rate)
    pcm, rate = read_pcm16(storage.get_bytes(output.bucket, output.audio_key))
    done = render(pcm, rate, options)
    key = storage.audio_key(request_id, output.engine, options.spec.extension)
    storage.put_bytes(output.bucket, key, done.audio, options.spec.content_type)
    captions = None
    if request.captions:
        spans = timed_spans(request, output, pcm.size / rate, settings.segment_max_chars)
        captions = _write_captions(output.bucket, key, request.text, spans, done.head_shift_s)
    measured = done.loudness
    report = LoudnessReport(
        integrated_lufs=measured.integrated_lufs, rms_dbfs=measured.rms_dbfs, gated_rms_dbfs=measured.gated_rms_dbfs,
        peak_dbfs=measured.peak_dbfs, true_peak_dbtp=measured.true_peak_dbtp, head_silence_s=measured.head_silence_s,
        tail_silence_s=measured.tail_silence_s, profile=options.mastering, meets_profile=not done.misses,
        misses=done.misses)
    return output.model_copy(update={
        "audio_key": key, "sample_rate": options.sample_rate, "duration_s": measured.duration_s,
        "format": options.format, "content_type": options.spec.content_type, "bitrate_kbps": options.bitrate_kbps,
        "captions": captions, "loudness": report})


def timed_spans(request: SynthesisRequest, output: EngineOutput, duration_s: float,
                segment_max_chars: int) -> list[TimedSpan]:
    """Where the text's pieces sit in the engine's audio: a joined long text's segments (the plan's cut,
    at the join's offsets), or the whole text over the whole audio."""
    parts = output.segments or []
    spans = segment_spans(request.text, segment_max_chars) if parts else []
    if parts and len(spans) == len(parts) and all(p.offset_s is not None for p in parts):
        return [TimedSpan(s.start, s.end, p.offset_s or 0.0, p.duration_s) for s, p in zip(spans, parts, strict=True)]
    return [TimedSpan(0, len(request.text), 0.0, duration_s)]


def _write_captions(bucket: str, audio_key: str, text: str, spans: list[TimedSpan], head_shift_s: float) -> CaptionKeys:
    timed = cues(text, sentence_spans(text), spans, offset_s=head_shift_s)
    keys = storage.caption_keys(audio_key)
    bodies = {"srt": to_srt(timed), "vtt": to_vtt(timed), "marks": to_marks(text, timed)}
    for kind, body in bodies.items():
        storage.put_bytes(bucket, keys[kind], body.encode(), storage.CAPTION_KINDS[kind][1])
    return CaptionKeys(**keys)
