"""Small EPUBs for tests, made with ebooklib itself (tests/ is on sys.path through its conftest)."""

from __future__ import annotations

import io
import warnings

from ebooklib import epub


def make_epub(documents: list[tuple[str, str, str]], toc: list[int] | None = None) -> bytes:
    """(file name, title, body html) per spine document; `toc`: which documents the table of contents lists."""
    book = epub.EpubBook()
    book.set_identifier("test-book")
    book.set_title("A Test Book")
    book.set_language("en")
    items = []
    for name, title, body in documents:
        item = epub.EpubHtml(title=title, file_name=name, lang="en")
        item.content = f"<html><head><title>{title}</title></head><body>{body}</body></html>"
        book.add_item(item)
        items.append(item)
    listed = range(len(items)) if toc is None else toc
    book.toc = [epub.Link(items[i].file_name, documents[i][1], f"l{i}") for i in listed]
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *items]
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        epub.write_epub(out, book)
    return out.getvalue()
