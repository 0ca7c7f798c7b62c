"""Markdown manuscripts become what a listener should hear (tts_core.text.markdown)."""

from tts_core.text.markdown import markdown_blocks, markdown_to_text

MANUSCRIPT = """# Chapter One

Some **bold**, *emphasis* and ~~struck~~ words, [a link](https://example.com/x), ![a cat](cat.png), `x = 1`
and <span>inline html</span>.

## A section
- first item
- second item
  1. nested item

```python
print("never spoken")
```

    indented code, never spoken

| name | age |
|------|-----|
| Ann  | 30  |
"""


def test_given_a_manuscript_when_read_then_markup_urls_and_code_are_not_spoken() -> None:
    text = markdown_to_text(MANUSCRIPT)
    assert text.split("\n\n") == [
        "Chapter One",
        "Some bold, emphasis and struck words, a link, a cat, x = 1 and inline html.",
        "A section", "first item", "second item", "nested item",
        "name, age", "Ann, 30",
    ]
    for markup in ("#", "*", "~", "](", "https://", "<span>", "print", "|"):
        assert markup not in text


def test_headings_keep_their_level_and_source_lines() -> None:
    headings = [(b.text, b.level, b.line) for b in markdown_blocks(MANUSCRIPT) if b.kind == "heading"]
    assert headings == [("Chapter One", 1, 0), ("A section", 2, 5)]


def test_code_blocks_are_spoken_only_when_asked() -> None:
    code = [b.text for b in markdown_blocks(MANUSCRIPT, speak_code=True) if b.kind == "code"]
    assert code == ['print("never spoken")', "indented code, never spoken"]


def test_setext_headings_and_chinese_text() -> None:
    blocks = markdown_blocks("第一章\n===\n\n他说：**你好**。\n")
    assert [(b.kind, b.text, b.level) for b in blocks] == [("heading", "第一章", 1), ("paragraph", "他说：你好。", 0)]


def test_a_document_of_only_markup_has_nothing_to_say() -> None:
    assert markdown_to_text("---\n\n<div></div>\n\n```\ncode\n```\n") == ""
