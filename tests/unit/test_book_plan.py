"""The book's plan without AWS: segments numbered across chapters, one voice per chapter, the engine
order of the passes, storage ids that make a rerun resume, and the dry-run estimate."""

from __future__ import annotations

import pytest

from tts_core.books import jobs, plan
from tts_core.books.models import BookJob, BookRequest, ChapterPlan, Delivery, ManuscriptSource
from tts_core.errors import BookTooLongError, InvalidInputError
from tts_core.platform.config import BookPlanSettings
from tts_core.segmentation import PRIMARY_COST

SETTINGS = BookPlanSettings(bucket_name="bucket", audio_sample_rate=22050, max_book_chars=1000,
                            book_segment_max_chars=20, primary_memory_size=10240, last_resort_enabled=True)
JOB = BookJob(title="T", manuscript=ManuscriptSource(bucket="b", key="k", kind="json"), options={"voice": "x"},
              delivery=Delivery(sample_rate=22050), output_name="out")


def request(**fields) -> BookRequest:
    return jobs.parse_book({"title": "Book"} | fields)


def test_segments_are_numbered_across_chapters_in_reading_order() -> None:
    chapters = jobs.chapters_of(request(chapters=[{"title": "A", "text": "One sentence here. Two sentences here."},
                                                  {"title": "B", "text": "Three is the last."}]))
    made, texts = plan.make_plan("job", JOB, chapters, SETTINGS, "primary")
    assert [(c.first_segment, c.segments) for c in made.chapters] == [(0, 2), (2, 1)]
    # Each chapter's title is spoken first (packed with what follows, as the segmentation packs any text).
    assert texts == ["A\nOne sentence here.", "Two sentences here.", "B\nThree is the last."]
    assert [c.file_stem for c in made.chapters] == ["01-a", "02-b"]
    assert made.segments_total == len(texts) and made.characters == sum(len(c.text) for c in chapters)


def test_a_book_over_max_book_chars_is_refused() -> None:
    chapters = jobs.chapters_of(request(text="x" * 1001))
    with pytest.raises(BookTooLongError):
        plan.make_plan("job", JOB, chapters, SETTINGS, "primary")


def test_the_route_orders_the_passes_and_the_last_resort_comes_last() -> None:
    assert plan.engine_order("primary", True) == ["primary", "fallback", "offline"]
    assert plan.engine_order("fallback", False) == ["fallback", "primary"]


def test_a_chapter_has_one_voice_unless_mixing_is_allowed() -> None:
    chapter = ChapterPlan(index=0, title="A", file_stem="01-a", characters=10, first_segment=4, segments=3)
    engines = ["primary", "fallback"]
    present = {4: {"primary"}, 5: {"fallback"}, 6: {"primary", "fallback"}}
    assert plan.voicing(chapter, present, engines, mixed=False) is None
    assert plan.voicing(chapter, present, engines, mixed=True) == ["primary", "fallback", "primary"]
    present[5].add("primary")
    assert plan.voicing(chapter, present, engines, mixed=False) == ["primary"] * 3
    on_fallback = {4: {"fallback"}, 5: {"fallback"}, 6: {"fallback"}}
    assert plan.voicing(chapter, on_fallback, engines, mixed=False) == ["fallback"] * 3


def test_the_same_segments_in_the_same_voice_share_their_audio() -> None:
    a = plan.storage_id(["x", "y"], {"voice": "v", "cache": True}, 22050)
    assert a == plan.storage_id(["x", "y"], {"voice": "v", "cache": False, "allow_mixed_engines": True}, 22050)
    assert a != plan.storage_id(["x", "y"], {"voice": "w"}, 22050)
    assert a != plan.storage_id(["x", "y"], {"voice": "v"}, 24000)
    assert a != plan.storage_id(["x", "yy"], {"voice": "v"}, 22050)


def test_slugs_keep_letters_of_any_script() -> None:
    assert [plan.slug(t) for t in ("Chapter 12: The Storm!", "第十二章 风起", "!!!")] == [
        "chapter-12-the-storm", "第十二章-风起", "chapter"]


def test_the_dry_run_estimate_follows_the_cost_model() -> None:
    text = "第一章 开始\n天色渐暗，风起了。\nChapter 2\nThe rain came down hard."
    estimate = jobs.dry_run(request(text=text), SETTINGS)
    assert [c["title"] for c in estimate["chapters"]] == ["第一章 开始", "Chapter 2"]
    segments = sum(c["segments"] for c in estimate["chapters"])
    figures = estimate["estimate"]
    speech = PRIMARY_COST.speech_seconds(text.replace("\n", ""))
    assert figures["audio_seconds"] == pytest.approx(speech, abs=0.2)
    assert figures["primary_invocations"] == segments
    assert figures["primary_gb_seconds"] == pytest.approx(speech * PRIMARY_COST.real_time_factor * 10, rel=0.01)
    assert figures["primary_usd"] == pytest.approx(figures["primary_gb_seconds"] * 0.0000166667
                                                   + segments * 0.0000002, rel=0.01)
    _plan, texts = plan.make_plan("job", JOB, jobs.chapters_of(request(text=text)), SETTINGS, "primary")
    assert figures["fallback_characters"] == sum(len(t) for t in texts)
    assert figures["fallback_list_price_cny"] == pytest.approx(figures["fallback_characters"] / 10_000, abs=0.01)


@pytest.mark.parametrize("body", [{"title": "T"}, {"title": "T", "text": "a", "chapters": [{"text": "b"}]},
                                  {"title": "T", "text": "a", "voice": "no-such-voice"},
                                  {"title": "T", "text": "a", "unknown": 1}])
def test_bad_book_requests_are_refused(body: dict) -> None:
    with pytest.raises(InvalidInputError):
        jobs.parse_book(body)
