"""Per API key: characters synthesized per UTC day and the jobs running, in one DynamoDB table
(template.yaml TenantUsageTable; moto's DynamoDB on the local stack).

Items: `<key>#day#<YYYY-MM-DD>` holds `chars` (with a TTL a day after the day ends); `<key>#jobs` holds
`jobs`, a string set of the request ids running. Each check is one conditional UpdateItem, so two
requests of one key racing cannot both take the last of a budget. A job's slot is its request id, so
freeing it twice (a retried record step, then the ended-execution rule) frees it once.

Characters, not estimated primary seconds: the client can count them, and the primary's cost per
character is bounded (tts_core.segmentation.PrimaryCost), so a day's characters bound a day's primary
seconds per key (docs/reliability.md, tenants)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError

from tts_core.errors import AwsServiceError, QuotaExceededError
from tts_core.platform import aws

ANONYMOUS = "_public"  # requests where no API key is in use share one budget
JOB_RETRY_AFTER_S = 10  # a running job of a short text ends within seconds; a client polls its status_url


@dataclass(frozen=True)
class Limits:
    daily_characters: int
    jobs_in_flight: int


def _key(owner: str | None) -> str:
    return owner or ANONYMOUS


def _failed_condition(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _update(table: str, **kwargs: object) -> None:
    try:
        aws.client("dynamodb").update_item(TableName=table, **kwargs)
    except ClientError as exc:
        if _failed_condition(exc):
            raise
        raise AwsServiceError(f"the usage table could not be updated: {type(exc).__name__}") from exc
    except BotoCoreError as exc:
        raise AwsServiceError(f"the usage table could not be updated: {type(exc).__name__}") from exc


def seconds_to_midnight(now: datetime) -> int:
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((tomorrow - now).total_seconds()))


def start_job(table: str, owner: str | None, request_id: str, chars: int, limits: Limits,
              now: datetime | None = None) -> None:
    """Take a slot for the job and its characters from today's budget, or QuotaExceededError."""
    now = now or datetime.now(UTC)
    key = _key(owner)
    if chars > limits.daily_characters:
        raise QuotaExceededError(f"{chars} characters are more than this API key's {limits.daily_characters} "
                                 "a day (KeyDailyCharacters)", retry_after_s=seconds_to_midnight(now))
    try:
        _update(table, Key={"pk": {"S": f"{key}#jobs"}}, UpdateExpression="ADD jobs :job",
                ConditionExpression="attribute_not_exists(jobs) OR size(jobs) < :max",
                ExpressionAttributeValues={":job": {"SS": [request_id]}, ":max": {"N": str(limits.jobs_in_flight)}})
    except ClientError:
        raise QuotaExceededError(f"this API key has {limits.jobs_in_flight} jobs running (KeyMaxJobsInFlight); "
                                 "try again when one has finished", retry_after_s=JOB_RETRY_AFTER_S) from None
    day_end = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=2)
    try:
        _update(table, Key={"pk": {"S": f"{key}#day#{now:%Y-%m-%d}"}},
                UpdateExpression="ADD chars :n SET expires_at = :expires",
                ConditionExpression="attribute_not_exists(chars) OR chars <= :left",
                ExpressionAttributeValues={":n": {"N": str(chars)},
                                           ":left": {"N": str(limits.daily_characters - chars)},
                                           ":expires": {"N": str(int(day_end.timestamp()))}})
    except ClientError:
        end_job(table, owner, request_id)
        raise QuotaExceededError(f"this API key has used its {limits.daily_characters} characters for today "
                                 "(KeyDailyCharacters)", retry_after_s=seconds_to_midnight(now)) from None
    except AwsServiceError:
        end_job(table, owner, request_id)
        raise


def end_job(table: str, owner: str | None, request_id: str) -> None:
    """Free the job's slot (idempotent: a slot already free stays free)."""
    try:
        _update(table, Key={"pk": {"S": f"{_key(owner)}#jobs"}}, UpdateExpression="DELETE jobs :job",
                ExpressionAttributeValues={":job": {"SS": [request_id]}})
    except ClientError as exc:  # no condition here: only a service error reaches this
        raise AwsServiceError(f"the usage table could not be updated: {type(exc).__name__}") from exc
