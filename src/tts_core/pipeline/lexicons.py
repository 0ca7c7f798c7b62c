"""Pronunciation lexicons in S3, owned by the API key that stored them (as custom voices are): another key
sees 404 LEXICON_NOT_FOUND. `lexicons/<owner>/<name>.json` holds the lexicon; the owner prefix is the
ownership, so one listing finds a key's lexicons. Uploads under inbox/ (no API key) use the lexicons stored
where no key is in use."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field

from tts_core.errors import LexiconLimitError, LexiconNotFoundError, NotFoundError, quoted
from tts_core.platform import storage
from tts_core.text.lexicon import Lexeme, Lexicon
from tts_core.voices.registry import PUBLIC_OWNER

LEXICONS_PREFIX = "lexicons/"
MAX_LEXICONS_PER_KEY = 100  # as Polly's per account


class LexiconRecord(BaseModel):
    name: str
    lexemes: list[Lexeme]
    updated_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())


def _prefix(owner: str | None) -> str:
    return f"{LEXICONS_PREFIX}{owner or PUBLIC_OWNER}/"


def _key(owner: str | None, name: str) -> str:
    return f"{_prefix(owner)}{name}.json"


def names(bucket: str, owner: str | None) -> list[str]:
    """The owner's lexicons, by name."""
    prefix = _prefix(owner)
    return sorted(k.removeprefix(prefix).removesuffix(".json") for k in storage.list_keys(bucket, prefix)
                  if k.endswith(".json"))


def put(bucket: str, owner: str | None, name: str, lexicon: Lexicon) -> LexiconRecord:
    """Store (or replace) one of the owner's lexicons; LEXICON_LIMIT_REACHED past the per-key limit."""
    if not storage.exists(bucket, _key(owner, name)) and len(names(bucket, owner)) >= MAX_LEXICONS_PER_KEY:
        raise LexiconLimitError(f"this API key holds {MAX_LEXICONS_PER_KEY} lexicons, the limit: delete one first")
    record = LexiconRecord(name=name, lexemes=lexicon.lexemes)
    storage.put_json(bucket, _key(owner, name), record.model_dump(mode="json", exclude_none=True))
    return record


def get(bucket: str, owner: str | None, name: str) -> LexiconRecord:
    try:
        return LexiconRecord.model_validate(storage.get_json(bucket, _key(owner, name)))
    except NotFoundError:
        raise LexiconNotFoundError(f"no lexicon '{quoted(name)}'; GET /api/lexicons lists yours") from None


def delete(bucket: str, owner: str | None, name: str) -> LexiconRecord:
    record = get(bucket, owner, name)
    storage.delete(bucket, _key(owner, name))
    return record


def load(bucket: str, owner: str | None, wanted: list[str]) -> list[Lexicon]:
    """The lexicons a request names, in its order (LEXICON_NOT_FOUND for any it may not use)."""
    return [Lexicon(lexemes=get(bucket, owner, name).lexemes) for name in wanted]
