"""The route store on moto's SSM: reads, checked writes, read-modify-write, and failures."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber
from moto import mock_aws

from tts_core.routing.breaker import (
    BreakerSettings,
    RouteDocument,
    fresh_document,
    on_probe,
    on_request_failure,
    set_override,
)
from tts_core.routing.route_store import RouteConflictError, RouteStore, RouteStoreError

NAME = "/tts-test/route"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SETTINGS = BreakerSettings(failure_threshold=1, success_threshold=1, latency_threshold_ms=2000,
                           base_cooldown_s=60, max_cooldown_s=300)


@pytest.fixture
def ssm(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    with mock_aws():
        yield boto3.client("ssm")


@pytest.fixture
def other(ssm: Any) -> Any:
    """A second client, as another writer (a probe, an operator) would have."""
    return boto3.client("ssm")


@pytest.fixture
def store(ssm: Any) -> RouteStore:
    return RouteStore(NAME, lambda: ssm, clock=lambda: NOW, sleep=lambda _s: None)


def stored(client: Any) -> tuple[dict[str, Any], int]:
    parameter = client.get_parameter(Name=NAME)["Parameter"]
    return json.loads(parameter["Value"]), parameter["Version"]


def put_raw(client: Any, value: str) -> None:
    client.put_parameter(Name=NAME, Value=value, Type="String", Overwrite=True)


def interfere_once_before_put(client: Any, write: Callable[[], None]) -> None:
    """Run `write` just before the store's next PutParameter, after its version check: the race
    SSM cannot prevent."""
    calls = []

    def hook(**_kwargs: Any) -> None:
        if not calls:
            calls.append(1)
            write()

    client.meta.events.register("before-call.ssm.PutParameter", hook)


def test_reading_a_missing_parameter_gives_a_fresh_primary_and_no_version(store: RouteStore) -> None:
    doc, version = store.read()

    assert (doc.route, doc.state, doc.repaired, version) == ("primary", "closed", True, None)


def test_a_written_document_reads_back_the_same(store: RouteStore, ssm: Any) -> None:
    doc = set_override(fresh_document(NOW, "deployed"), "fallback", NOW)

    assert store.write(doc, None)

    again, version = store.read()
    assert (again, version) == (doc, 1)
    raw = ssm.get_parameter(Name=NAME)["Parameter"]["Value"]
    assert raw.startswith('{"route":"fallback",')  # compact: what the state machine's pattern expects


def test_a_malformed_parameter_reads_as_fresh_with_its_real_version(store: RouteStore, ssm: Any) -> None:
    put_raw(ssm, '{"route":"primary","state":"closed","reason":"initial deployment"}')

    doc, version = store.read()

    assert (doc.state, doc.repaired, version) == ("closed", True, 1)
    assert store.write(doc, version)


def test_creating_refuses_when_the_parameter_already_exists(store: RouteStore, other: Any) -> None:
    put_raw(other, fresh_document(NOW, "someone else").model_dump_json())

    assert not store.write(fresh_document(NOW, "mine"), None)
    assert stored(other)[0]["reason"] == "someone else"


def test_a_change_between_read_and_write_is_refused(store: RouteStore, other: Any) -> None:
    assert store.write(fresh_document(NOW, "first"), None)
    doc, version = store.read()
    put_raw(other, set_override(doc, "fallback", NOW).model_dump_json())  # an operator, in between

    assert not store.write(on_probe(doc, True, 100, "ok", NOW, SETTINGS), version)

    value, latest = stored(other)
    assert (value["override"], latest) == ("fallback", 2)


def test_a_write_that_lands_inside_the_check_and_put_window_is_put_back(store: RouteStore, ssm: Any,
                                                                         other: Any) -> None:
    assert store.write(fresh_document(NOW, "first"), None)
    doc, version = store.read()
    forced = set_override(doc, "fallback", NOW).model_dump_json()
    interfere_once_before_put(ssm, lambda: put_raw(other, forced))

    assert not store.write(on_probe(doc, True, 100, "ok", NOW, SETTINGS), version)

    value, latest = stored(other)
    assert value == json.loads(forced)  # the operator's write survives, as if ours had been refused
    assert latest == 4  # 2: the operator, 3: ours, 4: the operator's again


def test_a_write_inside_the_window_is_not_put_back_over_a_newer_one(store: RouteStore, ssm: Any,
                                                                    other: Any) -> None:
    assert store.write(fresh_document(NOW, "first"), None)
    doc, version = store.read()
    interfere_once_before_put(ssm, lambda: put_raw(other, fresh_document(NOW, "lost").model_dump_json()))
    newer = fresh_document(NOW, "newer").model_dump_json()
    ssm.meta.events.register("after-call.ssm.PutParameter", lambda **_kwargs: put_raw(other, newer))

    # The newer write was built on ours or puts ours back: either way ours stands, and the
    # restore must not clobber the newer one.
    assert store.write(on_probe(doc, True, 100, "ok", NOW, SETTINGS), version)
    assert stored(other) == (json.loads(newer), 4)


def test_update_applies_the_change_and_reports_the_transition(store: RouteStore, other: Any) -> None:
    change = store.update(lambda doc: on_probe(doc, False, None, "ENGINE_TIMEOUT", NOW, SETTINGS))

    assert (change.old_route, change.new_route, change.new_state) == ("primary", "fallback", "open")
    value, version = stored(other)
    assert (value["route"], value["reason"], version) == ("fallback", "ENGINE_TIMEOUT", 1)


def test_update_retries_on_a_conflict_and_keeps_the_other_writers_change(store: RouteStore,
                                                                          other: Any) -> None:
    assert store.write(fresh_document(NOW, "first"), None)
    calls: list[RouteDocument] = []

    def probe_failed(doc: RouteDocument) -> RouteDocument:
        calls.append(doc)
        if len(calls) == 1:  # an operator forces the primary while the probe works
            put_raw(other, set_override(doc, "primary", NOW).model_dump_json())
        return on_probe(doc, False, None, "ENGINE_TIMEOUT", NOW, SETTINGS)

    change = store.update(probe_failed)

    assert len(calls) == 2
    assert calls[1].override == "primary"
    value, version = stored(other)
    assert (value["state"], value["override"], value["route"], version) == ("open", "primary", "primary", 3)
    assert change.after.override == "primary"


def test_update_applies_once_on_top_of_a_write_inside_the_window(store: RouteStore, ssm: Any,
                                                                  other: Any) -> None:
    assert store.write(fresh_document(NOW, "first"), None)
    doc, _ = store.read()
    interfere_once_before_put(ssm, lambda: put_raw(other, set_override(doc, "fallback", NOW).model_dump_json()))

    store.update(lambda d: on_request_failure(d, "ENGINE_TIMEOUT", NOW, SETTINGS))

    value, _ = stored(other)
    # One source's failure counts but does not open the breaker alone (a second key or the probe must agree).
    assert (value["override"], value["state"], value["consecutive_failures"]) == ("fallback", "closed", 1)


def test_update_gives_up_when_the_document_keeps_changing(store: RouteStore, other: Any) -> None:
    assert store.write(fresh_document(NOW, "first"), None)

    def always_interfered(doc: RouteDocument) -> RouteDocument:
        put_raw(other, doc.model_dump_json())
        return on_probe(doc, True, 100, "ok", NOW, SETTINGS)

    with pytest.raises(RouteConflictError):
        store.update(always_interfered, retries=2)


def test_update_writes_nothing_when_nothing_changes(store: RouteStore, other: Any) -> None:
    assert store.write(fresh_document(NOW, "first"), None)

    change = store.update(lambda doc: on_request_failure(doc, "INVALID_INPUT", NOW, SETTINGS))

    assert change.before == change.after
    assert stored(other)[1] == 1


def test_update_writes_back_a_repaired_document(store: RouteStore, other: Any) -> None:
    put_raw(other, "{not json")

    store.update(lambda doc: doc)

    value, version = stored(other)
    assert (value["route"], value["state"], version) == ("primary", "closed", 2)
    assert value["reason"].startswith("repaired: malformed")


@pytest.mark.parametrize("operation", ["get_parameter", "put_parameter"])
def test_an_ssm_error_raises_instead_of_changing_the_route(ssm: Any, operation: str) -> None:
    stubber = Stubber(ssm)
    if operation == "put_parameter":  # update reads, then checks the version, then writes
        stubber.add_client_error("get_parameter", "ParameterNotFound")
        stubber.add_client_error("get_parameter", "ParameterNotFound")
    stubber.add_client_error(operation, "ThrottlingException", "Rate exceeded")
    store = RouteStore(NAME, lambda: ssm)

    with stubber, pytest.raises(RouteStoreError, match="ThrottlingException"):
        store.update(lambda doc: on_probe(doc, False, None, "ENGINE_TIMEOUT", NOW, SETTINGS))


def test_an_unreachable_ssm_raises(ssm: Any) -> None:
    def unreachable(**_kwargs: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://ssm.eu-west-1.amazonaws.com")

    ssm.meta.events.register("before-call.ssm.GetParameter", unreachable)

    with pytest.raises(RouteStoreError, match="could not read"):
        RouteStore(NAME, lambda: ssm).read()
