"""Each API key's budget (issue 23, item 1) in the table template.yaml defines, on the local stack's
DynamoDB: characters per UTC day and jobs in flight, each taken atomically and given back once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from tts_core.errors import QuotaExceededError
from tts_core.tenancy import budget
from tts_core.tenancy.budget import Limits

pytestmark = pytest.mark.stack

NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def table(local_stack):
    with local_stack() as stack:
        yield stack.resolver.refs["TenantUsageTable"]


def test_jobs_in_flight_are_bounded_and_a_finished_job_frees_its_slot_once(table) -> None:
    limits = Limits(daily_characters=1000, jobs_in_flight=2)
    budget.start_job(table, "key-a", "job-1", 10, limits, NOON)
    budget.start_job(table, "key-a", "job-2", 10, limits, NOON)
    with pytest.raises(QuotaExceededError) as refused:
        budget.start_job(table, "key-a", "job-3", 10, limits, NOON)
    assert refused.value.code == "QUOTA_EXCEEDED" and refused.value.http_status == 429
    assert refused.value.retry_after_s == budget.JOB_RETRY_AFTER_S
    budget.start_job(table, "key-b", "job-b", 10, limits, NOON)  # another key has its own slots

    budget.end_job(table, "key-a", "job-1")
    budget.end_job(table, "key-a", "job-1")  # a second release (a retried record step) frees nothing more
    budget.start_job(table, "key-a", "job-3", 10, limits, NOON)
    with pytest.raises(QuotaExceededError):
        budget.start_job(table, "key-a", "job-4", 10, limits, NOON)


def test_characters_per_day_are_bounded_until_midnight_and_a_refusal_keeps_no_slot(table) -> None:
    limits = Limits(daily_characters=100, jobs_in_flight=10)
    budget.start_job(table, "key-a", "job-1", 60, limits, NOON)
    with pytest.raises(QuotaExceededError) as refused:
        budget.start_job(table, "key-a", "job-2", 41, limits, NOON)
    assert refused.value.retry_after_s == 12 * 3600  # noon to midnight
    budget.start_job(table, "key-a", "job-3", 40, limits, NOON)  # exactly what was left
    with pytest.raises(QuotaExceededError):
        budget.start_job(table, "key-a", "job-4", 500, limits, NOON)  # more than a whole day, at once
    tomorrow = NOON.replace(day=2)
    budget.start_job(table, "key-a", "job-5", 100, limits, tomorrow)
    # Refused jobs took no slot: 3 started today and tomorrow, 7 more fit.
    for n in range(7):
        budget.start_job(table, "key-a", f"job-more-{n}", 0, limits, tomorrow)
    with pytest.raises(QuotaExceededError):
        budget.start_job(table, "key-a", "job-last", 0, limits, tomorrow)


def test_racing_requests_of_one_key_cannot_both_take_the_last_slot(table) -> None:
    limits = Limits(daily_characters=10_000, jobs_in_flight=3)

    def start(n: int) -> bool:
        try:
            budget.start_job(table, "key-a", f"job-{n}", 1, limits, NOON)
            return True
        except QuotaExceededError:
            return False

    with ThreadPoolExecutor(8) as pool:
        started = list(pool.map(start, range(20)))
    assert sum(started) == 3
