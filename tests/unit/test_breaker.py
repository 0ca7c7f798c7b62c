"""The circuit breaker's transitions, driven by an injected clock, and the document the state machine reads."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from tts_core.routing.breaker import (
    SLOW,
    BreakerSettings,
    RouteDocument,
    Transition,
    fresh_document,
    in_cooldown,
    on_probe,
    on_request_failure,
    parse,
    set_override,
)

ASL = Path(__file__).resolve().parents[2] / "statemachine" / "synthesis.asl.json"
# The Choice patterns the brief gives; the test below also checks the deployed ASL uses exactly these.
FALLBACK_PATTERNS = ('*"route":"fallback"*', '*"route": "fallback"*')
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SETTINGS = BreakerSettings(failure_threshold=3, success_threshold=2, latency_threshold_ms=2000,
                           base_cooldown_s=60, max_cooldown_s=300)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def ok(doc: RouteDocument, clock: Clock, latency_ms: float = 300, settings: BreakerSettings = SETTINGS,
       ) -> RouteDocument:
    return on_probe(doc, True, latency_ms, "ok", clock.now, settings)


def fail(doc: RouteDocument, clock: Clock, reason: str = "ENGINE_TIMEOUT",
         settings: BreakerSettings = SETTINGS) -> RouteDocument:
    return on_probe(doc, False, None, reason, clock.now, settings)


def opened(clock: Clock, settings: BreakerSettings = SETTINGS) -> RouteDocument:
    doc = fresh_document(clock.now, "test")
    for _ in range(settings.failure_threshold):
        doc = fail(doc, clock, settings=settings)
    assert doc.state == "open"
    return doc


def string_matches(value: str, pattern: str) -> bool:
    """Step Functions' StringMatches: `*` is any run of characters, `\\*` a literal star."""
    parts = re.split(r"(?<!\\)\*", pattern)
    regex = ".*".join(re.escape(p.replace("\\*", "*")) for p in parts)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def goes_to_fallback(raw: str) -> bool:
    return any(string_matches(raw, p) for p in FALLBACK_PATTERNS)


def asl_string_patterns(text: str) -> set[str]:
    # Scanned, not parsed: the ASL holds unquoted ${...} substitutions until deployment.
    return {json.loads(literal) for literal in re.findall(r'"StringMatches"\s*:\s*("(?:[^"\\]|\\.)*")', text)}


# --- closed ---------------------------------------------------------------------------------------

def test_closed_opens_after_n_consecutive_failures_and_not_before(clock: Clock) -> None:
    doc = fresh_document(clock.now, "test")
    for count in range(1, SETTINGS.failure_threshold):
        doc = fail(doc, clock)
        assert (doc.state, doc.route, doc.consecutive_failures) == ("closed", "primary", count)
        clock.advance(30)

    before = doc
    doc = fail(doc, clock)

    assert (doc.state, doc.route) == ("open", "fallback")
    assert doc.since == clock.now
    assert doc.cooldown_s == SETTINGS.base_cooldown_s
    assert doc.cooldown_until == clock.now + timedelta(seconds=SETTINGS.base_cooldown_s)
    assert doc.reason == "ENGINE_TIMEOUT"
    change = Transition(before, doc)
    assert change.route_changed and change.state_changed
    assert (change.old_route, change.new_route, change.old_state, change.new_state) == (
        "primary", "fallback", "closed", "open")


def test_a_success_resets_the_failure_count(clock: Clock) -> None:
    doc = fresh_document(clock.now, "test")
    doc = fail(fail(doc, clock), clock)
    doc = ok(doc, clock)
    doc = fail(fail(doc, clock), clock)

    assert (doc.state, doc.consecutive_failures) == ("closed", 2)
    assert not Transition(fresh_document(T0, "test"), doc).route_changed


# --- open -----------------------------------------------------------------------------------------

def test_open_stays_open_during_cooldown_even_when_probes_succeed(clock: Clock) -> None:
    doc = opened(clock)
    until = doc.cooldown_until

    for _ in range(5):
        clock.advance(10)
        doc = ok(doc, clock, latency_ms=250)
        assert in_cooldown(doc, clock.now)
        assert (doc.state, doc.route, doc.consecutive_successes) == ("open", "fallback", 0)
        assert doc.cooldown_until == until
    # Not counted, but measured.
    assert (doc.last_probe_latency_ms, doc.last_probe_at) == (250, clock.now)


