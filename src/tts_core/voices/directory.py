"""The voices a caller may use: the catalogue's and their own custom voices, each with the engines that
serve it and whether the primary is ready for it (and if not, why).

Cost per listing: an S3 listing of the caller's own voices and one per voice it may use
(registry.inventory: bounded by the catalogue and KeyMaxVoices, not by the number of tenants), one GET of
the bootstrap report, a GET per custom voice of the caller (its name) and per catalogue voice the
primary is not ready for (why).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tts_core.catalogue import Voice, get_voice, is_catalogue_voice, list_voices
from tts_core.errors import NotFoundError, VoiceNotFoundError, quoted
from tts_core.models import EngineName
from tts_core.voices import bootstrap_report, registry
from tts_core.voices.registry import Inventory, Source, VoiceRecord

ENGINES = tuple(EngineName)  # a custom voice: the fallback and last resort speak its fallback voice


class AnyOwner:
    """Who may use any voice or read any job: the state machine's engines, S3 uploads (bucket writers are
    operators), the CLI and tests."""


ANY_OWNER = AnyOwner()
Owner = str | None | AnyOwner


@dataclass(frozen=True)
class VoiceEntry:
    id: str
    language: str
    gender: str
    description: str
    custom: bool
    fallback: str  # the catalogue voice the fallback engines speak it with
    engines: tuple[str, ...]
    primary_ready: bool
    primary_reason: str | None
    reference: Source | None  # where its primary reference came from (None: it has none)
    name: str | None = None


def lookup(bucket: str, voice_id: str, owner: Owner = ANY_OWNER) -> Voice | VoiceRecord:
    """A catalogue voice, or a custom voice the owner may use; VoiceNotFoundError otherwise (also for
    another key's voice: its existence is not disclosed)."""
    if is_catalogue_voice(voice_id):
        return get_voice(voice_id)
    try:
        record = registry.get_record(bucket, voice_id) if registry.valid_id(voice_id) else None
    except NotFoundError:
        record = None
    if record is None or record.source != "upload" or (owner is not ANY_OWNER and record.owner != owner):
        raise VoiceNotFoundError(f"unknown voice '{quoted(voice_id)}'; GET /api/voices lists the voices")
    return record


def fallback_voice(bucket: str) -> Callable[[str], Voice]:
    """For the fallback engines: the catalogue voice that speaks a (catalogue or custom) voice."""

    def resolve(voice_id: str) -> Voice:
        found = lookup(bucket, voice_id)
        return found if isinstance(found, Voice) else get_voice(found.fallback)

    return resolve


def list_for(bucket: str, owner: str | None) -> list[VoiceEntry]:
    inv = registry.inventory(bucket, owner, [voice.id for voice in list_voices()])
    report = bootstrap_report.read_report(bucket)
    entries = []
    for voice in list_voices():
        ready, reason = _readiness(bucket, inv, voice.id, None, report)
        outcome = report.outcome(voice.id) if report else None
        entries.append(VoiceEntry(id=voice.id, language=voice.language, gender=voice.gender,
                                  description=voice.description, custom=False, fallback=voice.id, engines=ENGINES,
                                  primary_ready=ready, primary_reason=reason,
                                  reference=outcome.source if outcome and voice.id in inv.referenced else None))
    for voice_id in sorted(inv.custom_voices()):
        try:
            record = registry.get_record(bucket, voice_id)
        except NotFoundError:  # deleted between the listing and now
            continue
        if record.owner != owner:
            continue
        ready, reason = _readiness(bucket, inv, voice_id, record, report)
        entries.append(custom_entry(record, ready, reason))
    return entries


def custom_entry(record: VoiceRecord, ready: bool, reason: str | None) -> VoiceEntry:
    return VoiceEntry(id=record.id, language=record.language, gender=record.gender,
                      description=f"custom voice '{record.name}'", custom=True, fallback=record.fallback,
                      engines=ENGINES, primary_ready=ready, primary_reason=reason, reference=record.source,
                      name=record.name)


def preparation_reason(record: VoiceRecord) -> str:
    prep = record.preparation
    if prep.stale():
        return "the primary never reported its speaker conditioning; the first synthesis computes it"
    if prep.state == "pending":
        return "the primary is computing its speaker conditioning"
    if prep.state == "failed":
        return f"the primary could not prepare it: {prep.code}: {prep.message}"
    return "its speaker conditioning is gone; the primary computes it again on the next synthesis"


def _readiness(bucket: str, inv: Inventory, voice_id: str, record: VoiceRecord | None,
               report: bootstrap_report.BootstrapReport | None) -> tuple[bool, str | None]:
    if voice_id in inv.referenced and voice_id in inv.conditioned:
        return True, None
    if voice_id not in inv.referenced:
        outcome = report.outcome(voice_id) if report else None
        if outcome is not None and outcome.status == "failed":
            return False, f"no reference recording: the voice bootstrap failed with {outcome.code}: {outcome.message}"
        return False, "no reference recording yet: the voice bootstrap has not run"
    try:
        record = record or registry.get_record(bucket, voice_id)
    except NotFoundError:
        return False, "no reference recording (it was just removed)"
    return False, preparation_reason(record)
