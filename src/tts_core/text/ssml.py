"""The SSML subset, the same for every engine: a <speak> document read into utterances.

Parsed with defusedxml's SAX reader (no DTD, no entity declarations, no external references: an
entity-expansion bomb is refused before it expands), which reports the line and column of every element.

    <speak>                 the root (required)
    <p>, <s>                a paragraph (a pause after it) or a sentence (the default pause between segments)
    <break time strength>   exactly that pause ("500ms", "2s"; strength none .. x-strong), capped at 10 s
    <prosody rate pitch volume>  multiplies the request's speed, pitch and volume (words or percentages,
                            volume also in dB); nested ones multiply
    <say-as interpret-as>   characters | spell-out | digits | cardinal | number | ordinal | date (format
                            ymd, mdy, dmy) | telephone
    <sub alias>             says the alias instead of the text
    <phoneme alphabet ph>   pinyin (py), ipa or x-arpabet; the engines that can honour it do (text.render)
    <voice name>            another of the caller's voices for what it holds
    <mark name>             reported with its time in the output's marks

Any other tag is refused (UnsupportedSsmlTagError) unless the request says `unknown_tags: "ignore"`, when
its text is spoken and the tag is not. Malformed XML is INVALID_SSML with the line and column."""

from __future__ import annotations

import math
import re
import xml.sax
from collections.abc import Callable
from dataclasses import dataclass
from xml.sax.xmlreader import AttributesImpl, Locator

import defusedxml.sax
from defusedxml import DefusedXmlException

from tts_core.catalogue import language_name
from tts_core.errors import InvalidSsmlError, UnsupportedSsmlTagError, quoted
from tts_core.models import Alphabet, Prosody, UnknownTags
from tts_core.text.normalise import READ_LANGUAGES, date_words
from tts_core.text.numbers import cardinal, digits, ordinal
from tts_core.text.utterances import Builder, Piece

TAGS = ("speak", "p", "s", "break", "prosody", "say-as", "sub", "phoneme", "voice", "mark")
PARAGRAPH_PAUSE_MS = 750
BREAK_STRENGTHS_MS = {"none": 0, "x-weak": 100, "weak": 250, "medium": 400, "strong": 750, "x-strong": 1200}
RATES = {"x-slow": 0.5, "slow": 0.75, "medium": 1.0, "fast": 1.25, "x-fast": 1.5, "default": 1.0}
PITCHES = {"x-low": 0.7, "low": 0.85, "medium": 1.0, "high": 1.15, "x-high": 1.3, "default": 1.0}
VOLUMES = {"silent": 0.0, "x-soft": 0.4, "soft": 0.7, "medium": 1.0, "loud": 1.4, "x-loud": 1.8, "default": 1.0}
_ALPHABETS: dict[str, Alphabet] = {"pinyin": "pinyin", "py": "pinyin", "ipa": "ipa", "x-arpabet": "arpabet",
                                   "arpabet": "arpabet"}
_TIME = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*$")
_PERCENT = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*%\s*$")
_DECIBELS = re.compile(r"^\s*([+-]\d+(?:\.\d+)?)\s*dB\s*$")
_SPELLED = frozenset({"characters", "spell-out"})


def is_ssml(text: str) -> bool:
    """Text that is an SSML document (sent with no text_type): it starts with <speak."""
    return text.lstrip().startswith("<speak")


@dataclass(frozen=True)
class _Open:
    """An open element: its tag, and the style inside it."""

    tag: str
    prosody: Prosody
    voice: str | None
    collecting: bool  # say-as, sub, phoneme: their text is gathered and said at their end