def test_failures_during_cooldown_do_not_extend_it(clock: Clock) -> None:
    doc = opened(clock)
    until, failures = doc.cooldown_until, doc.consecutive_failures

    clock.advance(30)
    doc = fail(doc, clock)

    assert (doc.state, doc.cooldown_until, doc.cooldown_s, doc.consecutive_failures) == (
        "open", until, SETTINGS.base_cooldown_s, failures)


def test_open_goes_half_open_on_the_first_success_once_the_cooldown_ends(clock: Clock) -> None:
    doc = opened(clock)
    clock.advance(SETTINGS.base_cooldown_s)  # now == cooldown_until: the cool-down is over

    doc = ok(doc, clock)

    assert (doc.state, doc.route, doc.consecutive_successes) == ("half_open", "primary", 1)
    assert doc.since == clock.now
    assert doc.cooldown_until is None


def test_open_closes_at_once_when_one_success_is_enough(clock: Clock) -> None:
    settings = SETTINGS.model_copy(update={"success_threshold": 1})
    doc = opened(clock, settings)
    clock.advance(settings.base_cooldown_s)

    doc = ok(doc, clock, settings=settings)

    assert (doc.state, doc.route, doc.cooldown_until) == ("closed", "primary", None)


def test_a_failed_probe_after_the_cooldown_keeps_it_open_with_the_cooldown_doubled(clock: Clock) -> None:
    doc = opened(clock)
    opened_at = doc.since
    clock.advance(SETTINGS.base_cooldown_s + 5)

    doc = fail(doc, clock)

    assert (doc.state, doc.route, doc.since) == ("open", "fallback", opened_at)
    assert doc.cooldown_s == 2 * SETTINGS.base_cooldown_s
    assert doc.cooldown_until == clock.now + timedelta(seconds=2 * SETTINGS.base_cooldown_s)


# --- half_open ------------------------------------------------------------------------------------

def test_half_open_closes_after_m_consecutive_successes(clock: Clock) -> None:
    doc = opened(clock)
    clock.advance(SETTINGS.base_cooldown_s)
    doc = fail(doc, clock)  # cool-down doubled to 120 s
    clock.advance(doc.cooldown_s)
    doc = ok(doc, clock)
    assert doc.state == "half_open"

    clock.advance(60)
    before = doc
    doc = ok(doc, clock)

    assert (doc.state, doc.route, doc.since) == ("closed", "primary", clock.now)
    assert doc.cooldown_s == SETTINGS.base_cooldown_s  # reset: the next opening starts short again
    assert doc.consecutive_failures == 0
    change = Transition(before, doc)
    assert change.state_changed and not change.route_changed


def test_half_open_reopens_on_a_failure_with_the_cooldown_doubled(clock: Clock) -> None:
    doc = opened(clock)
    clock.advance(SETTINGS.base_cooldown_s)
    doc = ok(doc, clock)
    clock.advance(60)

    doc = fail(doc, clock, reason="ENGINE_UNAVAILABLE")

    assert (doc.state, doc.route, doc.since, doc.reason) == ("open", "fallback", clock.now, "ENGINE_UNAVAILABLE")
    assert (doc.cooldown_s, doc.consecutive_successes) == (2 * SETTINGS.base_cooldown_s, 0)
    assert doc.cooldown_until == clock.now + timedelta(seconds=2 * SETTINGS.base_cooldown_s)


def test_the_cooldown_doubles_up_to_the_cap_and_never_above_it(clock: Clock) -> None:
    doc = opened(clock)
    seen = [doc.cooldown_s]
    for _ in range(6):
        clock.advance(doc.cooldown_s)
        doc = ok(doc, clock)  # half_open
        doc = fail(doc, clock)  # open again, longer
        seen.append(doc.cooldown_s)

    assert seen == [60, 120, 240, 300, 300, 300, 300]
    assert doc.cooldown_until == clock.now + timedelta(seconds=SETTINGS.max_cooldown_s)


# --- latency --------------------------------------------------------------------------------------

def test_a_slow_probe_counts_as_a_failure_with_the_reason_slow(clock: Clock) -> None:
    doc = fresh_document(clock.now, "test")
    for _ in range(SETTINGS.failure_threshold):
        doc = ok(doc, clock, latency_ms=SETTINGS.latency_threshold_ms + 1)

    assert (doc.state, doc.route, doc.reason) == ("open", "fallback", SLOW)
    assert doc.last_probe_latency_ms == SETTINGS.latency_threshold_ms + 1


