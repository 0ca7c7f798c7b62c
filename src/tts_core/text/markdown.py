"""Markdown manuscripts as speech: what a listener should hear of a `.md` file.

Parsed with markdown-it-py (CommonMark, plus tables and strikethrough), never with regular expressions:
headings become titles of their own, emphasis is spoken as its words, a link as its text (never its URL),
an image as its alt text, a list as one item per sentence, a table as one row per sentence (cells joined by
commas), raw HTML is dropped, and code blocks are skipped unless `speak_code` is set (inline code is
always spoken: it is part of a sentence).

`markdown_blocks` keeps the structure (the books helper cuts chapters at headings); `markdown_to_text` is
the same content as plain text, one block per paragraph."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from markdown_it import MarkdownIt
from markdown_it.token import Token

BlockKind = Literal["heading", "paragraph", "item", "row", "code"]


@dataclass(frozen=True, slots=True)
class Block:
    """One speakable block: its kind, its heading level (1-6; 0 for other kinds), its text and the
    source lines it came from (0-based, `line_end` exclusive, as markdown-it reports them)."""

    kind: BlockKind
    text: str
    level: int
    line: int
    line_end: int


@cache
def _parser() -> MarkdownIt:
    # html=True so raw HTML is recognised as HTML (and dropped) rather than spoken as text.
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def _inline_text(token: Token) -> str:
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "image":
            parts.append(child.content)  # markdown-it puts the alt text here
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        # link_open/close, em/strong/s markers and html_inline carry nothing to say
    return " ".join("".join(parts).split())


def markdown_blocks(source: str, *, speak_code: bool = False) -> list[Block]:
    """The speakable blocks of a Markdown document, in order (empty ones left out)."""
    blocks: list[Block] = []
    context: list[Token] = []  # the open block tokens around the current one
    cells: list[str] = []  # the current table row's cells
    for token in _parser().parse(source):
        if token.nesting == 1:
            context.append(token)
            if token.type == "tr_open":
                cells = []
        elif token.nesting == -1:
            opened = context.pop()
            if opened.type == "tr_open" and any(cells):
                blocks.append(_block("row", ", ".join(c for c in cells if c), 0, opened))
        elif token.type == "inline":
            text = _inline_text(token)
            parent = context[-1] if context else token
            if parent.type in ("th_open", "td_open"):
                cells.append(text)
            elif text and parent.type == "heading_open":
                blocks.append(_block("heading", text, int(parent.tag[1]), parent))
            elif text:
                in_item = any(t.type == "list_item_open" for t in context)
                blocks.append(_block("item" if in_item else "paragraph", text, 0, parent))
        elif token.type in ("fence", "code_block") and speak_code and token.content.strip():
            blocks.append(_block("code", token.content.strip(), 0, token))
    return blocks


def _block(kind: BlockKind, text: str, level: int, token: Token) -> Block:
    line, line_end = token.map if token.map else (0, 0)
    return Block(kind=kind, text=text, level=level, line=line, line_end=line_end)


def markdown_to_text(source: str, *, speak_code: bool = False) -> str:
    """A Markdown document as the plain text a speaker would read: one block per paragraph (blocks are
    separated by a blank line, so every heading, item and row is a sentence of its own)."""
    return "\n\n".join(b.text for b in markdown_blocks(source, speak_code=speak_code))
