"""Which languages a text needs, from the Unicode script of each letter (unicodedataplus: the Unicode
Character Database's Script property), and a refusal for text its voice cannot speak.

A voice speaks the languages of its catalogue entry ("zh-en": Chinese and English); a custom voice those
of the catalogue voice its fallback engines speak it with, so that every engine of a request can say its
words (the primary alone would speak Chinese with an English voice; a failover would not). Digits,
punctuation, symbols, emoji and combining marks (scripts Common and Inherited) belong to every language.
A Greek letter standing alone is a symbol ("α = 0.05", "β-blocker"), not Greek. Script, not language:
French in Latin letters passes as English, Japanese written only in kanji as Chinese."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import unicodedataplus

from tts_core.catalogue import list_voices
from tts_core.errors import UnsupportedLanguageError, quoted

SCRIPT_LANGUAGES = {"Latin": "en", "Han": "zh", "Bopomofo": "zh"}
LANGUAGE_NAMES = {"zh": "Chinese", "en": "English"}
_EVERY_LANGUAGE = frozenset({"Common", "Inherited", "Unknown"})
_RUN_CHARS = 12  # how much of a foreign run an error message quotes


def languages_of(catalogue_language: str) -> frozenset[str]:
    """A catalogue language ("zh", "en", "zh-en") as the set of languages it speaks."""
    return frozenset(catalogue_language.split("-"))


@dataclass(frozen=True, slots=True)
class ForeignRun:
    """The first run of letters in a script the voice does not speak: its script, where it starts, what it says."""

    script: str
    language: str | None  # the language we know the script as (None: no engine here speaks it)
    start: int
    text: str


def _script(text: str, i: int) -> str:
    return str(unicodedataplus.script(text[i]))


def _is_symbol(text: str, i: int, script: str) -> bool:
    if script != "Greek":
        return False
    return all(not (0 <= j < len(text) and _script(text, j) == "Greek") for j in (i - 1, i + 1))


def _continues(text: str, i: int, script: str) -> bool:
    """Part of a run of `script`: its letters, combining marks, and letters shared by several scripts (the
    kana prolonged sound mark ー is Common)."""
    own = _script(text, i)
    return own in (script, "Inherited") or (own == "Common" and unicodedataplus.category(text[i]).startswith("L"))


def first_foreign_run(text: str, languages: Iterable[str]) -> ForeignRun | None:
    """The first run of letters of `text` in a script that none of `languages` is written in, or None."""
    spoken = frozenset(languages)
    for i in range(len(text)):
        script = _script(text, i)
        if script in _EVERY_LANGUAGE or SCRIPT_LANGUAGES.get(script) in spoken or _is_symbol(text, i, script):
            continue
        end = i
        while end < len(text) and end - i < _RUN_CHARS and _continues(text, end, script):
            end += 1
        return ForeignRun(script=script, language=SCRIPT_LANGUAGES.get(script), start=i, text=text[i:end])
    return None


def refuse_foreign(text: str, *, voice: str, languages: frozenset[str], source_offset: int = 0) -> None:
    """Raise UNSUPPORTED_LANGUAGE naming the script and its first characters if `voice` cannot say `text`."""
    run = first_foreign_run(text, languages)
    if run is None:
        return
    spoken = ", ".join(LANGUAGE_NAMES.get(lang, lang) for lang in sorted(languages))
    message = (f"the text holds {run.script} script ('{quoted(run.text)}', near character "
               f"{source_offset + run.start}), which voice '{quoted(voice)}' does not speak (it speaks {spoken})")
    if run.language is None:
        message += "; no voice of this service speaks it"
    else:
        able = [v.id for v in list_voices() if run.language in languages_of(v.language)]
        message += f"; voices that speak {LANGUAGE_NAMES[run.language]}: {', '.join(able)}"
    raise UnsupportedLanguageError(message)
