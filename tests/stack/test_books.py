"""Book jobs on the local stack: the real book ASL (Distributed Maps reading the plan from S3) on moto,
engine doubles at the engine interface only."""

from __future__ import annotations

import io
import time
import uuid

import pytest
import soundfile as sf
from epub_books import make_epub
from mutagen.id3 import ID3

from tts_core.audio import read_pcm16
from tts_core.books import jobs as book_jobs
from tts_core.books.models import BookRequest
from tts_core.delivery.loudness import measure_file
from tts_core.errors import BookTooLongError, EngineError
from tts_core.platform import config, storage
from tts_core.platform.config import BookPlanSettings
from tts_local.doubles import ToneEngine

pytestmark = pytest.mark.stack

PAUSE_MS = 200
BOOK = {"BookSegmentMaxChars": "20", "BookMaxConcurrency": "4", "SegmentPauseMs": str(PAUSE_MS),
        "LastResortEnabled": "false"}
CHAPTERS = [
    {"title": "One", "text": "Alpha is first. Beta is second."},
    {"title": "Two", "text": "Gamma MARK here. Delta follows it."},
    {"title": "Three", "text": "Epsilon ends the book."},
]


def submit(stack, **fields) -> str:
    request = BookRequest.model_validate({"title": "Test Book", "chapters": CHAPTERS} | fields)
    return book_jobs.submit(stack.book_state_machine_arn, request, config.load(BookPlanSettings), str(uuid.uuid4()))


def wait(stack, request_id: str, timeout_s: float = 120):
    job = book_jobs.wait(stack.book_state_machine_arn, stack.bucket, request_id, timeout_s)
    assert job.status != "running", f"{request_id} still running"
    return job


def manifest_of(stack, job) -> dict:
    assert job.result is not None and job.result.manifest_key
    return storage.get_json(stack.bucket, job.result.manifest_key)


def history(stack, request_id: str) -> list[dict]:
    import boto3

    arn = stack.book_state_machine_arn.replace(":stateMachine:", ":execution:") + f":{request_id}"
    return boto3.client("stepfunctions", region_name="us-east-1").get_execution_history(executionArn=arn)["events"]


def test_a_book_is_voiced_by_chapter_in_order_with_its_manifest_and_captions(local_stack) -> None:
    primary = ToneEngine("primary")
    with local_stack(engines={"primary": primary, "fallback": ToneEngine("fallback")}, **BOOK) as stack:
        job = wait(stack, submit(stack))
        assert job.status == "succeeded", job
        manifest = manifest_of(stack, job)
        assert manifest["title"] == "Test Book"
        chapters = manifest["chapters"]
        assert [c["index"] for c in chapters] == [0, 1, 2]
        assert [c["title"] for c in chapters] == ["One", "Two", "Three"]
        assert all(c["engines"] == ["primary"] for c in chapters)
        assert chapters[0]["files"]["audio"] == f"outputs/{job.request_id}/01-one.wav"
        start = 0.0
        for chapter in chapters:
            assert chapter["start_s"] == pytest.approx(start, abs=1e-3)
            start += chapter["duration_s"]
            pcm, rate = read_pcm16(storage.get_bytes(stack.bucket, chapter["files"]["audio"]))
            assert pcm.size / rate == pytest.approx(chapter["duration_s"], abs=1e-3)
            srt = storage.get_bytes(stack.bucket, chapter["files"]["srt"]).decode()
            vtt = storage.get_bytes(stack.bucket, chapter["files"]["vtt"]).decode()
            assert vtt.startswith("WEBVTT")
            spoken = [line for line in srt.split("\n") if line and not line[0].isdigit()]
            # The cues are the chapter's segments in reading order, its title first.
            assert " ".join(spoken).startswith(chapter["title"])
            # ToneEngine speaks 0.25 s + 0.06 s per character: each cue's length gives its segment's text.
            cues = [c for c in srt.strip().split("\n\n")]
            assert len(cues) == chapter["segments"]
            assert pcm.size == pytest.approx(sum(round(rate * (0.25 + 0.06 * len(c.split("\n", 2)[2])))
                                                 for c in cues) + (len(cues) - 1) * round(rate * PAUSE_MS / 1000),
                                             abs=len(cues) * 2)
        assert manifest["totals"]["chapters"] == 3
        assert manifest["totals"]["duration_s"] == pytest.approx(start, abs=1e-3)
        assert manifest["estimate"]["primary_invocations"] == manifest["totals"]["segments"] == len(primary.calls)
        assert manifest["spent"]["by_engine"]["primary"]["segments"] == len(primary.calls)


