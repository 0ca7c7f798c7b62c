"""Which languages a text needs, from the Unicode script of each letter (unicodedataplus: the Unicode
Character Database's Script property), and a refusal for text its voice cannot speak.

A voice speaks the languages of its catalogue entry ("zh-en": Chinese and English); a custom voice those
of the catalogue voice its fallback engines speak it with, so that every engine of a request can say its
words (the primary alone would speak Chinese with an English voice; a failover would not). Digits,
punctuation, symbols, emoji and combining marks (scripts Common and Inherited) belong to every language.
A Greek letter standing alone is a symbol ("α = 0.05", "β-blocker"), not Greek. Script, not language: a
Latin letter is spoken by an en or an es voice (French passes too), a Han character by a zh or a ja voice.
The deployment's catalogue (its primary model) says which voices exist: with IndexTTS-2 no voice speaks kana
or Arabic, with IndexTTS-2.5 the ja and ar voices do."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

import unicodedataplus

from tts_core.catalogue import LANGUAGE_NAMES, languages_of, list_voices
from tts_core.errors import UnsupportedLanguageError, quoted

# The catalogue languages written in a script; a voice speaks a script when it speaks one of them.
SCRIPT_LANGUAGES: dict[str, frozenset[str]] = {
    "Latin": frozenset({"en", "es"}), "Han": frozenset({"zh", "ja"}), "Bopomofo": frozenset({"zh"}),
    "Hiragana": frozenset({"ja"}), "Katakana": frozenset({"ja"}), "Arabic": frozenset({"ar"}),
}
_EVERY_LANGUAGE = frozenset({"Common", "Inherited", "Unknown"})
_RUN_CHARS = 12  # how much of a foreign run an error message quotes


@dataclass(frozen=True, slots=True)
class ForeignRun:
    """The first run of letters in a script the voice does not speak: its script, where it starts, what it says."""

    script: str
    languages: frozenset[str]  # the languages we know the script as (empty: no engine here speaks it)
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


def _run_at(text: str, i: int, script: str) -> ForeignRun:
    end = i
    while end < len(text) and end - i < _RUN_CHARS and _continues(text, end, script):
        end += 1
    return ForeignRun(script=script, languages=SCRIPT_LANGUAGES.get(script, frozenset()), start=i, text=text[i:end])


def first_foreign_run(text: str, languages: Iterable[str]) -> ForeignRun | None:
    """The first run of letters of `text` in a script that none of `languages` is written in, or None."""
    spoken = frozenset(languages)
    for i in range(len(text)):
        script = _script(text, i)
        if script in _EVERY_LANGUAGE or SCRIPT_LANGUAGES.get(script, frozenset()) & spoken \
                or _is_symbol(text, i, script):
            continue
        return _run_at(text, i, script)
    return None


def first_run_in(text: str, scripts: Collection[str]) -> ForeignRun | None:
    """The first run of letters of `text` in one of `scripts` (what an engine's voice cannot read), or None."""
    for i in range(len(text)):
        if (script := _script(text, i)) in scripts:
            return _run_at(text, i, script)
    return None


def refuse_foreign(text: str, *, voice: str, languages: frozenset[str], source_offset: int = 0) -> None:
    """Raise UNSUPPORTED_LANGUAGE naming the script and its first characters if `voice` cannot say `text`."""
    run = first_foreign_run(text, languages)
    if run is None:
        return
    spoken = ", ".join(LANGUAGE_NAMES.get(lang, lang) for lang in sorted(languages))
    message = (f"the text holds {run.script} script ('{quoted(run.text)}', near character "
               f"{source_offset + run.start}), which voice '{quoted(voice)}' does not speak (it speaks {spoken})")
    able = [v for v in list_voices() if run.languages & languages_of(v.language)]  # the deployment's voices
    if not able:
        message += "; no voice of this service speaks it"
    else:
        spoken_by_able = {lang for v in able for lang in languages_of(v.language)}
        named = sorted(LANGUAGE_NAMES[lang] for lang in run.languages & spoken_by_able)
        message += (f"; voices that speak {' or '.join(named)}: "
                    f"{', '.join(v.id for v in able)}")
    raise UnsupportedLanguageError(message)