class _Reader(xml.sax.ContentHandler):
    def __init__(self, source: str, builder: Builder, unknown_tags: UnknownTags) -> None:
        super().__init__()
        self._builder = builder
        self._unknown = unknown_tags
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", source)]
        self._stack: list[_Open] = []
        self._collected: list[str] = []
        self._collected_at = 0
        self._attrs: dict[str, str] = {}  # the open say-as, sub or phoneme's
        self._locator: Locator | None = None

    # -- positions -------------------------------------------------------------------------------
    def setDocumentLocator(self, locator: Locator) -> None:  # noqa: N802 (SAX's name)
        self._locator = locator

    def _where(self) -> tuple[int, int]:
        assert self._locator is not None
        return self._locator.getLineNumber(), self._locator.getColumnNumber()

    def _offset(self) -> int:
        line, column = self._where()
        return self._line_starts[min(line, len(self._line_starts)) - 1] + column

    def _invalid(self, why: str) -> InvalidSsmlError:
        line, column = self._where()
        return InvalidSsmlError(f"SSML line {line}, column {column + 1}: {why}")

    # -- elements --------------------------------------------------------------------------------
    def startElement(self, name: str, attrs: AttributesImpl) -> None:  # noqa: N802
        if not self._stack and name != "speak":
            raise self._invalid(f"the root element must be <speak>, not <{quoted(name)}>")
        if self._stack and name == "speak":
            raise self._invalid("<speak> inside <speak>")
        if self._stack and self._stack[-1].collecting:
            raise self._invalid(f"<{quoted(name)}> inside <{self._stack[-1].tag}>: it holds text only")
        top = self._stack[-1] if self._stack else _Open("", Prosody(), None, False)
        prosody, voice, collecting = top.prosody, top.voice, False
        if name not in TAGS:
            if self._unknown == "refuse":
                line, column = self._where()
                raise UnsupportedSsmlTagError(
                    f"<{quoted(name)}> (SSML line {line}, column {column + 1}) is not in the SSML subset "
                    f"({', '.join(TAGS)}); send \"unknown_tags\": \"ignore\" to speak its text without it")
        elif name in ("p", "s"):
            self._builder.end(None)
        elif name == "break":
            self._builder.pause(self._break_ms(attrs))
        elif name == "prosody":
            prosody = self._prosody(top.prosody, attrs)
        elif name == "voice":
            voice = self._required(attrs, "name", name)
        elif name == "mark":
            self._builder.mark(self._required(attrs, "name", name))
        elif name in ("say-as", "sub", "phoneme"):
            collecting = True
            self._collected, self._collected_at = [], self._offset()
            self._attrs = dict(attrs)
            self._check_collector(name)
        self._stack.append(_Open(name, prosody, voice, collecting))
        self._builder.style(prosody, voice)

    def endElement(self, name: str) -> None:  # noqa: N802
        closed = self._stack.pop()
        if closed.collecting:
            self._say_collected(name)
        if name == "p":
            self._builder.end(PARAGRAPH_PAUSE_MS)
        elif name == "s":
            self._builder.end(None)
        if self._stack:
            self._builder.style(self._stack[-1].prosody, self._stack[-1].voice)

    def characters(self, content: str) -> None:
        if self._stack and self._stack[-1].collecting:
            self._collected.append(content)
            return
        start = self._offset()
        self._builder.add(Piece(content, start, start + len(content)))

    # -- attributes ------------------------------------------------------------------------------
    def _required(self, attrs: AttributesImpl | dict[str, str], name: str, tag: str) -> str:
        value = attrs.get(name, "").strip()
        if not value:
            raise self._invalid(f"<{tag}> needs a non-empty {name} attribute")
        return value

    def _break_ms(self, attrs: AttributesImpl) -> int:
        if "time" in attrs:
            match = _TIME.match(attrs["time"])
            if match is None:
                raise self._invalid(f"break time '{quoted(attrs['time'])}' is not like 500ms or 2s")
            value = float(match.group(1)) * (1 if match.group(2) == "ms" else 1000)
            return round(min(value, 10_000_000))  # capped by the builder at MAX_PAUSE_MS
        strength = attrs.get("strength", "medium")
        if strength not in BREAK_STRENGTHS_MS:
            raise self._invalid(f"break strength '{quoted(strength)}' is not one of {', '.join(BREAK_STRENGTHS_MS)}")
        return BREAK_STRENGTHS_MS[strength]

    def _prosody(self, outer: Prosody, attrs: AttributesImpl) -> Prosody:
        rate = self._factor(attrs, "rate", RATES, relative=False)
        pitch = self._factor(attrs, "pitch", PITCHES, relative=True)
        volume = self._factor(attrs, "volume", VOLUMES, relative=True, decibels=True)
        return Prosody(rate=outer.rate * rate, pitch=outer.pitch * pitch, volume=outer.volume * volume)

    def _factor(self, attrs: AttributesImpl, name: str, words: dict[str, float], *, relative: bool,
                decibels: bool = False) -> float:
        """A prosody attribute as a multiplier: a word, a percentage (rate: of the normal rate, "80%"; pitch
        and volume: a change, "+10%"), or for volume decibels ("-6dB", as amplitude)."""
        value = attrs.get(name)
        if value is None:
            return 1.0
        if value.strip() in words:
            return words[value.strip()]
        if (match := _PERCENT.match(value)) is not None:
            number = float(match.group(1))
            factor = 1 + number / 100 if relative or match.group(1)[0] in "+-" else number / 100
            if factor > 0:
                return factor
        if decibels and (match := _DECIBELS.match(value)) is not None:
            return math.pow(10, float(match.group(1)) / 20)
        raise self._invalid(f"prosody {name} '{quoted(value)}' is not one of {', '.join(words)} or a percentage"
                            + (" or dB" if decibels else ""))

    # -- say-as, sub, phoneme ----------------------------------------------------------------------
    def _check_collector(self, name: str) -> None:
        if name == "sub":
            self._required(self._attrs, "alias", name)
        elif name == "phoneme":
            self._required(self._attrs, "ph", name)
            if self._attrs.get("alphabet", "ipa") not in _ALPHABETS:
                raise self._invalid(f"phoneme alphabet '{quoted(self._attrs['alphabet'])}' is not one of "
                                    f"{', '.join(_ALPHABETS)}")
        elif (kind := self._attrs.get("interpret-as", "")) not in _SAY_AS:
            raise self._invalid(f"say-as interpret-as '{quoted(kind)}' is not one of {', '.join(_SAY_AS)}")

    def _say_collected(self, name: str) -> None:
        text = "".join(self._collected)
        start, end = self._collected_at, self._offset()
        if name == "sub":
            self._builder.add(Piece(f" {self._attrs['alias'].strip()} ", start, end, free=False))
        elif name == "phoneme":
            alphabet = _ALPHABETS[self._attrs.get("alphabet", "ipa")]
            self._builder.add(Piece(f" {text.strip()} ", start, end, free=False,
                                    phoneme=(self._attrs["ph"].strip(), alphabet)))
        else:
            kind, lang = self._attrs["interpret-as"], self._builder.language_here()
            if lang not in READ_LANGUAGES and _SAY_AS[kind] is not _spelled:
                raise self._invalid(f"say-as {kind} is read in Chinese or English only, and the voice speaks "
                                    f"{language_name(lang)}: write the words out")
            said = _SAY_AS[kind](text.strip(), self._attrs.get("format", ""), lang)
            if said is None:
                raise self._invalid(f"say-as {self._attrs['interpret-as']} cannot read '{quoted(text.strip())}'")
            self._builder.add(Piece(f" {said} ", start, end, free=False))