def test_chapters_are_delivered_in_the_format_asked_and_mastered(local_stack) -> None:
    with local_stack(engines={"primary": ToneEngine("primary")}, **BOOK) as stack:
        job = wait(stack, submit(stack, format="mp3", mastering="podcast", chapters=CHAPTERS[:2]))
        assert job.status == "succeeded", job
        for chapter in manifest_of(stack, job)["chapters"]:
            assert chapter["files"]["audio"].endswith(".mp3")
            data = storage.get_bytes(stack.bucket, chapter["files"]["audio"])
            info = sf.info(io.BytesIO(data))
            assert info.format == "MP3"
            assert info.frames / info.samplerate == pytest.approx(chapter["duration_s"], abs=0.1)
            level = measure_file(io.BytesIO(data)).integrated_lufs
            assert level == pytest.approx(-19.0, abs=1.0)  # the podcast profile's target
            assert ID3(io.BytesIO(data))["TIT2"].text == [chapter["title"]]
        # The whole book, one MP3 whose ID3 chapters start where the manifest says.
        manifest = manifest_of(stack, job)
        book = storage.get_bytes(stack.bucket, manifest["files"]["book"])
        tag = ID3(io.BytesIO(book))
        marks = sorted(tag.getall("CHAP"), key=lambda c: c.start_time)
        assert [(m.sub_frames["TIT2"].text[0], m.start_time) for m in marks] == [
            (c["title"], round(c["start_s"] * 1000)) for c in manifest["chapters"]]
        info = sf.info(io.BytesIO(book))  # each chapter's encoder delay and padding: under 0.2 s
        assert info.frames / info.samplerate == pytest.approx(manifest["totals"]["duration_s"], abs=0.2 * 2)
        last = manifest["chapters"][-1]
        assert info.frames / info.samplerate == pytest.approx(last["start_s"] + last["duration_s"], abs=0.2)


def test_a_chapter_with_a_segment_failing_on_the_primary_is_voiced_by_the_fallback_alone(local_stack) -> None:
    primary = ToneEngine("primary", fail_on={"MARK": EngineError("this segment fails")})
    fallback = ToneEngine("fallback")
    with local_stack(engines={"primary": primary, "fallback": fallback}, **BOOK) as stack:
        job = wait(stack, submit(stack))
        assert job.status == "succeeded", job
        chapters = manifest_of(stack, job)["chapters"]
        assert [c["engines"] for c in chapters] == [["primary"], ["fallback"], ["primary"]]
        # The fallback spoke chapter two, all of it (one voice per chapter), and nothing else.
        assert sorted(c.text for c in fallback.calls) == sorted(book_texts(stack, job.request_id, 1))
        (failure,) = job.result.segment_failures
        assert (failure.code, failure.voice_pass) == ("ENGINE_ERROR", 0)
        assert failure.segment == chapters_plan(stack, job.request_id)[1].first_segment


def book_texts(stack, request_id: str, chapter: int) -> list[str]:
    plan = book_jobs.book_plan.load(stack.bucket, request_id)
    texts = storage.get_json(stack.bucket, storage.book_key(request_id, "segments.json"))["texts"]
    return [texts[i] for i in plan.chapters[chapter].segment_range]


def chapters_plan(stack, request_id: str):
    return book_jobs.book_plan.load(stack.bucket, request_id).chapters


def test_resume_voices_only_the_segments_without_audio(local_stack) -> None:
    failing = {"MARK": EngineError("down for this one")}
    primary = ToneEngine("primary", fail_on=failing)
    fallback = ToneEngine("fallback", fail_on=failing)
    with local_stack(engines={"primary": primary, "fallback": fallback}, **BOOK) as stack:
        first = wait(stack, submit(stack))
        assert first.status == "failed" and first.result.chapters_failed == [1]
        assert first.result.error_code == "ALL_ENGINES_FAILED"
        assert [c["index"] for c in manifest_of(stack, first)["chapters"]] == [0, 2]  # what was done is kept
        total = chapters_plan(stack, first.request_id)
        voiced_before = {c.text for c in primary.calls if "MARK" not in c.text}

        primary.fail_on.clear()
        calls = len(primary.calls)
        retried = book_jobs.retry(stack.book_state_machine_arn, first.request_id, str(uuid.uuid4()))
        second = wait(stack, retried)
        assert second.status == "succeeded", second
        again = [c.text for c in primary.calls[calls:]]
        # Only chapter two's segment that never had audio ran: its other segment was voiced the first time.
        assert again == [t for t in book_texts(stack, retried, 1) if "MARK" in t]
        assert not set(again) & voiced_before
        assert len(total) == 3

        # The same manuscript submitted again: every segment has audio, no engine runs at all.
        calls, fallback_calls = len(primary.calls), len(fallback.calls)
        third = wait(stack, submit(stack))
        assert third.status == "succeeded"
        assert (len(primary.calls), len(fallback.calls)) == (calls, fallback_calls)


