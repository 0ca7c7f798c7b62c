"""The docs are part of the product: the README for users, docs/ for the rest. These tests keep them true
to the code: every error code, Parameter and fault kind documented where a reader looks for it (with the
values the code has), the README short, and every relative link pointing at a page and heading that exist."""

from __future__ import annotations

import re
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from tts_core.errors import SERVICE_ERROR_CODES, all_error_classes
from tts_core.pipeline.results import ALL_ENGINES_FAILED
from tts_local import faults
from tts_local.template import ROOT, load_template

README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
README_MAX_BYTES = 15 * 1024  # the "at most ~15 KB": what a user reads before the docs
API = DOCS / "api.md"
CONFIGURATION = DOCS / "configuration.md"
LOCAL_STACK = DOCS / "local-stack.md"
_MARKDOWN = MarkdownIt("commonmark").enable("table")
PARAMETERS: dict[str, dict[str, Any]] = load_template()["Parameters"]


def _text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


@cache
def _tokens(page: Path) -> list[Token]:
    return _MARKDOWN.parse(_text(page))


def _rows(page: Path, section: str) -> list[list[str]]:
    """The table rows (cells as written, between the pipes) under one `## ` heading of a page."""
    body = _text(page).split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in body.splitlines() if line.startswith("|") and not line.startswith("|---")]
    # An escaped pipe (`\|`) is part of a cell, not a border.
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows[1:]]


# ---- what the code defines is documented, with the code's values ---------------------------------
ALL_CODES = sorted({c.code for c in all_error_classes()} | set(SERVICE_ERROR_CODES.values()) | {ALL_ENGINES_FAILED})


@pytest.mark.parametrize("code", ALL_CODES)
def test_every_error_code_is_in_the_error_table(code: str) -> None:
    documented = {c for row in _rows(API, "Error codes") for c in re.findall(r"`([A-Z_]+)`", row[0])}
    assert code in documented


def test_the_error_table_says_each_codes_http_status_and_whether_it_is_retried() -> None:
    classes = {c.code: c for c in all_error_classes()}
    checked = 0
    for row in _rows(API, "Error codes"):
        for code in re.findall(r"`([A-Z_]+)`", row[0]):
            if code in classes:
                assert row[1] == str(classes[code].http_status), f"{code}: HTTP {row[1]} in the docs"
                if row[2] != "-":  # "-": the code never reaches a Retry of the state machine
                    assert row[2].startswith("yes" if classes[code].retryable else "no"), f"{code}: retried '{row[2]}'"
                checked += 1
    assert checked == len(classes)


def _allowed(spec: dict[str, Any]) -> str:
    if "AllowedValues" in spec:
        return ", ".join(str(v) for v in spec["AllowedValues"])
    low, high = spec.get("MinValue"), spec.get("MaxValue")
    if low is not None and high is not None:
        return f"{low} .. {high}"
    return f">= {low}" if low is not None else f"<= {high}" if high is not None else "-"


@cache
def _parameter_rows() -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for section in re.findall(r"^## (.+)$", _text(CONFIGURATION), re.MULTILINE):
        for row in _rows(CONFIGURATION, section):
            name = row[0].strip("`")
            assert name not in rows, f"{name} has two rows"
            rows[name] = row
    return rows


@pytest.mark.parametrize("parameter", sorted(PARAMETERS))
def test_every_template_parameter_has_a_row_with_its_default_and_allowed_values(parameter: str) -> None:
    spec = PARAMETERS[parameter]
    row = _parameter_rows().get(parameter)
    assert row is not None, f"no row for `{parameter}` in docs/configuration.md"
    default = str(spec.get("Default", "")) or "(empty)"
    assert (row[1], row[2]) == (default, _allowed(spec))


def test_the_configuration_page_documents_no_parameter_the_template_lacks() -> None:
    assert set(_parameter_rows()) <= set(PARAMETERS)


@pytest.mark.parametrize("kind", sorted(faults.KINDS))
def test_every_fault_kind_is_documented(kind: str) -> None:
    assert kind in {row[0].strip("`") for row in _rows(LOCAL_STACK, "Fault injection")}


# ---- the README is for users ---------------------------------------------------------------------
def test_the_two_commands_are_the_ones_ci_runs() -> None:
    readme = _text(README)
    assert "make demo" in readme and "make test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.MULTILINE)


def test_the_readme_stays_short() -> None:
    size = len(README.read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes: move detail into docs/ and link it"


def test_every_page_in_docs_is_linked_from_the_readme() -> None:
    linked = {target for target, _ in _links(README)}
    missing = [p.name for p in DOCS.iterdir() if p.suffix in {".md", ".json"} and f"docs/{p.name}" not in linked]
    assert missing == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_code_block_swallows_the_text_after_it(page: Path) -> None:
    """An unclosed fence turns the rest of a page into code, its headings and links with it."""
    swallowed = [t.map for t in _tokens(page) if t.type == "fence" and re.search(r"^#{2,6} ", t.content, re.MULTILINE)]
    assert swallowed == []


# ---- links ---------------------------------------------------------------------------------------
def _links(page: Path) -> list[tuple[str, str]]:
    """Relative links of a page as (path, anchor); a link to a heading of the page itself has path ''."""
    out = []
    for token in _tokens(page):
        for child in token.children or []:
            href = str(child.attrs.get("href", "")) if child.type == "link_open" else ""
            if href and not re.match(r"^[a-z][a-z0-9+.-]*:", href):  # http:, https:, mailto: are not ours
                path, _, anchor = href.partition("#")
                out.append((path, anchor))
    return out


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation but `-` and `_` dropped, spaces as `-`."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@cache
def _anchors(page: Path) -> frozenset[str]:
    tokens = _tokens(page)
    seen: dict[str, int] = {}
    anchors: set[str] = set()
    for opening, inline in pairwise(tokens):
        if opening.type == "heading_open":
            text = "".join(c.content for c in inline.children or [] if c.type in {"text", "code_inline"})
            base = github_anchor(text)
            n = seen.get(base, 0)
            seen[base] = n + 1
            anchors.add(base if n == 0 else f"{base}-{n}")  # GitHub numbers repeated headings
    return frozenset(anchors)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_to_a_file_and_heading_that_exist(page: Path) -> None:
    broken = []
    for path, anchor in _links(page):
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(f"{path}: no such file")
        elif anchor and (target.suffix != ".md" or anchor not in _anchors(target)):
            broken.append(f"{path}#{anchor}: no such heading")
    assert broken == []


def test_the_anchor_rule_is_githubs() -> None:
    assert github_anchor("Layers of src/tts_core") == "layers-of-srctts_core"
    assert github_anchor("Container images on this machine: make image, make test-image") == \
        "container-images-on-this-machine-make-image-make-test-image"
    assert github_anchor("The real AWS CLI against the local stack") == "the-real-aws-cli-against-the-local-stack"