def _spelled(text: str, _format: str, _lang: str) -> str:
    return " ".join(ch for ch in text if not ch.isspace())


def _digits(text: str, _format: str, lang: str) -> str | None:
    return digits(text, lang) if text.isdigit() else None


def _cardinal(text: str, _format: str, lang: str) -> str | None:
    plain = text.replace(",", "")
    return cardinal(int(plain), lang) if plain.isdigit() and len(plain) <= 12 else None


def _ordinal(text: str, _format: str, lang: str) -> str | None:
    plain = text.removesuffix("th").removesuffix("st").removesuffix("nd").removesuffix("rd")
    if not plain.isdigit() or len(plain) > 12:
        return None
    return ordinal(int(plain)) if lang == "en" else "第" + cardinal(int(plain), lang)


def _date(text: str, format_: str, lang: str) -> str | None:
    parts = [int(p) for p in re.split(r"[-/.]", text) if p.isdigit()]
    order = format_ or "ymd"
    if len(parts) != 3 or sorted(order) != ["d", "m", "y"]:
        return None
    values = dict(zip(order, parts, strict=True))
    return date_words(values["y"], values["m"], values["d"], lang)


def _telephone(text: str, _format: str, lang: str) -> str | None:
    groups = [g for g in re.split(r"[\s\-().]+", text.lstrip("+")) if g]
    if not groups or not all(g.isdigit() for g in groups):
        return None
    return ", ".join(digits(g, lang) for g in groups)


_SAY_AS: dict[str, Callable[[str, str, str], str | None]] = {
    "characters": _spelled, "spell-out": _spelled, "digits": _digits, "cardinal": _cardinal, "number": _cardinal,
    "ordinal": _ordinal, "date": _date, "telephone": _telephone,
}


def read_ssml(source: str, builder: Builder, *, unknown_tags: UnknownTags) -> None:
    """Feed an SSML document to `builder`, or raise INVALID_SSML / SSML_UNSUPPORTED_TAG."""
    reader = _Reader(source, builder, unknown_tags)
    try:
        defusedxml.sax.parseString(source.encode("utf-8"), reader, forbid_dtd=True)
    except xml.sax.SAXParseException as exc:
        raise InvalidSsmlError(f"SSML is not well-formed XML at line {exc.getLineNumber()}, column "
                               f"{exc.getColumnNumber() + 1}: {exc.getMessage()}") from None
    except DefusedXmlException as exc:
        raise InvalidSsmlError(f"SSML may not declare a DTD or entities ({type(exc).__name__})") from None
