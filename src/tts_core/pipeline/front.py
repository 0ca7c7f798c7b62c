"""The text front end at every entry point (API, uploads, CLI, books): a validated request gets its
utterances, what every engine will say (tts_core.text.front_end), from the lexicons its owner stored and
the languages of the voices it names. Run once, before the request is started: an engine never re-reads
the markup."""

from __future__ import annotations

from tts_core.catalogue import Language, Voice, get_voice
from tts_core.models import SynthesisRequest, TextType, Utterance
from tts_core.pipeline import lexicons
from tts_core.text import front_end
from tts_core.text.front_end import VoiceLanguage
from tts_core.voices import directory
from tts_core.voices.directory import Owner


def voice_language(bucket: str, owner: Owner) -> VoiceLanguage:
    """A voice id -> the catalogue language it speaks; VOICE_NOT_FOUND for one the owner may not use."""

    def language(voice_id: str) -> Language:
        found = directory.lookup(bucket, voice_id, owner)
        # A custom voice speaks what its fallback engines speak it with (tts_core.text.languages).
        return found.language if isinstance(found, Voice) else get_voice(found.fallback).language

    return language


def prepare(request: SynthesisRequest, *, bucket: str, owner: Owner, lexicon_owner: str | None) -> SynthesisRequest:
    """`request` with its utterances, or an InvalidInputError with a stable code. `owner`: who may use which
    voices; `lexicon_owner`: whose lexicons the request names (the API key; None where no key is in use)."""
    said = front_end.utterances(request, lexicons=lexicons.load(bucket, lexicon_owner, request.lexicons),
                                voice_language=voice_language(bucket, owner))
    return request.model_copy(update={"utterances": said})


def read(text: str, kind: TextType, *, voice: str, lexicon_names: list[str], bucket: str, owner: Owner,
         lexicon_owner: str | None) -> list[Utterance]:
    """One text (a book's chapter) as the utterances its voice will say, as `prepare` reads a request's."""
    return front_end.read_text(text, kind, voice=voice, lexicons=lexicons.load(bucket, lexicon_owner, lexicon_names),
                               voice_language=voice_language(bucket, owner))
