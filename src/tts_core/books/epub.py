"""An EPUB's chapters with ebooklib: the spine gives the reading order, the table of contents the
titles. A spine document the table of contents points at starts a chapter (titled as there); one it
does not point at (a chapter split over files, a page of notes) continues the chapter before it. With no
table of contents, every spine document with text is a chapter, titled by its first heading.
Documents with nothing to speak (cover, navigation) are left out."""

from __future__ import annotations

import io
import warnings
import zipfile
from collections.abc import Iterable
from typing import Any

import ebooklib
from ebooklib import epub
from lxml import html

from tts_core.books.models import Chapter
from tts_core.errors import ManuscriptUnreadableError

MAX_UNPACKED_BYTES = 1 << 30  # a zip bomb is refused from the archive's directory, before unpacking
_BLOCKS = ("p", "div", "li", "blockquote", "tr", "br", "section", "article",
           "h1", "h2", "h3", "h4", "h5", "h6", "pre", "dd", "dt", "figcaption")
_SILENT = ("script", "style", "head", "nav")


def chapters(data: bytes) -> list[Chapter]:
    """The book's chapters, in reading order."""
    book = _read(data)
    titles = _toc_titles(book.toc)
    found: list[Chapter] = []
    for idref, _linear in book.spine:
        item = book.get_item_with_id(idref)
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT or isinstance(item, epub.EpubNav):
            continue
        heading, text = _document_text(item.get_content())
        if not text:
            continue
        title = titles.get(item.get_name())
        if title is None and titles and found:
            found[-1] = Chapter(title=found[-1].title, text=f"{found[-1].text}\n{text}")
            continue
        title = title or heading or ""
        spoken = text if not title or text.startswith(title) else f"{title}\n{text}"
        found.append(Chapter(title=title, text=spoken))
    return found


def _read(data: bytes) -> epub.EpubBook:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise ManuscriptUnreadableError("the EPUB is not a zip archive") from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise ManuscriptUnreadableError(f"the EPUB unpacks to {unpacked} bytes; the limit is {MAX_UNPACKED_BYTES}")
    try:
        with warnings.catch_warnings():  # ebooklib warns about its own future defaults
            warnings.simplefilter("ignore")
            return epub.read_epub(io.BytesIO(data), {"ignore_ncx": False})
    except Exception as exc:  # ebooklib raises KeyError, EpubException, lxml errors... for a broken book
        raise ManuscriptUnreadableError(f"the EPUB cannot be read: {type(exc).__name__}: {exc}") from None


def _toc_titles(toc: Iterable[Any]) -> dict[str, str]:
    """File name -> the first title the table of contents gives it (nested sections included)."""
    titles: dict[str, str] = {}
    for entry in toc:
        if isinstance(entry, tuple):  # (Section, [children])
            section, children = entry
            if getattr(section, "href", None):
                titles.setdefault(section.href.split("#", 1)[0], section.title)
            for name, title in _toc_titles(children).items():
                titles.setdefault(name, title)
        elif getattr(entry, "href", None):
            titles.setdefault(entry.href.split("#", 1)[0], entry.title)
    return titles


def _document_text(content: bytes) -> tuple[str | None, str]:
    """(first heading, the document's text with one line per block)."""
    if not content.strip():
        return None, ""
    root = html.fromstring(content)
    for element in list(root.iter(*_SILENT)):
        element.drop_tree()
    heading = next((h.text_content().strip() for h in root.iter("h1", "h2", "h3") if h.text_content().strip()), None)
    for element in root.iter(*_BLOCKS):
        element.tail = "\n" + (element.tail or "")
    body = root.find("body")
    text = (body if body is not None else root).text_content()
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return heading, "\n".join(line for line in lines if line)