def test_cancel_stops_the_job_and_no_engine_is_invoked_after(local_stack) -> None:
    primary = ToneEngine("primary", seconds_per_char=0.02)
    long_book = [{"title": f"Part {i}", "text": " ".join(f"Sentence {i}.{j} is here." for j in range(6))}
                 for i in range(4)]
    with local_stack(engines={"primary": primary}, **(BOOK | {"BookMaxConcurrency": "2"})) as stack:
        request_id = submit(stack, chapters=long_book)
        deadline = time.monotonic() + 30
        while len(primary.calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        running = book_jobs.status(stack.book_state_machine_arn, stack.bucket, request_id)
        assert running.status == "running" and running.progress is not None
        assert (running.progress.chapters_total, running.progress.chapters_done) == (4, 0)
        assert running.progress.segments_total == sum(c.segments for c in chapters_plan(stack, request_id))
        assert running.progress.segments_done <= len(primary.calls)
        cancelled = book_jobs.cancel(stack.book_state_machine_arn, stack.bucket, request_id)
        at_cancel = len(primary.calls)
        assert cancelled.status == "cancelled"
        time.sleep(2)
        assert len(primary.calls) == at_cancel  # running segments may finish; none starts
        later = book_jobs.status(stack.book_state_machine_arn, stack.bucket, request_id)
        assert later.status == "cancelled" and later.progress is not None
        assert 0 < later.progress.segments_done <= at_cancel < later.progress.segments_total
        assert later.progress.chapters_done == 0


def test_a_book_over_max_book_chars_is_refused_before_anything_runs(local_stack) -> None:
    primary = ToneEngine("primary")
    with local_stack(engines={"primary": primary}, **(BOOK | {"MaxBookChars": "60"})) as stack:
        with pytest.raises(BookTooLongError):
            submit(stack)
        # The same book through the bucket: the plan step refuses it, and records the code.
        manuscript = "\n".join(f"Chapter {i}\n{c['text']}" for i, c in enumerate(CHAPTERS, 1))
        storage.put_bytes(stack.bucket, "books/manual/book.txt", manuscript.encode(), "text/plain")
        job = book_jobs.BookJob(title="T", manuscript=book_jobs.ManuscriptSource(
            bucket=stack.bucket, key="books/manual/book.txt", kind="txt"), options={},
            delivery=book_jobs.Delivery(sample_rate=22050), output_name="manual")
        request_id = book_jobs.start(stack.book_state_machine_arn, job, "c", "book-manual-1")
        refused = wait(stack, request_id)
        assert refused.status == "failed" and refused.result.error_code == "BOOK_TOO_LONG"
        assert primary.calls == []


def test_the_parent_history_does_not_grow_with_the_segments(local_stack) -> None:
    short = [{"title": f"C{i}", "text": "Tiny text."} for i in range(3)]
    long = [{"title": f"C{i}", "text": " ".join(f"This is sentence number {j}." for j in range(8))} for i in range(3)]
    with local_stack(engines={"primary": ToneEngine("primary")}, **(BOOK | {"BookMaxConcurrency": "8"})) as stack:
        few = wait(stack, submit(stack, chapters=short))
        many = wait(stack, submit(stack, chapters=long))
        assert few.status == many.status == "succeeded"
        segments = [manifest_of(stack, j)["totals"]["segments"] for j in (few, many)]
        assert segments[1] >= 6 * segments[0]
        assert len(history(stack, few.request_id)) == len(history(stack, many.request_id))


def test_books_uploaded_to_the_bucket_are_routed_to_book_jobs(local_stack) -> None:
    markdown = "# Night\n\nThe *first* chapter.\n\n# Day\n\nThe [second](https://x.example) one.\n"
    epub = make_epub([("a.xhtml", "Start", "<p>It begins.</p>"), ("b.xhtml", "End", "<p>It ends.</p>")])
    with local_stack(engines={"primary": ToneEngine("primary")}, **BOOK) as stack:
        s3 = storage.aws.client("s3")
        for key, data in (("inbox/books/night.md", markdown.encode()), ("inbox/tale.epub", epub),
                          ("inbox/books/scan.pdf", b"%PDF-1.4")):
            s3.put_object(Bucket=stack.bucket, Key=key, Body=data)
        outcomes = {d.event["detail"]["object"]["key"]: d.answer for d in stack.deliveries}
        assert outcomes["inbox/books/scan.pdf"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
        assert storage.get_json(stack.bucket, "failed/scan.pdf.json")["code"] == "UNSUPPORTED_MEDIA_TYPE"
        for key, name, titles in (("inbox/books/night.md", "night.md", ["Night", "Day"]),
                                  ("inbox/tale.epub", "tale.epub", ["Start", "End"])):
            assert outcomes[key]["status"] == "started"
            job = wait(stack, outcomes[key]["request_id"])
            assert job.status == "succeeded", job
            manifest = storage.get_json(stack.bucket, f"outputs/{name}/manifest.json")
            assert [c["title"] for c in manifest["chapters"]] == titles
            assert manifest["chapters"][0]["files"]["audio"] == f"outputs/{name}/01-{titles[0].lower()}.wav"
        # A second delivery of the same event starts nothing.
        again = stack.deliver(stack.function("ingest_upload").arn, stack.deliveries[0].event)
        assert again.answer["status"] == "duplicate"
