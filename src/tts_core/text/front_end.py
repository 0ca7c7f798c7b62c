"""The text front end's one entry: a request's text (plain, SSML or Markdown) as the utterances every engine
says, with the request's lexicons and the normalisation applied, languages its voices cannot speak refused,
and each utterance's voice's language on it. Pure: the caller (tts_core.pipeline.front) loads the lexicons
and knows the voices."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tts_core.catalogue import Language, languages_of
from tts_core.errors import NothingToSpeakError
from tts_core.models import SynthesisRequest, TextType, UnknownTags, Utterance
from tts_core.text.languages import refuse_foreign
from tts_core.text.lexicon import Lexicon, Lexicons
from tts_core.text.markdown import markdown_blocks
from tts_core.text.ssml import PARAGRAPH_PAUSE_MS, is_ssml, read_ssml
from tts_core.text.utterances import Builder, Piece

HEADING_PAUSE_MS = 1000

# A voice id -> its catalogue language ("zh", "en", "zh-en", "ja", "es", "ar"); raises VoiceNotFoundError.
VoiceLanguage = Callable[[str], Language]


def text_type(request: SynthesisRequest) -> TextType:
    return request.text_type or ("ssml" if is_ssml(request.text) else "plain")


def utterances(request: SynthesisRequest, *, lexicons: Sequence[Lexicon],
               voice_language: VoiceLanguage) -> list[Utterance]:
    """What the engines say for `request`, or an InvalidInputError with a stable code."""
    return read_text(request.text, text_type(request), voice=request.voice, lexicons=lexicons,
                     voice_language=voice_language, unknown_tags=request.unknown_tags, speak_code=request.speak_code)


def read_text(text: str, kind: TextType, *, voice: str, lexicons: Sequence[Lexicon], voice_language: VoiceLanguage,
              unknown_tags: UnknownTags = "refuse", speak_code: bool = False) -> list[Utterance]:
    """`text` of one kind, to be said by `voice`, as utterances (what a book's chapter goes through too)."""
    languages = voice_language(voice).split("-")
    builder = Builder(Lexicons(lexicons), languages, verbatim_space=kind == "plain")
    if kind == "ssml":
        read_ssml(text, builder, unknown_tags=unknown_tags)
    elif kind == "markdown":
        _read_markdown(text, builder, speak_code=speak_code)
    else:
        builder.add(Piece(text, 0, len(text)))
    said = builder.utterances()
    if not said:
        raise NothingToSpeakError(f"the {kind} text has no letter or digit to speak")
    checked = []
    for utterance in said:
        speaker = utterance.voice or voice
        language = voice_language(speaker)
        refuse_foreign(utterance.text, voice=speaker, languages=languages_of(language),
                       source_offset=utterance.source_start)
        checked.append(utterance.model_copy(update={"language": language}))  # the engines are told it too
    return checked


def _read_markdown(source: str, builder: Builder, *, speak_code: bool) -> None:
    line_starts = [0] + [i + 1 for i, ch in enumerate(source) if ch == "\n"]

    def offset(line: int) -> int:
        return line_starts[min(line, len(line_starts) - 1)] if line < len(line_starts) else len(source)

    for block in markdown_blocks(source, speak_code=speak_code):
        builder.add(Piece(block.text, offset(block.line), offset(block.line_end)))
        builder.end(HEADING_PAUSE_MS if block.kind == "heading" else PARAGRAPH_PAUSE_MS
                    if block.kind in ("paragraph", "code") else None)
