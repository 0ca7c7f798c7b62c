"""What each engine is handed for one utterance or segment: the same words, with the phonemes an engine
can honour written in the way it reads them. The one table of who honours what (docs/text.md mirrors it).

- primary (IndexTTS-2): pinyin with tone numbers inside Chinese text ("XING2" for 行) is read as written
  (its own normaliser keeps pinyin syllables), so a pinyin phoneme replaces its characters;
- fallback (Sambert) and offline (eSpeak NG): the characters as written (IPA and ARPABET are honoured by
  no engine here: the written word is said)."""

from __future__ import annotations

import re

from tts_core.models import Alphabet, Speech, Utterance

PHONEMES_HONOURED: dict[str, frozenset[Alphabet]] = {
    "primary": frozenset({"pinyin"}),
    "fallback": frozenset(),
    "offline": frozenset(),
}
_PINYIN_SYLLABLE = re.compile(r"^[a-zü]+[1-5]$", re.IGNORECASE)


def _written_for(ph: str, alphabet: Alphabet) -> str | None:
    if alphabet == "pinyin":
        syllables = ph.split()
        if syllables and all(_PINYIN_SYLLABLE.match(s) for s in syllables):
            return " ".join(s.upper() for s in syllables)
    return None


def text_for(speech: Speech, engine: str) -> str:
    """The text `engine` is handed for `speech`."""
    honoured = PHONEMES_HONOURED.get(engine, frozenset())
    out, at = [], 0
    for phoneme in sorted(speech.phonemes, key=lambda p: p.start):
        written = _written_for(phoneme.ph, phoneme.alphabet) if phoneme.alphabet in honoured else None
        if written is not None and phoneme.start >= at:
            out += [speech.text[at:phoneme.start], written]
            at = phoneme.end
    return "".join(out) + speech.text[at:]


def calls_for_one_engine(utterances: list[Utterance]) -> list[Utterance]:
    """A whole request on one engine invocation: neighbouring utterances that differ in nothing but a
    sentence or paragraph end (the default pause, the same voice and prosody, no mark between) are said in
    one engine call, a line apart, so the engine paces them as it paces any text; the others stay apart,
    with their exact pauses between them."""
    calls: list[Utterance] = []
    for utterance in utterances:
        last = calls[-1] if calls else None
        if (last is None or last.pause_after_ms is not None or utterance.marks
                or (last.voice, last.prosody) != (utterance.voice, utterance.prosody)):
            calls.append(utterance)
            continue
        shift = len(last.text) + 1
        calls[-1] = last.model_copy(update={
            "text": f"{last.text}\n{utterance.text}", "pause_after_ms": utterance.pause_after_ms,
            "phonemes": [*last.phonemes, *(p.model_copy(update={"start": p.start + shift, "end": p.end + shift})
                                           for p in utterance.phonemes)],
            "source_end": utterance.source_end})
    return calls
