from __future__ import annotations

import threading

import pytest

from tts_local import faults


def test_fault_specs_parse() -> None:
    assert faults.parse("primary=error, fallback=slow:2.5,ssm=unavailable,primary=chaos:0.1") == [
        faults.Fault("primary", "error"), faults.Fault("fallback", "slow", 2.5),
        faults.Fault("ssm", "unavailable"), faults.Fault("primary", "chaos", 0.1)]
    assert faults.parse("") == []


@pytest.mark.parametrize("spec", ["primary", "primary=explode", "primary=slow", "primary=slow:x",
                                  "primary=error:3", "ssm=error", "=error"])
def test_bad_fault_specs_are_refused(spec: str) -> None:
    with pytest.raises(faults.FaultSpecError):
        faults.parse(spec)


def test_active_reads_the_environment_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(faults.ENV_VAR, "primary=error")
    assert [f.kind for f in faults.active("primary")] == ["error"]
    monkeypatch.setenv(faults.ENV_VAR, "fallback=error")
    assert faults.active("primary") == []


def test_a_targets_draws_do_not_depend_on_other_targets_calls() -> None:
    # One stream shared by every target gave each target whatever its neighbours left: which values the
    # primary drew depended on how many fallback and probe calls came between, and an unlucky stretch of
    # the stream struck both engines at once.
    alone = faults.InvocationCounter(seed="720")
    primary_alone = [alone.draw("primary") for _ in range(60)]
    mixed = faults.InvocationCounter(seed="720")
    primary_mixed = []
    for call in range(60):
        for _ in range(call % 3):
            mixed.draw("fallback")
        primary_mixed.append(mixed.draw("primary"))
    assert primary_mixed == primary_alone
    fallback = faults.InvocationCounter(seed="720")
    assert [fallback.draw("fallback") for _ in range(60)] != primary_alone  # not one stream under two names
    assert faults.InvocationCounter(seed="721").draw("primary") != primary_alone[0]


def test_concurrent_draws_keep_each_targets_stream() -> None:
    reference = faults.InvocationCounter(seed="7")
    wanted = {t: [reference.draw(t) for _ in range(400)] for t in ("primary", "fallback")}
    counter = faults.InvocationCounter(seed="7")
    drawn: dict[str, list[float]] = {"primary": [], "fallback": []}

    def worker(target: str) -> None:
        for _ in range(100):
            drawn[target].append(counter.draw(target))

    threads = [threading.Thread(target=worker, args=(t,)) for t in ("primary", "fallback") * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {t: sorted(v) for t, v in drawn.items()} == {t: sorted(v) for t, v in wanted.items()}


def test_the_seed_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(faults.SEED_ENV_VAR, "42")
    assert faults.InvocationCounter().draw("primary") == faults.InvocationCounter(seed="42").draw("primary")
