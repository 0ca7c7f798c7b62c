"""Chapter detection for every input kind: JSON chapters, EPUB (spine and table of contents, books made
with ebooklib itself), text headings (Markdown, 第…章, 第…回, Chapter N, CHAPTER XII), none at all."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from epub_books import make_epub

from tts_core.books import manuscript
from tts_core.books.manuscript import FRONT_MATTER
from tts_core.errors import InvalidEncodingError, ManuscriptUnreadableError, NothingToSpeakError


def titles(chapters) -> list[str]:
    return [c.title for c in chapters]


def test_json_chapters_are_kept_in_order_with_their_titles_spoken_first() -> None:
    body = {"title": "Book", "chapters": [{"title": "One", "text": "First text."},
                                          {"title": "Two", "text": "Two: the second."}]}
    chapters = manuscript.parse("json", json.dumps(body).encode())
    assert titles(chapters) == ["One", "Two"]
    assert chapters[0].text == "One\nFirst text."
    assert chapters[1].text == "Two: the second."  # the text opens with its title: not said twice


def test_json_text_is_cut_at_its_headings() -> None:
    body = {"title": "Book", "text": "Chapter 1 Dawn\nIt began.\nChapter 2 Noon\nIt went on."}
    assert titles(manuscript.parse("json", json.dumps(body).encode())) == ["Chapter 1 Dawn", "Chapter 2 Noon"]


def test_json_without_text_or_chapters_is_refused_with_a_code() -> None:
    with pytest.raises(ManuscriptUnreadableError):
        manuscript.parse("json", b'{"title": "x"}')
    with pytest.raises(ManuscriptUnreadableError):
        manuscript.parse("json", b"not json")


@pytest.mark.parametrize(("text", "expected"), [
    ("第一章 风起\n天色渐暗。\n第二章 云涌\n雨下了。\n第十二章 终\n完。",
     ["第一章 风起", "第二章 云涌", "第十二章 终"]),
    ("第1回 甲\n文字。\n第2回 乙\n文字。", ["第1回 甲", "第2回 乙"]),
    ("Chapter 12 The Storm\nRain.\nChapter 13: Calm\nSun.", ["Chapter 12 The Storm", "Chapter 13: Calm"]),
    ("CHAPTER XII\nRain.\nCHAPTER XIII\nSun.", ["CHAPTER XII", "CHAPTER XIII"]),
    ("Chapter One\nRain.\nChapter Twenty-Two\nSun.", ["Chapter One", "Chapter Twenty-Two"]),
    ("# Part\nIntro.\n# Part two\nMore.", ["Part", "Part two"]),
])
def test_text_headings_start_chapters(text: str, expected: list[str]) -> None:
    assert titles(manuscript.from_text(text)) == expected


def test_a_sentence_that_starts_like_a_heading_is_not_one() -> None:
    text = "Chapter 3 of the report says " + "a great deal " * 10 + "\nChapters are long."
    (only,) = manuscript.from_text(text, title="Report")
    assert only.title == "Report"


def test_text_before_the_first_heading_is_its_own_chapter() -> None:
    chapters = manuscript.from_text("A foreword.\n第一章 开始\n正文。")
    assert titles(chapters) == [FRONT_MATTER, "第一章 开始"]
    assert chapters[1].text == "第一章 开始\n正文。"


def test_no_heading_means_one_chapter_named_after_the_book() -> None:
    (only,) = manuscript.from_text("Just one text.\nWith two lines.", title="Short")
    assert (only.title, only.text) == ("Short", "Just one text.\nWith two lines.")


def test_markdown_headings_at_the_repeated_level_and_no_markup_read_aloud() -> None:
    md = ("# The Book\n\nA *short* preface with a [link](https://example.com).\n\n"
          "## One\n\nSome **bold** text.\n\n```\ncode_is_silent()\n```\n\n"
          "## Two\n\n- a list item\n\n![cover](cover.png)\n\n### A section\n\nStill two.\n")
    chapters = manuscript.parse("md", md.encode(), title="ignored")
    assert titles(chapters) == [FRONT_MATTER, "One", "Two"]
    assert chapters[0].text == "The Book\nA short preface with a link."
    assert chapters[1].text == "One\nSome bold text."
    assert chapters[2].text == "Two\na list item\nA section\nStill two."
    spoken = "\n".join(c.text for c in chapters)
    for markup in ("#", "*", "](", "https://", "```", "code_is_silent", "cover.png"):
        assert markup not in spoken


def test_plain_text_markdown_heading_lines_lose_their_marks() -> None:
    chapters = manuscript.parse("txt", b"## A\ntext a\n## B ##\ntext b")
    assert [c.text for c in chapters] == ["A\ntext a", "B\ntext b"]


def test_epub_chapters_follow_the_spine_and_take_the_toc_titles() -> None:
    data = make_epub([("c1.xhtml", "The First", "<h1>Heading one</h1><p>Alpha.</p><p>Beta.</p>"),
                      ("c2.xhtml", "The Second", "<p>Gamma.</p><script>silent()</script>")])
    chapters = manuscript.parse("epub", data)
    assert titles(chapters) == ["The First", "The Second"]
    assert chapters[0].text == "The First\nHeading one\nAlpha.\nBeta."
    assert "silent" not in chapters[1].text


def test_an_epub_document_missing_from_the_toc_continues_the_chapter_before_it() -> None:
    data = make_epub([("c1.xhtml", "One", "<p>Part a.</p>"), ("c1b.xhtml", "One, cont.", "<p>Part b.</p>"),
                      ("c2.xhtml", "Two", "<p>Next.</p>")], toc=[0, 2])
    chapters = manuscript.parse("epub", data)
    assert titles(chapters) == ["One", "Two"]
    assert chapters[0].text == "One\nPart a.\nPart b."


def test_a_broken_epub_is_refused_with_a_code() -> None:
    with pytest.raises(ManuscriptUnreadableError):
        manuscript.parse("epub", b"PK not really a zip")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("mimetype", "application/epub+zip")
    with pytest.raises(ManuscriptUnreadableError):
        manuscript.parse("epub", archive.getvalue())


def test_bad_text_is_refused_with_codes() -> None:
    with pytest.raises(InvalidEncodingError):
        manuscript.parse("txt", b"\xff\xfe bad")
    with pytest.raises(NothingToSpeakError):
        manuscript.parse("txt", b"## \n!!!\n")


def test_kind_of_a_key() -> None:
    assert [manuscript.kind_of(k) for k in ("inbox/a.EPUB", "inbox/b.md", "inbox/c.wav")] == ["epub", "md", None]
