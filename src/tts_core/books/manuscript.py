"""A manuscript as chapters, in reading order: from JSON `chapters`, an EPUB's spine and table of
contents, or the headings of a text (.txt, .md, JSON `text`). Pure: bytes or strings in, chapters out.

Which lines start a chapter (text and Markdown):
- a named heading, alone on a short line: `第十二章 …`, `第3回 …` (Chinese numerals or digits),
  `Chapter 12 …`, `CHAPTER XII`, `Chapter Twelve` (any case);
- else a Markdown heading, at the shallowest level that occurs at least twice (a single `# Title` over
  `## Chapter` headings is the book's title, not a chapter); with one heading only, that heading.
When named headings exist they alone start chapters (Markdown headings inside stay spoken lines). Text
before the first heading is a chapter of its own ("Front matter") when it has something to speak. No
heading at all: one chapter, named after the book. A chapter's heading is spoken, its markup never."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Literal

from pydantic import BaseModel, ValidationError

from tts_core.books import epub, markdown
from tts_core.books.markdown import Block
from tts_core.books.models import Chapter
from tts_core.errors import InvalidEncodingError, ManuscriptUnreadableError, NothingToSpeakError
from tts_core.models import clean_text, has_something_to_speak

ManuscriptKind = Literal["txt", "md", "json", "epub"]
MANUSCRIPT_KINDS: tuple[ManuscriptKind, ...] = ("txt", "md", "json", "epub")
FRONT_MATTER = "Front matter"
_HEADING_MAX_CHARS = 80  # a longer line is a sentence that happens to start like a heading
_CN_NUMERAL = "0-9０-９一二三四五六七八九十百千万零〇两"
_EN_NUMBER = (r"(?:\d+|[ivxlcdm]+|(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|"
              r"fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|"
              r"eighty|ninety|hundred)(?:[- ](?:one|two|three|four|five|six|seven|eight|nine))?)")
_NAMED_HEADING = re.compile(
    rf"^(?:第[{_CN_NUMERAL}]+[章回](?:[\s:：·、．.\-—]|$)|chapter\s+{_EN_NUMBER}(?:[\s:.\-—]|$))", re.IGNORECASE)
_MARKDOWN_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")


class _JsonChapter(BaseModel):
    title: str = ""
    text: str


class _JsonManuscript(BaseModel):
    title: str = ""
    text: str | None = None
    chapters: list[_JsonChapter] | None = None


def kind_of(key: str) -> ManuscriptKind | None:
    suffix = PurePosixPath(key).suffix.lower().lstrip(".")
    return suffix if suffix in MANUSCRIPT_KINDS else None  # type: ignore[return-value]


def parse(kind: ManuscriptKind, data: bytes, *, title: str = "") -> list[Chapter]:
    """The chapters of one manuscript file, or an InvalidInputError subclass with a stable code."""
    if kind == "epub":
        return _finish(epub.chapters(data), title)
    text = _decode(data)
    if kind == "json":
        try:
            document = _JsonManuscript.model_validate(json.loads(text))
        except (ValueError, ValidationError) as exc:
            raise ManuscriptUnreadableError(f"the manuscript is not a book's JSON: {exc}") from None
        return from_fields(document.title or title, document.text, [(c.title, c.text) for c in document.chapters or []])
    return from_text(text, title=title, markdown_input=kind == "md")


def from_fields(title: str, text: str | None, chapters: Iterable[tuple[str, str]]) -> list[Chapter]:
    """A book given as fields (the API's `text` or `chapters`): given chapters are kept as they are,
    with their titles spoken first; a `text` is cut at its headings."""
    given = list(chapters)
    if given:
        return _finish([_titled(t.strip(), _clean(body)) for t, body in given], title)
    if text is None:
        raise ManuscriptUnreadableError("a book needs `text` or `chapters`")
    return from_text(text, title=title)


def from_text(text: str, *, title: str = "", markdown_input: bool = False) -> list[Chapter]:
    text = _clean(text)
    found = markdown.blocks(text) if markdown_input else _text_blocks(text)
    return _finish(_split(found), title)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidEncodingError(f"the manuscript is not UTF-8 (byte {exc.start})") from None


def _clean(text: str) -> str:
    try:
        return clean_text(text)
    except ValueError as exc:
        raise ManuscriptUnreadableError(str(exc)) from None


def _text_blocks(text: str) -> list[Block]:
    """Plain text, line by line: a Markdown heading line loses its #s; other lines stay as they are."""
    found = []
    for line in text.split("\n"):
        match = _MARKDOWN_HEADING.match(line)
        if match and match.group(2).strip():
            found.append(Block(match.group(2).strip(), len(match.group(1))))
        elif line.strip():
            found.append(Block(line.strip()))
    return found


def _is_named(block: Block) -> bool:
    return len(block.text) <= _HEADING_MAX_CHARS and "\n" not in block.text and bool(_NAMED_HEADING.match(block.text))


def _split(found: list[Block]) -> list[Chapter]:
    starts: set[int]
    named = {i for i, b in enumerate(found) if _is_named(b)}
    if named:
        starts = named
    else:
        levels = [b.heading for b in found if b.heading is not None]
        repeated = [level for level in set(levels) if levels.count(level) >= 2]
        level = min(repeated) if repeated else min(levels, default=None)
        starts = {i for i, b in enumerate(found) if level is not None and b.heading == level}
    chapters: list[Chapter] = []
    current: list[str] = []
    title = FRONT_MATTER
    for i, block in enumerate(found):
        if i in starts:
            if has_something_to_speak("\n".join(current)):
                chapters.append(Chapter(title=title, text="\n".join(current)))
            current, title = [], block.text
        current.append(block.text)
    if has_something_to_speak("\n".join(current)):
        chapters.append(Chapter(title=title, text="\n".join(current)))
    return chapters


def _titled(title: str, text: str) -> Chapter:
    """A chapter whose title came apart from its text: the title is spoken first, unless the text opens with it."""
    spoken = text if not title or text.startswith(title) else f"{title}\n{text}"
    return Chapter(title=title, text=spoken)


def _finish(chapters: list[Chapter], book_title: str) -> list[Chapter]:
    kept = [c for c in chapters if has_something_to_speak(c.text)]
    if not kept:
        raise NothingToSpeakError("the manuscript has no letter or digit: nothing to speak")
    if len(kept) == 1 and kept[0].title == FRONT_MATTER:  # no heading at all: the book is its one chapter
        kept = [Chapter(title=book_title or "Chapter 1", text=kept[0].text)]
    return [c if c.title else c.model_copy(update={"title": f"Chapter {i + 1}"}) for i, c in enumerate(kept)]


def characters(chapters: Iterable[Chapter]) -> int:
    return sum(len(c.text) for c in chapters)
