"""Markdown as speech: the blocks a reader would say, markup left out.

Books need only this much (headings, paragraphs, list items, quotes; code, HTML and images silent).
The text front end (issue 25, tts_core.text) brings a full Markdown-to-speech converter: when it lands,
`blocks` becomes a call to it, and nothing else in books changes."""

from __future__ import annotations

from dataclasses import dataclass

from markdown_it import MarkdownIt
from markdown_it.token import Token

_PARSER = MarkdownIt("commonmark")
_SPOKEN_INLINE = {"text", "code_inline"}


@dataclass(frozen=True)
class Block:
    """A paragraph-like piece of text; `heading` is its Markdown level (1-6), None for body text."""

    text: str
    heading: int | None = None


def _inline_text(token: Token) -> str:
    parts: list[str] = []
    for child in token.children or []:
        if child.type in _SPOKEN_INLINE:
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
    return "".join(parts).strip()


def blocks(markdown: str) -> list[Block]:
    """The document's spoken blocks, in order: link text without its URL, emphasis without its
    asterisks, images, code blocks and raw HTML left out."""
    found: list[Block] = []
    heading: int | None = None
    for token in _PARSER.parse(markdown):
        if token.type == "heading_open":
            heading = int(token.tag[1])
        elif token.type == "heading_close":
            heading = None
        elif token.type == "inline":
            text = _inline_text(token)
            if text:
                found.append(Block(text, heading))
    return found
