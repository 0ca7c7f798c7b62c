"""Splitting a text into segments that each fit one engine invocation.

The one segmentation of the service: the Map state's segments for the primary (IndexTTS-2, bounded by
Lambda's timeout) and Sambert's chunks (bounded by its 10,000 characters per request) both come from
`segment` (Sambert's `split_text(text, limit)` is `segment(text, limit)`). Pure and deterministic: no
I/O, no optional imports, the same output in every function.

How a text is cut, each level tried only on a piece still longer than `max_chars`:
1. sentence ends: 。！？； anywhere; . ! ? ; only before whitespace, the end or a CJK character (so
   "3.14", "e.g.x", "U.S.A" and URLs stay whole), not after titles, initials and abbreviations
   followed by lower case ("Dr. Smith", "e.g. this"); line breaks. Closing quotes/brackets stay.
2. clause breaks: ，、：；…— anywhere; , : ; before whitespace (so "1,000" and "12:30" stay whole);
   after a CJK closing quote/bracket, before a CJK opening one.
3. whitespace.
4. script changes: around CJK characters, never inside a run of Latin letters or digits.
5. punctuation inside an over-long token (a URL, a hyphenated compound), never between digits.
6. any grapheme cluster boundary (emoji with skin tones, ZWJ sequences, flags, keycaps stay whole).
7. only for a single cluster longer than `max_chars` (a tiny limit, or "zalgo" text): after the ZWJs
   of an emoji sequence, then at any code point.
The pieces are then packed greedily, in order, into segments of at most `max_chars`, so a sentence
that fits is never split and small sentences share one invocation.

Grapheme clusters are approximated with `unicodedata` rather than the `regex` module's \\X: `regex`
is here only as a dev tool's dependency (the zip functions do not ship it), and a segmentation that
changed with the environment would not be deterministic. The approximation is conservative: it may
keep together what UAX #29 would separate, never the reverse (tests check it against \\X).
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# -- what one primary invocation costs -----------------------------------------------------------


@dataclass(frozen=True)
class PrimaryCost:
    """A rough, deliberately pessimistic model of one IndexTTS-2 invocation on Lambda's CPUs.

    From ../shared/FACTS.md: real-time factor ~26-40 on CPU (40 with num_beams=3), and Chinese is
    spoken at ~4-5 characters per second; the slow ends are used (more audio per character, more
    seconds per second of audio). The letter rate is an assumption, not a measurement: ~150 words a
    minute of English is ~12 letters a second, 10 is its slow end. Digits count as CJK characters
    (a year or phone number is read one syllable per digit; "1234" read as a quantity is longer, which
    the budget's margin covers). Whitespace, punctuation and symbols count as silence.
    """

    real_time_factor: float = 40.0
    cjk_chars_per_s: float = 4.0
    letters_per_s: float = 10.0

    def speech_seconds(self, text: str) -> float:
        """Estimated seconds of speech in `text`."""
        cjk_or_digit = letters = 0
        for ch in text:
            if ch.isdigit() or (ch.isalpha() and _is_cjk(ch)):
                cjk_or_digit += 1
            elif ch.isalpha():
                letters += 1
        return cjk_or_digit / self.cjk_chars_per_s + letters / self.letters_per_s

    def invocation_seconds(self, text: str) -> float:
        """Estimated compute seconds of one primary invocation on `text` (model already loaded)."""
        return self.speech_seconds(text) * self.real_time_factor

    def max_chars(self, budget_s: float) -> int:
        """The largest `max_chars` whose worst case (all CJK or digits) stays within `budget_s`."""
        return max(1, int(budget_s * self.cjk_chars_per_s / self.real_time_factor))


PRIMARY_COST = PrimaryCost()
LAMBDA_MAX_TIMEOUT_S = 900  # FACTS.md, AWS limits
# A third of Lambda's maximum (and half the template's default PrimaryTimeoutSeconds of 600): room for
# a cold start loading ~8 GB of weights, a slower host, and a retry that still lands in time.
PRIMARY_BUDGET_S = LAMBDA_MAX_TIMEOUT_S / 3
# = PRIMARY_COST.max_chars(PRIMARY_BUDGET_S): 300 s / 40 = 7.5 s of speech = 30 Chinese characters.
# Worst case ~300 s, typical Chinese (26x, 4.5 chars/s) ~170 s; English costs ~2.5x less per character.
# Also under IndexTTS-2's own 120-token sub-segment, so the model does not split a segment again.
DEFAULT_SEGMENT_CHARS = 30


# -- the API -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Span:
    """A segment as offsets into its text: `text[start:end]`, stripped, never empty. Only whitespace
    lies between consecutive spans, so the spans and the gaps rebuild the text exactly."""

    start: int
    end: int


def segment(text: str, max_chars: int) -> list[str]:
    """The text cut into segments of at most `max_chars` characters (code points), in order."""
    return [text[s.start:s.end] for s in segment_spans(text, max_chars)]


def sentence_spans(text: str) -> list[Span]:
    """The text's sentences (level 1's cuts: sentence ends and line breaks) as offsets, stripped, never
    empty, in order: what captions and sentence marks are timed by."""
    spans = []
    prev = 0
    for p in [*_sentence_cuts(text, 0, len(text)), len(text)]:
        a, b = _trim(text, prev, p)
        if a < b:
            spans.append(Span(a, b))
        prev = p
    return spans


def segment_spans(text: str, max_chars: int) -> list[Span]:
    """Like `segment`, as offsets into `text` (for progress reporting or mapping audio back to text)."""
    if max_chars < 1:
        raise ValueError("max_chars must be >= 1")
    return _pack(text, _fit(text, 0, len(text), max_chars, 0), max_chars)


# -- character classes ---------------------------------------------------------------------------

# Closing marks that belong to the sentence or clause before them (ASCII quotes are ambiguous: they
# are taken as closers only right after a sentence end).
_CLOSERS = "”’」』）》〉】〕〗〙〛»›)]}"
_CLOSERS_AFTER_END = _CLOSERS + "\"'"
_OPENERS = "“‘「『（《〈【〔〖〘〚«‹([{"
# No segment starts with these: they belong to what precedes them.
_NO_CUT_BEFORE = frozenset(_CLOSERS + ".,!?;:%。，、！？；：…‥")
_NO_CUT_AFTER = frozenset(_OPENERS)

_CJK_RANGES = (  # (first, last) code points: Hangul, CJK, kana, bopomofo, CJK and fullwidth punctuation
    (0x1100, 0x11FF), (0x2E80, 0x2FFF), (0x3000, 0x33FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
    (0xA960, 0xA97F), (0xAC00, 0xD7FF), (0xF900, 0xFAFF), (0xFE30, 0xFE4F),
    # Fullwidth punctuation and halfwidth kana; fullwidth digits and letters are Latin-like words.
    (0xFF01, 0xFF0F), (0xFF1A, 0xFF20), (0xFF3B, 0xFF40), (0xFF5B, 0xFF9F),
    (0x20000, 0x3FFFF),
)
_CJK_FIRST = [first for first, _ in _CJK_RANGES]


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    i = bisect.bisect_right(_CJK_FIRST, cp) - 1
    return i >= 0 and cp <= _CJK_RANGES[i][1]


_ZWJ = "\u200d"


def _is_ri(ch: str) -> bool:  # regional indicator: flags are pairs of these
    return "\U0001F1E6" <= ch <= "\U0001F1FF"


def _extends(ch: str) -> bool:
    """A code point that never starts a grapheme cluster: it belongs to the one before."""
    if ch in (_ZWJ, "\u200c"):
        return True
    if unicodedata.category(ch) in ("Mn", "Me", "Mc"):  # combining marks, variation selectors, keycap
        return True
    cp = ord(ch)
    return (0x1F3FB <= cp <= 0x1F3FF  # skin tone modifiers
            or 0xE0020 <= cp <= 0xE007F  # tags (subdivision flags such as Scotland's)
            or 0x1160 <= cp <= 0x11FF or 0xD7B0 <= cp <= 0xD7FF)  # Hangul vowel and final jamo


def _is_grapheme_boundary(text: str, p: int) -> bool:
    if p <= 0 or p >= len(text):
        return True
    prev, cur = text[p - 1], text[p]
    if (prev == "\r" and cur == "\n") or prev == _ZWJ or _extends(cur):
        return False
    if _is_ri(prev) and _is_ri(cur):  # inside a flag when an odd number of indicators precede
        return _ri_run_lengths(text)[p - 1] % 2 == 0
    return True


@functools.lru_cache(maxsize=4)
def _ri_run_lengths(text: str) -> array[int]:
    """Per position, how many regional indicators end there in a row: one pass per text, so a long run of
    indicators costs linear time, not a walk back from every position (quadratic)."""
    runs = array("I", bytes(4 * len(text)))
    run = 0
    for i, ch in enumerate(text):
        run = run + 1 if _is_ri(ch) else 0
        runs[i] = run
    return runs


def _may_cut(text: str, p: int) -> bool:
    return _is_grapheme_boundary(text, p) and text[p] not in _NO_CUT_BEFORE and text[p - 1] not in _NO_CUT_AFTER


# -- level 1: sentences --------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"([.!?;。！？；｡]+)([" + re.escape(_CLOSERS_AFTER_END) + r"]*)|[\r\n\u2028\u2029]+")
_CJK_ENDS = frozenset("。！？；｡")
# Before a name or number, never a sentence end ("Dr. Smith", "No. 5").
_TITLES = frozenset({"mr", "mrs", "ms", "dr", "prof", "st", "sr", "jr", "mt", "vs", "no", "nos", "fig", "figs",
                     "vol", "pp", "cf", "capt", "col", "gen", "lt", "sgt", "rev", "dept", "approx"})
# A sentence end only before a capital or a CJK character ("e.g. this" runs on, "in the U.S.A. It" ends).
_ABBREVIATIONS = frozenset({"etc", "inc", "ltd", "co", "corp"})
_DOTTED = re.compile(r"(?:[A-Za-z]{1,2}\.)+[A-Za-z]{1,2}")  # e.g, i.e, U.S.A, a.m, Ph.D
_LONGEST_NON_ENDING_WORD = 32  # longer than any title, abbreviation or dotted initials (with opening quotes)


def _sentence_cuts(text: str, start: int, end: int) -> Iterable[int]:
    for m in _SENTENCE_END.finditer(text, start, end):
        run = m.group(1)
        if (run is None  # line breaks
                or not _CJK_ENDS.isdisjoint(run)
                or _ends_sentence(text, m.start(), m.end(), bare_dot=m.group(0) == ".")):
            yield m.end()


def _ends_sentence(text: str, mark: int, after: int, *, bare_dot: bool) -> bool:
    """An ASCII end mark ends a sentence only where no word or number can continue."""
    if after < len(text) and not (text[after].isspace() or _is_cjk(text[after])):
        return False
    if not bare_dot:
        return True
    # The word before the dot, looked for no further back than the longest one that could stop the
    # sentence (a walk to the previous space from every dot would be quadratic in "x.x.x...").
    k = mark
    while k > 0 and mark - k <= _LONGEST_NON_ENDING_WORD and not text[k - 1].isspace():
        k -= 1
    if mark - k > _LONGEST_NON_ENDING_WORD:
        return True
    word = text[k:mark].lstrip(_OPENERS + "\"'")
    lower = word.lower()
    if lower in _TITLES or (len(word) == 1 and word.isalpha()):  # a title or an initial ("J. K.")
        return False
    if lower in _ABBREVIATIONS or _DOTTED.fullmatch(word):
        k = after
        while k < len(text) and text[k].isspace():
            k += 1
        return k == len(text) or not (text[k].islower() or text[k].isdigit())
    return True


# -- levels 2-7 ----------------------------------------------------------------------------------

_CLAUSE = re.compile(
    r"[，、：；…‥—―]+[" + re.escape(_CLOSERS) + r"]*"  # CJK clause marks and dashes
    r"|[,:;]+[" + re.escape(_CLOSERS) + r"]*"  # ASCII ones, checked for a following space below
    r"|-{2,}"  # "word--word"
    r"|[”」』）》〉】〕〗〙〛]+"  # after a closing quote ...
    r"|(?=[“「『（《〈【〔〖])"  # ... and before an opening one
)


def _clause_cuts(text: str, start: int, end: int) -> Iterable[int]:
    for m in _CLAUSE.finditer(text, start, end):
        if m.group(0)[:1] in (",", ":", ";"):
            after = m.end()
            if after < len(text) and not (text[after].isspace() or _is_cjk(text[after])):
                continue  # "1,000", "12:30", "http://"
        yield m.end()


_SPACE = re.compile(r"\s+")


def _space_cuts(text: str, start: int, end: int) -> Iterable[int]:
    return (m.end() for m in _SPACE.finditer(text, start, end))


def _script_cuts(text: str, start: int, end: int) -> Iterable[int]:
    return (p for p in range(start + 1, end) if _is_cjk(text[p - 1]) or _is_cjk(text[p]))


_NUMBER_JOINERS = frozenset(".,:")
_SIGNS = frozenset("+-−±$€£¥#")


def _token_cuts(text: str, start: int, end: int) -> Iterable[int]:
    for p in range(start + 1, end):
        before, cur = text[p - 1], text[p]
        if before.isalnum() or before.isspace():
            continue
        if cur.isdigit() and (before in _SIGNS or (before in _NUMBER_JOINERS and text[p - 2].isdigit())):
            continue  # "-3", "3.14", "1,000": a number stays whole
        yield p


def _grapheme_cuts(text: str, start: int, end: int) -> Iterable[int]:
    return (p for p in range(start + 1, end) if _is_grapheme_boundary(text, p))


def _zwj_cuts(text: str, start: int, end: int) -> Iterable[int]:
    return (p for p in range(start + 1, end) if text[p - 1] == _ZWJ)


def _is_component_start(text: str, p: int) -> bool:
    return not _extends(text[p])


Cuts = Callable[[str, int, int], Iterable[int]]
_LEVELS: tuple[tuple[Cuts, Callable[[str, int], bool]], ...] = (
    (_sentence_cuts, _may_cut),
    (_clause_cuts, _may_cut),
    (_space_cuts, _may_cut),
    (_script_cuts, _may_cut),
    (_token_cuts, _may_cut),
    (_grapheme_cuts, _is_grapheme_boundary),  # the last resort that still respects clusters
    (_zwj_cuts, _is_component_start),  # a ZWJ sequence longer than the limit: keep its emoji whole
)


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _fits(text: str, start: int, end: int, max_chars: int) -> bool:
    a, b = _trim(text, start, end)
    return b - a <= max_chars


def _fit(text: str, start: int, end: int, max_chars: int, level: int) -> list[tuple[int, int]]:
    """[start, end) as consecutive pieces that each fit, cut at the coarsest level that helps."""
    if _fits(text, start, end, max_chars):
        return [(start, end)]
    if level == len(_LEVELS):  # one cluster longer than the limit: cut it by code points
        a, b = _trim(text, start, end)
        return [(i, min(i + max_chars, b)) for i in range(a, b, max_chars)]
    cuts, allowed = _LEVELS[level]
    pieces: list[tuple[int, int]] = []
    prev = start
    for p in cuts(text, start, end):
        if prev < p < end and allowed(text, p):
            pieces.extend(_fit(text, prev, p, max_chars, level + 1))
            prev = p
    pieces.extend(_fit(text, prev, end, max_chars, level + 1))
    return pieces


def _pack(text: str, pieces: list[tuple[int, int]], max_chars: int) -> list[Span]:
    """Consecutive pieces joined greedily while the joined, stripped text fits."""
    spans: list[Span] = []

    def emit(start: int, end: int) -> None:
        a, b = _trim(text, start, end)
        if a < b:
            spans.append(Span(a, b))

    if not pieces:
        return spans
    cur_start, cur_end = pieces[0]
    for a, b in pieces[1:]:
        if _fits(text, cur_start, b, max_chars):
            cur_end = b
        else:
            emit(cur_start, cur_end)
            cur_start, cur_end = a, b
    emit(cur_start, cur_end)
    return spans
