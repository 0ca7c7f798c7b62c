"""Building utterances: the one place where pieces of text become what the engines say.

Every input kind (plain text, the SSML subset, Markdown) feeds a `Builder` with pieces of text, style
changes (prosody, voice), pauses and marks. At each utterance's end the builder applies the lexicons and the
normalisation to the free pieces (not to an SSML <sub> alias, a <say-as> reading or a <phoneme>: those say
exactly what they were told), collapses whitespace, and drops an utterance with nothing to speak (keeping
its pause and marks), so no engine is ever handed only punctuation."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tts_core.models import MAX_PAUSE_MS, Alphabet, Phoneme, Prosody, Utterance, has_something_to_speak
from tts_core.text.lexicon import Lexicons
from tts_core.text.normalise import is_han, normalise

_SPACE = re.compile(r"\s+")
_SENTENCE_ENDS = frozenset(".!?;。！？；")
_CLOSING = frozenset(".,!?;:)]}，。！？；：、）】》」』")


@dataclass(frozen=True, slots=True)
class Piece:
    text: str
    start: int  # offsets into the source text
    end: int
    free: bool = True  # lexicons and normalisation apply
    phoneme: tuple[str, Alphabet] | None = None


@dataclass
class _Draft:
    """The utterance being built."""

    pieces: list[Piece] = field(default_factory=list)
    marks: list[str] = field(default_factory=list)


class Builder:
    def __init__(self, lexicons: Lexicons, languages: list[str], *, verbatim_space: bool = False) -> None:
        """`languages`: the voice's, the default first (normalisation); `verbatim_space`: whitespace stays as
        written (plain text: the segmentation cuts at its line breaks), else every run of it is one space
        (markup's formatting)."""
        self._lexicons = lexicons
        self._verbatim_space = verbatim_space
        self._languages = languages
        self._done: list[Utterance] = []
        self._explicit_pause = False  # the last utterance's pause came from <break>s (they add up)
        self._draft = _Draft()
        self._prosody = Prosody()
        self._voice: str | None = None

    # -- what the readers call -----------------------------------------------------------------------
    def add(self, piece: Piece) -> None:
        self._draft.pieces.append(piece)

    def style(self, prosody: Prosody, voice: str | None) -> None:
        """From here on, this prosody and voice; the words before keep theirs (with no pause between)."""
        if (prosody, voice) != (self._prosody, self._voice):
            self._flush(pause_ms=0, explicit=False)
            self._prosody, self._voice = prosody, voice

    def end(self, pause_ms: int | None = None) -> None:
        """A sentence or paragraph ends: `pause_ms` after it (None: the join's default); a <break> right
        before or after decides instead."""
        if self._flush(pause_ms=pause_ms, explicit=False) or not self._done or self._explicit_pause:
            return
        last = self._done[-1].pause_after_ms
        # 0: the last words were cut by a style change or a mark, not ended: the sentence's end decides.
        if last == 0 or (pause_ms is not None and (last is None or last < pause_ms)):
            self._done[-1] = self._done[-1].model_copy(update={"pause_after_ms": pause_ms})

    def pause(self, pause_ms: int) -> None:
        """An explicit pause (<break>): exactly this long, added to any break right before it, capped."""
        if self._flush(pause_ms=min(pause_ms, MAX_PAUSE_MS), explicit=True) or not self._done:
            return  # a pause before the first words is not kept: the audio starts with speech
        last = self._done[-1]
        total = pause_ms + ((last.pause_after_ms or 0) if self._explicit_pause else 0)
        self._done[-1] = last.model_copy(update={"pause_after_ms": min(total, MAX_PAUSE_MS)})
        self._explicit_pause = True

    def mark(self, name: str) -> None:
        """A named point: the words so far end an utterance (no pause), the mark is at the next one's start."""
        self._flush(pause_ms=0, explicit=False)
        self._draft.marks.append(name)

    def language_here(self) -> str:
        """The language of the words so far in this utterance (Chinese when they hold Han characters), else the
        voice's first: what an SSML <say-as> reading is said in."""
        text = "".join(p.text for p in self._draft.pieces) or (self._done[-1].text if self._done else "")
        if any(is_han(ch) for ch in text):
            return "zh" if "zh" in self._languages else self._languages[0]
        return "en" if any(ch.isascii() and ch.isalpha() for ch in text) and "en" in self._languages \
            else self._languages[0]

    def utterances(self) -> list[Utterance]:
        self._flush(pause_ms=None, explicit=False)
        return self._done

    # -- the end of one utterance ---------------------------------------------------------------------
    def _flush(self, *, pause_ms: int | None, explicit: bool) -> bool:
        """End the draft as an utterance if it has something to speak; True if it did."""
        draft = self._draft
        text, phonemes = self._render(draft.pieces)
        if not has_something_to_speak(text):
            self._draft = _Draft(marks=draft.marks)  # its marks move on to the next words
            return False
        if pause_ms == 0 and text[-1] in _SENTENCE_ENDS:  # cut after a sentence's end: a sentence's pause
            pause_ms = None
        self._done.append(Utterance(
            text=text, prosody=self._prosody, voice=self._voice, phonemes=phonemes, pause_after_ms=pause_ms,
            marks=draft.marks, source_start=min(p.start for p in draft.pieces),
            source_end=max(p.end for p in draft.pieces)))
        self._explicit_pause = explicit
        self._draft = _Draft()
        return True

    def _render(self, pieces: list[Piece]) -> tuple[str, list[Phoneme]]:
        out: list[str] = []
        phonemes: list[Phoneme] = []
        length = 0

        def put(text: str, phoneme: tuple[str, Alphabet] | None = None) -> None:
            nonlocal length
            text = text if self._verbatim_space else _SPACE.sub(" ", text)
            if out and out[-1][-1:].isspace() and (text[:1].isspace() or text[:1] in _CLOSING):
                text = text[1:] if text[:1].isspace() else text  # one space, and none before "." or ","
                if text[:1] in _CLOSING:
                    out[-1] = out[-1][:-1]
                    length -= 1
            # The spaces around a <sub>, <say-as> or <phoneme> keep words apart, never Chinese characters.
            if out and text[:1] == " " and is_han(out[-1][-1:] or " ") and is_han(text[1:2] or " "):
                text = text[1:]
            elif out and out[-1][-1:] == " " and is_han(out[-1][-2:-1] or " ") and is_han(text[:1] or " "):
                out[-1] = out[-1][:-1]
                length -= 1
            if not text:
                return
            if phoneme is not None:
                stripped = text.strip()
                start = length + text.index(stripped[0]) if stripped else length
                phonemes.append(Phoneme(start=start, end=start + len(stripped), ph=phoneme[0], alphabet=phoneme[1]))
            out.append(text)
            length += len(text)

        for piece in pieces:
            if not piece.free:
                put(piece.text, piece.phoneme)
                continue
            for said in self._lexicons.apply(piece.text):
                if said.lexeme is None:
                    put(normalise(said.text, self._languages))
                elif said.lexeme.phoneme is not None and said.lexeme.alphabet is not None:
                    put(said.text, (said.lexeme.phoneme, said.lexeme.alphabet))
                else:
                    put(said.text)
        joined = "".join(out)
        lead = len(joined) - len(joined.lstrip())
        text = joined.strip()
        return text, [p.model_copy(update={"start": p.start - lead, "end": p.end - lead}) for p in phonemes]
