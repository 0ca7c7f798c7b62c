"""Pronunciation lexicons: how to say a word, the same way on every engine.

A lexicon is a list of lexemes, each a grapheme (the written word) with an alias (other words to say
instead: "W3C" -> "World Wide Web Consortium") or a phoneme (how to say it, in pinyin, IPA or ARPABET).
Sent as JSON or as a W3C Pronunciation Lexicon Specification document (PLS 1.0, parsed with defusedxml).

`Lexicons.apply` runs in the front end before segmentation, once for every engine: an alias becomes the
words every engine says; a phoneme marks the word for the engines that can honour it (tts_core.text.render;
the others say the word as written). Matching is case-sensitive, leftmost, longest match first; a Latin
grapheme matches whole words only ("Ann" never inside "Annual"); of several lexicons naming one grapheme,
the first listed wins (as PLS says)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeXml
from defusedxml import DefusedXmlException
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tts_core.errors import InvalidLexiconError, quoted
from tts_core.models import Alphabet, validation_message

MAX_LEXEMES = 1000
MAX_GRAPHEME_CHARS = 100
MAX_SAY_CHARS = 200
_PLS_ALPHABETS: dict[str, Alphabet] = {"ipa": "ipa", "pinyin": "pinyin", "x-pinyin": "pinyin", "py": "pinyin",
                                       "arpabet": "arpabet", "x-arpabet": "arpabet"}


class Lexeme(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grapheme: Annotated[str, Field(min_length=1, max_length=MAX_GRAPHEME_CHARS)]
    alias: Annotated[str, Field(min_length=1, max_length=MAX_SAY_CHARS)] | None = None
    phoneme: Annotated[str, Field(min_length=1, max_length=MAX_SAY_CHARS)] | None = None
    alphabet: Alphabet | None = None

    @model_validator(mode="after")
    def _one_way_to_say_it(self) -> Lexeme:
        if not self.grapheme.strip():
            raise ValueError("grapheme is blank")
        if (self.alias is None) == (self.phoneme is None):
            raise ValueError(f"lexeme '{quoted(self.grapheme)}' needs exactly one of alias or phoneme")
        if self.phoneme is not None and self.alphabet is None:
            raise ValueError(f"lexeme '{quoted(self.grapheme)}' has a phoneme but no alphabet (pinyin, ipa, arpabet)")
        if self.alias is not None and self.alphabet is not None:
            raise ValueError(f"lexeme '{quoted(self.grapheme)}' has an alias: alphabet is for phonemes")
        return self


class Lexicon(BaseModel):
    """PUT /api/lexicons/{name}: `lexemes`, or `pls` (a PLS document) to be read into them."""

    model_config = ConfigDict(extra="forbid")

    lexemes: Annotated[list[Lexeme], Field(min_length=1, max_length=MAX_LEXEMES)]


def parse_lexicon(raw: Any) -> Lexicon:
    """A client's body ({"lexemes": [...]} or {"pls": "<lexicon ...>"}) as a lexicon, or INVALID_LEXICON."""
    if isinstance(raw, dict) and set(raw) == {"pls"} and isinstance(raw["pls"], str):
        raw = {"lexemes": _pls_lexemes(raw["pls"])}
    try:
        return Lexicon.model_validate(raw)
    except ValidationError as exc:
        raise InvalidLexiconError(validation_message(exc.errors()[0])) from None


def _local(element: Element) -> str:
    return element.tag.rpartition("}")[2]  # PLS elements are in the PLS namespace


def _pls_lexemes(document: str) -> list[dict[str, Any]]:
    try:
        root = SafeXml.fromstring(document, forbid_dtd=True)
    except ParseError as exc:
        line, column = exc.position
        raise InvalidLexiconError(
            f"the PLS document is not well-formed XML at line {line}, column {column + 1}") from None
    except DefusedXmlException as exc:
        raise InvalidLexiconError(f"the PLS document is refused: {exc}") from None
    if _local(root) != "lexicon":
        raise InvalidLexiconError(f"a PLS document's root is <lexicon>, not <{quoted(_local(root))}>")
    default_alphabet = root.get("alphabet", "ipa")
    lexemes: list[dict[str, Any]] = []
    for lexeme in root:
        if _local(lexeme) != "lexeme":
            continue
        graphemes = [(c.text or "").strip() for c in lexeme if _local(c) == "grapheme"]
        alias = next(((c.text or "").strip() for c in lexeme if _local(c) == "alias"), None)
        phoneme = next((c for c in lexeme if _local(c) == "phoneme"), None)
        entry: dict[str, Any] = {"alias": alias} if alias is not None else {}
        if phoneme is not None and alias is None:
            name = phoneme.get("alphabet", default_alphabet)
            if name.lower() not in _PLS_ALPHABETS:
                raise InvalidLexiconError(f"PLS alphabet '{quoted(name)}' is not one of ipa, pinyin, x-arpabet")
            entry = {"phoneme": (phoneme.text or "").strip(), "alphabet": _PLS_ALPHABETS[name.lower()]}
        lexemes.extend({"grapheme": g} | entry for g in graphemes)
    return lexemes


@dataclass(frozen=True, slots=True)
class Said:
    """A piece of text after the lexicons: `text` to say; `lexeme` when a lexeme decided it."""

    text: str
    lexeme: Lexeme | None = None


def _is_word(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


class Lexicons:
    """Several lexicons in the order a request names them, ready to apply."""

    def __init__(self, lexicons: Sequence[Lexicon] = ()) -> None:
        self._by_grapheme: dict[str, Lexeme] = {}
        for lexicon in lexicons:
            for lexeme in lexicon.lexemes:
                self._by_grapheme.setdefault(lexeme.grapheme, lexeme)
        # Longest first: Python's alternation takes the first alternative that matches at a position.
        alternatives = [self._pattern(g) for g in sorted(self._by_grapheme, key=len, reverse=True)]
        self._pattern_re = re.compile("|".join(alternatives)) if alternatives else None

    @staticmethod
    def _pattern(grapheme: str) -> str:
        before = r"(?<![A-Za-z0-9])" if _is_word(grapheme[0]) else ""
        after = r"(?![A-Za-z0-9])" if _is_word(grapheme[-1]) else ""
        return f"{before}{re.escape(grapheme)}{after}"

    def apply(self, text: str) -> list[Said]:
        """`text` cut into the pieces the lexicons decide and the pieces they leave alone, in order."""
        if self._pattern_re is None:
            return [Said(text)] if text else []
        pieces: list[Said] = []
        at = 0
        for match in self._pattern_re.finditer(text):
            if match.start() > at:
                pieces.append(Said(text[at:match.start()]))
            lexeme = self._by_grapheme[match.group(0)]
            pieces.append(Said(lexeme.alias if lexeme.alias is not None else match.group(0), lexeme))
            at = match.end()
        if at < len(text):
            pieces.append(Said(text[at:]))
        return pieces
