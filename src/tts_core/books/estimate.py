"""A book's estimate before it runs: audio duration, the primary's Lambda GB-seconds and dollars, and
the fallback's characters at its list price. From the same cost model that sizes the segments."""

from __future__ import annotations

from collections.abc import Iterable

from tts_core.books.models import Estimate
from tts_core.segmentation import PRIMARY_COST

LAMBDA_USD_PER_GB_S = 0.0000166667  # x86, first tier, us-east-1 (aws.amazon.com/lambda/pricing)
LAMBDA_USD_PER_REQUEST = 0.0000002
# Sambert's list price on Alibaba Cloud Model Studio (mainland): CNY 1 per 10,000 characters. A figure to
# check against the current price list before relying on it; the fallback bills characters, not time.
SAMBERT_CNY_PER_CHAR = 1.0 / 10_000


def estimate(segments: Iterable[str], primary_memory_mb: int) -> Estimate:
    audio_s = compute_s = 0.0
    count = characters = 0
    for text in segments:
        speech = PRIMARY_COST.speech_seconds(text)
        audio_s += speech
        compute_s += speech * PRIMARY_COST.real_time_factor
        count += 1
        characters += len(text)
    gb_s = compute_s * primary_memory_mb / 1024
    return Estimate(audio_seconds=round(audio_s, 1), primary_invocations=count, primary_gb_seconds=round(gb_s, 1),
                    primary_usd=round(gb_s * LAMBDA_USD_PER_GB_S + count * LAMBDA_USD_PER_REQUEST, 4),
                    fallback_characters=characters,
                    fallback_list_price_cny=round(characters * SAMBERT_CNY_PER_CHAR, 2))