def test_a_probe_exactly_at_the_latency_threshold_is_a_success(clock: Clock) -> None:
    doc = fail(fresh_document(clock.now, "test"), clock)

    doc = ok(doc, clock, latency_ms=SETTINGS.latency_threshold_ms)

    assert (doc.consecutive_failures, doc.consecutive_successes) == (0, 1)


def test_a_slow_probe_in_half_open_reopens(clock: Clock) -> None:
    doc = opened(clock)
    clock.advance(SETTINGS.base_cooldown_s)
    doc = ok(doc, clock)

    doc = ok(doc, clock, latency_ms=10 * SETTINGS.latency_threshold_ms)

    assert (doc.state, doc.reason) == ("open", SLOW)


# --- override -------------------------------------------------------------------------------------

def test_an_override_forces_the_route_and_survives_probes_until_cleared(clock: Clock) -> None:
    doc = set_override(fresh_document(clock.now, "test"), "fallback", clock.now)
    assert (doc.route, doc.state, doc.updated_by) == ("fallback", "closed", "operator")

    for _ in range(5):
        clock.advance(60)
        doc = ok(doc, clock)
        assert (doc.route, doc.override) == ("fallback", "fallback")

    # The breaker keeps counting underneath: failures open it, the override still decides the route.
    doc = set_override(doc, "primary", clock.now)
    for _ in range(SETTINGS.failure_threshold):
        doc = fail(doc, clock)
    assert (doc.state, doc.route) == ("open", "primary")

    doc = set_override(doc, None, clock.now)
    assert (doc.state, doc.route, doc.override, doc.reason) == ("open", "fallback", None, "override cleared")


# --- passive signals from real requests -----------------------------------------------------------

def test_request_failures_from_two_keys_open_the_breaker(clock: Clock) -> None:
    doc = fresh_document(clock.now, "test")
    for n in range(SETTINGS.failure_threshold):
        doc = on_request_failure(doc, "ENGINE_CRASHED", clock.now, SETTINGS, source=f"key-{n % 2}")

    assert (doc.state, doc.route, doc.reason, doc.updated_by) == ("open", "fallback", "ENGINE_CRASHED",
                                                                  "request-failure")
    assert doc.last_probe_at is None  # not a probe


def test_one_keys_failures_alone_never_open_the_breaker(clock: Clock) -> None:
    """Its texts may be what fails (a pathological text, an emotion the model lacks): not every tenant's
    reason to lose the primary."""
    doc = fresh_document(clock.now, "test")
    for _ in range(10 * SETTINGS.failure_threshold):
        doc = on_request_failure(doc, "ENGINE_TIMEOUT", clock.now, SETTINGS, source="key-a")

    assert (doc.state, doc.route) == ("closed", "primary")
    assert doc.consecutive_failures == 10 * SETTINGS.failure_threshold and doc.failing_sources == ("key-a",)


def test_a_failing_probe_confirms_one_keys_failures(clock: Clock) -> None:
    doc = fresh_document(clock.now, "test")
    for _ in range(SETTINGS.failure_threshold):
        doc = on_request_failure(doc, "ENGINE_TIMEOUT", clock.now, SETTINGS, source="key-a")
    doc = on_probe(doc, False, None, "timeout", clock.now, SETTINGS)

    assert doc.state == "open" and set(doc.failing_sources) == {"key-a", "probe"}


@pytest.mark.parametrize("code", ["INVALID_INPUT", "TEXT_TOO_LONG", "VOICE_NOT_FOUND", "ENGINE_REJECTED",
                                  "ENGINE_LANGUAGE_UNSUPPORTED", "STORAGE_ERROR"])
def test_request_failures_that_are_not_the_primarys_fault_do_not_count(clock: Clock, code: str) -> None:
    doc = fresh_document(clock.now, "test")

    assert on_request_failure(doc, code, clock.now, SETTINGS) is doc


def test_request_failures_while_open_change_nothing(clock: Clock) -> None:
    doc = opened(clock)
    clock.advance(30)

    assert on_request_failure(doc, "ENGINE_TIMEOUT", clock.now, SETTINGS) is doc


def test_a_request_failure_in_half_open_reopens(clock: Clock) -> None:
    doc = opened(clock)
    clock.advance(SETTINGS.base_cooldown_s)
    doc = ok(doc, clock)

    doc = on_request_failure(doc, "ENGINE_TIMEOUT", clock.now, SETTINGS)

    assert (doc.state, doc.cooldown_s) == ("open", 2 * SETTINGS.base_cooldown_s)


def test_a_probe_success_resets_the_request_failure_count(clock: Clock) -> None:
    doc = fresh_document(clock.now, "test")
    for _ in range(SETTINGS.failure_threshold - 1):
        doc = on_request_failure(doc, "ENGINE_TIMEOUT", clock.now, SETTINGS)
    doc = ok(doc, clock)

    doc = on_request_failure(doc, "ENGINE_TIMEOUT", clock.now, SETTINGS)

    assert (doc.state, doc.consecutive_failures) == ("closed", 1)


# --- the stored document --------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    None,
    "",
    "not json",
    "[]",
    '"fallback"',
    '{"route":"fallback"}',  # no state: a hand edit cannot say why; fresh primary is what requests already get
    '{"route":"primary","state":"closed","reason":"initial deployment"}',  # template.yaml's first value
    '{"route":"fallback","state":"stuck","since":"2025-03-01T12:00:00Z"}',
    '{"route":"fallback","state":"open","since":"2025-03-01T12:00:00"}',  # no time zone
    '{"route":"fallback","state":"open","since":"2025-03-01T12:00:00Z","consecutive_failures":-1}',
    '{"route":"primary","state":"closed","since":"2025-03-01T12:00:00Z","override":"Fallback"}',
])
def test_a_missing_or_malformed_document_is_parsed_as_a_fresh_primary(raw: str | None) -> None:
    doc = parse(raw, now=T0)

    assert (doc.state, doc.route, doc.override, doc.since) == ("closed", "primary", None, T0)
    assert doc.repaired
    assert doc.reason.startswith("repaired: ")


def test_a_stored_route_that_disagrees_with_the_state_is_corrected() -> None:
    raw = '{"route":"primary","state":"open","since":"2025-03-01T12:00:00Z","cooldown_s":60}'

    doc = parse(raw, now=T0)

    assert (doc.route, doc.state, doc.repaired) == ("fallback", "open", True)


def test_a_document_survives_a_round_trip_unrepaired(clock: Clock) -> None:
    doc = set_override(ok(opened(clock), clock, latency_ms=1234.5), "primary", clock.now)

    again = parse(doc.model_dump_json(), now=T0 + timedelta(days=1))

    assert again == doc
    assert not again.repaired
    assert "repaired" not in json.loads(doc.model_dump_json())


def test_a_transition_clears_the_repaired_flag(clock: Clock) -> None:
    assert not ok(parse(None, now=clock.now), clock).repaired


def test_fallback_documents_match_the_state_machine_pattern_and_primary_ones_do_not(clock: Clock) -> None:
    fallback = opened(clock)
    forced = set_override(fresh_document(clock.now, "test"), "fallback", clock.now)
    primary = fresh_document(clock.now, "test")
    overridden_primary = set_override(fallback, "primary", clock.now)
    # A reason quoting the pattern is escaped inside its JSON string, so it cannot match.
    quoting = set_override(primary, None, clock.now).model_copy(update={"reason": '"route":"fallback"'})

    for doc in (fallback, forced):
        raw = doc.model_dump_json()
        assert '"route":"fallback"' in raw
        assert goes_to_fallback(raw), raw
    for doc in (primary, overridden_primary, quoting):
        assert not goes_to_fallback(doc.model_dump_json()), doc.model_dump_json()
    assert not goes_to_fallback('{"route":"primary"}')


def test_the_state_machine_uses_the_patterns_these_tests_check() -> None:
    patterns = asl_string_patterns(ASL.read_text())

    assert patterns == set(FALLBACK_PATTERNS)


def test_timestamps_are_serialised_as_utc_iso_8601(clock: Clock) -> None:
    raw = json.loads(opened(clock).model_dump_json())

    assert raw["since"] == "2025-03-01T12:00:00Z"
    assert raw["cooldown_until"] == "2025-03-01T12:01:00Z"


def test_a_naive_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        fresh_document(datetime(2025, 3, 1), "test")  # naive on purpose


def test_settings_refuse_a_cap_below_the_base_cooldown() -> None:
    with pytest.raises(ValidationError, match="max_cooldown_s"):
        BreakerSettings(failure_threshold=3, success_threshold=2, latency_threshold_ms=2000,
                        base_cooldown_s=120, max_cooldown_s=60)
